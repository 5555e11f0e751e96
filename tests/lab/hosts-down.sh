#!/usr/bin/env bash
# Tear down what hosts-up.sh started: every lab host found under $LAB/hosts (whatever N was),
# stopped by the PID hosts-up.sh recorded, then its overlay, namespace and veth, then br-lab.
# The cached image stays. Safe to run twice.
set -uo pipefail

CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
LAB=${PM4ML_LAB_DIR:-$CACHE/lab/run}
BRIDGE=br-lab
STOP_TIMEOUT=${PM4ML_LAB_STOP_TIMEOUT:-20}
# PM4ML_LAB_NETNS: the namespace hosts-up.sh put br-lab in (deleted here too); unset = root one
LABNS=${PM4ML_LAB_NETNS:-}
NSPREFIX=${PM4ML_LAB_NSPREFIX:-} # see hosts-up.sh
BR=(ip)
if [ -n "$LABNS" ] && [ -e "/run/netns/$LABNS" ]; then BR=(ip -n "$LABNS"); fi

[ "$(id -u)" -eq 0 ] || { echo "hosts-down: needs root" >&2; exit 1; }
[ -d "$LAB" ] || exit 0
exec 9>"$LAB/.lock"
flock -w 600 9 || { echo "hosts-down: another hosts-up/hosts-down holds $LAB/.lock" >&2; exit 1; }

names=()
for f in "$LAB"/h*.pid "$LAB"/hosts/h*; do
  [ -e "$f" ] || continue
  n=$(basename "$f" .pid)
  [[ $n =~ ^h[0-9]+$ ]] && names+=("$n")
done
mapfile -t names < <(printf '%s\n' "${names[@]}" | sort -u | sed '/^$/d')

# SIGTERM makes systemd-nspawn power the container off cleanly; SIGKILL after the timeout.
pids=()
for h in "${names[@]}"; do
  pid=$(cat "$LAB/$h.pid" 2>/dev/null) || continue
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" && pids+=("$pid"); fi
done
deadline=$((SECONDS + STOP_TIMEOUT))
for pid in "${pids[@]}"; do
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "hosts-down: pid $pid still running after ${STOP_TIMEOUT}s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
done

rc=0
for h in "${names[@]}"; do
  rm -f "$LAB/$h.pid"
  d=$LAB/hosts/$h
  if mountpoint -q "$d/root" 2>/dev/null; then
    umount "$d/root" 2>/dev/null || umount -l "$d/root" || rc=1
  fi
  rm -rf "$d"
  "${BR[@]}" link del "veth-$h" 2>/dev/null
  [ ! -e "/run/netns/$NSPREFIX$h" ] || ip netns del "$NSPREFIX$h" || rc=1
done
"${BR[@]}" link show "$BRIDGE" >/dev/null 2>&1 && { "${BR[@]}" link del "$BRIDGE" || rc=1; }
if [ -n "$LABNS" ] && [ -e "/run/netns/$LABNS" ]; then ip netns del "$LABNS" || rc=1; fi
rm -f "$LAB/inventory"
exit $rc
