#!/usr/bin/env bash
# A local Kubernetes control plane for the e2e test, inside the loopback-only network namespace
# $E2E_NETNS (lib.sh): etcd (Debian etcd-server) + kube-apiserver + kube-controller-manager +
# kube-scheduler (v1.31.14) + kwok (v0.7.0, one fake node: pods become Running/Ready without
# running anything). Adapted from shared/lab-recipes/k8s-up.sh.
#
# Idempotent: servers already running are left alone, the PKI is made once. Writes
# $E2E_STATE/k8s/kubeconfig (server https://127.0.0.1:6443, reachable only inside the namespace:
# `ip netns exec $E2E_NETNS kubectl --kubeconfig ...`). Stop with k8s-down.sh.
# Needs root, iproute2, openssl, curl, kubectl, etcd (Debian etcd-server) and the binaries of
# `scripts/tools.sh --lab` in $BIN.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
for b in kube-apiserver kube-controller-manager kube-scheduler kwok; do
  [ -x "$BIN/$b" ] || die "$BIN/$b missing: run bash scripts/tools.sh --lab"
done
for c in etcd kubectl openssl curl; do command -v "$c" >/dev/null || die "$c missing: run bash scripts/tools.sh --lab"; done

netns_up
mkdir -p "$K8S_STATE/pki"
cd "$K8S_STATE/pki"
san="subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
for ip in ${E2E_API_SANS//,/ }; do san="$san,IP:$ip"; done
# a changed SAN list makes a new PKI (the apiserver, if running, must be restarted: k8s-down.sh)
if [ -f admin.crt ] && [ "$(cat san.ext 2>/dev/null)" != "$san" ]; then rm -f ./*.crt ./*.key ./*.csr ./*.srl; fi
if [ ! -f admin.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=e2e-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
  printf '%s\n' "$san" >san.ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 30 -extfile san.ext 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 30 -extfile client.ext 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
fi
cd "$K8S_STATE"
KC=$KUBECONFIG_FILE
kubectl config --kubeconfig="$KC" set-cluster local --server="https://127.0.0.1:$API_PORT" --certificate-authority=pki/ca.crt --embed-certs=true >/dev/null
kubectl config --kubeconfig="$KC" set-credentials admin --client-certificate=pki/admin.crt --client-key=pki/admin.key --embed-certs=true >/dev/null
kubectl config --kubeconfig="$KC" set-context local --cluster=local --user=admin >/dev/null
kubectl config --kubeconfig="$KC" use-context local >/dev/null
chmod 600 "$KC"

start "$K8S_STATE" etcd etcd --name e2e --data-dir "$K8S_STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster e2e=http://127.0.0.1:2380 --unsafe-no-fsync
wait_for etcd 30 "${IN[@]}" curl -sf http://127.0.0.1:2379/health

bind=127.0.0.1 advertise=127.0.0.1
[ "$E2E_LABNET" != 1 ] || bind=0.0.0.0 advertise=10.77.0.1 # the lab hosts reach it on br-lab
start "$K8S_STATE" kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
  --bind-address="$bind" --advertise-address="$advertise" --secure-port="$API_PORT" \
  --tls-cert-file=pki/apiserver.crt --tls-private-key-file=pki/apiserver.key --client-ca-file=pki/ca.crt \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file=pki/sa.pub --service-account-signing-key-file=pki/sa.key \
  --authorization-mode=Node,RBAC --service-cluster-ip-range=10.96.0.0/12 --allow-privileged=true \
  --endpoint-reconciler-type=none --profiling=false
wait_for kube-apiserver 90 kc get --raw=/readyz

start "$K8S_STATE" kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$KC" \
  --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-account-private-key-file=pki/sa.key --root-ca-file=pki/ca.crt \
  --cluster-signing-cert-file=pki/ca.crt --cluster-signing-key-file=pki/ca.key \
  --service-cluster-ip-range=10.96.0.0/12 --use-service-account-credentials=true --profiling=false
start "$K8S_STATE" kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$KC" \
  --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false
start "$K8S_STATE" kwok "$BIN/kwok" --kubeconfig="$KC" --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 --cidr=10.0.0.1/24 --node-ip=10.0.0.1 --server-address=127.0.0.1:10247

if [ "$E2E_KWOK_NODE" = 1 ]; then
kc apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "250"}
  capacity: {cpu: "32", memory: 256Gi, pods: "250"}
YAML
kc wait --for=condition=Ready node --all --timeout=60s >/dev/null
fi
# pods can only be created in a namespace once its 'default' ServiceAccount exists
wait_for "the default ServiceAccount" 60 kc -n default get sa default
echo "k8s up: netns=$E2E_NETNS KUBECONFIG=$KC logs=$K8S_STATE/*.log"
