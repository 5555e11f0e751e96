#!/usr/bin/env bash
# LAB DOUBLE — never shipped. The lab's PM4ML_LAB_PROVISION program (hosts-up.sh runs it as
# `install.sh HOST ROOTDIR` before HOST boots): links the snap double into the host's
# /usr/local/bin. The doubles directory is bind-mounted read-only at /opt/pm4ml-lab and the shared
# state directory at /var/lib/pm4ml-lab (PM4ML_LAB_BIND_RO / PM4ML_LAB_BIND); `snap install`
# adds microk8s / microceph later, as the real snaps appear only once installed.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: install.sh HOST ROOTDIR" >&2; exit 2; }
root=$2
[ -d "$root/usr/local/bin" ] || { echo "install.sh: $root is not a host root" >&2; exit 1; }
ln -sfn /opt/pm4ml-lab/bin/snap "$root/usr/local/bin/snap"
mkdir -p "$root/opt/pm4ml-lab" "$root/var/lib/pm4ml-lab"
