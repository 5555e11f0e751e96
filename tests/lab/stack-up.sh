#!/usr/bin/env bash
# The full-stack lab: everything `pulumi up` of the lab stack (testdata/Pulumi.stacklab.yaml)
# talks to, on this machine, inside ONE network namespace ($LABNS, default pm4ml-lab) that has no
# default route: no packet leaves the machine.
#
#   10 lab hosts (hosts-up.sh) on br-lab in $LABNS, with the MicroK8s/MicroCeph lab doubles
#      (doubles/, bound read-only at /opt/pm4ml-lab; shared double state at /var/lib/pm4ml-lab)
#      h1-h3 masters, h4-h5 workers, h6-h7 HAProxy, h8-h10 storage (a loop device as /dev/sdb)
#   kube-apiserver + etcd + kwok (../e2e/k8s-up.sh) on 10.77.0.1:6443: the cluster the doubles
#      register the joined hosts in; the program reaches it through h1:16443 as with MicroK8s
#   Argo CD application-controller + repo-server + a git daemon serving the GitOps repo: the
#      checklist's realistic apps (CRDs, Istio gateways from a vendored chart through Kustomize
#      helmCharts, a ClusterIssuer, MySQL on the local class, PM4ML as a Helm chart) and small
#      stand-ins for the others (../e2e/argocd-up.sh, ../e2e/make-gitops.sh --realistic)
#   the cert-manager and volume-provisioner stand-ins those apps need (controllers_double.py)
#   Vault dev server on 10.77.0.1:8200, `secret/` a KV v1 mount (the program's default)
#   an ingress-gateway stand-in on the workers (gateway.py: NodePorts 32443/31443 with PROXY v2
#      and TLS, health on 32081/31081), where the platform's Istio gateway would answer
#
# Idempotent (what runs is left alone). Stop with stack-down.sh. Needs root, the binaries of
# `bash scripts/tools.sh --pulumi --lab` and the Debian tools of `--lab` / `--deb`.
# Environment: PM4ML_CACHE, PM4ML_STACKLAB_DIR (state, default $PM4ML_CACHE/lab/stack),
# PM4ML_STACKLAB_NETNS (default pm4ml-lab), STACKLAB_VAULT_TOKEN (default lab-root-token),
# STACKLAB_DOUBLES (default doubles/ beside this script).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=stack-env.sh
. "$here/stack-env.sh"
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, loop devices, systemd-nspawn)"
[ -x "$BIN/vault" ] || die "$BIN/vault missing: run bash scripts/tools.sh --lab"
mkdir -p "$STATE"/{shared/state,loop,vault,gateway,controllers}
t0=$SECONDS
# stage TEXT: one progress line with the time since the start
stage() { echo "stack-lab: [+$((SECONDS - t0)) s] $*"; }

stage "control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
# 1. The control plane, in the lab namespace (created here; br-lab joins it below).
bash "$here/../e2e/k8s-up.sh"
sed 's#https://127.0.0.1:6443#https://10.77.0.1:6443#' "$E2E_STATE/k8s/kubeconfig" >"$STATE/shared/kubeconfig"
chmod 600 "$STATE/shared/kubeconfig"

# 2. What the MicroK8s/MicroCeph doubles read on every host (before the hosts boot).
install -m 0755 "$KUBECTL_SRC" "$STATE/shared/kubectl"
{
  echo "LAB_APISERVER=https://10.77.0.1:6443"
  echo "LAB_CLUSTER_OWNER=h1"
  printf 'LAB_HOSTS="'
  for i in $(seq 1 "$NHOSTS"); do printf 'h%d=10.77.0.%d ' "$i" $((10 + i)); done
  echo '"'
} >"$STATE/shared/lab.env"

stage "loop devices for the storage hosts' /dev/sdb"
# 3. The storage hosts' data disks: a sparse file each, as a loop device bound at /dev/sdb.
binds=()
for h in $STORAGE_HOSTS; do
  f=$STATE/loop/$h.img
  [ -f "$f" ] || truncate -s 2G "$f"
  dev=$(losetup -j "$f" | cut -d: -f1 | head -n1)
  [ -n "$dev" ] || dev=$(losetup -f --show "$f")
  echo "$dev" >"$STATE/loop/$h.dev"
  binds+=("$h=$dev:/dev/sdb")
