# A real Kubernetes control plane for the tests: kube-apiserver, kube-controller-manager,
# kube-scheduler and etcd, built from their Go modules (Go module proxy) by pinned version into a
# cache outside the clone. Source it; do not run it (or run it to build and print the paths).
#
#   source scripts/lib/kube-control-plane.sh
#   ensure_kube_control_plane    # builds once, checks versions; exports RINGLB_KUBE_BIN_DIR,
#                                # RINGLB_ETCD, RINGLB_KUBE_APISERVER,
#                                # RINGLB_KUBE_CONTROLLER_MANAGER, RINGLB_KUBE_SCHEDULER
#   print_kube_control_plane     # KEY=path lines
#
# or `bash scripts/lib/kube-control-plane.sh`: build (once), check and print KEY=path lines.
#
# Where: ${RINGLB_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/kube}/<kubernetes version>/
#   bin/     the four binaries, plus one stamp file per built part (.kubernetes-<v>, .etcd-<v>);
#            a part whose stamp is present is never rebuilt
#   src/     two throwaway Go modules (go.mod, go.sum, etcd's 3-line main); no Kubernetes
#            source is committed to ringlb, and the module sources live in the Go module cache
#   *.log    the go commands' output of the last build
#
# How: k8s.io/kubernetes pins its staging modules (k8s.io/api, apimachinery, client-go,
# apiserver, ...) at v0.0.0 with `replace => ./staging/...`, which a dependent module cannot use.
# The throwaway module requires k8s.io/kubernetes at the pinned release and replaces each staging
# module named in that release's go.mod with its published v0.<minor>.<patch>. etcd is built from
# go.etcd.io/etcd/server/v3 (its etcdmain) in a module of its own, at the version that
# k8s.io/kubernetes itself requires. Builds run under `nice -n 15` with `go build -p 2`
# (RINGLB_KUBE_BUILD_JOBS), CGO off, as Kubernetes' own release builds do.
#
# Needs: go (>= the go line of the release's go.mod) and the Go module proxy (`go env GOPROXY`).

: "${RINGLB_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$RINGLB_ROOT/scripts/lib/require-output.sh"
source "$RINGLB_ROOT/scripts/lib/go-tools.sh"
# kubectl from scripts/lib/kube-tools.sh is v1.35.2; a v1.35 server is inside its version skew.
RINGLB_KUBE_VERSION=${RINGLB_KUBE_VERSION:-v1.35.4}
# The etcd that k8s.io/kubernetes v1.35.4's go.mod requires (go.etcd.io/etcd/server/v3 v3.6.5).
RINGLB_ETCD_VERSION=${RINGLB_ETCD_VERSION:-v3.6.5}
RINGLB_KUBE_CACHE=${RINGLB_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/kube}
RINGLB_KUBE_BUILD_JOBS=${RINGLB_KUBE_BUILD_JOBS:-2}

