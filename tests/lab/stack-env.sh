# shellcheck shell=bash
# shellcheck disable=SC2034 # the settings are used by the scripts that source this file
# Settings and helpers of the full-stack lab (stack-up.sh, stack-down.sh, stack_test.go); sourced.
# The topology must match testdata/Pulumi.stacklab.yaml (stack_test.go checks it).
CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
BIN=${BIN:-$CACHE/bin}
STATE=${PM4ML_STACKLAB_DIR:-$CACHE/lab/stack}
LABNS=${PM4ML_STACKLAB_NETNS:-pm4ml-lab}
VAULT_TOKEN=${STACKLAB_VAULT_TOKEN:-lab-root-token}
DOMAIN=lab.pm4ml.example.org
NHOSTS=10
MASTER_HOSTS="h1 h2 h3"
WORKER_HOSTS="h4 h5"
HAPROXY_HOSTS="h6 h7"
STORAGE_HOSTS="h8 h9 h10"
# The guide's apps (stacks.GuideApps, checked by TestStackLabEnv): one stand-in each in the repo.
APPS=(base-utils storage-app certmanager-helm certmanager-app certmanager-clusterissuers istio-app
  istio-main-app istio-gateways-app external-dns-app consul-app vault-app vault vault-config-operator
  vault-pki-app stateful-resources-operators-app common-stateful-resources-app monitoring-app
  monitoring-install monitoring-post-config keycloak-app keycloak-install keycloak-post-config ory-app
  pm4ml)
# The kubectl the doubles run on the hosts (static, v1.31 like MicroK8s 1.31's).
KUBECTL_SRC=${STACKLAB_KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.31}
[ -x "$KUBECTL_SRC" ] || KUBECTL_SRC=$(readlink -f "$(command -v kubectl)")

# hosts-up.sh / hosts-down.sh and the e2e scripts, pointed at the lab namespace and this state.
export PM4ML_LAB_NETNS=$LABNS PM4ML_LAB_DIR=$STATE/run PM4ML_LAB_NSPREFIX=${PM4ML_STACKLAB_NSPREFIX:-sl-}
export E2E_NETNS=$LABNS E2E_LABNET=1 E2E_STATE=$STATE/e2e E2E_KWOK_NODE=0 BIN
E2E_API_SANS=10.77.0.1
for i in $(seq 1 "$NHOSTS"); do E2E_API_SANS="$E2E_API_SANS,10.77.0.$((10 + i))"; done
export E2E_API_SANS

die() { printf 'stack-lab: %s\n' "$*" >&2; exit 1; }
# alive DIR NAME: the process recorded in DIR/NAME.pid runs
alive() { [ -f "$1/$2.pid" ] && kill -0 "$(cat "$1/$2.pid")" 2>/dev/null; }
host_addr() { echo "10.77.0.$((10 + ${1#h}))"; }
SSH_OPTS=(-i "$STATE/run/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes)
labssh() { local ip=$1; shift; ip netns exec "$LABNS" ssh "${SSH_OPTS[@]}" "root@$ip" "$@"; }
labscp() { ip netns exec "$LABNS" scp -q "${SSH_OPTS[@]}" "${@:1:$#-1}" "root@${*: -1}"; }
