#!/usr/bin/env bash
# The local lab: the whole program, `pulumi up` with the real Pulumi CLI, on 10 lab hosts on this
# machine, in their own network namespace (no route off the machine).
#
#   sudo bash scripts/lab.sh up       build or reuse the tools, start the lab, `pulumi up` the lab
#                                     stack, check it, print a summary; the lab stays up
#   sudo bash scripts/lab.sh status   the summary of a running lab
#   sudo bash scripts/lab.sh down     stop the lab and delete its state (the tool cache stays)
#   sudo bash scripts/lab.sh pulumi ARGS...   the Pulumi CLI on the lab stack, e.g. `stack output`
#
# LAB ONLY. The MicroK8s/MicroCeph/snap on the lab hosts are lab doubles (tests/lab/doubles), the
# command and vault plugins are lab stand-ins (tests/lab/plugins), the Istio gateways a small
# Python stand-in, Vault a dev server. None of it ships to users or ever runs against a real
# stack. Env: PM4ML_CACHE (default ~/.cache/pm4ml-onprem), PM4ML_LAB_MIRROR (the Debian mirror
# for the host image, built once).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PM4ML_CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
T0=$SECONDS

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }
say() { printf 'lab: %s\n' "$*"; }
fail() { printf 'lab: %s\n' "$*" >&2; exit 1; }
elapsed() { local s=$((SECONDS - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

standins() {
  cat <<'EOF'
lab: WHAT IS A STAND-IN HERE (lab only: none of it ships to users or ever runs against a real stack)
lab:   - snap, microk8s and microceph on the hosts are LAB DOUBLES (tests/lab/doubles): the nodes are
lab:     kwok nodes of one local kube-apiserver, Ceph's disks are loop devices, there is no real Ceph
lab:   - the Pulumi plugins `command` and `vault` are LAB STAND-INS (tests/lab/plugins), first on PATH
lab:     only inside this lab (a real plugin installed in ~/.pulumi/plugins wins)
lab:   - the Istio gateways are a Python stand-in (gateway.py) on the workers, the GitOps apps are
lab:     ConfigMaps, Vault is a dev server
lab:   real: the program (main.go), the Pulumi CLI, the kubernetes provider, Argo CD's controller and
lab:     repo-server, the hosts (Debian, systemd, sshd), nftables, HAProxy, keepalived
EOF
}

need_root() { [[ $(id -u) == 0 ]] || fail "needs root (network namespaces, systemd-nspawn, loop devices): sudo bash scripts/lab.sh $1"; }

# Go: sudo's secure_path often lacks it
find_go() {
  command -v go >/dev/null && return
  local d
  for d in /usr/local/go/bin /usr/lib/go/bin "${SUDO_USER:+$(getent passwd "$SUDO_USER" | cut -d: -f6)/go/bin}"; do
    [[ -n $d && -x $d/go ]] && { export PATH=$PATH:$d; return; }
  done
  fail "Go is not on PATH (the Go language host builds the program with it): install Go $(sed -n 's/^go //p' go.mod) or later"
}

# the lab's settings (names, state dir, ssh helpers): after the tools exist (kubectl)
lab_env() {
  command -v kubectl >/dev/null || fail "kubectl is missing: the tools are not installed (sudo bash scripts/lab.sh up installs them)"
  # shellcheck source-path=SCRIPTDIR source=../tests/lab/stack-env.sh
  . "$ROOT/tests/lab/stack-env.sh"
  export KUBECONFIG=$STATE/e2e/k8s/kubeconfig
}

running() { ip netns list 2>/dev/null | grep -qw "$LABNS" && [[ -s $STATE/run/inventory ]]; }

# in the lab namespace
inns() { ip netns exec "$LABNS" "$@"; }

lab_pulumi() {
  [[ -s $STATE/pulumi.env && -d $STATE/project ]] || fail "no lab stack workspace in $STATE (run: sudo bash scripts/lab.sh up)"
  local envs
  mapfile -t envs <"$STATE/pulumi.env"
  (cd "$STATE/project" && inns env -i "${envs[@]}" "$BIN/pulumi" "$@" --stack stacklab --non-interactive)
}

summary() {
  local vip=10.77.0.100 url="https://argocd.$DOMAIN" code title client ok=1
  say "---------------------------------------------------------------------------"
  say "SUMMARY of the lab stack (stack stacklab, tests/lab/testdata/Pulumi.stacklab.yaml)"
  say "nodes (MicroK8s doubles; kwok nodes of the lab apiserver) and their roles:"
  inns kubectl get nodes -o wide 2>&1 | sed 's/^/lab:   /' || ok=0
  say "StorageClasses:"
  inns kubectl get storageclass 2>&1 | sed 's/^/lab:   /' || ok=0
  code=$(inns curl -sS -o /dev/null -m 10 -w '%{http_code} -> %{redirect_url}' "http://$vip/" 2>&1) || ok=0
  say "public VIP $vip (keepalived on h6/h7, HAProxy): http://$vip/ answers $code"
  title=$(inns curl -sSk -m 10 --resolve "argocd.$DOMAIN:443:$vip" "$url/" 2>&1 | grep -o '<title>[^<]*</title>' || true)
  client=$(inns curl -sSk -m 10 --resolve "argocd.$DOMAIN:443:$vip" "$url/whoami" 2>&1 || true)
  [[ -n $title ]] || ok=0
  say "$url through HAProxy on the VIP: ${title:-NO ANSWER}; the gateway stand-in saw client ${client:-?} (PROXY v2)"
  say "Argo CD Applications by wave (Synced Healthy = done):"
  inns kubectl get applications.argoproj.io -A --sort-by=.metadata.creationTimestamp \
    -o 'custom-columns=WAVE:.metadata.annotations.pm4ml\.io/wave,APP:.metadata.name,SYNC:.status.sync.status,HEALTH:.status.health.status' \
    2>&1 | sed 's/^/lab:   /' || ok=0
  if inns env VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN="$VAULT_TOKEN" "$BIN/vault" read -field=mcmdev_client_secret secret/fsp-lab >/dev/null 2>&1; then
    say "Vault (dev server): secret/fsp-lab has mcmdev_client_secret (guide 6.5; value not shown)"
  else
    say "Vault (dev server): secret/fsp-lab NOT readable"; ok=0
  fi
  say "verification (guide 6.6, the stack output 'verification'):"
  lab_pulumi stack output verification --show-secrets 2>&1 | sed 's/^/lab:   /' || ok=0
  say "look around:"
  say "  kubectl:  sudo ip netns exec $LABNS env KUBECONFIG=$KUBECONFIG kubectl get applications -A"
  say "  SSH:      sudo ip netns exec $LABNS ssh -i $STATE/run/id_ed25519 -o StrictHostKeyChecking=no root@10.77.0.11   (h1; hN is 10.77.0.(10+N))"
  say "  pulumi:   sudo bash scripts/lab.sh pulumi stack output   (= pulumi in $STATE/project, inside $LABNS,"
  say "            with the environment in $STATE/pulumi.env: file backend, PULUMI_HOME, stand-in plugins first on PATH)"
  say "  logs:     $STATE/logs (every CLI run), $STATE/run (hosts), $STATE/e2e (control plane, Argo CD)"
  say "  stop:     sudo bash scripts/lab.sh down"
  standins
  ((ok)) || return 1
}

cmd=${1:-}
case $cmd in
  up)
    need_root up
    find_go
    standins
    t=$SECONDS
    say "[1/4] tools: Debian packages, the Pulumi CLI + Go language host + kubernetes provider, the lab's"
    say "      binaries (scripts/tools.sh --deb --pulumi --lab). From an empty cache this builds from source:"
    say "      ~14-21 min for --pulumi and ~55 min for --lab; a rerun only checks them (seconds)."
    bash scripts/tools.sh --deb --pulumi --lab 2>&1 | sed -u 's/^/lab:   /'
    tools_took=$(elapsed "$t")
    say "[1/4] done in $tools_took"
    lab_env
    t=$SECONDS
    say "      compiling the lab's Go code (first time ~1-3 min, then cached); any earlier lab is torn down first"
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    rc=0
    PM4ML_LAB=1 go test -tags labup ./tests/lab -run '^TestLabUp$' -count=1 -v -timeout 60m 2>&1 |
      sed -u -E '/^=== (RUN|PAUSE|CONT)/d; s/^ +[a-z_]+\.go:[0-9]+: /lab:   /' | tee "$log" || rc=1
    if ((rc)) || ! grep -q '^lab: the lab stack is up$' "$log"; then
      fail "up FAILED after $(elapsed "$T0") (above; the CLI logs are in $STATE/logs; the lab is left as it is: sudo bash scripts/lab.sh down)"
    fi
    say "[4/4] summary"
    summary || fail "the summary found something not working (above)"
    say "lab up: $(elapsed "$T0") in all, of which the tools (stage 1) $tools_took"
    ;;
  status)
    need_root status
    lab_env
    running || { say "not running (start it: sudo bash scripts/lab.sh up)"; exit 3; }
    summary
    ;;
  down)
    need_root down
    lab_env
    t=$SECONDS
    bash tests/lab/stack-down.sh --purge
    say "down in $(elapsed "$t"): hosts, control plane, Argo CD, Vault and the lab stack's state removed" \
        "(the tool cache and the host image in $PM4ML_CACHE stay)"
    ;;
  pulumi)
    need_root pulumi
    lab_env
    shift
    lab_pulumi "$@"
    ;;
  help | -h | --help) usage ;;
  *) usage 1 ;;
esac
