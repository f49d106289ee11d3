"""Starts the real ringlb-operator, ringlb-proxy and ringlb-apod on 127.0.0.1 and
cleans up every process it started, even when a test fails half-way. Set
RINGLB_KEEP_TEST_DIRS=1 to keep each test's directory (logs, state) for a post-mortem."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

BIN_DIR = os.environ.get("RINGLB_BIN_DIR", "")
RING = "apod"


def binary(name):
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        raise AssertionError(f"{path}: not built (set RINGLB_BIN_DIR to the directory with {name})")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError, KeyError, http.client.HTTPException) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def accepts(port):
    """True when something listens on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def get(url, timeout=5):
    """(status, headers, body) of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def process_start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def resource_yaml(replicas, apod, interval=1, failure_threshold=3, drain_seconds=1, extra_args=()):
    args = ", ".join(json.dumps(a) for a in ["--port", "$(PORT)", "--listen-address", "127.0.0.1", *extra_args])
    return f"""apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {{name: {RING}}}
spec:
  replicas: {replicas}
  template:
    command: [{json.dumps(apod)}]
    args: [{args}]
  hashing: {{algorithm: ring, key: {{source: query, name: date}}, virtualNodes: 160}}
  healthCheck: {{path: /healthz, intervalSeconds: {interval}, timeoutSeconds: 1, failureThreshold: {failure_threshold}, successThreshold: 1}}
  drainSeconds: {drain_seconds}
"""


class Stack:
    """One operator (process runtime) with one HashRing of ringlb-apod replicas,
    and proxies following its ring."""

    def __init__(self, replicas=3, **resource):
        self.dir = tempfile.mkdtemp(prefix="ringlb-op-it-")
        self.state_dir = os.path.join(self.dir, "state")
        self.resource_path = os.path.join(self.dir, "apod.yaml")
        self.apod = binary("ringlb-apod")
        self.resource = dict(resource)
        self.operator = None
        self.operator_port = free_port()
        self.operator_log = os.path.join(self.dir, "operator.log")
        self.proxies = []
        self.write_resource(replicas)

    # -- resources ---------------------------------------------------------
    def write_resource(self, replicas, text=None):
        text = text if text is not None else resource_yaml(replicas, self.apod, **self.resource)
        temporary = self.resource_path + ".tmp"
        with open(temporary, "w") as f:
            f.write(text)
        os.replace(temporary, self.resource_path)

    def resource_text(self):
        with open(self.resource_path) as f:
            return f.read()

    # -- processes ---------------------------------------------------------
    def start_operator(self, *extra):
        log = open(self.operator_log, "a")
        self.operator = subprocess.Popen(
            [binary("ringlb-operator"), "--resources", self.resource_path, "--listen", f"127.0.0.1:{self.operator_port}",
             "--state-dir", self.state_dir, "--resync-seconds", "5", "--poll-ms", "100", "--stop-grace-seconds", "5", *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(lambda: get(self.url("/healthz"), timeout=1)[0] == 200, 10, "the operator to listen")
        return self.operator

    def start_proxy(self):
        port, admin = free_port(), free_port()
        log = open(os.path.join(self.dir, f"proxy-{port}.log"), "a")
        proxy = subprocess.Popen(
            [binary("ringlb-proxy"), "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}", "--threads",
             os.environ.get("RINGLB_PROXY_THREADS", "1"), "--ring-url", self.url(f"/v1/rings/{RING}")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        proxy.port, proxy.admin = port, admin
        self.proxies.append(proxy)
        wait_until(lambda: get(f"http://127.0.0.1:{admin}/healthz", timeout=1)[0] == 200, 10, "the proxy to listen")
        # The data port listens once the proxy has its first ring (--initial-ring-wait).
        wait_until(lambda: accepts(port), 15, "the proxy's data port to listen")
        return proxy

    def kill_operator(self):
        os.kill(self.operator.pid, signal.SIGKILL)
        self.operator.wait(10)

    def close(self):
        for process in [self.operator, *self.proxies]:
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(8)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)
        # Replicas outlive a killed operator by design: stop whatever the state dir still names.
        for pid, start in self.recorded_replicas().values():
            if process_start_time(pid) == start:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not os.environ.get("RINGLB_KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def operator_log_text(self):
        with open(self.operator_log) as f:
            return f.read()

    # -- observation -------------------------------------------------------
    def url(self, path):
        return f"http://127.0.0.1:{self.operator_port}{path}"

    def ring(self):
        status, headers, body = get(self.url(f"/v1/rings/{RING}"))
        if status != 200:
            raise ValueError(f"GET ring: {status} {body}")
        ring = json.loads(body)
        assert int(headers["X-Ring-Version"]) == ring["version"]
        return ring

    def status(self):
        ring = json.loads(get(self.url("/v1/status"))[2])["rings"]
        return next(r for r in ring if r["name"] == RING)

    def members(self):
        return {m["id"]: m for m in self.status()["members"]}

    def recorded_replicas(self):
        """slot -> (pid, start time) from the operator's state files."""
        found = {}
        directory = os.path.join(self.state_dir, "replicas")
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                if name.endswith(".json"):
                    try:
                        with open(os.path.join(directory, name)) as f:
                            state = json.load(f)
                        found[state["slot"]] = (state["pid"], state["startTime"])
                    except (OSError, ValueError, KeyError):
                        pass
        return found

    def wait_ready(self, count, timeout=20):
        def converged():
            ring = self.ring()
            members = ring["members"]
            expected = {f"{RING}-{i}" for i in range(count)}
            return (len(members) == count and {m["id"] for m in members} == expected
                    and all(m["state"] == "Ready" for m in members)) and ring
        return wait_until(converged, timeout, f"{count} Ready members")

    def proxy_ring_version(self, proxy):
        status, _, body = get(f"http://127.0.0.1:{proxy.admin}/ring", timeout=2)
        return json.loads(body)["version"] if status == 200 else None


