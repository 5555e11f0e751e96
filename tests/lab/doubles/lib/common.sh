# shellcheck shell=bash disable=SC2034
# LAB DOUBLE — never shipped. Shared helpers of the lab doubles of snap, microk8s and microceph
# (sourced by bin/*). They run on the lab hosts (systemd-nspawn containers) only; see README.md.
#
# Shared state (every host sees the same directory, bind-mounted read-write):
#   /var/lib/pm4ml-lab/lab.env      LAB_APISERVER, LAB_CLUSTER_OWNER, LAB_HOSTS (written by the lab)
#   /var/lib/pm4ml-lab/kubeconfig   the lab apiserver's admin kubeconfig
#   /var/lib/pm4ml-lab/kubectl      a static kubectl
#   /var/lib/pm4ml-lab/state/       cross-host state of the doubles (flock on state/.lock)
# Host-local state: /var/lib/pm4ml-lab-double/ (installed snaps, channels, holds, membership).
set -euo pipefail
LAB_SHARED=${PM4ML_LAB_SHARED:-/var/lib/pm4ml-lab}
LAB_LOCAL=${PM4ML_LAB_LOCAL:-/var/lib/pm4ml-lab-double}
LAB_DOUBLES=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
LAB_STATE=$LAB_SHARED/state
LAB_KUBECTL=$LAB_SHARED/kubectl
LAB_KUBECONFIG=$LAB_SHARED/kubeconfig
LAB_BIN=/usr/local/bin

lab_die() {
  printf '%s\n' "$*" >&2
  exit 1
}

# lab_env: loads lab.env; sets SELF (the host name) and SELF_ADDR (its lab address).
lab_env() {
  [ -r "$LAB_SHARED/lab.env" ] || lab_die "lab double: $LAB_SHARED/lab.env is missing (the lab writes it before the hosts boot)"
  # shellcheck source=/dev/null
  . "$LAB_SHARED/lab.env"
  : "${LAB_APISERVER:?lab.env: LAB_APISERVER unset}" "${LAB_CLUSTER_OWNER:?lab.env: LAB_CLUSTER_OWNER unset}" "${LAB_HOSTS:?lab.env: LAB_HOSTS unset}"
  SELF=$(hostname)
  SELF_ADDR=$(addr_of "$SELF") || lab_die "lab double: host $SELF is not in LAB_HOSTS ($LAB_HOSTS)"
}

# addr_of NAME: the lab address of host NAME (from LAB_HOSTS).
addr_of() {
  local e
  for e in $LAB_HOSTS; do
    if [ "${e%%=*}" = "$1" ]; then
      echo "${e#*=}"
      return 0
    fi
  done
  return 1
}

# name_of ADDR: the host with that lab address.
name_of() {
  local e
  for e in $LAB_HOSTS; do
    if [ "${e#*=}" = "$1" ]; then
      echo "${e%%=*}"
      return 0
    fi
  done
  return 1
}

# lab_lock: hold the shared state lock until this process exits (re-entrant for children).
lab_lock() {
  [ "${LAB_LOCKED:-}" = 1 ] && return 0
  mkdir -p "$LAB_STATE"
  exec 9>"$LAB_STATE/.lock"
  flock -w 120 9 || lab_die "lab double: the shared state lock $LAB_STATE/.lock is busy"
  export LAB_LOCKED=1
}

# tcp_open HOST PORT [SECONDS]: a TCP connection to HOST:PORT succeeds from this host.
tcp_open() {
  # shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
  timeout "${3:-2}" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# kc ARGS...: the real kubectl against the lab apiserver (the doubles' own view of the cluster).
kc() {
  { [ -x "$LAB_KUBECTL" ] && [ -r "$LAB_KUBECONFIG" ]; } || lab_die "lab double: $LAB_KUBECTL or $LAB_KUBECONFIG is missing"
  "$LAB_KUBECTL" --kubeconfig "$LAB_KUBECONFIG" --request-timeout=30s "$@"
}

# kubeconfig_for SERVER: the lab admin kubeconfig in MicroK8s' layout, pointing at SERVER.
kubeconfig_for() {
  local ca cert key
  ca=$(kc config view --raw --flatten --minify -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}')
  cert=$(kc config view --raw --flatten --minify -o 'jsonpath={.users[0].user.client-certificate-data}')
  key=$(kc config view --raw --flatten --minify -o 'jsonpath={.users[0].user.client-key-data}')
  { [ -n "$ca" ] && [ -n "$cert" ] && [ -n "$key" ]; } || lab_die "lab double: $LAB_KUBECONFIG has no CA or client certificate"
  cat <<KC
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $ca
    server: $1
  name: microk8s-cluster
contexts:
- context:
    cluster: microk8s-cluster
    user: admin
  name: microk8s
current-context: microk8s
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: $cert
    client-key-data: $key
KC
}

# put FILE MODE: stdin into FILE when it differs (0: written, 1: unchanged).
put() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$1")"
  install -m "$2" "$tmp" "$1"
  rm -f "$tmp"
}

# unit_up NAME DESCRIPTION ARGS...: a systemd service NAME running the lab listener with ARGS
# (bin/../lib/listen.py), enabled and started.
unit_up() {
  local name=$1 desc=$2 f
  shift 2
  f=/etc/systemd/system/$name.service
  if put "$f" 0644 <<UNIT; then
# LAB DOUBLE — never shipped: stands in for the snap's service of the same name.
[Unit]
Description=$desc (pm4ml lab double)
After=network-online.target

[Service]
ExecStart=/usr/bin/python3 $LAB_DOUBLES/lib/listen.py $*
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
UNIT
    systemctl daemon-reload
    systemctl enable "$name" >/dev/null 2>&1
    systemctl restart "$name"
  else
    systemctl enable "$name" >/dev/null 2>&1
    systemctl start "$name"
  fi
}

# unit_down NAME: stopped and disabled (the unit file stays).
unit_down() {
  [ -f "/etc/systemd/system/$1.service" ] || return 0
  systemctl disable "$1" >/dev/null 2>&1 || true
  systemctl stop "$1" 2>/dev/null || true
}

# unit_remove NAME: stopped, disabled and deleted.
unit_remove() {
  unit_down "$1"
  rm -f "/etc/systemd/system/$1.service"
  systemctl daemon-reload
}

# unit_active NAME: the service runs.
unit_active() { systemctl is-active --quiet "$1"; }

# rand_hex N: N random lower-case hex characters.
rand_hex() { od -An -tx1 -N"$((($1 + 1) / 2))" /dev/urandom | tr -d ' \n' | cut -c1-"$1"; }
