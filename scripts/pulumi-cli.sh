# shellcheck shell=bash
# Which Pulumi CLI the scripts run (sourced by preview.sh and change-window.sh).
#
#   pm4ml_use_pulumi WHO ROOT CACHE
#
# 1. The `pulumi` on PATH when it reports a version >= $PM4ML_PULUMI_MIN (default 3.150.0): Pulumi
#    as its users run it. Pulumi installs the resource plugins the program names (command, vault,
#    proxmoxve, kubernetes) on first use; nothing here turns that off. When the CLI came without a
#    Go language host (the official install ships pulumi-language-go beside `pulumi`), this
#    project's own (tools/pulumi-language-go) is built once and put LAST on PATH.
# 2. The AIR-GAPPED FALLBACK, chosen with PM4ML_FROM_SOURCE=1 or when there is no recent-enough
#    `pulumi`: scripts/tools.sh --pulumi builds the CLI, the language host and the kubernetes
#    provider from the Go module proxy into CACHE/bin (~14-21 min the first time, then reused),
#    puts that first on PATH and sets PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true (nothing to
#    download from): the other plugins must then be installed by hand (`pulumi plugin install`).
# It says which on stderr and sets PM4ML_PULUMI_MODE to `path` or `source`.
PM4ML_PULUMI_MIN=${PM4ML_PULUMI_MIN:-3.150.0}

# pm4ml_pulumi_version: X.Y.Z of the `pulumi` on PATH (`pulumi version` prints v3.274.1), or nothing
pm4ml_pulumi_version() {
  local v
  v=$(PULUMI_SKIP_UPDATE_CHECK=true pulumi version 2>/dev/null | head -n1) || true
  v=${v#v}
  if [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then echo "${BASH_REMATCH[0]}"; fi
}

# pm4ml_version_ge A B: version A >= version B
pm4ml_version_ge() { [[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$2" ]]; }

pm4ml_use_pulumi() {
  local who=$1 root=$2 cache=$3 v="" reason="" dir
  if [[ ${PM4ML_FROM_SOURCE:-0} == 1 ]]; then
    reason="PM4ML_FROM_SOURCE=1"
  elif ! command -v pulumi >/dev/null; then
    reason="no pulumi on PATH"
  else
    v=$(pm4ml_pulumi_version)
    if [[ -z $v ]]; then
      reason="$(command -v pulumi) reports no version"
    elif ! pm4ml_version_ge "$v" "$PM4ML_PULUMI_MIN"; then
      reason="pulumi $v on PATH is older than $PM4ML_PULUMI_MIN"
    fi
  fi

  if [[ -z $reason ]]; then
    export PM4ML_PULUMI_MODE=path
    echo "$who: using pulumi $v ($(command -v pulumi)); plugins are installed by Pulumi as usual" >&2
    dir=$(dirname "$(command -v pulumi)")
    if ! command -v pulumi-language-go >/dev/null && [[ ! -x $dir/pulumi-language-go ]]; then
      echo "$who: this pulumi has no Go language host beside it: using this project's own" \
           "(tools/pulumi-language-go, built once into $cache/bin) as a fallback" >&2
      bash "$root/scripts/tools.sh" --langhost >&2
      # only the language host: $cache/bin also holds a CLI and a provider that must not shadow these
      mkdir -p "$cache/langhost"
      ln -sf "$cache/bin/pulumi-language-go" "$cache/langhost/pulumi-language-go"
      export PATH=$PATH:$cache/langhost
    fi
    return 0
  fi

  export PM4ML_PULUMI_MODE=source
  echo "$who: $reason: using the AIR-GAPPED FALLBACK: the Pulumi CLI, its Go language host and the" \
       "kubernetes provider built from source into $cache/bin (scripts/tools.sh --pulumi: ~14-21 min" \
       "the first time, reused afterwards), automatic plugin installation off." >&2
  echo "$who: to run Pulumi as usual instead, install Pulumi >= $PM4ML_PULUMI_MIN" \
       "(https://www.pulumi.com/docs/install/) and put it on PATH." >&2
  bash "$root/scripts/tools.sh" --pulumi >&2
  export PATH=$cache/bin:$PATH
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}
}
