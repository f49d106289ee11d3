"""Shared parts of ringlb's Prometheus tests: a private Prometheus, the ringlb programs, HTTP.

Standard library only. Everything listens on 127.0.0.1 and every process started here is
stopped in teardown, including the replicas the operator started.

Environment:
  RINGLB_BIN_DIR     the built programs (ringlb-operator, ringlb-proxy, ringlb-apod)
  RINGLB_SOURCE_DIR  the repository (deploy/ files); defaults to this file's checkout
  CI=true            a test that cannot run its real parts fails instead of skipping
"""

import calendar
import http.client
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

SOURCE_DIR = os.environ.get("RINGLB_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
RULES_FILE = os.path.join(SOURCE_DIR, "deploy", "prometheus", "rules.yaml")
RULES_TEST_FILE = os.path.join(SOURCE_DIR, "deploy", "prometheus", "rules.test.yaml")
DASHBOARD_FILE = os.path.join(SOURCE_DIR, "deploy", "grafana", "ringlb.json")
METRICS_FILE = os.path.join(SOURCE_DIR, "deploy", "METRICS.md")
PROMETHEUS_SH = os.path.join(SOURCE_DIR, "scripts", "lib", "prometheus.sh")

IN_CI = os.environ.get("CI", "").lower() == "true"

# ctest's SKIP_RETURN_CODE for these scripts: every test skipped (only possible outside CI).
SKIP_EXIT_CODE = 77


def need(condition, why):
    """Skips the calling test (or class) when `condition` is false; fails instead under CI=true."""
    if condition:
        return
    if IN_CI:
        raise AssertionError(f"{why} (CI=true: Prometheus tests must run, not skip)")
    raise unittest.SkipTest(why)


def tool(name):
    """Path of an executable on PATH, or a skip/failure naming the missing package."""
    path = shutil.which(name)
    need(path is not None, f"'{name}' is not installed (Debian package prometheus; ./scripts/test installs it)")
    return path


def program(name):
    """Path of a built ringlb program in RINGLB_BIN_DIR, or a skip/failure saying what is missing."""
    bin_dir = os.environ.get("RINGLB_BIN_DIR", "")
    need(bin_dir != "", "RINGLB_BIN_DIR is not set (run through ctest)")
    path = os.path.join(bin_dir, name)
    need(os.access(path, os.X_OK), f"{path} is not built")
    return path


def main():
    """unittest.main that exits 77 when every test was skipped, so ctest reports a skip, not a pass."""
    program_ = unittest.main(exit=False, verbosity=2)
    result = program_.result
    if not result.wasSuccessful():
        sys.exit(1)
    # Skipped tests count in testsRun; a skip in setUpClass runs none.
    if result.skipped and len(result.skipped) >= result.testsRun:
        sys.exit(SKIP_EXIT_CODE)
    sys.exit(0)


def free_port():
    return free_ports(1)[0]


def free_ports(count):
    """`count` distinct loopback ports that were free a moment ago (held together while picking)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# --- HTTP -----------------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds

    def json(self):
        return json.loads(self.body)


def http_request(method, url, body=None, timeout=5.0, headers=None):
    """One request on a new connection. Raises OSError/HTTPException on transport failure."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "localhost"), f"tests talk to loopback only, not {url}"
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        start = time.monotonic()
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, time.monotonic() - start)
    finally:
        conn.close()


def http_get(url, timeout=5.0):
    return http_request("GET", url, timeout=timeout)


def wait_until(what, predicate, timeout, interval=0.2):
    """Calls predicate() until it returns a truthy value; returns it, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
            last_error = e
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


class KeepAliveClient:
    """A persistent HTTP/1.1 connection to one proxy, reconnecting after a failure."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def get(self, target):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        start = time.monotonic()
        try:
            self.conn.request("GET", target)
            resp = self.conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.monotonic() - start)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- processes -----------------------------------------------------------------------------

