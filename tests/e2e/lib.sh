# shellcheck shell=bash
# shellcheck disable=SC2034 # the settings are used by the scripts that source this file
# Settings and helpers shared by the e2e lab scripts (sourced, never run). See README.md.
#
# Everything the lab starts runs inside ONE network namespace, $E2E_NETNS, whose only interface is
# lo and which has no route at all: the apiserver's dials to Service ClusterIPs and kwok's fake pod
# IPs fail locally, and no lab process can send a packet beyond loopback. Processes are stopped by
# the PIDs recorded in $E2E_STATE/*/NAME.pid, never by name.
CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
E2E_STATE=${E2E_STATE:-$CACHE/e2e}
E2E_NETNS=${E2E_NETNS:-pm4ml-e2e}
BIN=${BIN:-$CACHE/bin}
K8S_STATE=$E2E_STATE/k8s
ACD_STATE=$E2E_STATE/argocd
KUBECONFIG_FILE=$K8S_STATE/kubeconfig
API_PORT=6443
# The full-stack lab (tests/lab) runs these servers in the lab's namespace, where br-lab joins the
# lab hosts: E2E_LABNET=1 accepts br-lab and the hosts' veths there (still no default route),
# E2E_API_SANS adds IP SANs (the lab hosts that forward :16443 to the apiserver) and the apiserver
# listens on every address of the namespace; E2E_KWOK_NODE=0 leaves out the spare kwok node (the
# lab's nodes are the hosts the MicroK8s lab double registers).
E2E_LABNET=${E2E_LABNET:-0}
E2E_API_SANS=${E2E_API_SANS:-}
E2E_KWOK_NODE=${E2E_KWOK_NODE:-1}
IN=(ip netns exec "$E2E_NETNS")

die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }

require_root() { [ "$(id -u)" -eq 0 ] || die "needs root (network namespace)"; }

# netns_up: the loopback-only namespace (idempotent); refuses one that has any route besides lo's.
netns_exists() { ip netns list | awk '{print $1}' | grep -qxF "$E2E_NETNS"; }

netns_up() {
  netns_exists || ip netns add "$E2E_NETNS"
  ip -n "$E2E_NETNS" link set lo up
  local links routes
  if [ "$E2E_LABNET" = 1 ]; then
    links=$(ip -n "$E2E_NETNS" -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -vxE 'lo|br-lab|veth-h[0-9]+' | tr '\n' ' ' || true)
    [ -z "$links" ] || die "netns $E2E_NETNS has interfaces besides lo, br-lab and the lab hosts' veths ($links); refusing"
    routes=$( { ip -n "$E2E_NETNS" -4 route show table all; ip -n "$E2E_NETNS" -6 route show table all; } |
              grep -E '^(default|unicast default)|via ' || true)
    [ -z "$routes" ] || die "netns $E2E_NETNS has a default or gateway route; refusing: $routes"
    return
  fi
  links=$(ip -n "$E2E_NETNS" -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
  [ "$links" = "lo " ] || die "netns $E2E_NETNS has interfaces besides lo ($links); refusing"
  routes=$( { ip -n "$E2E_NETNS" -4 route show table all; ip -n "$E2E_NETNS" -6 route show table all; } |
            grep -v ' dev lo ' || true)
  [ -z "$routes" ] || die "netns $E2E_NETNS has routes off loopback; refusing: $routes"
}

netns_down() { ! netns_exists || ip netns del "$E2E_NETNS"; }

# alive DIR NAME: the process recorded in DIR/NAME.pid runs
alive() { [ -f "$1/$2.pid" ] && kill -0 "$(cat "$1/$2.pid")" 2>/dev/null; }

# start DIR NAME CMD...: runs CMD in the namespace in the background (ip netns exec execs it, so the
# recorded PID is the server's own), output in DIR/NAME.log. A running one is left alone.
start() {
  local dir=$1 name=$2; shift 2
  if alive "$dir" "$name"; then echo "$name already running (pid $(cat "$dir/$name.pid"))"; return; fi
  nohup "${IN[@]}" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

# stop DIR NAME...: SIGTERM by recorded PID (and its direct children), SIGKILL after 10 s.
stop() {
  local dir=$1 name p kids i; shift
  for name in "$@"; do
    [ -f "$dir/$name.pid" ] || continue
    p=$(cat "$dir/$name.pid")
    kids=$(pgrep -P "$p" 2>/dev/null || true)
    kill "$p" 2>/dev/null || true
    for i in $(seq 40); do # gone, or a zombie its parent reaps later
      case $(ps -o stat= -p "$p" 2>/dev/null) in '' | Z*) break ;; esac
      [ "$i" = 40 ] && kill -9 "$p" 2>/dev/null
      sleep 0.25
    done
    for k in $kids; do kill "$k" 2>/dev/null || true; done
    rm -f "$dir/$name.pid"
    echo "stopped $name (pid $p)"
  done
}

# wait_for WHAT SECONDS CMD...: polls CMD every 0.5 s
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for i in $(seq $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "timeout ($secs s) waiting for $what"
}

kc() { "${IN[@]}" kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

ARGOCD_MODULE=github.com/argoproj/argo-cd/v2@v2.14.21
# argocd_module_dir: the module's directory (its manifests/ hold the CRDs and install.yaml), from
# the project's module cache ($CACHE/go/mod, filled by scripts/tools.sh --lab) or Go's default
# one; never downloads (GOPROXY=off).
argocd_module_dir() {
  local mc d
  for mc in "$CACHE/go/mod" "$(cd / && GOMODCACHE='' go env GOMODCACHE)"; do
    d=$(cd / && GOFLAGS='' GOPROXY=off GOMODCACHE=$mc go mod download -json "$ARGOCD_MODULE" 2>/dev/null |
        sed -n 's/.*"Dir": "\(.*\)".*/\1/p') || true
    if [ -n "$d" ] && [ -f "$d/manifests/install.yaml" ]; then echo "$d"; return; fi
  done
  die "$ARGOCD_MODULE is not in the module cache: run bash scripts/tools.sh --lab"
}
