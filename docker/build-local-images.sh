#!/usr/bin/env bash
# Builds ringlb's images offline from binaries already built on this host:
# FROM scratch, the binary, the shared libraries `ldd` lists, and an
# /etc/passwd with the non-root user `ringlb` (uid 65532). No registry, no
# base image and no network are needed, so it works on air-gapped hosts and
# in the tests.
#
#   docker/build-local-images.sh                       all three images from build/release/bin
#   docker/build-local-images.sh --bin-dir DIR         binaries from DIR
#   docker/build-local-images.sh --only apod           one image (repeatable: apod, proxy, operator)
#   docker/build-local-images.sh --version 0.1.0       tag (default: the project version)
#
# Produces ringlb/apod:VERSION, ringlb/proxy:VERSION, ringlb/operator:VERSION.
# Talks to the daemon the docker CLI uses (DOCKER_HOST or the default socket).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=$root/build/release/bin
version=$(sed -n 's/^project(ringlb VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
only=()

die() { printf 'build-local-images: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'build-local-images: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --bin-dir) bin_dir=$(cd "$2" && pwd) || die "--bin-dir '$2' is not a directory"; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    --version) version=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$version" ] || die "cannot read the project version from $root/CMakeLists.txt; pass --version"
[ ${#only[@]} -gt 0 ] || only=(apod proxy operator)
command -v docker >/dev/null || die "the docker CLI is not installed (Debian: apt-get install docker.io)"
command -v ldd >/dev/null || die "ldd is not installed (Debian: libc-bin)"

# program -> ports it listens on by default (documentation in the image only).
declare -A ports=([apod]="8080" [proxy]="8080 9901" [operator]="8081")

build_one() {
  local name=$1
  local program=ringlb-$name
  local binary=$bin_dir/$program
  [ -n "${ports[$name]:-}" ] || die "unknown image '$name' (apod, proxy or operator)"
  [ -x "$binary" ] || die "$binary not found. Build it first: cmake --preset release && cmake --build build/release --target $program"

  local ctx
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/ringlb-image-$name.XXXXXX")
  trap 'rm -rf "$ctx"' RETURN
  local rootfs=$ctx/rootfs
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cp "$binary" "$rootfs/usr/local/bin/$program"
  if command -v strip >/dev/null; then strip --strip-unneeded "$rootfs/usr/local/bin/$program"; fi

  # Every library the dynamic loader resolves, under the path it resolved,
  # plus the loader itself. `ldd` prints "name => /path (addr)" or "/path (addr)".
  local lib count=0
  while read -r lib; do
    [ -n "$lib" ] || continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
    count=$((count + 1))
  done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
  if ldd "$binary" | grep -q "not found"; then
    die "$binary needs libraries this host lacks: $(ldd "$binary" | grep 'not found' | tr -s ' \t' ' ')"
  fi

  # The working directory, writable by the ringlb user: the operator keeps its
  # --state-dir (ring versions) there by default; mount a volume on it.
  mkdir -p "$ctx/home/var/lib/ringlb"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nringlb:x:65532:65532:ringlb:/var/lib/ringlb:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nringlb:x:65532:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

  {
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    echo "COPY --chown=65532:65532 home/ /"
    echo "ENV PATH=/usr/local/bin"
    echo "WORKDIR /var/lib/ringlb"
    echo "USER 65532:65532"
    local port
    for port in ${ports[$name]}; do echo "EXPOSE $port"; done
    echo "LABEL org.opencontainers.image.title=\"$program\" org.opencontainers.image.version=\"$version\" \\"
    echo "      org.opencontainers.image.description=\"ringlb $name, built offline from local binaries\""
    echo "ENTRYPOINT [\"/usr/local/bin/$program\"]"
  } >"$ctx/Dockerfile"

  log "building ringlb/$name:$version from $binary ($count libraries)"
  # The classic builder needs nothing but the daemon: no BuildKit, no buildx.
  local output
  if ! output=$(DOCKER_BUILDKIT=0 docker build --quiet --tag "ringlb/$name:$version" "$ctx" 2>&1); then
    printf '%s\n' "$output" >&2
    die "docker build of ringlb/$name:$version failed (is the Docker daemon reachable? DOCKER_HOST=${DOCKER_HOST:-unset})"
  fi
}

for name in "${only[@]}"; do
  build_one "$name"
done
log "done: $(printf 'ringlb/%s:'"$version"' ' "${only[@]}")"
