# shellcheck shell=bash disable=SC2034
# LAB DOUBLE — never shipped. MicroK8s state of the lab doubles (sourced by bin/snap, bin/microk8s).
#
# The lab cluster is the one of LAB_CLUSTER_OWNER: the real lab kube-apiserver. Every other host
# runs, after `snap install microk8s`, an emulated single-node cluster of its own until it joins.
#   shared  state/microk8s/members/<node>   "control-plane <addr>" or "worker <addr>" (dqlite and
#                                            worker membership of the lab cluster)
#           state/microk8s/tokens/<token>    expiry (epoch seconds) of a join token (add-node)
#           state/microk8s/addons/<addon>    addons of the lab cluster kept as flags (rbac, helm...)
#   local   /var/lib/pm4ml-lab-double/microk8s/member   this host is a control-plane member
#           /var/lib/pm4ml-lab-double/microk8s/addons/  addons of this host's own cluster
#           /var/snap/microk8s/current/var/lock/clustered.lock   joined with --worker (MicroK8s')
MK8S_DATA=/var/snap/microk8s/current
MK8S_LOCKFILE=$MK8S_DATA/var/lock/clustered.lock
MK8S_STOPPED=$MK8S_DATA/var/lock/stopped.lock
MK8S_CLIENT=$MK8S_DATA/credentials/client.config
MK8S_SNAP=/snap/microk8s/current
MK8S_L=$LAB_LOCAL/microk8s
MK8S_S=$LAB_STATE/microk8s
MK8S_ACTING="This MicroK8s deployment is acting as a node in a cluster."
# Addons enabled on a fresh MicroK8s 1.26+ (core addons enabled by default).
MK8S_DEFAULT_ADDONS=(ha-cluster helm helm3)

mk8s_installed() { [ -f "$LAB_LOCAL/snaps/microk8s/installed" ]; }
mk8s_channel() { cat "$LAB_LOCAL/snaps/microk8s/channel"; }

# mk8s_kube_version: the Kubernetes version of the installed channel's track.
mk8s_kube_version() {
  case $(mk8s_channel) in
    1.28/*) echo v1.28.15 ;;
    1.29/*) echo v1.29.15 ;;
    1.30/*) echo v1.30.14 ;;
    1.31/*) echo v1.31.9 ;;
    1.32/*) echo v1.32.5 ;;
    *) echo v1.33.1 ;;
  esac
}

# mk8s_role NAME: NAME's role in the lab cluster ("control-plane", "worker" or "").
mk8s_role() {
  local f=$MK8S_S/members/$1
  if [ -f "$f" ]; then awk '{print $1; exit}' "$f"; fi
}

# mk8s_member: this host is a control-plane member of the lab cluster (its API is the lab's).
mk8s_member() { [ -f "$MK8S_L/member" ] && [ "$(mk8s_role "$SELF")" = control-plane ]; }
# mk8s_worker: this host was joined with --worker.
mk8s_worker() { [ -e "$MK8S_LOCKFILE" ]; }

# mk8s_units_up: the snap's services for this host's mode (no dqlite on a worker-only node).
mk8s_units_up() {
  unit_up snap.microk8s.daemon-kubelite "Service for snap application microk8s.daemon-kubelite" \
    forward "0.0.0.0:16443" "${LAB_APISERVER#https://}"
  unit_up snap.microk8s.daemon-cluster-agent "Service for snap application microk8s.daemon-cluster-agent" accept 25000
  if mk8s_worker; then
    unit_down snap.microk8s.daemon-k8s-dqlite
  else
    unit_up snap.microk8s.daemon-k8s-dqlite "Service for snap application microk8s.daemon-k8s-dqlite" accept 19001
  fi
}
MK8S_UNITS=(snap.microk8s.daemon-kubelite snap.microk8s.daemon-cluster-agent snap.microk8s.daemon-k8s-dqlite)

# mk8s_client_config: the credentials `microk8s kubectl` uses: the lab apiserver through this
# host's own API port (the kubelite forwarder), as MicroK8s' client.config points at 127.0.0.1:16443.
mk8s_client_config() { kubeconfig_for https://127.0.0.1:16443 | put "$MK8S_CLIENT" 0600 || true; }

# mk8s_fresh_cluster: this host becomes a cluster of its own (default addons, no membership).
mk8s_fresh_cluster() {
  rm -rf "$MK8S_L/addons" "$MK8S_L/member"
  mkdir -p "$MK8S_L/addons"
  local a
  for a in "${MK8S_DEFAULT_ADDONS[@]}"; do touch "$MK8S_L/addons/$a"; done
}

# mk8s_set_role ROLE: records this host in the lab cluster's members ("" removes it).
mk8s_set_role() {
  mkdir -p "$MK8S_S/members"
  if [ -n "$1" ]; then
    printf '%s %s\n' "$1" "$SELF_ADDR" >"$MK8S_S/members/$SELF"
  else
    rm -f "$MK8S_S/members/$SELF"
  fi
}

# mk8s_register_node ROLE: this host as a kwok-managed Node of the lab apiserver (labels as
# MicroK8s sets them); kwok makes it Ready and keeps its heartbeat.
mk8s_register_node() {
  local role=$1 ver node status os mem
  ver=$(mk8s_kube_version)
  # shellcheck source=/dev/null
  os=$(. /etc/os-release && echo "$PRETTY_NAME")
  mem=$(awk '/^MemTotal:/ {print $2 "Ki"}' /proc/meminfo)
  node=$(jq -n --arg n "$SELF" --arg role "$role" '{apiVersion: "v1", kind: "Node", metadata: {name: $n,
    annotations: {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
    labels: ({"kubernetes.io/hostname": $n, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
      "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "microk8s.io/cluster": "true"}
      + (if $role == "worker" then {"node.kubernetes.io/microk8s-worker": "microk8s-worker"}
         else {"node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"} end))}}')
  status=$(jq -n --arg n "$SELF" --arg a "$SELF_ADDR" --arg v "$ver" --arg os "$os" --arg k "$(uname -r)" \
    --arg cpu "$(nproc)" --arg mem "$mem" '{status: {
    addresses: [{type: "InternalIP", address: $a}, {type: "Hostname", address: $n}],
    capacity: {cpu: $cpu, memory: $mem, pods: "110"}, allocatable: {cpu: $cpu, memory: $mem, pods: "110"},
    nodeInfo: {kubeletVersion: $v, kubeProxyVersion: $v, osImage: $os, kernelVersion: $k,
      containerRuntimeVersion: "containerd://1.6.28", operatingSystem: "linux", architecture: "amd64",
      machineID: "", systemUUID: "", bootID: ""}}}')
  kc apply -f - <<<"$node" >/dev/null
  kc patch node "$SELF" --subresource=status --type=merge -p "$status" >/dev/null
}

# mk8s_node_ready True|False MESSAGE: this host's Node's Ready condition (what the kubelet posts),
# set now; kwok's heartbeats keep it afterwards.
mk8s_node_ready() {
  local now reason=KubeletReady
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  [ "$1" = True ] || reason=KubeletNotReady
  kc patch node "$SELF" --subresource=status --type=strategic -p "$(jq -n --arg s "$1" --arg r "$reason" --arg m "$2" --arg t "$now" \
    '{status: {conditions: [{type: "Ready", status: $s, reason: $r, message: $m, lastHeartbeatTime: $t, lastTransitionTime: $t}]}}')" >/dev/null
}

# mk8s_node_stopped NAME: NAME's kubelet no longer reports (kwok stops managing the Node, so the
# node lifecycle controller marks it NotReady/Unknown), as after `microk8s leave`.
# mk8s_other_control_planes: the lab cluster's control-plane members other than this host.
mk8s_other_control_planes() {
  local f
  for f in "$MK8S_S"/members/*; do
    if [ -f "$f" ] && [ "${f##*/}" != "$SELF" ] && [ "$(awk '{print $1; exit}' "$f")" = control-plane ]; then
      echo "${f##*/}"
    fi
  done
}
mk8s_node_stopped() { kc annotate node "$1" kwok.x-k8s.io/node- >/dev/null 2>&1 || true; }

