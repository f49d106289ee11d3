#!/bin/sh
# Prints the Debian packages that provide the shared libraries BINARY loads,
# one per line: what a runtime image must install, and nothing more.
# Used by the Dockerfiles' build stage.   runtime-packages.sh BINARY...
set -eu
for binary in "$@"; do
  ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
done | sort -u | while read -r lib; do
  pkg=""
  # Merged /usr: dpkg may know the file under /lib or /usr/lib, or only its target.
  for candidate in "$lib" "$(realpath "$lib")" "/usr$lib" "${lib#/usr}"; do
    pkg=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1) || true
    [ -n "$pkg" ] && break
  done
  [ -n "$pkg" ] || { echo "runtime-packages: no package provides $lib" >&2; exit 1; }
  echo "$pkg"
done | sort -u
