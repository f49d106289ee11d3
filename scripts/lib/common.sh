# Shared helpers for ringlb's scripts. Source it; do not run it.

RINGLB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian packages the build and the test suite need. Everything comes from bookworm.
RINGLB_BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config
  libboost-dev libssl-dev nlohmann-json3-dev libyaml-cpp-dev libxxhash-dev libcli11-dev libspdlog-dev libnghttp2-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libtcmalloc-minimal4
)
# slowhttptest: the slow-client attacks of tests/integration/proxy/test_overload.py;
# nghttp2-client: nghttp and h2load through the h2c listener (tests/integration/proxy/test_http2.py).
# iproute2, iptables (and util-linux's unshare): packet loss and partitions inside a private network
# namespace in tests/integration/netfaults.
RINGLB_TEST_PACKAGES=(curl python3 python3-yaml openssl slowhttptest nghttp2-client iproute2 iptables util-linux)
# The libFuzzer targets (./scripts/fuzz): bookworm's clang and its sanitizer and fuzzer runtimes.
RINGLB_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

# Each line carries the time since the script started, so a run shows where its minutes went.
log() { printf '\033[1m[ringlb %dm%02ds]\033[0m %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }
die() { printf '[ringlb] error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PKG...: installs missing Debian packages when root; otherwise
# prints the exact command to run and stops.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages. Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  log "installing ${missing[*]}"
  if [ -z "${RINGLB_APT_UPDATED:-}" ]; then
    apt-get update -qq >&2
    RINGLB_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# build_preset NAME [TARGET...]: configures (once) and builds a CMake preset.
# Runs a sanitizer preset's tests. Every sanitized process (the tests' children too, whose stderr a
# test may never show) writes its report into build/<preset>/sanitizer-reports: any report fails the run.
run_sanitized_tests() {
  local preset=$1 reports="$RINGLB_ROOT/build/$1/sanitizer-reports" status=0
  rm -rf "$reports" && mkdir -p "$reports"
  ( cd "$RINGLB_ROOT" && ctest --preset "$preset" -j2 ) || status=$?
  if compgen -G "$reports/*" >/dev/null; then
    local report
    for report in "$reports"/*; do log "sanitizer report $report:"; cat "$report" >&2; done
    die "$preset: the sanitizer reports above (the tests' exit status was $status)"
  fi
  [ "$status" -eq 0 ] || die "$preset: tests failed"
}

build_preset() {
  local preset=$1; shift
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  ( cd "$RINGLB_ROOT"
    if [ ! -f "build/$preset/CMakeCache.txt" ]; then cmake --preset "$preset" >&2; fi
    cmake --build --preset "$preset" "${targets[@]}" -- -j"$(nproc)" >&2 )
}
