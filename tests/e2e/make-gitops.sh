#!/usr/bin/env bash
# The e2e test's GitOps repository: a git repo (branch main, one commit) at DIR with
#   apps/<name>/     for every NAME given: a tiny stand-in app (one ConfigMap), Synced and Healthy
#                    within seconds of its Application's creation;
#   with --realistic, every NAME that the pre-deployment checklist's clean repository
#                    (components/checklist/testdata/gitops, see its README) has is that app
#                    instead: CRDs of cert-manager and Istio, the Istio ingress gateways as a
#                    Kustomization inflating a vendored chart (helmCharts) on the port matrix's
#                    NodePorts with the PROXY v2 listener on the external one, a ClusterIssuer, a
#                    MySQL StatefulSet on the local class, PM4ML as a plain Helm chart (requests and
#                    limits, HPA, PVC, Certificate, Gateway, VirtualService). The full-stack lab
#                    uses it (tests/lab/stack-up.sh); it needs Argo CD with helm and kustomize, and
#                    the lab's controller stand-ins (tests/lab/controllers-double.sh);
#   apps/broken/     a ConfigMap whose data is not a string map: the apiserver rejects it, so
#                    Argo CD's sync fails with the apiserver's reason (operationState.message);
#   apps/degraded/   a Deployment whose pods can never be scheduled, with a 1 s progress deadline:
#                    Synced but Degraded ("... exceeded its progress deadline").
# Usage: make-gitops.sh [--realistic] DIR NAME...   (DIR is recreated: one commit on main)
set -euo pipefail
REAL=
if [[ ${1:-} == --realistic ]]; then
  REAL=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../components/checklist/testdata/gitops/apps" && pwd)
  shift
fi
(($# >= 2)) || { echo "usage: $0 [--realistic] DIR NAME..." >&2; exit 2; }
R=$1; shift
case $R in /*) ;; *) echo "make-gitops: DIR must be absolute" >&2; exit 2 ;; esac
rm -rf "$R"
mkdir -p "$R/apps/broken" "$R/apps/degraded"
for n in "$@"; do
  [[ $n =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]] || { echo "make-gitops: app name '$n' is not a DNS label" >&2; exit 2; }
  if [[ -n $REAL && -d $REAL/$n ]]; then
    cp -R "$REAL/$n" "$R/apps/$n"
    continue
  fi
  mkdir -p "$R/apps/$n"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-standin\ndata:\n  app: %s\n' "$n" "$n" >"$R/apps/$n/configmap.yaml"
done
cat >"$R/apps/broken/configmap.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken-standin
data:
  replicas: [two]
YAML
cat >"$R/apps/degraded/deployment.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: degraded-standin
spec:
  replicas: 1
  progressDeadlineSeconds: 1
  selector:
    matchLabels: {app: degraded-standin}
  template:
    metadata:
      labels: {app: degraded-standin}
    spec:
      nodeSelector: {e2e.pm4ml.io/no-such-node: "true"}
      containers:
      - name: app
        image: registry.invalid/never-pulled:1
YAML
cd "$R"
git init -q -b main .
git add -A
git -c user.name=e2e -c user.email=e2e@example.invalid commit -qm "stand-in apps"
echo "gitops: $R ($(git rev-parse --short HEAD), $(($# + 2)) apps)"