# _kcp_build_kubernetes DIR: kube-apiserver, kube-controller-manager, kube-scheduler into DIR/bin.
_kcp_build_kubernetes() {
  local dir=$1 v=$RINGLB_KUBE_VERSION src=$1/src/kubernetes logfile=$1/build-kubernetes.log
  local staging_v mod minor major
  staging_v=v0.${v#v1.}
  major=1
  minor=${v#v1.}; minor=${minor%%.*}
  rm -rf "$src" && mkdir -p "$src" && : >"$logfile"
  go_tool_log kube-control-plane "resolving k8s.io/kubernetes@$v (staging modules at $staging_v)"
  go_module_resolve kube-control-plane "$src" "$logfile" "k8s.io/kubernetes@$v" || return 1
  mod=$GO_MODULE_GOMOD
  {
    go_module_header ringlb.local/kube-control-plane "$mod"
    printf '\nrequire k8s.io/kubernetes %s\n\n' "$v"
    printf '// k8s.io/kubernetes %s replaces these with ./staging/src/...; use the published ones.\nreplace (\n' "$v"
    sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*$#\t\1 => \1 '"$staging_v"'#p' "$mod"
    printf ')\n'
  } >"$src/go.mod"
  grep -q "=> k8s.io/api $staging_v" "$src/go.mod" ||
    { go_tool_fail kube-control-plane "no staging replaces found in $mod (has k8s.io/kubernetes changed its go.mod layout?)"; return 1; }
  go_tool_log kube-control-plane "fetching the modules k8s.io/kubernetes@$v needs (log: $logfile)"
  local pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
              k8s.io/kubernetes/cmd/kube-scheduler)
  (cd "$src" && go_tool_run kube-control-plane "$logfile" get "${pkgs[@]/%/@$v}") || return 1
  go_tool_log kube-control-plane "compiling kube-apiserver, kube-controller-manager, kube-scheduler $v (go build -p $RINGLB_KUBE_BUILD_JOBS, niced)"
  # The version variables hack/lib/version.sh sets, so that --version, /version and kubectl's
  # skew check see the real release.
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$src" && go_tool_run kube-control-plane "$logfile" build -p "$RINGLB_KUBE_BUILD_JOBS" -trimpath -ldflags "$ldflags" \
     -o "$dir/bin/" "${pkgs[@]}") || return 1
}

# _kcp_build_etcd DIR: etcd into DIR/bin.
_kcp_build_etcd() {
  local dir=$1 v=$RINGLB_ETCD_VERSION src=$1/src/etcd logfile=$1/build-etcd.log
  rm -rf "$src" && mkdir -p "$src" && : >"$logfile"
  printf 'module ringlb.local/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$v" >"$src/go.mod"
  # go.etcd.io/etcd/server/v3 has a main package at its root in the etcd repository, but a small
  # main of our own is the documented entry point (etcdmain.Main) and does not depend on that.
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$src/main.go"
  go_tool_log kube-control-plane "fetching go.etcd.io/etcd/server/v3@$v (log: $logfile)"
  (cd "$src" && go_tool_run kube-control-plane "$logfile" get "go.etcd.io/etcd/server/v3/etcdmain@$v" && go_tool_run kube-control-plane "$logfile" mod tidy) || return 1
  go_tool_log kube-control-plane "compiling etcd $v"
  (cd "$src" && go_tool_run kube-control-plane "$logfile" build -p "$RINGLB_KUBE_BUILD_JOBS" -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" .) || return 1
}

# ensure_kube_control_plane: builds (once per version) and checks the four binaries; exports
# RINGLB_KUBE_BIN_DIR and one variable per binary. Returns non-zero, with the exact error, on failure.
ensure_kube_control_plane() {
  local dir=$RINGLB_KUBE_CACHE/$RINGLB_KUBE_VERSION
  local kstamp=$dir/bin/.kubernetes-$RINGLB_KUBE_VERSION estamp=$dir/bin/.etcd-$RINGLB_ETCD_VERSION
  go_tool_build_once kube-control-plane "$dir" "$kstamp" "k8s.io/kubernetes $RINGLB_KUBE_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler)" \
    _kcp_build_kubernetes "$dir" || return 1
  go_tool_build_once kube-control-plane "$dir" "$estamp" "go.etcd.io/etcd/server/v3 $RINGLB_ETCD_VERSION" \
    _kcp_build_etcd "$dir" || return 1

  require_output kube-control-plane "$dir/bin/kube-apiserver" "Kubernetes $RINGLB_KUBE_VERSION" --version || return 1
  require_output kube-control-plane "$dir/bin/kube-controller-manager" "Kubernetes $RINGLB_KUBE_VERSION" --version || return 1
  require_output kube-control-plane "$dir/bin/kube-scheduler" "Kubernetes $RINGLB_KUBE_VERSION" --version || return 1
  require_output kube-control-plane "$dir/bin/etcd" "etcd Version: ${RINGLB_ETCD_VERSION#v}" --version || return 1

  export RINGLB_KUBE_BIN_DIR=$dir/bin
  export RINGLB_ETCD=$dir/bin/etcd
  export RINGLB_KUBE_APISERVER=$dir/bin/kube-apiserver
  export RINGLB_KUBE_CONTROLLER_MANAGER=$dir/bin/kube-controller-manager
  export RINGLB_KUBE_SCHEDULER=$dir/bin/kube-scheduler
}

print_kube_control_plane() {
  printf 'RINGLB_KUBE_BIN_DIR=%s\nRINGLB_ETCD=%s\nRINGLB_KUBE_APISERVER=%s\nRINGLB_KUBE_CONTROLLER_MANAGER=%s\nRINGLB_KUBE_SCHEDULER=%s\n' \
    "$RINGLB_KUBE_BIN_DIR" "$RINGLB_ETCD" "$RINGLB_KUBE_APISERVER" "$RINGLB_KUBE_CONTROLLER_MANAGER" "$RINGLB_KUBE_SCHEDULER"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_kube_control_plane
  print_kube_control_plane
fi
