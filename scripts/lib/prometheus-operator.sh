# The ServiceMonitor path's tools for the tests, built from their Go modules (Go module proxy) at
# pinned versions into a cache outside the clone:
# - the Prometheus Operator: cmd/operator of github.com/prometheus-operator/prometheus-operator,
#   with the monitoring.coreos.com CRDs of that same module version;
# - a Prometheus with kubernetes_sd: cmd/prometheus of github.com/prometheus/prometheus (module
#   v0.310.0 is Prometheus v3.10.0, the operator's default version). Debian's prometheus package
#   is built without the Kubernetes service discovery ("field kubernetes_sd_configs not found in
#   type config.ScrapeConfig"), so it cannot run what the operator generates. Built with
#   `-tags remove_all_sd,enable_kubernetes_sd` (Prometheus's own tags: only the Kubernetes
#   discovery plugin) and without the embedded web UI (the API is all the tests use).
# Source it; do not run it (or run it to build and print the paths).
#
#   source scripts/lib/prometheus-operator.sh
#   ensure_prometheus_operator    # builds once, checks the versions; exports
#                                 # RINGLB_PROMETHEUS_OPERATOR, RINGLB_PROMETHEUS_OPERATOR_CRDS,
#                                 # RINGLB_PROMETHEUS_K8S
#   print_prometheus_operator     # KEY=path lines
#
# or `bash scripts/lib/prometheus-operator.sh`: build (once), check and print KEY=path lines.
#
# Where: ${RINGLB_PROMETHEUS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/prometheus-operator}/<version>/
#   bin/prometheus-operator  the binary, and bin/.built-<version>, the stamp (present: never rebuilt)
#   bin/prometheus           Prometheus with kubernetes_sd, and bin/.prometheus-<version>, its stamp
#   crds/                    monitoring.coreos.com_*.yaml copied from the module's
#                            example/prometheus-operator-crd/ (the CRDs that release installs)
#   src/                     a throwaway Go module (go.mod, go.sum); no source is committed to ringlb
#   build.log                the go commands' output of the last build
#
# How: the module's go.mod replaces its two submodules (pkg/apis/monitoring, pkg/client) with
# ./pkg/..., which `go install pkg@version` refuses; the throwaway module requires the release and
# points those replaces at the submodules' published versions of the same tag, which the release
# requires. Built niced with `go build -p 2` (RINGLB_PROMETHEUS_OPERATOR_BUILD_JOBS), CGO off and
# the version variables set as the project's Makefile sets them.
#
# Needs: go (>= the go line of the release's go.mod) and the Go module proxy (`go env GOPROXY`).

: "${RINGLB_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$RINGLB_ROOT/scripts/lib/require-output.sh"
source "$RINGLB_ROOT/scripts/lib/go-tools.sh"
# The newest release the module proxy served on 2026-12-06 among those tried (v0.95.0: 403 "not
# available"; the version list names only v0.85.0, but exact versions are served).
RINGLB_PROMETHEUS_OPERATOR_VERSION=${RINGLB_PROMETHEUS_OPERATOR_VERSION:-v0.90.1}
RINGLB_PROMETHEUS_OPERATOR_CACHE=${RINGLB_PROMETHEUS_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/prometheus-operator}
RINGLB_PROMETHEUS_OPERATOR_BUILD_JOBS=${RINGLB_PROMETHEUS_OPERATOR_BUILD_JOBS:-2}
# Prometheus v3.10.0: github.com/prometheus/prometheus tags v3.X.Y as module version v0.3XX.Y.
RINGLB_PROMETHEUS_K8S_VERSION=${RINGLB_PROMETHEUS_K8S_VERSION:-v3.10.0}