def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name may contain spaces and parentheses; fields resume after the last ')'.
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def descendants(root_pid):
    """Every live process below root_pid (children, grandchildren, ...)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _ppid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def pid_listening_on(port):
    """The pid of the process with a listening TCP socket on 127.0.0.1/0.0.0.0:port, or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            continue
    if not inodes:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in targets:
                    return int(entry)
        except OSError:
            continue
    return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class ProcessGroup:
    """Processes a test started, each in its own session, with logs in a directory."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.procs = {}
        self.extra_pids = set()  # processes our processes started (replicas), found before stopping

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.log_dir, f"{name}.log"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def log_tail(self, name, lines=30):
        try:
            with open(os.path.join(self.log_dir, f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def check_running(self, name):
        proc = self.procs[name]
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def adopt_descendants(self):
        """Remembers every process below the ones we started, so stop_all can reach them even if
        they are re-parented when their parent exits (the operator lets replicas outlive it)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                self.extra_pids.update(descendants(proc.pid))

    def stop(self, name, timeout=10.0):
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        self.extra_pids.update(descendants(proc.pid))
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self):
        self.adopt_descendants()
        for name in reversed(list(self.procs)):
            self.stop(name)
        for pid in self.extra_pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in self.extra_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.extra_pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# --- Prometheus ----------------------------------------------------------------------------

