# Test-only HTTP/2 tools, cached outside the clone by version. Source it; do not run it.
#
#   h2spec (github.com/summerwind/h2spec, the HTTP/2 conformance suite), built from its Go module
#     into ${RINGLB_H2SPEC_CACHE:-~/.cache/ringlb/h2spec}/<version>/h2spec;
#     tests/integration/proxy/test_h2spec.py runs it against the proxy's h2c listener.
#   grpcio (PyPI), installed with pip into ~/.cache/ringlb/python/grpcio-<version>;
#     tests/integration/proxy/test_grpc.py puts it on sys.path (test_grpc_upstream.py and its
#     grpc_member.py, real gRPC servers behind an h2c ring, through it).
#   grpcio-health-checking and its protobuf (PyPI), into ~/.cache/ringlb/python/grpcio-health-checking-<version>
#     (beside grpcio, which it needs on the path too); tests/integration/operator/test_grpc_health.py's
#     replicas serve grpc.health.v1 with it, so the operator's gRPC heartbeats meet the reference servicer.
# Nothing is committed; each is fetched once, through the Go module proxy and PyPI.

: "${RINGLB_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
source "$RINGLB_ROOT/scripts/lib/go-tools.sh"

RINGLB_H2SPEC_VERSION=v2.2.1+incompatible  # the module proxy serves h2spec v2 as +incompatible
RINGLB_H2SPEC_CACHE=${RINGLB_H2SPEC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/h2spec}
RINGLB_GRPCIO_VERSION=1.85.1
RINGLB_GRPCIO_HEALTH_PROTOBUF_VERSION=7.35.1  # the lowest protobuf grpcio-health-checking 1.85.1 accepts
RINGLB_PYTHON_CACHE=${RINGLB_PYTHON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/python}

# _h2spec_build DIR: h2spec into DIR (`go install` of the command at its version: h2spec v2 has no
# go.mod, so it needs no throwaway module).
_h2spec_build() {
  GOBIN=$1 go_tool_run h2spec "$1/build.log" install "github.com/summerwind/h2spec/cmd/h2spec@$RINGLB_H2SPEC_VERSION"
}

ensure_h2spec() {
  local dir=$RINGLB_H2SPEC_CACHE/${RINGLB_H2SPEC_VERSION%%+*}
  go_tool_build_once h2spec "$dir" "$dir/.h2spec-${RINGLB_H2SPEC_VERSION%%+*}" \
    "github.com/summerwind/h2spec $RINGLB_H2SPEC_VERSION" _h2spec_build "$dir" || return 1
  [ -x "$dir/h2spec" ] || { go_tool_fail h2spec "$dir/h2spec is missing (remove $dir/.h2spec-* to rebuild)"; return 1; }
}

ensure_grpcio() {
  local dir="$RINGLB_PYTHON_CACHE/grpcio-$RINGLB_GRPCIO_VERSION"
  PYTHONPATH="$dir" python3 -c 'import grpc' 2>/dev/null && return 0
  nice -n 15 python3 -m pip install --quiet --disable-pip-version-check --target "$dir" \
    "grpcio==$RINGLB_GRPCIO_VERSION" >&2
}

# ensure_grpcio_health: grpcio-health-checking (the grpc.health.v1 servicer) at grpcio's version, and protobuf,
# into their own directory; grpcio itself comes from ensure_grpcio's.
ensure_grpcio_health() {
  ensure_grpcio || return 1
  local dir="$RINGLB_PYTHON_CACHE/grpcio-health-checking-$RINGLB_GRPCIO_VERSION"
  PYTHONPATH="$dir:$RINGLB_PYTHON_CACHE/grpcio-$RINGLB_GRPCIO_VERSION" python3 -c 'import grpc_health.v1.health' 2>/dev/null &&
    return 0
  nice -n 15 python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$dir" \
    "grpcio-health-checking==$RINGLB_GRPCIO_VERSION" "protobuf==$RINGLB_GRPCIO_HEALTH_PROTOBUF_VERSION" >&2
}
