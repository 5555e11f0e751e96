# Shared state of the MicroK8s test double (sourced by the fake commands in this directory).
# DOUBLE_ROOT holds everything; DOUBLE_HOST is the host the calling script runs on.
#   $DOUBLE_ROOT/hosts/<host>/{installed,channel,held,groups,cluster,addr}  per-host snap state
#   $DOUBLE_ROOT/snapdata -> hosts/<host>/snapdata (the test points it at the running host)
#   $DOUBLE_ROOT/clusters/<id>/{tokens,addons/,nodes/<node>/{ready,labels,taints,unschedulable}}
#   $DOUBLE_ROOT/addr/<address>  the host with that address
#   $DOUBLE_ROOT/log  every mutating call: "<host> <command line>"
#   $DOUBLE_ROOT/fail-refresh-<host>  makes `snap refresh --channel` fail on <host> (its content is the message)
#   $DOUBLE_ROOT/notready-after-refresh-<host>  a refresh leaves <host>'s node NotReady
set -euo pipefail
: "${DOUBLE_ROOT:?}" "${DOUBLE_HOST:?}"
H=$DOUBLE_ROOT/hosts/$DOUBLE_HOST
LOCK=$H/snapdata/var/lock/clustered.lock
log() { printf '%s %s\n' "$DOUBLE_HOST" "$*" >>"$DOUBLE_ROOT/log"; }
cluster_of() { cat "$DOUBLE_ROOT/hosts/$1/cluster"; }
# version_of HOST: the Kubernetes version of HOST's channel (v<track>.9), as its kubelet reports it.
version_of() { local c; c=$(cat "$DOUBLE_ROOT/hosts/$1/channel"); echo "v${c%%/*}.9"; }
# used_by_others ID HOST: another host than HOST is in cluster ID (HOST founded it and left).
used_by_others() {
  local f
  for f in "$DOUBLE_ROOT"/hosts/*/cluster "$DOUBLE_ROOT"/hosts/*/worker-of; do
    if [ -f "$f" ] && [ "$(cat "$f")" = "$1" ]; then
      case $f in "$DOUBLE_ROOT/hosts/$2/"*) ;; *) return 0 ;; esac
    fi
  done
  return 1
}
new_cluster() { # new_cluster HOST: HOST alone in a cluster of its own (a new id if the others kept HOST's)
  local id=$1 n=1
  while used_by_others "$id" "$1"; do id=$1.$n n=$((n + 1)); done
  local c=$DOUBLE_ROOT/clusters/$id
  rm -rf "$c"
  mkdir -p "$c/nodes/$1" "$c/addons"
  : >"$c/tokens"
  echo True >"$c/nodes/$1/ready"
  : >"$c/nodes/$1/labels"
  : >"$c/nodes/$1/taints"
  echo "$id" >"$DOUBLE_ROOT/hosts/$1/cluster"
}
