#!/usr/bin/env bash
# Builds the LAB-ONLY stand-in provider plugins pulumi-resource-command (tests/lab/plugins/command)
# and pulumi-resource-vault (tests/lab/plugins/vault) into
# ${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}/lab/bin, rebuilding each only when its sources, go.mod,
# go.sum or the Go toolchain changed, and prints that directory once on stdout so a lab run can
# put it first on PATH:
#
#   dir=$(tests/lab/plugins/build.sh) && [ -n "$dir" ] && PATH="$dir:$PATH"
#
# The real plugin wins: a stand-in whose real plugin (the version in its main.go) is installed in
# the Pulumi plugin cache ($PULUMI_HOME/plugins, default ~/.pulumi/plugins) is not built, and an
# earlier build of it is removed from that directory so it cannot shadow the real one on PATH;
# when no stand-in is left, nothing is printed (--force builds them all anyway). Never use the
# stand-ins for a real deployment: see README.md and DIFFERENCES.md beside this script.
set -euo pipefail

# The stand-ins, each in tests/lab/plugins/<name>, built as pulumi-resource-<name>.
plugins=(command vault)

force=0
case "${1:-}" in
  "") ;;
  --force) force=1 ;;
  -h | --help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "build.sh: unknown argument '$1' (usage: build.sh [--force])" >&2
    exit 2
    ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}"
bindir="$cache/lab/bin"
tmp=""
trap 'rm -f "$tmp"' EXIT

# sources prints what a build depends on: the Go toolchain and the stand-in's non-test Go files,
# go.mod and go.sum, hashed.
sources() {
  (
    cd "$1"
    go version
    find . -maxdepth 1 -type f \( -name go.mod -o -name go.sum -o \( -name '*.go' ! -name '*_test.go' \) \) -print0 |
      sort -z | xargs -0 sha256sum
  )
}

# build_one NAME: builds pulumi-resource-NAME unless its real plugin is installed; returns 1 when
# the stand-in is not to be used.
build_one() {
  local name=$1
  local src="$here/$name"
  local bin="$bindir/pulumi-resource-$name"
  local stamp="$bindir/.pulumi-resource-$name.sha256"
  local version
  version=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' "$src/main.go")
  if [ -z "$version" ]; then
    echo "build.sh: no 'const Version = \"...\"' in $src/main.go" >&2
    exit 1
  fi

  local real="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-$name-v$version/pulumi-resource-$name"
  if [ "$force" -eq 0 ] && [ -x "$real" ]; then
    echo "build.sh: the real pulumi-resource-$name v$version is installed ($real); the lab stand-in is not used" >&2
    rm -f "$bin" "$stamp"
    return 1
  fi

  command -v go >/dev/null || {
    echo "build.sh: go is not on PATH; install Go (see $src/go.mod for the version) to build the lab stand-in" >&2
    exit 1
  }
  local hash
  hash=$(sources "$src" | sha256sum | cut -d' ' -f1)
  if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    echo "build.sh: lab stand-in pulumi-resource-$name $version is up to date ($bin)" >&2
    return 0
  fi
  mkdir -p "$bindir"
  tmp=$(mktemp "$bindir/.pulumi-resource-$name.XXXXXX")
  echo "build.sh: building the lab stand-in pulumi-resource-$name $version into $bin" >&2
  (cd "$src" && go build -o "$tmp" .)
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  printf '%s\n' "$hash" >"$stamp"
}

used=0
for name in "${plugins[@]}"; do
  if build_one "$name"; then
    used=1
  fi
done
if [ "$used" -eq 1 ]; then
  printf '%s\n' "$bindir"
fi
