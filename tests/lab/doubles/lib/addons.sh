# shellcheck shell=bash disable=SC2034
# LAB DOUBLE — never shipped. MicroK8s addons of the lab doubles (sourced by bin/microk8s).
# On the lab cluster, the addons whose objects the scripts read are real objects in the lab
# apiserver, and their status is read back from it as MicroK8s does (dns: Deployment coredns,
# hostpath-storage: Deployment hostpath-provisioner, rook-ceph: Deployment rook-ceph-operator);
# the others are flags (state/microk8s/addons/). On a host's own emulated cluster all are flags.
ADDONS_KNOWN=(dns rbac helm helm3 ha-cluster hostpath-storage rook-ceph)
MANIFESTS=$LAB_DOUBLES/lib/manifests

addon_known() {
  local a
  for a in "${ADDONS_KNOWN[@]}"; do [ "$a" = "$1" ] && return 0; done
  return 1
}

# addon_deployment ADDON: "namespace/name" of the Deployment that shows the addon is enabled.
addon_deployment() {
  case $1 in
    dns) echo kube-system/coredns ;;
    hostpath-storage) echo kube-system/hostpath-provisioner ;;
    rook-ceph) echo rook-ceph/rook-ceph-operator ;;
    *) return 1 ;;
  esac
}

# addon_enabled ADDON: enabled on the cluster this host's `microk8s` serves.
addon_enabled() {
  local d
  addon_known "${1#core/}" || return 1
  set -- "${1#core/}"
  if ! mk8s_member; then
    [ -e "$MK8S_L/addons/$1" ]
  elif d=$(addon_deployment "$1"); then
    kc -n "${d%/*}" get deployment "${d#*/}" >/dev/null 2>&1
  else
    [ -e "$MK8S_S/addons/$1" ]
  fi
}

addon_status_lines() {
  local a
  if mk8s_member; then echo "high-availability: no"; fi
  echo "addons:"
  echo "  enabled:"
  for a in "${ADDONS_KNOWN[@]}"; do if addon_enabled "$a"; then printf '    %-20s # (core)\n' "$a"; fi; done
  echo "  disabled:"
  for a in "${ADDONS_KNOWN[@]}"; do if ! addon_enabled "$a"; then printf '    %-20s # (core)\n' "$a"; fi; done
}

# addon_enable ADDON: `microk8s enable ADDON`.
addon_enable() {
  local a=${1#core/}
  addon_known "$a" || lab_die "Addon $1 was not found in any repository (lab double: emulated addons: ${ADDONS_KNOWN[*]})"
  echo "Infer repository core for addon $a"
  if addon_enabled "$a"; then
    echo "Addon core/$a is already enabled"
    return 0
  fi
  if ! mk8s_member; then
    touch "$MK8S_L/addons/$a"
    echo "Addon $a is enabled (on $SELF's own emulated cluster)"
    return 0
  fi
  case $a in
    dns)
      echo "Enabling DNS"
      kc apply -f "$MANIFESTS/dns.yaml" >/dev/null
      echo "DNS is enabled"
      ;;
    hostpath-storage)
      echo "Enabling default storage class."
      kc apply -f "$MANIFESTS/hostpath-storage.yaml" >/dev/null
      echo "Storage will be available soon."
      ;;
    rook-ceph)
      echo "Install Rook version v1.16.6"
      kc apply -f "$MANIFESTS/rook-crds.yaml" >/dev/null
      kc apply -f "$MANIFESTS/rook-ceph.yaml" >/dev/null
      kc wait --for=condition=Established --timeout=60s -f "$MANIFESTS/rook-crds.yaml" >/dev/null
      echo "Creating 'microk8s connect-external-ceph' command"
      printf '\n=================================================\n\nRook Ceph operator v1.16.6 is now deployed in your MicroK8s cluster and\nwill shortly be available for use.\n'
      ;;
    *)
      lab_lock
      mkdir -p "$MK8S_S/addons"
      touch "$MK8S_S/addons/$a"
      echo "Addon $a is enabled"
      ;;
  esac
}