class RingWatcher(threading.Thread):
    """Long-polls the ring and records every version it is handed, with the time it arrived."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack = stack
        self.seen = []  # (monotonic time, ring)
        self.stopped = threading.Event()
        self.errors = []

    def run(self):
        known = 0
        while not self.stopped.is_set():
            try:
                status, _, body = get(self.stack.url(f"/v1/rings/{RING}?watch={known}&timeoutSeconds=2"), timeout=5)
            except OSError as error:  # operator restarting
                self.errors.append(repr(error))
                time.sleep(0.05)
                continue
            if status == 200:
                ring = json.loads(body)
                self.seen.append((time.monotonic(), ring))
                known = ring["version"]
            elif status != 304:
                time.sleep(0.05)

    def stop(self):
        self.stopped.set()
        self.join(10)

    def versions(self):
        return [ring["version"] for _, ring in self.seen]


class Load(threading.Thread):
    """Steady GETs through a proxy, many distinct dates, counting failures and
    who served each request (X-Served-By)."""

    def __init__(self, port, rate=150):
        super().__init__(daemon=True)
        self.port = port
        self.interval = 1.0 / rate
        self.stopped = threading.Event()
        self.ok = 0
        self.failures = []
        self.served_by = {}
        self.log = []  # (monotonic time, date, served by or None)

    def run(self):
        connection = None
        i = 0
        next_at = time.monotonic()
        while not self.stopped.is_set():
            date = time.strftime("%Y-%m-%d", time.gmtime(946684800 + (i * 7919 % 6000) * 86400))
            i += 1
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", f"/planetary/apod?date={date}")
                response = connection.getresponse()
                response.read()
                member = response.getheader("X-Served-By")
                if response.status >= 500 or response.status == 0:
                    self.failures.append((time.monotonic(), date, f"HTTP {response.status} from {member}"))
                else:
                    self.ok += 1
                    self.served_by[member] = self.served_by.get(member, 0) + 1
                self.log.append((time.monotonic(), date, member))
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                self.failures.append((time.monotonic(), date, repr(error)))
                if connection:
                    connection.close()
                connection = None
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
        if connection:
            connection.close()

    def stop(self):
        self.stopped.set()
        self.join(10)
