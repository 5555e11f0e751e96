# --- pm4ml-onprem script library (components/remotecmd/lib.sh), prepended to every remote script.
# Every step says what it changed: lines "changed: ..." or "unchanged: ...", and a last line
# "pm4ml: <step>: N change(s)" or "pm4ml: <step>: no change".
# Check mode (the word "check" as the second argument: bash -c SCRIPT STEP CLIENT check) runs the
# same code and changes nothing: every command that would change the host goes through `mut`
# (skipped), every difference from the desired state is a line "drift: ..." (what apply would
# do), and the last line is "pm4ml: <step>: in sync" or "pm4ml: <step>: N drift(s)".
PM4ML_STEP=${PM4ML_STEP:-$(basename "$0")}
PM4ML_CHANGES=0
PM4ML_MODE=${2:-apply}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

say() { printf '%s\n' "$*"; }
die() { printf 'pm4ml: %s: error: %s\n' "$PM4ML_STEP" "$*" >&2; exit 1; }
case $PM4ML_MODE in
  apply | check) ;;
  *) die "unknown mode $PM4ML_MODE (apply or check)" ;;
esac
# checking: true in check mode.
checking() { [ "$PM4ML_MODE" = check ]; }
# mut CMD...: a command that changes the host: runs in apply mode, is skipped (status 0) in check.
mut() {
  if checking; then return 0; fi
  "$@"
}
changed() {
  PM4ML_CHANGES=$((PM4ML_CHANGES + 1))
  if checking; then say "drift: $*"; else say "changed: $*"; fi
}
unchanged() { say "unchanged: $*"; }
# unmet MSG: a state apply cannot reach here (apply dies; check reports a drift and goes on).
unmet() {
  checking || die "$*"
  changed "$*"
}
# unmet_stop MSG: as unmet, but check ends the step here (what follows depends on it).
unmet_stop() {
  unmet "$*"
  finish
  exit 0
}
finish() {
  if checking; then
    if [ "$PM4ML_CHANGES" -eq 0 ]; then say "pm4ml: $PM4ML_STEP: in sync"; else say "pm4ml: $PM4ML_STEP: $PM4ML_CHANGES drift(s)"; fi
  elif [ "$PM4ML_CHANGES" -eq 0 ]; then say "pm4ml: $PM4ML_STEP: no change"; else say "pm4ml: $PM4ML_STEP: $PM4ML_CHANGES change(s)"; fi
}

# put_file PATH MODE [secret]: write stdin to PATH only when the content differs, with MODE and
# the owner of the user running the step (root). Returns 0 when it wrote (check: would write).
# Check mode shows a short diff, except for a secret file.
put_file() {
  local path=$1 mode=$2 secret=${3:-} tmp have owner
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    have=$(stat -c %a "$path")
    [ "$have" = "$mode" ] || { mut chmod "$mode" "$path"; changed "$path mode $mode (was $have)"; }
    owner=$(stat -c %u:%g "$path")
    [ "$owner" = "$(id -u):$(id -g)" ] || { mut chown "$(id -u):$(id -g)" "$path"; changed "$path owner $(id -un):$(id -gn) (was $owner)"; }
    unchanged "$path"
    return 1
  fi
  if checking; then
    if [ ! -f "$path" ]; then
      changed "$path missing"
    elif [ -n "$secret" ]; then
      changed "$path content differs (secret: no diff shown)"
    else
      changed "$path content differs (- on the host, + rendered):"
      { diff -u "$path" "$tmp" || true; } | sed -n '3,$p' | head -n 20 | sed 's/^/  /' || true
    fi
    rm -f "$tmp"
    return 0
  fi
  mkdir -p "$(dirname "$path")"
  install -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  changed "$path"
  return 0
}

# stage_file PATH MODE: a candidate file for a validator (e.g. haproxy -c): put_file in apply mode;
# check mode writes it silently (into the private staging directory check uses).
stage_file() {
  if checking; then
    cat >"$1"
    chmod "$2" "$1"
    return 0
  fi
  put_file "$@"
}

# ensure_packages PKG...: install only the packages that are missing.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = 'install ok installed' ] || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then unchanged "packages $*"; return 0; fi
  mut apt-get update -qq
  mut apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  changed "installed ${missing[*]}"
}

# wait_until SECONDS WHAT CMD...: run CMD every 5 s until it succeeds; die after SECONDS naming WHAT
# and the last answer a helper left in PM4ML_LAST. Check mode tries once and reports a drift.
PM4ML_LAST=
wait_until() {
  local timeout=$1 what=$2 start=$SECONDS
  shift 2
  if checking; then
    "$@" || changed "$what: not reached${PM4ML_LAST:+ ($PM4ML_LAST)}"
    return 0
  fi
  until "$@"; do
    [ $((SECONDS - start)) -lt "$timeout" ] || die "$what: not reached within ${timeout} s${PM4ML_LAST:+ (last answer: $PM4ML_LAST)}"
    sleep 5
  done
}

# snap_tracking NAME: the channel the snap NAME tracks; empty when it is not installed.
snap_tracking() { snap list "$1" 2>/dev/null | awk 'NR == 2 { print $4 }' || true; }
# snap_hold NAME: the snap's automatic refreshes held for ever: "held" in the Notes column of
# `snap list` (snapd 2.58+); an unattended refresh would restart the service under its workloads.
snap_hold() {
  local notes
  notes=$(snap list "$1" | awk 'NR == 2 { print $6 }')
  case ",$notes," in
    *,held,*) unchanged "$1 refreshes held" ;;
    *)
      mut snap refresh --hold=forever "$1" >/dev/null || die "snap refresh --hold=forever $1 failed (needs snapd 2.58 or later)"
      changed "$1 refreshes held (snap refresh --hold=forever)"
      ;;
  esac
}

# mk8s_ready SECONDS: MicroK8s answers as running within SECONDS (check mode: 10); the MicroK8s
# and storage steps use it. `status --wait-ready` exits 0 even when the timeout passes (MicroK8s'
# status.py): its first line says which.
mk8s_ready() {
  local out timeout=$1
  if checking; then timeout=10; fi
  out=$(microk8s status --wait-ready --timeout "$timeout" 2>&1) || return 1
  [[ $out == "microk8s is running"* ]]
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
