#!/usr/bin/env bash
# `pulumi preview --diff` of a stack (default stg) on a local file backend, with the policy pack.
# Usage: scripts/preview.sh [--from-source] [STACK] [extra pulumi preview args]
# The `pulumi` on PATH is used when it is recent enough, and Pulumi installs plugins as usual;
# --from-source (or PM4ML_FROM_SOURCE=1), or no recent `pulumi`, selects the air-gapped fallback
# (the CLI built from source by scripts/tools.sh --pulumi): see scripts/pulumi-cli.sh.
# Env: PM4ML_CACHE, PULUMI_BACKEND_URL (default file://$PM4ML_CACHE/state),
#      PULUMI_CONFIG_PASSPHRASE[_FILE], PM4ML_SECRETS_PROVIDER (e.g. hashivault://pm4ml),
#      PM4ML_POLICY=0 (no policy pack), PM4ML_PULUMI_MIN (default 3.150.0)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ ${1:-} == --from-source ]]; then export PM4ML_FROM_SOURCE=1; shift; fi
STACK=stg
if (($#)) && [[ $1 != -* ]]; then STACK=$1; shift; fi
export PM4ML_CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
export PULUMI_SKIP_UPDATE_CHECK=${PULUMI_SKIP_UPDATE_CHECK:-true}

# shellcheck source-path=SCRIPTDIR source=pulumi-cli.sh
. "$ROOT/scripts/pulumi-cli.sh"
pm4ml_use_pulumi preview "$ROOT" "$PM4ML_CACHE"

# Without automatic plugin installation (the air-gapped fallback, or set by the user), the
# resource plugins the program needs must already be installed: fail before anything else.
# With it (the default), Pulumi installs them on first use and nothing is checked here.
declare -A install=(
  [command]="pulumi plugin install resource command v1.2.1"
  [proxmoxve]="pulumi plugin install resource proxmoxve 8.3.0 --server github://api.github.com/muhlba91/pulumi-proxmoxve"
  [vault]="pulumi plugin install resource vault 6.7.0"
)
plugin_check() {
  local required=(command vault) installed missing=() p
  if [[ -f Pulumi.$STACK.yaml ]] &&
     grep -Eq "^[[:space:]]*pm4ml:hostSource:[[:space:]]*[\"']?proxmox[\"']?[[:space:]]*(#.*)?$" "Pulumi.$STACK.yaml"; then
    required+=(proxmoxve)
  fi
  installed=$(pulumi plugin ls --json |
    python3 -c 'import json,sys; print("\n".join(p["name"] for p in json.load(sys.stdin) or [] if p.get("kind")=="resource"))')
  for p in "${required[@]}"; do
    grep -qx "$p" <<<"$installed" || command -v "pulumi-resource-$p" >/dev/null || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "preview: missing Pulumi resource plugin(s) for stack $STACK: ${missing[*]}" >&2
    for p in "${missing[@]}"; do echo "  $p:  ${install[$p]}" >&2; done
    echo "Automatic plugin installation is off (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true): install them" \
         "with the commands above (or copy ~/.pulumi/plugins from a machine that has them), or unset it." >&2
    exit 3
  fi
}
case ${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-} in
  1 | true | TRUE | True) plugin_check ;;
esac

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
