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
source "$RINGLB_ROOT/scripts/lib/go-tools.sh"
RINGLB_TOXIPROXY_VERSION=${RINGLB_TOXIPROXY_VERSION:-v2.5.0}
RINGLB_TOXIPROXY_CACHE=${RINGLB_TOXIPROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringlb/toxiproxy}

# _toxi_build DIR: toxiproxy-server into DIR/bin.
_toxi_build() {
  local dir=$1 v=$RINGLB_TOXIPROXY_VERSION src=$1/src logfile=$1/build.log
  rm -rf "$src" && mkdir -p "$src" && : >"$logfile"
  printf 'module ringlb.local/toxiproxy\n\ngo 1.17\n\nrequire github.com/Shopify/toxiproxy/v2 %s\n' "$v" >"$src/go.mod"
  go_tool_log toxiproxy "building github.com/Shopify/toxiproxy/v2/cmd/server@$v into $dir/bin (log: $logfile)"
  (cd "$src" && go_tool_run toxiproxy "$logfile" get "github.com/Shopify/toxiproxy/v2/cmd/server@$v" &&
   go_tool_run toxiproxy "$logfile" build -p 2 -trimpath -ldflags "-s -w" -o "$dir/bin/toxiproxy-server" \
     github.com/Shopify/toxiproxy/v2/cmd/server)
}

# ensure_toxiproxy: builds toxiproxy-server once per version; exports RINGLB_TOXIPROXY. Returns
# non-zero, with the go command's last lines, on failure.
ensure_toxiproxy() {
  local v=$RINGLB_TOXIPROXY_VERSION dir=$RINGLB_TOXIPROXY_CACHE/$RINGLB_TOXIPROXY_VERSION
  local bin=$dir/bin/toxiproxy-server
  go_tool_build_once toxiproxy "$dir" "$dir/bin/.toxiproxy-$v" "github.com/Shopify/toxiproxy/v2 $v" \
    _toxi_build "$dir" || return 1
  "$bin" -version >/dev/null 2>&1 || "$bin" --help >/dev/null 2>&1 ||
    { go_tool_fail toxiproxy "$bin does not run (remove $dir/bin/.toxiproxy-$v to rebuild)"; return 1; }
  export RINGLB_TOXIPROXY=$bin
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  ensure_toxiproxy
  printf 'RINGLB_TOXIPROXY=%s\n' "$RINGLB_TOXIPROXY"
fi
