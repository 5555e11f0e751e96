# Shared state of the host-command doubles (internal/hostsim): $HOSTSIM_STATE holds it, and
# every call that changes something is logged in $HOSTSIM_STATE/log.
set -euo pipefail
: "${HOSTSIM_STATE:?}"
S=$HOSTSIM_STATE
mkdir -p "$S/sysctl" "$S/units" "$S/pkgs"
log() { printf '%s\n' "$*" >>"$S/log"; }
