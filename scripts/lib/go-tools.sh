# Shared steps of the test tools ringlb builds from Go modules (the Kubernetes control plane, the
# Prometheus Operator and its Prometheus, toxiproxy, h2spec): each is fetched through the Go module
# proxy at a pinned version and built once into a cache outside the clone. Sourced by
# scripts/lib/kube-control-plane.sh, prometheus-operator.sh, toxiproxy.sh and h2-tools.sh.
#
#   go_tool_log TAG MESSAGE...            "[TAG] MESSAGE" on stderr
#   go_tool_fail TAG MESSAGE...           "[TAG] error: MESSAGE" on stderr; returns 1
#   go_tool_run TAG LOG ARGS...           `go ARGS`, niced, CGO off, local toolchain, output in LOG
#   go_module_resolve TAG SRC LOG MODULE@VERSION
#                                         downloads a module; sets GO_MODULE_GOMOD (its go.mod) and
#                                         GO_MODULE_DIR (its source) for go.mod rewriting
#   go_module_header NAME GOMOD           "module NAME" plus GOMOD's go (and godebug) lines, for a
#                                         throwaway module that requires that release
#   go_tool_build_once TAG DIR STAMP DESCRIPTION BUILD_FUNCTION ARGS...
#                                         runs BUILD_FUNCTION ARGS under DIR/.lock unless STAMP
#                                         exists, then writes STAMP (a stamp is never rebuilt)

go_tool_log() { printf '\033[1m[%s]\033[0m %s\n' "$1" "${*:2}" >&2; }
go_tool_fail() { printf '[%s] error: %s\n' "$1" "${*:2}" >&2; return 1; }

# Failures that mean the module proxy refused or could not serve a module, as opposed to a
# compile error: the message then says which, since only the first is fixed by a version change.
_go_tool_proxy_refusal='(reading|verifying) .*(404|410|403|Not Found|Gone|Forbidden)|proxy\.|dial tcp|no matching versions|unknown revision|invalid version|SECURITY ERROR'

go_tool_run() {
  local tag=$1 logfile=$2
  shift 2
  printf '+ go %s\n' "$*" >>"$logfile"
  if nice -n 15 env CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod go "$@" >>"$logfile" 2>&1; then
    return 0
  fi
  printf '[%s] `go %s` failed; the last lines of %s:\n' "$tag" "$*" "$logfile" >&2
  tail -n 40 "$logfile" | sed 's/^/    /' >&2
  if grep -qE "$_go_tool_proxy_refusal" "$logfile"; then
    go_tool_fail "$tag" "the Go module proxy ($(go env GOPROXY)) refused or could not serve a module (see above)"
  else
    go_tool_fail "$tag" "go $1 failed (see above)"
  fi
}

go_module_resolve() {
  local tag=$1 src=$2 logfile=$3 module=$4
  GO_MODULE_GOMOD= GO_MODULE_DIR=
  # `go mod download -json` reports a refusal in the JSON's "Error" field, on stdout.
  (cd "$src" && printf 'module ringlb.local/resolve\n\ngo 1.25.0\n' >go.mod &&
   GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$module" >>"$logfile" 2>&1) || true
  GO_MODULE_GOMOD=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' "$logfile" | head -n 1)
  GO_MODULE_DIR=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$logfile" | head -n 1)
  if [ -z "$GO_MODULE_GOMOD" ] || [ ! -f "$GO_MODULE_GOMOD" ]; then
    tail -n 40 "$logfile" | sed 's/^/    /' >&2
    go_tool_fail "$tag" "the Go module proxy ($(go env GOPROXY)) did not serve $module (see above)"
    return 1
  fi
}

go_module_header() {
  printf 'module %s\n\n' "$1"
  sed -n 's/^go \([0-9.]*\)$/go \1/p' "$2"
  sed -n '/^godebug /p' "$2"
}

go_tool_build_once() {
  local tag=$1 dir=$2 stamp=$3 description=$4
  shift 4
  command -v go >/dev/null || { go_tool_fail "$tag" "go is missing: $description is built from Go modules"; return 1; }
  mkdir -p "$dir" "$(dirname "$stamp")" || return 1
  # One build at a time: parallel test suites may all ask at once.
  (
    flock 9 || exit 1
    [ -f "$stamp" ] && exit 0
    start=$(date +%s)
    go_tool_log "$tag" "building $description into $dir ($(go version | cut -d' ' -f3), GOPROXY=$(go env GOPROXY)); this runs once per version"
    "$@" || exit 1
    printf '%s built %s with %s\n' "$description" "$(date -u +%FT%TZ)" "$(go version)" >"$stamp"
    go_tool_log "$tag" "cold build of $description took $(( $(date +%s) - start ))s"
  ) 9>"$dir/.lock"
}
