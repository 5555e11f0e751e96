#!/usr/bin/env bash
# Builds the LAB-ONLY stand-in pulumi-resource-command (tests/lab/plugins/command) into
# ${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}/lab/bin, rebuilding only when its sources, go.mod,
# go.sum or the Go toolchain changed, and prints that directory on stdout so a lab run can put it
# first on PATH:
#
#   dir=$(tests/lab/plugins/build.sh) && [ -n "$dir" ] && PATH="$dir:$PATH"
#
# The real plugin wins: when pulumi-resource-command v1.2.1 is installed in the Pulumi plugin
# cache ($PULUMI_HOME/plugins, default ~/.pulumi/plugins), nothing is built and nothing is
# printed (unless --force). Never use the stand-in for a real deployment: see README.md and
# DIFFERENCES.md beside this script.
set -euo pipefail

version=1.2.1
force=0
case "${1:-}" in
  "") ;;
  --force) force=1 ;;
  -h | --help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "build.sh: unknown argument '$1' (usage: build.sh [--force])" >&2
    exit 2
    ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/command"
cache="${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}"
bindir="$cache/lab/bin"
bin="$bindir/pulumi-resource-command"
stamp="$bindir/.pulumi-resource-command.sha256"

real="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-command-v$version/pulumi-resource-command"
if [ "$force" -eq 0 ] && [ -x "$real" ]; then
  echo "build.sh: the real pulumi-resource-command v$version is installed ($real); the lab stand-in is not used" >&2
  exit 0
fi

command -v go >/dev/null || {
  echo "build.sh: go is not on PATH; install Go (see go.mod for the version) to build the lab stand-in" >&2
  exit 1
}

sources() {
  (
    cd "$src"
    go version
    find . -maxdepth 1 -type f \( -name go.mod -o -name go.sum -o \( -name '*.go' ! -name '*_test.go' \) \) -print0 |
      sort -z | xargs -0 sha256sum
  )
}
hash=$(sources | sha256sum | cut -d' ' -f1)

if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  echo "build.sh: lab stand-in pulumi-resource-command $version is up to date ($bin)" >&2
else
  mkdir -p "$bindir"
  tmp=$(mktemp "$bindir/.pulumi-resource-command.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  echo "build.sh: building the lab stand-in pulumi-resource-command $version into $bin" >&2
  (cd "$src" && go build -o "$tmp" .)
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  printf '%s\n' "$hash" >"$stamp"
fi
printf '%s\n' "$bindir"
