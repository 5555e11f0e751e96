# --- pm4ml-onprem script library (components/remotecmd/lib.sh), prepended to every remote script.
# Every step says what it changed: lines "changed: ..." or "unchanged: ...", and a last line
# "pm4ml: <step>: N change(s)" or "pm4ml: <step>: no change".
PM4ML_STEP=${PM4ML_STEP:-$(basename "$0")}
PM4ML_CHANGES=0
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

say() { printf '%s\n' "$*"; }
changed() { PM4ML_CHANGES=$((PM4ML_CHANGES + 1)); say "changed: $*"; }
unchanged() { say "unchanged: $*"; }
die() { printf 'pm4ml: %s: error: %s\n' "$PM4ML_STEP" "$*" >&2; exit 1; }
finish() {
  if [ "$PM4ML_CHANGES" -eq 0 ]; then say "pm4ml: $PM4ML_STEP: no change"; else say "pm4ml: $PM4ML_STEP: $PM4ML_CHANGES change(s)"; fi
}

# put_file PATH MODE: write stdin to PATH only when the content differs. Returns 0 when it wrote.
put_file() {
  local path=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    [ "$(stat -c %a "$path")" = "$mode" ] || { chmod "$mode" "$path"; changed "$path mode $mode"; }
    unchanged "$path"
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  install -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  changed "$path"
  return 0
}

# ensure_packages PKG...: install only the packages that are missing.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = 'install ok installed' ] || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then unchanged "packages $*"; return 0; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  changed "installed ${missing[*]}"
}

# ip_in_cidr IP CIDR: IPv4 containment test in pure bash.
ip_to_int() { local IFS=.; read -r a b c d <<<"$1"; echo $(((a << 24) | (b << 16) | (c << 8) | d)); }
ip_in_cidr() {
  local ip=$1 net=${2%/*} bits=32 mask
  [[ $2 == */* ]] && bits=${2#*/}
  mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  [ $(($(ip_to_int "$ip") & mask)) -eq $(($(ip_to_int "$net") & mask)) ]
}
# --- end of library
