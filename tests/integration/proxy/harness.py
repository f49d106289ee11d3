"""Shared helpers for the proxy's integration tests: the real ringlb-proxy on
loopback, real member processes that record what they see, and a fake
operator that serves the ring watch contract. Every process a test starts is
stopped in tearDown, even when the test fails."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.environ.get("RINGLB_BIN_DIR", os.path.join(HERE, "..", "..", "..", "build", "dev", "bin"))
PROXY = os.path.join(BIN_DIR, "ringlb-proxy")
RINGCTL = os.path.join(BIN_DIR, "ringctl")
# Set by the sanitizer test presets: per-connection memory figures then measure the sanitizer's
# shadow memory and quarantine, not the proxy.
SANITIZER = os.environ.get("RINGLB_SANITIZER", "")
# Worker threads of a proxy a test starts without choosing (the TSan preset sets 2, so
# that races between workers can show).
DEFAULT_THREADS = int(os.environ.get("RINGLB_PROXY_THREADS", "1"))
skip_memory_figures_under_sanitizer = unittest.skipIf(
    bool(SANITIZER), f"memory figures mean nothing under {SANITIZER or 'a'} sanitizer")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class MemberProcess:
    """A member script on a kernel-chosen loopback port; it prints "listening PORT" first."""

    def __init__(self, workdir, member_id, script, args, name="member", env=None):
        self.id = member_id
        self.stderr = open(os.path.join(workdir, f"{name}-{member_id}.stderr"), "w")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, script), "--id", member_id, *args],
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env)
        line = self.proc.stdout.readline()
        match = re.match(r"listening (\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"{name} {member_id} did not start: {line!r}")
        self.port = int(match.group(1))
        self.address = f"127.0.0.1:{self.port}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()
        self.proc.stdout.close()
        self.stderr.close()


class Member(MemberProcess):
    """A member process (member.py)."""

    def __init__(self, workdir, member_id):
        self.log_path = os.path.join(workdir, f"member-{member_id}.jsonl")
        open(self.log_path, "w").close()
        super().__init__(workdir, member_id, "member.py", ["--log", self.log_path])

    def events(self, kind=None):
        with open(self.log_path) as f:
            events = [json.loads(line) for line in f if line.strip()]
        return [e for e in events if kind is None or e["event"] == kind]


class Proxy:
    """ringlb-proxy on loopback ports chosen by the kernel."""

    def __init__(self, workdir, *args, threads=None, preexec_fn=None):
        self.stderr_path = os.path.join(workdir, "proxy.stderr")
        self.stdout_path = os.path.join(workdir, "proxy.stdout")
        self.stderr = open(self.stderr_path, "w")
        self.stdout_file = open(self.stdout_path, "w")
        command = [PROXY, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--threads", str(threads or DEFAULT_THREADS), *args]
        self.proc = subprocess.Popen(command, stdout=self.stdout_file, stderr=self.stderr, preexec_fn=preexec_fn)
        deadline = time.monotonic() + 10
        self.port = self.admin_port = None
        while time.monotonic() < deadline:
            with open(self.stderr_path) as f:
                match = re.search(r"listening data=[\d.]+:(\d+) admin=[\d.]+:(\d+)", f.read())
            if match:
                self.port, self.admin_port = int(match.group(1)), int(match.group(2))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise RuntimeError("proxy did not start:\n" + self.log())

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def stdout(self):
        with open(self.stdout_path) as f:
            return f.read()

    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path, headers=None, connection=None):
        own = connection is None
        conn = connection or self.connection()
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            if own:
                conn.close()

    def admin(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def admin_json(self, path):
        status, body = self.admin(path)
        return status, json.loads(body)

    def metric(self, name, labels=None):
        """Sum of the samples of `name` whose labels include `labels`."""
        _, text = self.admin("/metrics")
        total = None
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            match = re.match(r"([a-z_]+)(\{([^}]*)\})? (\S+)", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
            if labels and any(found.get(k) != v for k, v in labels.items()):
                continue
            total = (total or 0) + float(match.group(4))
        return total

    def wait_for_metric(self, name, labels, value, timeout=5):
        """`metric` once it equals `value`, or its last reading after `timeout`. The proxy counts a
        response after sending it, so a client can see the response a moment before the counter."""
        deadline = time.monotonic() + timeout
        while (current := self.metric(name, labels)) != value and time.monotonic() < deadline:
            time.sleep(0.01)
        return current

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """Stops gracefully (so a sanitizer build can report), then checks the log for sanitizer errors."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        self.stdout_file.close()
        log = self.log()
        if "ERROR: AddressSanitizer" in log or "ERROR: LeakSanitizer" in log or "runtime error:" in log:
            raise AssertionError("sanitizer report from ringlb-proxy:\n" + log[-20000:])


