# require_output TAG BINARY EXPECTED ARGS...: runs BINARY ARGS and requires EXPECTED in what it
# prints; otherwise says why as "[TAG] error: ..." and returns 1. Sourced by the fetch/build helpers.
require_output() {
  local tag=$1 bin=$2 expected=$3 out
  shift 3
  [ -x "$bin" ] || { printf '[%s] error: %s is not an executable\n' "$tag" "$bin" >&2; return 1; }
  out=$("$bin" "$@" 2>&1) || { printf "[%s] error: '%s %s' failed: %s\n" "$tag" "$bin" "$*" "$out" >&2; return 1; }
  case $out in
    *"$expected"*) return 0 ;;
    *) printf "[%s] error: '%s %s' reports '%s', expected %s\n" "$tag" "$bin" "$*" "$out" "$expected" >&2; return 1 ;;
  esac
}