# _pop_build DIR: the binary into DIR/bin, the CRDs into DIR/crds.
_pop_build() {
  local dir=$1 v=$RINGLB_PROMETHEUS_OPERATOR_VERSION src=$1/src logfile=$1/build.log
  local m=github.com/prometheus-operator/prometheus-operator mod moddir
  rm -rf "$src" "$dir/crds" && mkdir -p "$src" "$dir/crds" && : >"$logfile"
  go_tool_log prometheus-operator "resolving $m@$v"
  go_module_resolve prometheus-operator "$src" "$logfile" "$m@$v" || return 1
  mod=$GO_MODULE_GOMOD moddir=$GO_MODULE_DIR
  [ -d "$moddir" ] || { go_tool_fail prometheus-operator "no source directory for $m@$v in the module cache"; return 1; }
  {
    go_module_header ringlb.local/prometheus-operator "$mod"
    printf '\nrequire %s %s\n\n' "$m" "$v"
    printf '// %s %s replaces these with ./pkg/...; use the published ones of the same tag.\nreplace (\n' "$m" "$v"
    sed -n 's#^[[:space:]]*\('"$m"'/pkg/[^[:space:]]*\) => \./pkg/.*$#\t\1 => \1 '"$v"'#p' "$mod"
    printf ')\n'
  } >"$src/go.mod"
  grep -q "=> $m/pkg/apis/monitoring $v" "$src/go.mod" ||
    { go_tool_fail prometheus-operator "no ./pkg replaces found in $mod (has the module changed its go.mod layout?)"; return 1; }
  go_tool_log prometheus-operator "fetching the modules $m@$v needs (log: $logfile)"
  (cd "$src" && go_tool_run prometheus-operator "$logfile" get "$m/cmd/operator@$v") || return 1
  go_tool_log prometheus-operator "compiling cmd/operator $v (go build -p $RINGLB_PROMETHEUS_OPERATOR_BUILD_JOBS, niced)"
  local c=github.com/prometheus/common/version
  local ldflags="-s -w -X $c.Version=${v#v} -X $c.Revision=$v -X $c.Branch=release"
  ldflags+=" -X $c.BuildUser=ringlb -X $c.BuildDate=19700101-00:00:00"
  (cd "$src" && go_tool_run prometheus-operator "$logfile" build -p "$RINGLB_PROMETHEUS_OPERATOR_BUILD_JOBS" -trimpath \
     -ldflags "$ldflags" -o "$dir/bin/prometheus-operator" "$m/cmd/operator") || return 1
  cp "$moddir"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$dir/crds/" ||
    { go_tool_fail prometheus-operator "no CRDs in $moddir/example/prometheus-operator-crd"; return 1; }
  chmod u+w "$dir"/crds/*.yaml
}

# _pop_build_prometheus DIR: Prometheus with kubernetes_sd into DIR/bin/prometheus.
_pop_build_prometheus() {
  local dir=$1 v=$RINGLB_PROMETHEUS_K8S_VERSION src=$1/src-prometheus logfile=$1/build-prometheus.log
  local m=github.com/prometheus/prometheus mv major minor patch mod
  major=${v#v}; minor=${major#*.}; patch=${minor#*.}; minor=${minor%%.*}; major=${major%%.*}
  mv=$(printf 'v0.%d%02d.%d' "$major" "$minor" "$patch")
  rm -rf "$src" && mkdir -p "$src" && : >"$logfile"
  go_tool_log prometheus-operator "resolving $m@$mv (Prometheus $v)"
  go_module_resolve prometheus-operator "$src" "$logfile" "$m@$mv" || return 1
  mod=$GO_MODULE_GOMOD
  # The release's own version replaces (e.g. cloud.google.com/go), which a dependent module must repeat.
  {
    go_module_header ringlb.local/prometheus "$mod"
    printf '\nrequire %s %s\n\n' "$m" "$mv"
    sed -n '/^replace [^(]* => [^.][^ ]* v[0-9]/p' "$mod"
  } >"$src/go.mod"
  go_tool_log prometheus-operator "fetching the modules $m@$mv needs (log: $logfile)"
  (cd "$src" && go_tool_run prometheus-operator "$logfile" get "$m/cmd/prometheus@$mv") || return 1
  go_tool_log prometheus-operator "compiling cmd/prometheus $v with only the Kubernetes discovery (go build -p $RINGLB_PROMETHEUS_OPERATOR_BUILD_JOBS, niced)"
  local c=github.com/prometheus/common/version
  local ldflags="-s -w -X $c.Version=${v#v} -X $c.Revision=$mv -X $c.Branch=release"
  ldflags+=" -X $c.BuildUser=ringlb -X $c.BuildDate=19700101-00:00:00"
  (cd "$src" && go_tool_run prometheus-operator "$logfile" build -p "$RINGLB_PROMETHEUS_OPERATOR_BUILD_JOBS" -trimpath \
     -tags remove_all_sd,enable_kubernetes_sd -ldflags "$ldflags" -o "$dir/bin/prometheus" "$m/cmd/prometheus") || return 1
}

# ensure_prometheus_operator: builds (once per version) and checks the binary and CRDs; exports
# RINGLB_PROMETHEUS_OPERATOR (the binary) and RINGLB_PROMETHEUS_OPERATOR_CRDS (the CRD folder).
# Returns non-zero, with the exact error, on failure.
ensure_prometheus_operator() {
  local v=$RINGLB_PROMETHEUS_OPERATOR_VERSION
  local dir=$RINGLB_PROMETHEUS_OPERATOR_CACHE/$v stamp=$RINGLB_PROMETHEUS_OPERATOR_CACHE/$v/bin/.built-$v
  local pstamp=$RINGLB_PROMETHEUS_OPERATOR_CACHE/$v/bin/.prometheus-$RINGLB_PROMETHEUS_K8S_VERSION
  go_tool_build_once prometheus-operator "$dir" "$stamp" "github.com/prometheus-operator/prometheus-operator $v" \
    _pop_build "$dir" || return 1
  go_tool_build_once prometheus-operator "$dir" "$pstamp" "github.com/prometheus/prometheus $RINGLB_PROMETHEUS_K8S_VERSION (kubernetes_sd only)" \
    _pop_build_prometheus "$dir" || return 1
  require_output prometheus-operator "$dir/bin/prometheus-operator" "version ${v#v}" --version || return 1
  [ -f "$dir/crds/monitoring.coreos.com_servicemonitors.yaml" ] ||
    { go_tool_fail prometheus-operator "$dir/crds has no ServiceMonitor CRD (remove $stamp to rebuild)"; return 1; }
  require_output prometheus-operator "$dir/bin/prometheus" "version ${RINGLB_PROMETHEUS_K8S_VERSION#v}" --version || return 1
  export RINGLB_PROMETHEUS_OPERATOR=$dir/bin/prometheus-operator
  export RINGLB_PROMETHEUS_K8S=$dir/bin/prometheus
  export RINGLB_PROMETHEUS_OPERATOR_CRDS=$dir/crds
}

print_prometheus_operator() {
  printf 'RINGLB_PROMETHEUS_OPERATOR=%s\nRINGLB_PROMETHEUS_OPERATOR_CRDS=%s\nRINGLB_PROMETHEUS_K8S=%s\n' \
    "$RINGLB_PROMETHEUS_OPERATOR" "$RINGLB_PROMETHEUS_OPERATOR_CRDS" "$RINGLB_PROMETHEUS_K8S"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_prometheus_operator
  print_prometheus_operator
fi
