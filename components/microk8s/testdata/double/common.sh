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
new_cluster() { # new_cluster HOST: HOST alone in a cluster of its own
  local c=$DOUBLE_ROOT/clusters/$1
  rm -rf "$c"
  mkdir -p "$c/nodes/$1" "$c/addons"
  : >"$c/tokens"
  echo True >"$c/nodes/$1/ready"
  : >"$c/nodes/$1/labels"
  : >"$c/nodes/$1/taints"
  echo "$1" >"$DOUBLE_ROOT/hosts/$1/cluster"
}
