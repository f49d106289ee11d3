# toxiproxy (github.com/Shopify/toxiproxy/v2), the TCP fault injector of tests/integration/netfaults,
# built from its Go module (Go module proxy) by pinned version into a cache outside the clone.
# Source it; do not run it (or run it to build and print the path).
#
#   source scripts/lib/toxiproxy.sh
#   ensure_toxiproxy       # builds once; exports RINGLB_TOXIPROXY (the server binary)
#
# or `bash scripts/lib/toxiproxy.sh`: build (once) and print RINGLB_TOXIPROXY=path.
#
# Where: ${RINGLB_TOXIPROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/toxiproxy}/<version>/
#   bin/toxiproxy-server   and the stamp bin/.toxiproxy-<version>; with the stamp it is never rebuilt
#   src/                   a throwaway Go module (go.mod, go.sum); no toxiproxy source is committed
#   build.log              the go commands' output of the last build
# v2.5.0 is the newest version the module proxy served on 2026-12-06 (v2.3.0 and v2.5.0 listed).

: "${RINGLB_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
RINGLB_TOXIPROXY_VERSION=${RINGLB_TOXIPROXY_VERSION:-v2.5.0}
RINGLB_TOXIPROXY_CACHE=${RINGLB_TOXIPROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/toxiproxy}

_toxi_log() { printf '\033[1m[toxiproxy]\033[0m %s\n' "$*" >&2; }

# ensure_toxiproxy: builds toxiproxy-server once per version; exports RINGLB_TOXIPROXY. Returns
# non-zero, with the go command's last lines, on failure.
ensure_toxiproxy() {
  local v=$RINGLB_TOXIPROXY_VERSION dir=$RINGLB_TOXIPROXY_CACHE/$RINGLB_TOXIPROXY_VERSION
  local bin=$dir/bin/toxiproxy-server src=$dir/src logfile=$dir/build.log
  if [ ! -f "$dir/bin/.toxiproxy-$v" ] || [ ! -x "$bin" ]; then
    command -v go >/dev/null || { _toxi_log "error: go is not installed (apt-get install golang-go)"; return 1; }
    rm -rf "$src" && mkdir -p "$src" "$dir/bin" && : >"$logfile"
    printf 'module ringlb.local/toxiproxy\n\ngo 1.17\n\nrequire github.com/Shopify/toxiproxy/v2 %s\n' "$v" >"$src/go.mod"
    _toxi_log "building github.com/Shopify/toxiproxy/v2/cmd/server@$v into $dir/bin (log: $logfile)"
    if ! (cd "$src" &&
          nice -n 15 env CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
            go get "github.com/Shopify/toxiproxy/v2/cmd/server@$v" >>"$logfile" 2>&1 &&
          nice -n 15 env CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
            go build -p 2 -trimpath -ldflags "-s -w" -o "$bin" github.com/Shopify/toxiproxy/v2/cmd/server \
            >>"$logfile" 2>&1); then
      tail -n 30 "$logfile" | sed 's/^/    /' >&2
      _toxi_log "error: building toxiproxy $v failed (see above; the Go module proxy is $(go env GOPROXY))"
      return 1
    fi
    touch "$dir/bin/.toxiproxy-$v"
  fi
  "$bin" -version >/dev/null 2>&1 || "$bin" --help >/dev/null 2>&1 ||
    { _toxi_log "error: $bin does not run"; return 1; }
  export RINGLB_TOXIPROXY=$bin
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_toxiproxy
  printf 'RINGLB_TOXIPROXY=%s\n' "$RINGLB_TOXIPROXY"
fi
