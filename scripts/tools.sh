#!/usr/bin/env bash
# Install the tools this project's scripts need. Idempotent: a rerun only checks stamps.
#   --deb     Debian packages used by the tests (apt-get, only for missing packages)
#   --pulumi  Pulumi CLI, Go language host and kubernetes provider, built from the Go module proxy
#             into ${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}/bin (nothing else is written)
#   --all     both
#   --langhost  only the Go language host (tools/pulumi-language-go), for a machine whose Pulumi
#             CLI came without one (the official CLI ships it; see scripts/pulumi-cli.sh)
#   --lab     the e2e lab (tests/e2e): Debian etcd-server, redis-server, git, openssl, curl, kubectl;
#             kube-apiserver/-controller-manager/-scheduler v1.31.14, kwok v0.7.0, argocd v2.14.21,
#             helm v3.22.0, kustomize v5.4.3 (what Argo CD's repo-server runs for Helm and Kustomize
#             apps), vault v1.21.0 built from the Go module proxy into the same bin dir (an
#             existing binary reporting the pinned version is kept), and the argo-cd module (CRDs)
# Env: PM4ML_CACHE, LANGHOST_SRC (default <repo>/tools/pulumi-language-go, this project's own
# minimal Go language host; the official one ships with Pulumi's release archives).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}
BIN=$CACHE/bin
PULUMI_V=v3.274.1
K8S_PSEUDO=v4.0.0-20260115033456-f47bc2d6f199 # the only provider/v4 version the proxy serves
K8S_VERSION=4.24.0-dev.f47bc2d
LANGHOST_SRC=${LANGHOST_SRC:-$ROOT/tools/pulumi-language-go}
DEB_PKGS=(haproxy keepalived nftables wireguard-tools wireguard-go shellcheck yamllint iproute2 openssh-client debootstrap systemd-container curl)

usage() { sed -n '2,14s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

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

# install_pulumi [langhost]: the CLI, the language host and the kubernetes provider; with
# `langhost`, only the language host.
install_pulumi() {
  local only=${1:-}
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

  local need=0 cli=1
  [[ $only != langhost ]] || cli=0
  if ((cli)); then
    ok pulumi "pulumi-$PULUMI_V" || need=1
    ok pulumi-resource-kubernetes "pulumi-resource-kubernetes-$K8S_PSEUDO" || need=1
  fi
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

    if ((cli)) && ! ok pulumi "pulumi-$PULUMI_V"; then
      t=$SECONDS; echo "tools: building pulumi $PULUMI_V from source (first time only: ~4-6 min; a rerun reuses it)..."
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

    if ((cli)) && ! ok pulumi-resource-kubernetes "pulumi-resource-kubernetes-$K8S_PSEUDO"; then
      t=$SECONDS; echo "tools: building pulumi-resource-kubernetes $K8S_VERSION ($K8S_PSEUDO) (first time only: ~15 min on an idle machine, up to 40 min on a busy one)..."
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
  if ((!cli)); then
    echo "pulumi-language-go: $BIN/pulumi-language-go$( ((need)) || echo ' (cached: reused)')"
    return
  fi
  ((need)) || echo "tools: pulumi, pulumi-language-go, pulumi-resource-kubernetes cached (reused; the first build takes ~14-21 min, more on a busy machine)"
  echo "pulumi: $BIN/pulumi ($PULUMI_V), $BIN/pulumi-language-go, $BIN/pulumi-resource-kubernetes ($K8S_VERSION)"
  case ":$PATH:" in
    *":$BIN:"*) ;;
    *) echo "  add to PATH:  export PATH=\"$BIN:\$PATH\"" ;;
  esac
}

# --lab: the e2e lab's servers and tools (recipes: shared/lab-recipes/build-k8s.sh,
# build-tools.sh, build-vault.sh). Versions are pinned to what the module proxy here serves.
K8S_V=v1.31.14 K8S_STAGING=v0.31.14 KWOK_V=v0.7.0 ARGOCD_V=v2.14.21 HELM_V=v3.22.0 VAULT_V=v1.21.0
KUSTOMIZE_V=v5.4.3 # the one Argo CD v2.14.21 ships (hack/tool-versions.sh): it renders namespaces as 5.4 does
LAB_DEB_PKGS=(etcd-server redis-server git openssl curl iproute2)

