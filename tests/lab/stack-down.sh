#!/usr/bin/env bash
# Tears down what stack-up.sh started, by recorded PID: Argo CD, Vault, the control plane (its
# etcd data purged), the hosts, the loop devices, and the lab namespace. --purge also deletes the
# state directory (PKI, GitOps repo, Pulumi state of the lab stack). Safe to run twice.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=stack-env.sh
. "$here/stack-env.sh"
[ "$(id -u)" -eq 0 ] || die "needs root"
rc=0
bash "$here/../e2e/argocd-down.sh" || rc=1
if [ -f "$STATE/vault/vault.pid" ]; then
  p=$(cat "$STATE/vault/vault.pid")
  if kill "$p" 2>/dev/null; then
    for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$p" 2>/dev/null
  fi
  rm -f "$STATE/vault/vault.pid"
fi
# the hosts first (their veths live in the lab namespace), then the control plane, which deletes it
bash "$here/hosts-down.sh" || rc=1
bash "$here/../e2e/k8s-down.sh" --purge || rc=1
for f in "$STATE"/loop/*.img; do
  [ -f "$f" ] || continue
  for dev in $(losetup -j "$f" | cut -d: -f1); do losetup -d "$dev" || rc=1; done
done
if [ "${1:-}" = --purge ]; then rm -rf "$STATE"; fi
exit $rc
