# Docker Engine helpers for the `docker`-labelled tests. Source it after
# common.sh; do not run it.
#
#   dockerd_ensure   installs docker.io when missing, reuses a reachable daemon
#                    (DOCKER_HOST or /var/run/docker.sock) or starts a private
#                    one, waits for it and exports DOCKER_HOST.
#   dockerd_stop     stops the daemon, but only if dockerd_ensure started it.
#
# The private daemon keeps everything under $RINGLB_DOCKERD_DIR (default
# /tmp/ringlb-dockerd): data root, exec root, pidfile, socket and log. It runs
# with --bridge=none --iptables=false so that no private-range network is
# created; test containers use host networking on 127.0.0.1.

RINGLB_DOCKERD_DIR=${RINGLB_DOCKERD_DIR:-/tmp/ringlb-dockerd}
RINGLB_DOCKERD_STARTED=${RINGLB_DOCKERD_STARTED:-0}

# dockerd_ping SOCKET_OR_HOST: true when an Engine answers /_ping there.
dockerd_ping() {
  local host=$1
  case $host in
    unix://*) curl -fsS --max-time 2 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null 2>&1 ;;
    tcp://*) curl -fsS --max-time 2 "http://${host#tcp://}/_ping" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

# dockerd_ensure: see the header. Fails (never skips) when no daemon can run.
dockerd_ensure() {
  ensure_packages docker.io curl
  if [ -n "${DOCKER_HOST:-}" ] && dockerd_ping "$DOCKER_HOST"; then
    log "using the Docker daemon at $DOCKER_HOST"
    return 0
  fi
  if [ -S /var/run/docker.sock ] && dockerd_ping unix:///var/run/docker.sock; then
    export DOCKER_HOST=unix:///var/run/docker.sock
    log "using the Docker daemon at $DOCKER_HOST"
    return 0
  fi
  local dir=$RINGLB_DOCKERD_DIR
  local sock=$dir/docker.sock
  if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null \
      && dockerd_ping "unix://$sock"; then
    # Left running by an earlier run that was interrupted: reuse, and own it.
    export DOCKER_HOST=unix://$sock
    RINGLB_DOCKERD_STARTED=1
    log "reusing the private Docker daemon at $DOCKER_HOST"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    die "no Docker daemon is reachable and starting one needs root. Start dockerd, or run the other tests with: ./scripts/test -LE docker"
  fi
  command -v dockerd >/dev/null || die "dockerd not found although docker.io is installed"
  mkdir -p "$dir/data" "$dir/exec"
  rm -f "$sock" "$dir/dockerd.pid"
  log "starting a private dockerd (data root $dir/data, socket $sock, log $dir/dockerd.log)"
  # setsid: the daemon must outlive neither our job control nor a ^C of one test.
  setsid dockerd \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    --host "unix://$sock" --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
    --userland-proxy=false --log-level warn \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 120); do
    if dockerd_ping "unix://$sock"; then
      export DOCKER_HOST=unix://$sock
      RINGLB_DOCKERD_STARTED=1
      log "dockerd is up at $DOCKER_HOST"
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$dir/dockerd.log" >&2 || true
  die "dockerd did not answer on $sock within 60 s (log: $dir/dockerd.log)"
}

# dockerd_stop: stops the private daemon if this shell started (or adopted) it.
dockerd_stop() {
  [ "$RINGLB_DOCKERD_STARTED" = 1 ] || return 0
  local dir=$RINGLB_DOCKERD_DIR pid
  pid=$(cat "$dir/dockerd.pid" 2>/dev/null) || return 0
  [ -n "$pid" ] || return 0
  log "stopping the private dockerd (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  # dockerd leaves its default network namespace mounted under the exec root.
  local mountpoint
  awk -v root="$dir/" 'index($2, root) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r mountpoint; do
    umount -l "$mountpoint" 2>/dev/null || true
  done
  RINGLB_DOCKERD_STARTED=0
}
