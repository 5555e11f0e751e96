#!/usr/bin/env bash
# Argo CD v2.14.21 as local processes for the e2e test, in the same loopback-only namespace as
# the control plane of k8s-up.sh: redis (cache only), a git daemon serving $E2E_STATE/<repo>
# as git://127.0.0.1:9418/<repo>, the repo-server and the application-controller (the `argocd`
# multi-binary under its argv[0] names). No API server, UI or Dex: Applications are plain custom
# resources. Adapted from shared/lab-recipes/argocd-local.sh (which bridges to a host apiserver
# through socat; here the apiserver is in the same namespace, so nothing is bridged).
#
# Before the controller starts, the cluster gets what it reads at start-up: the CRDs of the
# argo-cd module (manifests/crds), the namespace argocd, argocd-secret (server.secretkey),
# argocd-cm and argocd-rbac-cm (labels only: the Pulumi program's argocd component owns the
# content of argocd-cm) and the AppProject default (argocd-server would create it).
# Idempotent; stop with argocd-down.sh. Needs k8s-up.sh, redis-server, git, curl.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
for b in argocd helm kustomize; do [ -x "$BIN/$b" ] || die "$BIN/$b missing: run bash scripts/tools.sh --lab"; done
for c in redis-server redis-cli git curl; do command -v "$c" >/dev/null || die "$c missing: run bash scripts/tools.sh --lab"; done
netns_exists || die "netns $E2E_NETNS missing: run k8s-up.sh first"
kc get --raw=/readyz >/dev/null 2>&1 || die "the apiserver does not answer: run k8s-up.sh first"
KC=$KUBECONFIG_FILE
REDIS_PORT=16379 REPO_PORT=18081 REPO_METRICS_PORT=18084 CTRL_METRICS_PORT=18082
mkdir -p "$ACD_STATE"/{bin,tmp,home}
ln -sf "$BIN/argocd" "$ACD_STATE/bin/argocd-application-controller"
ln -sf "$BIN/argocd" "$ACD_STATE/bin/argocd-repo-server"

crds=$(argocd_module_dir)/manifests/crds
kc apply --server-side --field-manager=e2e-lab -f "$crds/application-crd.yaml" \
  -f "$crds/appproject-crd.yaml" -f "$crds/applicationset-crd.yaml" >/dev/null
# polled: `kubectl wait` fails at once ("accessor error") while a new CRD has no status yet
wait_for "the Argo CD CRDs established" 60 kc wait --for condition=established --timeout=5s \
  crd/applications.argoproj.io crd/appprojects.argoproj.io crd/applicationsets.argoproj.io
kc create namespace argocd --dry-run=client -o yaml | kc apply -f - >/dev/null
kc -n argocd get secret argocd-secret >/dev/null 2>&1 ||
  kc -n argocd create secret generic argocd-secret \
    --from-literal=server.secretkey="$(head -c 32 /dev/urandom | base64)" >/dev/null
kc -n argocd label --overwrite secret argocd-secret app.kubernetes.io/part-of=argocd app.kubernetes.io/name=argocd-secret >/dev/null
kc apply --server-side --field-manager=e2e-lab -f - >/dev/null <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels: {app.kubernetes.io/part-of: argocd, app.kubernetes.io/name: argocd-cm}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  namespace: argocd
  labels: {app.kubernetes.io/part-of: argocd, app.kubernetes.io/name: argocd-rbac-cm}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: default, namespace: argocd}
spec:
  sourceRepos: ['*']
  destinations: [{namespace: '*', server: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
YAML

start "$ACD_STATE" redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
  --protected-mode yes --dir "$ACD_STATE" --daemonize no
wait_for redis 30 "${IN[@]}" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping

start "$ACD_STATE" git-daemon "$(git --exec-path)/git-daemon" --base-path="$E2E_STATE" --export-all \
  --reuseaddr --listen=127.0.0.1 --port=9418 --informative-errors
wait_for git-daemon 30 "${IN[@]}" bash -c 'echo >/dev/tcp/127.0.0.1/9418'

# The repo-server runs helm and kustomize from PATH for Helm and Kustomize apps, as in its image.
start "$ACD_STATE" repo-server env HOME="$ACD_STATE/home" TMPDIR="$ACD_STATE/tmp" ARGOCD_GPG_ENABLED=false PATH="$BIN:$PATH" \
  ARGOCD_ASK_PASS_SOCK="$ACD_STATE/askpass.sock" \
  "$ACD_STATE/bin/argocd-repo-server" --address 127.0.0.1 --port "$REPO_PORT" --disable-tls \
  --metrics-address 127.0.0.1 --metrics-port "$REPO_METRICS_PORT" --redis 127.0.0.1:"$REDIS_PORT"
wait_for repo-server 60 "${IN[@]}" curl -sf "http://127.0.0.1:$REPO_METRICS_PORT/healthz?full=true"

# ARGOCD_FAKE_IN_CLUSTER + KUBECONFIG: the in-cluster destination https://kubernetes.default.svc
# uses the kubeconfig (no service account token files here). The metrics server binds 0.0.0.0:
# inside this namespace that is loopback only.
start "$ACD_STATE" controller env HOME="$ACD_STATE/home" TMPDIR="$ACD_STATE/tmp" ARGOCD_FAKE_IN_CLUSTER=true KUBECONFIG="$KC" \
  "$ACD_STATE/bin/argocd-application-controller" --kubeconfig "$KC" --namespace argocd \
  --repo-server 127.0.0.1:"$REPO_PORT" --repo-server-plaintext --redis 127.0.0.1:"$REDIS_PORT" \
  --metrics-port "$CTRL_METRICS_PORT" --app-resync "${APP_RESYNC:-60}" --self-heal-timeout-seconds 5 \
  --status-processors 4 --operation-processors 4
wait_for controller 60 "${IN[@]}" curl -sf "http://127.0.0.1:$CTRL_METRICS_PORT/healthz"
echo "argocd up: netns=$E2E_NETNS repos=git://127.0.0.1:9418/<dir under $E2E_STATE> logs=$ACD_STATE/*.log"
