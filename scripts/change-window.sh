#!/usr/bin/env bash
# Change windows: what runs inside the window is exactly what was reviewed before it.
#
#   scripts/change-window.sh plan STACK [-- extra pulumi args]
#       Before the window: `pulumi preview --diff` of STACK with the policy pack, saving the
#       plan (--save-plan) to $PM4ML_PLANS_DIR/<stack>-<UTC timestamp>.json, the preview text next
#       to it (.preview.txt) and the plan's SHA-256 (.sha256). A mandatory policy violation fails
#       here (exit non-zero) and no plan is kept. Review the .preview.txt (attach it to the change
#       request) and keep the three files.
#   scripts/change-window.sh apply STACK PLAN [-- extra pulumi args]
#       Inside the window: checks the plan's SHA-256 and stack, then `pulumi up --plan PLAN` with
#       the policy pack. The update refuses any operation the plan does not contain (an
#       unplanned replacement, a changed input); the policies run again on its preview.
#   scripts/change-window.sh help
#
# Env: PM4ML_PLANS_DIR (default <repo>/plans), PM4ML_POLICY_PACK (default <repo>/policy),
# PM4ML_PROJECT_DIR (the Pulumi project, default <repo>),
# PM4ML_CACHE, PM4ML_FROM_SOURCE=1 (the air-gapped fallback: the CLI built from source by
# scripts/tools.sh --pulumi; also chosen when no pulumi >= PM4ML_PULUMI_MIN is on PATH, see
# scripts/pulumi-cli.sh), and the usual PULUMI_* (backend, passphrase). `pulumi up --plan` is
# experimental in Pulumi v3.274: PULUMI_EXPERIMENTAL=true is set for it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLANS=${PM4ML_PLANS_DIR:-$ROOT/plans}
PACK=${PM4ML_POLICY_PACK:-$ROOT/policy}
PROJECT=${PM4ML_PROJECT_DIR:-$ROOT}
CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}

usage() { sed -n '2,22s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }
die() { echo "change-window: $*" >&2; exit 2; }

export PULUMI_SKIP_UPDATE_CHECK=${PULUMI_SKIP_UPDATE_CHECK:-true}
# shellcheck source-path=SCRIPTDIR source=pulumi-cli.sh
. "$ROOT/scripts/pulumi-cli.sh"

stack_ok() { [[ $1 =~ ^[A-Za-z0-9._-]+$ ]] || die "bad stack name '$1'"; }

# extra: the arguments after `--`, if any.
extra=()
split_extra() {
  local seen=0 a
  rest=()
  for a in "$@"; do
    if ((seen)); then extra+=("$a"); elif [[ $a == -- ]]; then seen=1; else rest+=("$a"); fi
  done
}

plan() {
  local stack=$1 ts base out
  stack_ok "$stack"
  pm4ml_use_pulumi change-window "$ROOT" "$CACHE"
  mkdir -p "$PLANS"
  ts=$(date -u +%Y%m%dT%H%M%SZ)
  base=$PLANS/$stack-$ts
  out=$base.json
  echo "change-window: previewing $stack with the policy pack; plan -> $out" >&2
  if ! (cd "$PROJECT" && pulumi preview --stack "$stack" --diff --non-interactive \
          --policy-pack "$PACK" --save-plan "$out" "${extra[@]}") 2>&1 | tee "$base.preview.txt"; then
    rm -f "$out"
    echo "change-window: the preview failed (see the policy violations above); no plan was saved" >&2
    exit 1
  fi
  [[ -s $out ]] || die "pulumi wrote no plan to $out"
  (cd "$PLANS" && sha256sum "$(basename "$out")" >"$(basename "$base").sha256")
  cat >&2 <<EOF
change-window: plan saved
  plan:    $out
  preview: $base.preview.txt   (review it; attach it to the change request)
  sha256:  $base.sha256
inside the window run:
  bash scripts/change-window.sh apply $stack $out
EOF
}

apply() {
  local stack=$1 planfile=$2 sum
  stack_ok "$stack"
  [[ -f $planfile ]] || die "no plan file $planfile (make one before the window: scripts/change-window.sh plan $stack)"
  case $(basename "$planfile") in
    "$stack"-*.json) ;;
    *) die "$planfile is not a plan of stack $stack (plans are named <stack>-<timestamp>.json)" ;;
  esac
  sum=${planfile%.json}.sha256
  [[ -f $sum ]] || die "no checksum $sum next to the plan: use the files 'plan' wrote"
  (cd "$(dirname "$planfile")" && sha256sum --check --status "$(basename "$sum")") ||
    die "$planfile does not match $sum: the plan changed after review"
  planfile=$(cd "$(dirname "$planfile")" && pwd)/$(basename "$planfile")
  pm4ml_use_pulumi change-window "$ROOT" "$CACHE"
  echo "change-window: applying the reviewed plan $planfile to $stack" >&2
  (cd "$PROJECT" && PULUMI_EXPERIMENTAL=true pulumi up --stack "$stack" --plan "$planfile" --policy-pack "$PACK" \
     --yes --non-interactive --diff "${extra[@]}")
}

(($#)) || usage 1
cmd=$1; shift
rest=()
split_extra "$@"
case $cmd in
  plan)  ((${#rest[@]} == 1)) || usage 1; plan "${rest[0]}" ;;
  apply) ((${#rest[@]} == 2)) || usage 1; apply "${rest[0]}" "${rest[1]}" ;;
  help|-h|--help) usage ;;
  *) echo "change-window: unknown command '$cmd'" >&2; usage 1 ;;
esac
