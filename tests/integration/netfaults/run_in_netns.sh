#!/bin/sh
# Runs a command in a network namespace of its own with only a loopback interface, so that the
# tests' iptables rules (packet loss, partitions) touch nothing else; the namespace and its rules
# vanish with the command. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
#   run_in_netns.sh COMMAND [ARG...]
set -eu
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! command -v iptables >/dev/null ||
   ! unshare --net true 2>/dev/null; then
  echo "run_in_netns.sh: needs root (allowed to unshare a network namespace), unshare (util-linux) and" \
       "iptables; running without a private namespace" >&2
  exec "$@"
fi
exec unshare --net -- sh -c 'ip link set lo up && RINGLB_PRIVATE_NETNS=1 exec "$@"' run_in_netns "$@"
