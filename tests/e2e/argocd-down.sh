#!/usr/bin/env bash
# Stops what argocd-up.sh started, by recorded PID (controller first, redis last).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
stop "$ACD_STATE" controller repo-server git-daemon redis
rm -f "$ACD_STATE/askpass.sock"
