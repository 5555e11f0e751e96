#!/usr/bin/env bash
# Tears down what stack-up.sh started, by recorded PID: Argo CD, the controller stand-ins, Vault, the control plane (its
# etcd data purged), the hosts, the loop devices, and the lab namespace. --purge also deletes the
# state directory (PKI, GitOps repo, Pulumi state of the lab stack). Safe to run twice.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=stack-env.sh
. "$here/stack-env.sh"
[ "$(id -u)" -eq 0 ] || die "needs root"
rc=0
bash "$here/../e2e/argocd-down.sh" || rc=1
# the e2e library's stop (TERM by recorded PID, then KILL), in a subshell: its die and defaults stay there
# shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
(. "$here/../e2e/lib.sh" && stop "$STATE/controllers" controllers && stop "$STATE/vault" vault) || rc=1
# the hosts first (their veths live in the lab namespace), then the control plane, which deletes it
bash "$here/hosts-down.sh" || rc=1
bash "$here/../e2e/k8s-down.sh" --purge || rc=1
for f in "$STATE"/loop/*.img; do
  [ -f "$f" ] || continue
  for dev in $(losetup -j "$f" | cut -d: -f1); do losetup -d "$dev" || rc=1; done
done
if [ "${1:-}" = --purge ]; then rm -rf "$STATE"; fi
exit $rc