class Prometheus:
    """A private Prometheus on 127.0.0.1 with its own config, file_sd targets and TSDB under `workdir`.

    Same flags as scripts/lib/prometheus.sh's prometheus_start; started here directly so that the
    test owns the process and stops it even when it fails.
    """

    def __init__(self, workdir, processes, jobs, scrape_interval="1s", rule_files=()):
        self.workdir = workdir
        self.processes = processes
        self.jobs = list(jobs)
        self.scrape_interval = scrape_interval
        self.rule_files = list(rule_files)
        self.url = None
        self.binary = tool("prometheus")
        self.promtool = tool("promtool")

    @classmethod
    def attach(cls, url):
        """A query client for a Prometheus someone else started."""
        prom = cls.__new__(cls)
        prom.url = url
        return prom

    def rules(self):
        """Every loaded rule (recording and alerting) with its health and last evaluation."""
        return [r for g in self._api("/api/v1/rules", {})["groups"] for r in g["rules"]]

    def targets_file(self, job):
        return os.path.join(self.workdir, f"targets-{job}.json")

    def set_targets(self, job, targets, labels=None):
        """Replaces the scrape targets of `job` (host:port strings). Prometheus notices within ~5 s."""
        assert job in self.jobs, job
        path = self.targets_file(job)
        with open(path + ".tmp", "w") as f:
            json.dump([{"targets": sorted(targets), "labels": labels or {}}], f)
        os.replace(path + ".tmp", path)

    def _write_config(self):
        lines = ["global:",
                 f"  scrape_interval: {self.scrape_interval}",
                 f"  scrape_timeout: {self.scrape_interval}",
                 f"  evaluation_interval: {self.scrape_interval}"]
        if self.rule_files:
            lines.append("rule_files:")
            lines += [f"  - {json.dumps(p)}" for p in self.rule_files]
        lines.append("scrape_configs:")
        for job in self.jobs:
            if not os.path.exists(self.targets_file(job)):
                self.set_targets(job, [])
            lines += [f"  - job_name: {json.dumps(job)}",
                      "    file_sd_configs:",
                      f"      - files: [{json.dumps(self.targets_file(job))}]",
                      "        refresh_interval: 1s"]
        path = os.path.join(self.workdir, "prometheus.yml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        check = subprocess.run([self.promtool, "check", "config", path], capture_output=True, text=True)
        assert check.returncode == 0, f"promtool check config {path}:\n{check.stdout}{check.stderr}"
        return path

    def start(self):
        config = self._write_config()
        for attempt in range(3):
            port = free_port()
            name = "prometheus" if attempt == 0 else f"prometheus-{attempt}"
            proc = self.processes.start(name, [
                self.binary, f"--config.file={config}",
                f"--storage.tsdb.path={os.path.join(self.workdir, 'prometheus-data')}",
                f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d", "--log.level=warn"])
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if http_get(url + "/-/ready", timeout=1).status == 200:
                        self.url = url
                        return self
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.2)
            log = self.processes.log_tail(name)
            self.processes.stop(name)
            if "address already in use" not in log:
                break
        need(False, f"Prometheus did not become ready:\n{log}")

    def _api(self, path, params):
        resp = http_get(f"{self.url}{path}?{urllib.parse.urlencode(params)}", timeout=10)
        body = resp.json()
        if resp.status != 200 or body.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params} answered {resp.status}: {body}")
        return body["data"]

    def query(self, expr, at=None):
        """Instant query; returns the result list (vector samples as {metric, value})."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._api("/api/v1/query", params)["result"]

    def query_range(self, expr, start, end, step):
        return self._api("/api/v1/query_range",
                         {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step})["result"]

    def values_by(self, expr, label):
        """{label value: float} of an instant query."""
        return {s["metric"].get(label, ""): float(s["value"][1]) for s in self.query(expr)}

    def scalar(self, expr):
        """The single value of an instant query, or None when it returns nothing."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} returned {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def label_values(self, label, match):
        return self._api(f"/api/v1/label/{label}/values", {"match[]": match})

    def targets(self):
        return self._api("/api/v1/targets", {"state": "active"})["activeTargets"]

    def wait_scraped_after(self, job, instances, after, timeout=20):
        """Waits until every instance of `job` has a successful scrape that started after `after`
        (a time.time() value), so a query sees everything that happened before it."""
        # timestamp() must see the raw selector: of a computed vector (`up == 1`) it returns the
        # evaluation time, not the scrape's.
        expr = f'timestamp(up{{job="{job}"}}) and on (instance) (up{{job="{job}"}} == 1)'

        def done():
            scraped_at = {s["metric"]["instance"]: float(s["value"][1]) for s in self.query(expr)}
            return all(scraped_at.get(i, 0) > after for i in instances)
        wait_until(f"a scrape of {job} {sorted(instances)} after t={after:.1f}", done, timeout)


def rfc3339_seconds(text):
    """Seconds since the epoch of Prometheus's RFC 3339 timestamps (nanosecond fractions)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert m, text
    base = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        base -= sign * (int(m.group(3)[1:3]) * 3600 + int(m.group(3)[4:6]) * 60)
    return base + float(m.group(2) or 0)


def is_finite_number(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


# --- ringlb programs -----------------------------------------------------------------------

RING_NAME = "apod"


def hashring_yaml(replicas, apod_binary):
    """A HashRing for the process runtime: replicas of ringlb-apod on 127.0.0.1, keyed by ?date=."""
    return f"""apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata:
  name: {RING_NAME}
  namespace: default
spec:
  replicas: {replicas}
  template:
    command: [{json.dumps(apod_binary)}]
    args: ["--port", "$(PORT)", "--listen-address", "127.0.0.1"]
    port: 8080
  hashing:
    algorithm: ring
    key: {{source: query, name: date}}
    virtualNodes: 160
    loadFactor: 1.25
  healthCheck: {{path: /healthz, intervalSeconds: 1, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1}}
"""


def loopback(address):
    """A member address as a loopback host:port for scraping (replicas listen on 127.0.0.1)."""
    host, _, port = address.rpartition(":")
    assert port.isdigit(), f"member address '{address}' has no port"
    if host not in ("127.0.0.1", "localhost", "0.0.0.0", "[::]", "::", ""):
        raise AssertionError(f"member address '{address}' is not on loopback; tests only talk to 127.0.0.1")
    return f"127.0.0.1:{port}"


class Stack:
    """An operator running a HashRing of apod replicas, and proxies following its ring."""

    def __init__(self, workdir, processes, replicas, proxies):
        self.workdir = workdir
        self.processes = processes
        self.operator_bin = program("ringlb-operator")
        self.proxy_bin = program("ringlb-proxy")
        self.apod_bin = program("ringlb-apod")
        self.replicas = replicas
        self.proxy_count = proxies
        self.resource_file = os.path.join(workdir, "hashring.yaml")
        self.delay_flag = os.path.join(workdir, "delay-next-replica")
        self.apod_command = self._write_apod_wrapper()
        self.operator_port = None
        self.proxy_ports = []   # data listeners
        self.admin_ports = []   # admin listeners (/metrics)

    def _write_apod_wrapper(self):
        """The replicas' command: ringlb-apod itself, but the first replica started after
        delay_next_replica() waits before it exec()s. The operator starts and probes a replica in
        well under a second, and a gauge that changes and changes back between two 1 s scrapes
        leaves no trace in Prometheus; the delay makes the Starting/NotReady phase outlast a scrape."""
        path = os.path.join(self.workdir, "ringlb-apod")
        with open(path, "w") as f:
            f.write(f"""#!/bin/sh
flag={shlex.quote(self.delay_flag)}
if mv "$flag" "$flag.$$" 2>/dev/null; then sleep "$(cat "$flag.$$")"; rm -f "$flag.$$"; fi
exec {shlex.quote(self.apod_bin)} "$@"
""")
        os.chmod(path, 0o755)
        return path

    def delay_next_replica(self, seconds):
        """Makes the next replica to start wait `seconds` before running ringlb-apod (within the
        health check's startup allowance of intervalSeconds x failureThreshold = 3 s)."""
        with open(self.delay_flag + ".tmp", "w") as f:
            f.write(str(seconds))
        os.replace(self.delay_flag + ".tmp", self.delay_flag)

    @property
    def operator_url(self):
        return f"http://127.0.0.1:{self.operator_port}"

    @property
    def ring_url(self):
        return f"{self.operator_url}/v1/rings/{RING_NAME}"

    def write_resource(self, replicas):
        self.replicas = replicas
        tmp = self.resource_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(hashring_yaml(replicas, self.apod_command))
        os.replace(tmp, self.resource_file)

    def _start_listening(self, name, argv_for, count, ready):
        """Starts `name` on `count` fresh loopback ports (argv_for(ports) -> argv) and waits for
        ready(ports). A port picked free can be taken before the program binds it (other tests
        share the machine), so a start that fails with "address already in use" is retried."""
        for attempt in range(3):
            ports = free_ports(count)
            self.processes.start(name if attempt == 0 else f"{name}-retry{attempt}", argv_for(ports))
            log_name = name if attempt == 0 else f"{name}-retry{attempt}"

            def up():
                proc = self.processes.procs[log_name]
                if proc.poll() is not None:
                    return "exited"
                return ready(ports) and "ready"
            state = wait_until(f"{name} to listen", up, timeout=60)
            if state == "ready":
                if log_name != name:
                    self.processes.procs[name] = self.processes.procs.pop(log_name)
                return ports
            log = self.processes.log_tail(log_name)
            if "address already in use" not in log.lower():
                raise AssertionError(f"{name} exited with {self.processes.procs[log_name].returncode}:\n{log}")
        raise AssertionError(f"{name}: every port picked was taken before it could bind")

    def start(self):
        self.write_resource(self.replicas)
        state_dir = os.path.join(self.workdir, "operator-state")
        os.makedirs(state_dir, exist_ok=True)

        def operator_answers(ports):
            self.operator_port = ports[0]
            http_get(f"http://127.0.0.1:{ports[0]}/healthz", timeout=2)  # raises until it listens
            return True
        self._start_listening("operator", lambda ports: [
            self.operator_bin, "--resources", self.resource_file,
            "--listen", f"127.0.0.1:{ports[0]}", "--state-dir", state_dir], 1, operator_answers)
        self.wait_ring_ready(self.replicas, timeout=60)
        for i in range(self.proxy_count):
            data, admin = self._start_listening(f"proxy-{i}", lambda ports: [
                self.proxy_bin, "--listen", f"127.0.0.1:{ports[0]}", "--admin", f"127.0.0.1:{ports[1]}",
                "--threads", "1", "--ring-url", self.ring_url], 2,
                lambda ports: http_get(f"http://127.0.0.1:{ports[1]}/readyz", timeout=2).status == 200)
            self.proxy_ports.append(data)
            self.admin_ports.append(admin)
        return self

    def ring(self, allow_missing=False):
        """The published ring's wire JSON; None if `allow_missing` and it is not published yet (404)."""
        resp = http_get(self.ring_url, timeout=5)
        if allow_missing and resp.status == 404:
            return None
        assert resp.status == 200, f"GET {self.ring_url} answered {resp.status}: {resp.body[:200]!r}"
        ring = resp.json()
        header = resp.headers.get("x-ring-version")
        assert header is not None and int(header) == ring["version"], \
            f"X-Ring-Version {header} does not match the body's version {ring['version']}"
        return ring

    def members(self, allow_missing=False):
        """{member id: (address, state)} of the published ring."""
        ring = self.ring(allow_missing)
        return {m["id"]: (m["address"], m.get("state", "Ready")) for m in ring["members"]} if ring else {}

    def wait_ring_ready(self, replicas, timeout=60):
        def ready():
            self.processes.check_running("operator")
            members = self.members(allow_missing=True)
            return len(members) == replicas and all(s == "Ready" for _, s in members.values()) and members
        return wait_until(f"{replicas} Ready members in ring {RING_NAME}", ready, timeout)

    def apod_targets(self):
        return [loopback(addr) for addr, _ in self.members().values()]

    def operator_target(self):
        return f"127.0.0.1:{self.operator_port}"

    def proxy_targets(self):
        return [f"127.0.0.1:{p}" for p in self.admin_ports]

    def replica_pid(self, member_id):
        """The pid of the replica serving `member_id`, checked to be a ringlb-apod our operator started."""
        address, _ = self.members()[member_id]
        port = int(address.rsplit(":", 1)[1])
        pid = pid_listening_on(port)
        assert pid is not None, f"no process listens on {address} ({member_id})"
        argv = cmdline(pid)
        assert "ringlb-apod" in {os.path.basename(a) for a in argv[:3]}, f"pid {pid} on {address} is {argv}"
        operator = self.processes.procs["operator"]
        assert pid in descendants(operator.pid), f"pid {pid} ({member_id}) was not started by our operator"
        return pid


def counted_load(ports, count, start_index=0, deadline_seconds=60):
    """Sends `count` GETs (distinct ?date= keys) round-robin over the proxies on `ports`.

    Returns (per (proxy index, member) counts, per-member counts, latencies, failures). A request
    that fails at the transport level is counted as a failure, not as served.
    """
    clients = [KeepAliveClient(p) for p in ports]
    per_proxy, per_member, latencies, failures = {}, {}, [], []
    deadline = time.monotonic() + deadline_seconds
    try:
        for n in range(start_index, start_index + count):
            if time.monotonic() > deadline:
                raise AssertionError(f"load of {count} requests did not finish in {deadline_seconds} s")
            proxy = n % len(clients)
            day = time.gmtime(803260800 + 86400 * n)  # 1995-06-16, APOD's first day, onwards
            target = f"/planetary/apod?date={time.strftime('%Y-%m-%d', day)}"
            try:
                resp = clients[proxy].get(target)
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"{target} via proxy-{proxy}: {e!r}")
                continue
            latencies.append(resp.seconds)
            member = resp.headers.get("x-served-by")
            if member is None:
                failures.append(f"{target} via proxy-{proxy}: {resp.status} without X-Served-By")
                member = "none"
            per_proxy[(proxy, member)] = per_proxy.get((proxy, member), 0) + 1
            per_member[member] = per_member.get(member, 0) + 1
    finally:
        for c in clients:
            c.close()
    return per_proxy, per_member, latencies, failures


def metric_names_in_metrics_md():
    """{metric name: type} for every metric documented in deploy/METRICS.md's tables."""
    names = {}
    with open(METRICS_FILE) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and cells[0].startswith("`ringlb_") and cells[1] in ("counter", "gauge", "histogram"):
                names[cells[0].strip("`")] = cells[1]
    return names


def documented_labels():
    """{metric name: set of label names} from deploy/METRICS.md."""
    labels = {}
    with open(METRICS_FILE) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and cells[0].startswith("`ringlb_") and cells[1] in ("counter", "gauge", "histogram"):
                found = set()
                # Allowed values are listed in parentheses after a label; they are not labels.
                for part in re.sub(r"\([^)]*\)", "", cells[2]).split("`")[1::2]:
                    if part.isidentifier():
                        found.add(part)
                labels[cells[0].strip("`")] = found
    return labels


def make_workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