def ring_json(name, version, members, key=None, load_factor=0.0, states=None, algorithm="ring", weights=None):
    ring = {"name": name, "version": version, "algorithm": algorithm, "virtualNodes": 160, "loadFactor": load_factor,
            "members": [{"id": m.id, "address": m.address, "weight": (weights or {}).get(m.id, 1),
                         "state": (states or {}).get(m.id, "Ready")} for m in members]}
    if algorithm == "anchor":
        ring["capacity"] = 16
    if key:
        ring["key"] = key
    return ring


class FakeOperator:
    """Serves GET /v1/rings/NAME[?watch=V&timeoutSeconds=N] like the operator:
    200 with the ring as soon as its version exceeds V, 304 after the timeout,
    404 for another name. publish() records when each version became visible."""

    def __init__(self, name, port=0):
        self.name = name
        self.ring = None
        self.published_at = {}
        self.cond = threading.Condition()
        self.stopped = False
        operator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                if url.path != f"/v1/rings/{operator.name}":
                    return self.reply(404, b'{"error":"unknown ring"}')
                query = urllib.parse.parse_qs(url.query)
                if "watch" in query:
                    known = int(query["watch"][0])
                    timeout = float(query.get("timeoutSeconds", ["30"])[0])
                    deadline = time.monotonic() + timeout
                    with operator.cond:
                        while not operator.stopped and (operator.ring is None or operator.ring["version"] <= known):
                            left = deadline - time.monotonic()
                            if left <= 0:
                                break
                            operator.cond.wait(min(left, 0.05))
                        ring = operator.ring
                        if operator.stopped:
                            self.close_connection = True
                            return
                    if ring is None or ring["version"] <= known:
                        return self.reply(304, b"")
                    return self.reply(200, json.dumps(ring).encode(), ring["version"])
                with operator.cond:
                    ring = operator.ring
                if ring is None:
                    return self.reply(404, b'{"error":"no ring yet"}')
                return self.reply(200, json.dumps(ring).encode(), ring["version"])

            def reply(self, status, body, version=None):
                self.send_response(status)
                if status != 304:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                if version is not None:
                    self.send_header("X-Ring-Version", str(version))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return f"http://127.0.0.1:{self.port}/v1/rings/{self.name}"

    def publish(self, ring):
        with self.cond:
            self.ring = ring
            self.published_at[ring["version"]] = time.monotonic()
            self.cond.notify_all()

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


def owner_chain(ring, key, workdir):
    """The member chain of `key` according to ringctl (independent of the proxy)."""
    path = os.path.join(workdir, "ring-for-ringctl.json")
    with open(path, "w") as f:
        json.dump(ring, f)
    out = subprocess.run([RINGCTL, "explain", path, "--key", key], check=True, capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines()[1:]]


def read_response(sock):
    """Reads one Content-Length response from `sock`. Returns (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        body += chunk
    return head, body


def raw_exchange(port, data, timeout=3.0):
    """Sends raw bytes, returns everything the proxy sends back before closing (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (socket.timeout, ConnectionResetError):
            pass
        return b"".join(chunks)


class ProxyTestCase(unittest.TestCase):
    """Creates a work directory and stops every process the test started."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringlb-proxy-test-")
        self.workdir = self.tmp.name
        self.cleanups = []

    def tearDown(self):
        problems = []
        for stop in reversed(self.cleanups):
            try:
                stop()
            except AssertionError as error:
                problems.append(str(error))
            except Exception:  # keep stopping the rest
                pass
        self.tmp.cleanup()
        if problems:
            self.fail("\n".join(problems))

    def start_members(self, count, prefix="m"):
        members = []
        for i in range(count):
            member = Member(self.workdir, f"{prefix}-{i}")
            self.cleanups.append(member.stop)
            members.append(member)
        return members

    def start_proxy(self, *args, threads=None, preexec_fn=None):
        proxy = Proxy(self.workdir, *args, threads=threads, preexec_fn=preexec_fn)
        self.cleanups.append(proxy.stop)
        return proxy

    def start_operator(self, name="apod"):
        operator = FakeOperator(name)
        self.cleanups.append(operator.stop)
        return operator