# adopt NAME STAMP WANT CMD...: an existing $BIN/NAME without its stamp whose CMD output contains
# WANT (a version) gets the stamp, so a binary built earlier by the same recipe is not rebuilt.
adopt() {
  local name=$1 stamp=$2 want=$3 out; shift 3
  ok "$name" "$stamp" && return 0
  [[ -x $BIN/$name ]] || return 1
  out=$("$@" 2>/dev/null) || return 1
  [[ $out == *"$want"* ]] || return 1
  done_ "$name" "$stamp"
  echo "tools: $BIN/$name is $want (kept)"
}

# modver FILE: the main module's version recorded in a Go binary (go install NAME@VERSION)
modver() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" && v == "" {v = $3} END {print v}'; }

install_lab_deb() {
  local missing=() p
  for p in "${LAB_DEB_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    local sudo=()
    ((EUID == 0)) || sudo=(sudo -n)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "deb: installed ${missing[*]}"
  else
    echo "deb: lab packages present (${LAB_DEB_PKGS[*]})"
  fi
  install_kubectl
}

install_lab() {
  install_lab_deb
  mkdir -p "$BIN"
  exec 9>"$CACHE/.lock" # one builder at a time
  flock -n 9 || { echo "tools: waiting for another tools.sh using $CACHE..."; flock 9; }
  export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS="-buildvcs=false -modcacherw"
  export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
  local c t work="" built=0 t0=$SECONDS
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    adopt "$c" "$c-$K8S_V" "Kubernetes $K8S_V" "$BIN/$c" --version || true
  done
  adopt kwok "kwok-$KWOK_V" "$KWOK_V" modver "$BIN/kwok" || true
  adopt helm "helm-$HELM_V" "$HELM_V" modver "$BIN/helm" || true
  adopt kustomize "kustomize-$KUSTOMIZE_V" "$KUSTOMIZE_V" modver "$BIN/kustomize" || true
  adopt argocd "argocd-$ARGOCD_V" "argocd: $ARGOCD_V" "$BIN/argocd" version --client --short || true
  adopt vault "vault-$VAULT_V" "Vault $VAULT_V" "$BIN/vault" version || true
  mkdir -p "$CACHE/tmp"
  newwork() { [[ -n $work ]] || { work=$(mktemp -d "$CACHE/tmp/lab.XXXXXX"); trap 'rm -rf "$work"' EXIT; }; }
  # srcdir MODULE@VERSION DEST: a writable copy of a module's source
  srcdir() {
    local d
    d=$(go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -n $d ]] || { echo "tools: go mod download $1 failed" >&2; return 1; }
    cp -r "$d" "$2"; chmod -R u+w "$2"
  }

  if ! { ok kube-apiserver "kube-apiserver-$K8S_V" && ok kube-controller-manager "kube-controller-manager-$K8S_V" &&
         ok kube-scheduler "kube-scheduler-$K8S_V"; }; then
    t=$SECONDS; built=1; newwork; echo "tools: building Kubernetes $K8S_V control plane (slow: ~10 min cold)..."
    srcdir "k8s.io/kubernetes@$K8S_V" "$work/k8s"
    # staging/ nested modules and vendor symlinks are not in the module zip: use the published
    # staging modules; versions the proxy does not serve at $K8S_STAGING -> nearest served patch
    (cd "$work/k8s" && rm -rf vendor go.work go.work.sum &&
     sed -i -E "s#(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+#\1 => \1 $K8S_STAGING#" go.mod &&
     sed -i -E 's#(k8s\.io/endpointslice => k8s\.io/endpointslice) v0\.31\.14#\1 v0.31.13#;
                s#(k8s\.io/kube-controller-manager => k8s\.io/kube-controller-manager) v0\.31\.14#\1 v0.31.13#;
                s#(k8s\.io/kube-scheduler => k8s\.io/kube-scheduler) v0\.31\.14#\1 v0.31.13#;
                s#(k8s\.io/kube-proxy => k8s\.io/kube-proxy) v0\.31\.14#\1 v0.31.11#;
                /^\s+k8s\.io\/sample-[a-z-]+ /d' go.mod)
    local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_V -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=31 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.gitCommit=0000000000000000000000000000000000000000"
    for c in kube-apiserver kube-controller-manager kube-scheduler; do
      (cd "$work/k8s" && GOWORK=off GOFLAGS="$GOFLAGS -mod=mod" go build -ldflags "$ldf" -o "$BIN/$c" "./cmd/$c")
      done_ "$c" "$c-$K8S_V"
    done
    echo "tools: Kubernetes control plane built in $((SECONDS - t))s"
  fi
  if ! ok kwok "kwok-$KWOK_V"; then
    t=$SECONDS; built=1; echo "tools: building kwok $KWOK_V..."
    GOBIN=$BIN go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_V"
    done_ kwok "kwok-$KWOK_V"; echo "tools: kwok built in $((SECONDS - t))s"
  fi
  if ! ok helm "helm-$HELM_V"; then
    t=$SECONDS; built=1; echo "tools: building helm $HELM_V..."
    GOBIN=$BIN go install -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_V"
    done_ helm "helm-$HELM_V"; echo "tools: helm built in $((SECONDS - t))s"
  fi
  if ! ok kustomize "kustomize-$KUSTOMIZE_V"; then
    t=$SECONDS; built=1; echo "tools: building kustomize $KUSTOMIZE_V..."
    GOBIN=$BIN go install -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_V"
    done_ kustomize "kustomize-$KUSTOMIZE_V"; echo "tools: kustomize built in $((SECONDS - t))s"
  fi
  if ! ok argocd "argocd-$ARGOCD_V"; then
    # argo-cd/v3 >= 3.5 needs the nested gitops-engine module, which the proxy does not serve
    t=$SECONDS; built=1; newwork; echo "tools: building argocd $ARGOCD_V (slow: ~9 min cold)..."
    srcdir "github.com/argoproj/argo-cd/v2@$ARGOCD_V" "$work/argocd"
    (cd "$work/argocd" && GOFLAGS="$GOFLAGS -mod=mod" go build \
       -ldflags "-s -w -X github.com/argoproj/argo-cd/v2/common.version=${ARGOCD_V#v}" -o "$BIN/argocd" ./cmd)
    done_ argocd "argocd-$ARGOCD_V"; echo "tools: argocd built in $((SECONDS - t))s"
  fi
  if ! ok vault "vault-$VAULT_V"; then
    # api/ and sdk/ are nested modules missing from the module zip: drop their ./ replaces so the
    # published versions in go.mod are used (v1.21.0 -> sdk v0.20.0, api v1.22.0)
    t=$SECONDS; built=1; newwork; echo "tools: building vault $VAULT_V (slow: ~15 min cold)..."
    srcdir "github.com/hashicorp/vault@$VAULT_V" "$work/vault"
    (cd "$work/vault" && sed -i -E '/^replace github\.com\/hashicorp\/vault\/(api|sdk)[^ ]* => \.\//d' go.mod &&
     GOFLAGS="$GOFLAGS -mod=mod" go build -ldflags "-s -w" -o "$BIN/vault" .)
    done_ vault "vault-$VAULT_V"; echo "tools: vault built in $((SECONDS - t))s"
  fi
  [[ -z $work ]] || { rm -rf "$work"; trap - EXIT; }
  rmdir "$CACHE/tmp" 2>/dev/null || true
  # the argo-cd module's manifests/ (CRDs, install.yaml) for tests/e2e: from Go's default module
  # cache when it is there, else downloaded into $CACHE/go/mod
  local mod="github.com/argoproj/argo-cd/v2@$ARGOCD_V" dflt
  dflt=$(GOMODCACHE='' go env GOMODCACHE)
  if ! (cd / && GOPROXY=off go mod download "$mod" 2>/dev/null) &&
     ! (cd / && GOPROXY=off GOMODCACHE=$dflt go mod download "$mod" 2>/dev/null); then
    (cd / && go mod download "$mod")
    echo "tools: downloaded $mod"
  fi
  if ((built)); then
    echo "tools: lab binaries built in $((SECONDS - t0))s"
  else
    echo "tools: lab binaries cached (reused; the first build took ~55 min)"
  fi
  echo "lab: $BIN: kube-apiserver kube-controller-manager kube-scheduler ($K8S_V), kwok ($KWOK_V)," \
       "argocd ($ARGOCD_V), helm ($HELM_V), kustomize ($KUSTOMIZE_V), vault ($VAULT_V)"
}

(($#)) || usage 1
deb=0 pulumi=0 lab=0 langhost=0
for a in "$@"; do
  case $a in
    --langhost) langhost=1 ;;
    --deb) deb=1 ;;
    --pulumi) pulumi=1 ;;
    --all) deb=1 pulumi=1 ;;
    --lab) lab=1 ;;
    -h|--help) usage ;;
    *) echo "tools: unknown option $a" >&2; usage 1 ;;
  esac
done
((deb == 0)) || { install_deb; install_kubectl; }
((pulumi == 0)) || install_pulumi
((langhost == 0 || pulumi == 1)) || install_pulumi langhost
((lab == 0)) || install_lab
