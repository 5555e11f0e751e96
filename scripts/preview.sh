#!/usr/bin/env bash
# `pulumi preview --diff` of a stack (default stg) on a local file backend.
# Usage: scripts/preview.sh [STACK] [extra pulumi preview args, e.g. --policy-pack policy]
# Env: PM4ML_CACHE, PULUMI_BACKEND_URL (default file://$PM4ML_CACHE/state),
#      PULUMI_CONFIG_PASSPHRASE[_FILE], PM4ML_SECRETS_PROVIDER (e.g. hashivault://pm4ml)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STACK=stg
if (($#)) && [[ $1 != -* ]]; then STACK=$1; shift; fi
export PM4ML_CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}

export PATH=$PM4ML_CACHE/bin:$PATH
bash scripts/tools.sh --pulumi >&2
export PULUMI_SKIP_UPDATE_CHECK=${PULUMI_SKIP_UPDATE_CHECK:-true}
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}

# Resource plugins the program needs that cannot be built here: fail before anything else.
declare -A install=(
  [command]="pulumi plugin install resource command v1.2.1"
  [proxmoxve]="pulumi plugin install resource proxmoxve 8.3.0 --server github://api.github.com/muhlba91/pulumi-proxmoxve"
  [vault]="pulumi plugin install resource vault 6.7.0"
)
required=(command vault)
if [[ -f Pulumi.$STACK.yaml ]] &&
   grep -Eq "^[[:space:]]*pm4ml:hostSource:[[:space:]]*[\"']?proxmox[\"']?[[:space:]]*(#.*)?$" "Pulumi.$STACK.yaml"; then
  required+=(proxmoxve)
fi
installed=$(pulumi plugin ls --json |
  python3 -c 'import json,sys; print("\n".join(p["name"] for p in json.load(sys.stdin) or [] if p.get("kind")=="resource"))')
missing=()
for p in "${required[@]}"; do
  grep -qx "$p" <<<"$installed" || command -v "pulumi-resource-$p" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "preview: missing Pulumi resource plugin(s) for stack $STACK: ${missing[*]}" >&2
  for p in "${missing[@]}"; do echo "  $p:  ${install[$p]}" >&2; done
  echo "Note: on the air-gapped build machine these plugins cannot be obtained, so preview cannot run there." >&2
  exit 3
fi

export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$PM4ML_CACHE/state}
[[ $PULUMI_BACKEND_URL != file://* ]] || mkdir -p "${PULUMI_BACKEND_URL#file://}"
if [[ -z ${PULUMI_CONFIG_PASSPHRASE+x} && -z ${PULUMI_CONFIG_PASSPHRASE_FILE+x} ]]; then
  export PULUMI_CONFIG_PASSPHRASE=
  echo "Note: using an EMPTY config passphrase; a real team must set PULUMI_CONFIG_PASSPHRASE(_FILE)" \
       "or PM4ML_SECRETS_PROVIDER." >&2
fi

select=(pulumi stack select --create "$STACK")
[[ -z ${PM4ML_SECRETS_PROVIDER:-} ]] || select+=(--secrets-provider "$PM4ML_SECRETS_PROVIDER")
"${select[@]}"
# The policy pack (policy/, guide rules) gates every preview unless PM4ML_POLICY=0.
policy=(--policy-pack policy)
[[ ${PM4ML_POLICY:-1} != 0 ]] || policy=()
exec pulumi preview --diff --stack "$STACK" "${policy[@]}" "$@"