# mk8s_ca_hash: MicroK8s' cluster certificate fingerprint in join strings (12 hex characters).
mk8s_ca_hash() {
  kc config view --raw --flatten --minify -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}' |
    base64 -d | sha256sum | cut -c1-12
}

# mk8s_ready: the API this host's `microk8s kubectl` talks to answers.
mk8s_ready() {
  [ ! -e "$MK8S_STOPPED" ] && unit_active snap.microk8s.daemon-kubelite || return 1
  if mk8s_member; then
    "$LAB_KUBECTL" --kubeconfig "$MK8S_CLIENT" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1
  fi
}

# mk8s_install: what `snap install microk8s` sets up on this host.
mk8s_install() {
  getent group microk8s >/dev/null || groupadd --system microk8s
  mkdir -p "$MK8S_DATA/var/lock" "$MK8S_DATA/credentials" "$MK8S_DATA/args" "$MK8S_SNAP" /var/snap/microk8s/common
  ln -sfn "$LAB_DOUBLES/bin/snap-kubectl" "$MK8S_SNAP/kubectl"
  ln -sfn "$LAB_DOUBLES/bin/microk8s" "$LAB_BIN/microk8s"
  ln -sfn "$LAB_DOUBLES/bin/microk8s" "$LAB_BIN/microk8s.kubectl"
  mk8s_client_config
  mk8s_fresh_cluster
  mk8s_units_up
  if [ "$SELF" = "$LAB_CLUSTER_OWNER" ]; then
    # The owner's fresh cluster is the lab apiserver: it registers its own node.
    touch "$MK8S_L/member"
    mk8s_set_role control-plane
    mkdir -p "$MK8S_S/addons"
    local a
    for a in "${MK8S_DEFAULT_ADDONS[@]}"; do touch "$MK8S_S/addons/$a"; done
    mk8s_register_node control-plane
  fi
}

# mk8s_uninstall: what `snap remove microk8s` removes (refused while the host is in the lab cluster).
mk8s_uninstall() {
  if mk8s_member || mk8s_worker; then
    lab_die "lab double: $SELF is in the lab cluster: run microk8s leave (and remove-node on a master) before snap remove microk8s"
  fi
  local u
  for u in "${MK8S_UNITS[@]}"; do unit_remove "$u"; done
  rm -f "$LAB_BIN/microk8s" "$LAB_BIN/microk8s.kubectl"
  rm -rf "$MK8S_L" /var/snap/microk8s /snap/microk8s
}
