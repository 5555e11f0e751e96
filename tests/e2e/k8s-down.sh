#!/usr/bin/env bash
# Stops what k8s-up.sh started (by recorded PID, kwok first, etcd last) and deletes the network
# namespace (stop Argo CD first: argocd-down.sh). --purge also deletes the cluster's data (etcd),
# so the next k8s-up.sh starts an empty cluster; the PKI and kubeconfig are kept.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
stop "$K8S_STATE" kwok kube-scheduler kube-controller-manager kube-apiserver etcd
netns_down
if [ "${1:-}" = --purge ]; then rm -rf "$K8S_STATE/etcd" "$K8S_STATE"/*.log; fi
