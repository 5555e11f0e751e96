#!/usr/bin/env bash
# Install the tools this project's scripts need. Idempotent: a rerun only checks stamps.
#   --deb     Debian packages used by the tests (apt-get, only for missing packages)
#   --pulumi  Pulumi CLI, Go language host and kubernetes provider, built from the Go module proxy
#             into ${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}/bin (nothing else is written)
#   --all     both
# Env: PM4ML_CACHE, LANGHOST_SRC (default <repo>/../shared/tools/pulumi-language-go).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
BIN=$CACHE/bin
PULUMI_V=v3.274.1
K8S_PSEUDO=v4.0.0-20260115033456-f47bc2d6f199 # the only provider/v4 version the proxy serves
K8S_VERSION=4.24.0-dev.f47bc2d
LANGHOST_SRC=${LANGHOST_SRC:-$ROOT/../shared/tools/pulumi-language-go}
DEB_PKGS=(haproxy keepalived nftables wireguard-tools wireguard-go shellcheck yamllint iproute2 openssh-client debootstrap systemd-container curl)

usage() { sed -n '2,7s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

install_deb() {
  local missing=() p
  for p in "${DEB_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    echo "deb: all ${#DEB_PKGS[@]} packages present"
    return
  fi
  local sudo=()
  ((EUID == 0)) || sudo=(sudo -n)
  local log
  log=$(mktemp)
  if ! { "${sudo[@]}" apt-get update -qq &&
         "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "deb: FAILED to install: ${missing[*]}" >&2
    return 1
  fi
  rm -f "$log"
  echo "deb: installed ${missing[*]}"
}

# kubectl (the verification's checks and the lab use it): Debian's package where the machine's
# sources have `kubectl`, else Debian's kubernetes-client.
install_kubectl() {
  command -v kubectl >/dev/null && return
  local sudo=()
  ((EUID == 0)) || sudo=(sudo -n)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubectl >/dev/null 2>&1 ||
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
  echo "deb: installed kubectl ($(command -v kubectl))"
}

# ok NAME STAMP: true when the binary and its versioned stamp are both in $BIN
ok() { [[ -x $BIN/$1 && -e $BIN/.$2.ok ]]; }
done_() { rm -f "$BIN"/."$1"-*.ok; touch "$BIN/.$2.ok"; }

install_pulumi() {
  mkdir -p "$BIN"
  exec 9>"$CACHE/.lock" # one builder at a time
  flock -n 9 || { echo "tools: waiting for another tools.sh using $CACHE..."; flock 9; }
  local lh_stamp="" lh_path=""
  if [[ -d $LANGHOST_SRC ]]; then
    lh_stamp=pulumi-language-go-$(cat "$LANGHOST_SRC"/go.mod "$LANGHOST_SRC"/go.sum "$LANGHOST_SRC"/*.go | sha256sum | cut -c1-12)
  elif [[ ! -x $BIN/pulumi-language-go ]]; then # no source: keep an earlier build, else link one on PATH
    lh_path=$(PATH=${PATH//$BIN:/} command -v pulumi-language-go || true)
    if [[ -z $lh_path ]]; then
      echo "tools: Go language host source not found at $LANGHOST_SRC and no pulumi-language-go on PATH;" \
           "set LANGHOST_SRC to a pulumi-language-go source dir" >&2
      return 1
    fi
  fi

  local need=0
  ok pulumi "pulumi-$PULUMI_V" || need=1
  ok pulumi-resource-kubernetes "pulumi-resource-kubernetes-$K8S_PSEUDO" || need=1
  [[ -z $lh_stamp ]] || ok pulumi-language-go "$lh_stamp" || need=1
  if ((need)); then
    # Build with caches inside $CACHE so nothing else on the system is touched.
    export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS="-buildvcs=false -modcacherw"
    export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
    local work t0 t
    mkdir -p "$CACHE/tmp"
    work=$(mktemp -d "$CACHE/tmp/build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    t0=$SECONDS

    if ! ok pulumi "pulumi-$PULUMI_V"; then
      t=$SECONDS; echo "tools: building pulumi $PULUMI_V (slow: ~20 min cold)..."
      # pkg/v3 has `replace sdk/v3 => ../sdk`: rebuild the repo layout pkg/ + sdk/
      go mod download github.com/pulumi/pulumi/pkg/v3@$PULUMI_V github.com/pulumi/pulumi/sdk/v3@$PULUMI_V
      mkdir -p "$work/pulumi"
      cp -r "$GOMODCACHE/github.com/pulumi/pulumi/pkg/v3@$PULUMI_V" "$work/pulumi/pkg"
      cp -r "$GOMODCACHE/github.com/pulumi/pulumi/sdk/v3@$PULUMI_V" "$work/pulumi/sdk"
      chmod -R u+w "$work/pulumi"
      # the pinned gocloud.dev pseudo-version is refused by the proxy (403); v0.47.0 works
      (cd "$work/pulumi/pkg" && go get gocloud.dev@v0.47.0 &&
       go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_V" \
         -o "$BIN/pulumi" ./cmd/pulumi)
      done_ pulumi-v "pulumi-$PULUMI_V"
      echo "tools: pulumi built in $((SECONDS - t))s"
    fi

    if [[ -n $lh_stamp ]] && ! ok pulumi-language-go "$lh_stamp"; then
      t=$SECONDS; echo "tools: building pulumi-language-go from $LANGHOST_SRC..."
      cp -r "$LANGHOST_SRC" "$work/langhost"; chmod -R u+w "$work/langhost"
      (cd "$work/langhost" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$BIN/pulumi-language-go" .)
      done_ pulumi-language-go "$lh_stamp"
      echo "tools: pulumi-language-go built in $((SECONDS - t))s"
    fi

    if ! ok pulumi-resource-kubernetes "pulumi-resource-kubernetes-$K8S_PSEUDO"; then
      t=$SECONDS; echo "tools: building pulumi-resource-kubernetes $K8S_VERSION ($K8S_PSEUDO)..."
      go mod download github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PSEUDO
      cp -r "$GOMODCACHE/github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PSEUDO" "$work/k8s"
      chmod -R u+w "$work/k8s"
      (cd "$work/k8s"
       go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
                   -require github.com/pulumi/pulumi-kubernetes/sdk/v4@v4.22.2
       go mod tidy
       (cd cmd/pulumi-resource-kubernetes && VERSION=$K8S_VERSION go generate .)
       go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_VERSION" \
         -o "$BIN/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
      done_ pulumi-resource-kubernetes "pulumi-resource-kubernetes-$K8S_PSEUDO"
      echo "tools: pulumi-resource-kubernetes built in $((SECONDS - t))s"
    fi
    rm -rf "$work"; rmdir "$CACHE/tmp" 2>/dev/null || true; trap - EXIT
    echo "tools: build total $((SECONDS - t0))s"
  fi

  [[ -z $lh_path ]] || ln -sf "$lh_path" "$BIN/pulumi-language-go"
  echo "pulumi: $BIN/pulumi ($PULUMI_V), $BIN/pulumi-language-go, $BIN/pulumi-resource-kubernetes ($K8S_VERSION)"
  case ":$PATH:" in
    *":$BIN:"*) ;;
    *) echo "  add to PATH:  export PATH=\"$BIN:\$PATH\"" ;;
  esac
}

(($#)) || usage 1
deb=0 pulumi=0
for a in "$@"; do
  case $a in
    --deb) deb=1 ;;
    --pulumi) pulumi=1 ;;
    --all) deb=1 pulumi=1 ;;
    -h|--help) usage ;;
    *) echo "tools: unknown option $a" >&2; usage 1 ;;
  esac
done
((deb == 0)) || { install_deb; install_kubectl; }
((pulumi == 0)) || install_pulumi
