# Prometheus for ringlb's tests and demos. Source it; do not run it.
#
#   ensure_prometheus                 installs the Debian package `prometheus` (with promtool) if missing
#   prometheus_start DIR CONFIG       starts a private Prometheus on 127.0.0.1 with CONFIG and its data in
#                                     DIR; prints its base URL (http://127.0.0.1:PORT) once it is ready
#   prometheus_stop DIR               stops the Prometheus that prometheus_start started in DIR
#
# The system service (prometheus.service, :9090) is never used: every Prometheus started here has its
# own port, configuration, data directory and log under DIR, and goes when DIR's owner stops it.

if ! declare -F ensure_packages >/dev/null; then
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

# The version the rules, dashboard and tests are written against (Debian bookworm's).
RINGLB_PROMETHEUS_MIN_VERSION=2.42

# ensure_prometheus: makes `prometheus` and `promtool` available, installing the Debian package when
# root (without letting its postinst start the system service), else naming the command to run.
ensure_prometheus() {
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
      # Debian's invoke-rc.d consults policy-rc.d; exit code 101 means "do not start services".
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
    fi
    local rc=0
    ( ensure_packages prometheus ) || rc=$?
    [ "$added_policy" -eq 1 ] && rm -f "$policy"
    [ "$rc" -eq 0 ] || exit "$rc"
  fi
  local version
  version=$(prometheus --version 2>&1 | sed -n 's/^prometheus, version \([0-9]*\.[0-9]*\).*/\1/p')
  [ -n "$version" ] || die "cannot read the version of $(command -v prometheus)"
  if ! printf '%s\n%s\n' "$RINGLB_PROMETHEUS_MIN_VERSION" "$version" | sort -V -C; then
    die "prometheus $version is older than $RINGLB_PROMETHEUS_MIN_VERSION"
  fi
}

# _prometheus_free_port: prints a loopback TCP port that was free a moment ago.
_prometheus_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# prometheus_start DIR CONFIG: starts Prometheus in the background (pid in DIR/prometheus.pid, log in
# DIR/prometheus.log, TSDB in DIR/data) and prints its URL when /-/ready answers. Returns 1 with the
# log's tail on stderr if it does not become ready within 30 s.
prometheus_start() {
  local dir=${1:?usage: prometheus_start DIR CONFIG} config=${2:?usage: prometheus_start DIR CONFIG}
  [ -f "$config" ] || { log "prometheus config '$config' does not exist"; return 1; }
  command -v prometheus >/dev/null || { log "prometheus is not installed (run ensure_prometheus)"; return 1; }
  promtool check config "$config" >&2 || { log "prometheus config '$config' is invalid"; return 1; }
  mkdir -p "$dir/data"
  local attempt port pid url deadline
  for attempt in 1 2 3; do
    port=$(_prometheus_free_port)
    url="http://127.0.0.1:$port"
    prometheus --config.file="$config" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --web.enable-lifecycle \
      --storage.tsdb.retention.time=1d --log.level=warn >"$dir/prometheus.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/prometheus.pid"
    deadline=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
      if curl -fsS --max-time 1 "$url/-/ready" >/dev/null 2>&1; then
        echo "$url"
        return 0
      fi
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"; wait "$pid" 2>/dev/null || true
      break
    fi
    wait "$pid" 2>/dev/null || true
    # Lost a race for the port: try another one.
    grep -q "address already in use" "$dir/prometheus.log" || break
    log "port $port was taken meanwhile (attempt $attempt); retrying"
  done
  rm -f "$dir/prometheus.pid"
  log "prometheus did not become ready; last lines of $dir/prometheus.log:"
  tail -n 20 "$dir/prometheus.log" >&2
  return 1
}

# prometheus_stop DIR: stops the Prometheus started in DIR (SIGTERM, then SIGKILL after 10 s).
prometheus_stop() {
  local dir=${1:?usage: prometheus_stop DIR} pid i
  [ -f "$dir/prometheus.pid" ] || return 0
  pid=$(cat "$dir/prometheus.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$dir/prometheus.pid"
}