# conf_value FILE KEY: a ceph.conf value (key spelled with '_' or ' ').
conf_value() {
  local k=${2//_/[ _]}
  sed -n "s/^[[:space:]]*${k}[[:space:]]*=[[:space:]]*//p" "$1" | head -n1
}

# connect_external_ceph ARGS...: `microk8s connect-external-ceph` (Rook's external-cluster import):
# checks the files and the pool against the MicroCeph state (over a real TCP connection to a
# monitor), creates the CSI users, the namespace's secrets and configmap, the `ceph-rbd`
# StorageClass and the CephCluster, which the (absent) Rook operator would report Connected.
connect_external_ceph() {
  local conf='' keyring='' pool='' auto=yes ns=rook-ceph-external fsid key mons m a ok=no C entity data=''
  while [ $# -gt 0 ]; do
    case $1 in
      --ceph-conf) conf=$2; shift ;;
      --keyring) keyring=$2; shift ;;
      --rbd-pool) pool=$2; shift ;;
      --namespace) ns=$2; shift ;;
      --ceph-conf=* | --keyring=* | --rbd-pool=* | --namespace=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
      --no-rbd-pool-auto-create) auto=no ;;
      --rbd-pool-auto-create) auto=yes ;;
      *) lab_die "Usage: microk8s connect-external-ceph [OPTIONS] (lab double: unsupported $1)" ;;
    esac
    shift
  done
  if [ $auto = no ] && [ -z "$pool" ]; then lab_die "--rbd-pool is required when using --no-rbd-pool-auto-create"; fi
  [ -n "$pool" ] || pool=microk8s-rbd0
  if [ -z "$conf" ] && [ -z "$keyring" ]; then
    echo "Looking for MicroCeph on the host"
    if [ -f /var/snap/microceph/current/conf/ceph.conf ]; then
      echo "Detected existing MicroCeph installation"
      conf=/var/snap/microceph/current/conf/ceph.conf keyring=/var/snap/microceph/current/conf/ceph.keyring
    fi
  fi
  [ -r "$conf" ] || lab_die "rados.ObjectNotFound: [errno 2] RADOS object not found (error calling conf_read_file)"
  [ -r "$keyring" ] || lab_die "rados.ObjectNotFound: [errno 2] RADOS object not found (keyring $keyring)"
  grep -q '^\[global\]' "$conf" || lab_die "rados.Error: $conf: no [global] section"
  fsid=$(conf_value "$conf" fsid)
  mons=$(conf_value "$conf" mon_host)
  { [ -n "$fsid" ] && [ -n "$mons" ]; } || lab_die "rados.Error: $conf names no fsid or mon_host"
  grep -q '^\[client\.admin\]' "$keyring" || lab_die "rados.PermissionDeniedError: [errno 13] RADOS permission denied (no client.admin in $keyring)"
  key=$(conf_value "$keyring" key)
  echo "Attempting to connect to Ceph cluster"
  local addrs
  mapfile -t addrs < <(grep -oE '[0-9]+(\.[0-9]+){3}' <<<"$mons" | sort -u)
  for m in "${addrs[@]}"; do
    if tcp_open "$m" 3300 3 || tcp_open "$m" 6789 3; then ok=yes; break; fi
  done
  C=$LAB_STATE/microceph/clusters/$fsid
  { [ $ok = yes ] && [ -d "$C" ]; } || lab_die "rados.TimedOut: [errno 110] RADOS timed out (error connecting to the cluster)"
  [ "$key" = "$(cat "$C/admin.key")" ] || lab_die "rados.PermissionDeniedError: [errno 13] RADOS permission denied (error connecting to the cluster)"
  echo "Successfully connected to $fsid ($m)"
  lab_lock
  if [ $auto = yes ]; then
    if [ -d "$C/pools/$pool" ]; then echo "WARNING: Pool $pool already exists"; else
      echo "Creating pool $pool in Ceph cluster"
      mkdir -p "$C/pools/$pool/apps"
      a=$(cat "$C/next-pool" 2>/dev/null || echo 1)
      echo $((a + 1)) >"$C/next-pool"
      echo "$a" >"$C/pools/$pool/id"
      echo 3 >"$C/pools/$pool/size"
      echo 2 >"$C/pools/$pool/min_size"
    fi
    touch "$C/pools/$pool/apps/rbd"
  fi
  # Rook's create-external-cluster-resources.py: the pool must exist and be an RBD pool.
  [ -d "$C/pools/$pool" ] || lab_die "ExecutionFailureException: The provided pool, '$pool', does not exist"
  [ -e "$C/pools/$pool/apps/rbd" ] || lab_die "ExecutionFailureException: The provided pool, '$pool', is not an RBD pool (application rbd not enabled)"
  echo "Creating namespace $ns"
  kc create namespace "$ns" >/dev/null 2>&1 || echo "namespace $ns already exists"
  echo "Configuring Ceph CSI secrets"
  mkdir -p "$C/auth"
  for entity in client.csi-rbd-node client.csi-rbd-provisioner client.healthchecker; do
    [ -s "$C/auth/$entity" ] || mc_key >"$C/auth/$entity"
  done
  local ids=(a b c d e f g h i) i=0
  for m in "${addrs[@]}"; do
    data="${data:+$data,}${ids[i]}=$m:6789"
    i=$((i + 1))
  done
  echo "Importing Ceph CSI secrets into MicroK8s"
  if ! kc -n "$ns" get secret rook-ceph-mon >/dev/null 2>&1; then
    kc -n "$ns" create secret generic rook-ceph-mon --type=kubernetes.io/rook --from-literal=cluster-name="$ns" \
      --from-literal=fsid="$fsid" --from-literal=admin-secret=admin-secret --from-literal=mon-secret=mon-secret \
      --from-literal=ceph-username=client.healthchecker --from-literal=ceph-secret="$(cat "$C/auth/client.healthchecker")" >/dev/null
  else echo "secret rook-ceph-mon already exists"; fi
  if ! kc -n "$ns" get configmap rook-ceph-mon-endpoints >/dev/null 2>&1; then
    kc -n "$ns" create configmap rook-ceph-mon-endpoints --from-literal=data="$data" --from-literal=mapping='{}' \
      --from-literal=maxMonId=2 >/dev/null
  else echo "configmap rook-ceph-mon-endpoints already exists"; fi
  for entity in csi-rbd-node csi-rbd-provisioner; do
    if ! kc -n "$ns" get secret "rook-$entity" >/dev/null 2>&1; then
      kc -n "$ns" create secret generic "rook-$entity" --type=kubernetes.io/rook --from-literal=userID="$entity" \
        --from-literal=userKey="$(cat "$C/auth/client.$entity")" >/dev/null
    else echo "secret 'rook-$entity' already exists"; fi
  done
  if ! kc get storageclass ceph-rbd >/dev/null 2>&1; then
    sed -e "s|@NS@|$ns|g" -e "s|@POOL@|$pool|g" "$MANIFESTS/ceph-rbd-storageclass.yaml" | kc create -f - >/dev/null
  else echo "storageclass ceph-rbd already exists"; fi
  echo "Importing external Ceph cluster"
  sed -e "s|@NS@|$ns|g" "$MANIFESTS/cephcluster.yaml" | kc apply -f - >/dev/null
  # What Rook's operator reports once it reached the monitors (this double reached one above).
  kc -n "$ns" patch cephcluster "$ns" --subresource=status --type=merge -p "$(jq -cn --arg f "$fsid" \
    --arg t "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{status: {phase: "Connected", state: "Connected",
    message: "Cluster connected successfully", ceph: {health: "HEALTH_OK", fsid: $f, lastChecked: $t},
    version: {version: "19.2.0-0", image: "quay.io/ceph/ceph:v19.2.0"}}}')" >/dev/null
  printf '\n=================================================\n\nSuccessfully imported external Ceph cluster. You can now use the following storageclass\nto provision PersistentVolumes using Ceph CSI:\n\n'
  kc get storageclass
}

# mc_key: a Ceph secret (as lib/ceph.sh makes them).
mc_key() { { printf '\001\000'; head -c 26 /dev/urandom; } | base64 -w0; }