done

stage "$NHOSTS hosts with the MicroK8s/MicroCeph doubles (the first time: the Debian host image, ~2-4 min)"
# 4. The hosts, with the doubles.
DOUBLES=${STACKLAB_DOUBLES:-$here/doubles}
[ -x "$DOUBLES/install.sh" ] || die "$DOUBLES/install.sh missing (the lab doubles)"
PM4ML_LAB_BIND="all=$STATE/shared:/var/lib/pm4ml-lab ${binds[*]}" \
  PM4ML_LAB_BIND_RO="all=$DOUBLES:/opt/pm4ml-lab" \
  PM4ML_LAB_PROVISION="$DOUBLES/install.sh" \
  bash "$here/hosts-up.sh" "$NHOSTS"

stage "GitOps repository and Argo CD"
# 5. The GitOps repo (made once per state dir: Argo CD keeps what it fetched) and Argo CD.
if [ ! -d "$E2E_STATE/gitops/.git" ]; then
  bash "$here/../e2e/make-gitops.sh" --realistic "$E2E_STATE/gitops" "${APPS[@]}"
fi
bash "$here/../e2e/argocd-up.sh"
# the controllers the realistic apps need and kwok does not run (cert-manager, a provisioner)
if ! alive "$STATE/controllers" controllers; then
  nohup ip netns exec "$LABNS" python3 "$here/controllers_double.py" "$E2E_STATE/k8s/kubeconfig" \
    >"$STATE/controllers/controllers.log" 2>&1 </dev/null &
  echo $! >"$STATE/controllers/controllers.pid"
fi

stage "Vault dev server"
# 6. Vault dev server: in-memory, root token known to the lab stack, secret/ as KV v1.
if ! alive "$STATE/vault" vault; then
  nohup ip netns exec "$LABNS" "$BIN/vault" server -dev -dev-listen-address=0.0.0.0:8200 \
    -dev-root-token-id="$VAULT_TOKEN" -dev-no-store-token >"$STATE/vault/vault.log" 2>&1 </dev/null &
  echo $! >"$STATE/vault/vault.pid"
fi
vault() { ip netns exec "$LABNS" env VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN="$VAULT_TOKEN" "$BIN/vault" "$@"; }
for _ in $(seq 60); do vault status >/dev/null 2>&1 && break; sleep 0.5; done
vault status >/dev/null || die "vault did not start, see $STATE/vault/vault.log"
if [ "$(vault read -field=options sys/mounts/secret 2>/dev/null)" != "map[version:1]" ]; then
  vault secrets disable secret >/dev/null
  vault secrets enable -path=secret -version=1 kv >/dev/null
fi

stage "the ingress-gateway stand-in on $WORKER_HOSTS"
# 7. The ingress-gateway stand-in on the workers (a systemd unit: it survives a host's restart).
if [ ! -f "$STATE/gateway/tls.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=*.$DOMAIN" \
    -addext "subjectAltName=DNS:*.$DOMAIN" -keyout "$STATE/gateway/tls.key" -out "$STATE/gateway/tls.crt" 2>/dev/null
fi
for h in $WORKER_HOSTS; do
  ip=$(host_addr "$h")
  labssh "$ip" 'mkdir -p /opt/pm4ml-lab-gateway'
  labscp "$here/gateway.py" "$STATE/gateway/tls.crt" "$STATE/gateway/tls.key" "$ip:/opt/pm4ml-lab-gateway/"
  labssh "$ip" "cat >/etc/systemd/system/pm4ml-lab-gateway.service" <<UNIT
[Unit]
Description=pm4ml LAB stand-in for the ingress gateway (never on a real host)
[Service]
ExecStart=/usr/bin/python3 /opt/pm4ml-lab-gateway/gateway.py --domain $DOMAIN --cert /opt/pm4ml-lab-gateway/tls.crt --key /opt/pm4ml-lab-gateway/tls.key
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
  labssh "$ip" 'systemctl daemon-reload && systemctl enable --now pm4ml-lab-gateway >/dev/null 2>&1 && systemctl is-active pm4ml-lab-gateway' >/dev/null ||
    die "the gateway stand-in did not start on $h"
done

echo "stack lab up in $((SECONDS - t0)) s: netns=$LABNS state=$STATE (hosts: $STATE/run/inventory)"
