#!/usr/bin/env python3
"""A bounded soak of the whole stack on loopback: the real ringlb-operator (process runtime) runs
four member replicas (tests/integration/proxy/member.py, which log every request with its
X-Request-Id), two ringlb-proxy follow its ring, and client threads send GETs and POSTs through
both proxies while, one at a time and in a fixed cycle, a member is SIGKILLed, a member is
partitioned (iptables drops its port), the operator is SIGKILLed and restarted (it adopts its
replicas), and each proxy is restarted (SIGTERM, drained) or killed (SIGKILL) and started again
(a restart waits until its process has lived a third of the run, at least 30 s).

It asserts that
  - no GET fails, except those in flight on a proxy that was SIGKILLed (counted, and at most one
    per client thread per kill);
  - no POST is delivered twice (the members' logs are searched for every request id);
  - a POST answered 2xx was delivered exactly once, and a POST fails only when its member was
    killed or partitioned while it was in flight (sent, so not retried) or its proxy was killed;
  - ring versions only increase (the operator's across its restarts, each proxy's across its);
  - the proxies' and the operator's RSS and open descriptors stay flat.
and prints a table of faults, requests, failures (and why each was allowed), duplicates and drift.

    run_in_netns.sh python3 soak.py --minutes 2          # what ctest runs (label faults)
    run_in_netns.sh python3 soak.py --minutes 30         # by hand

Partitions need a private network namespace (run_in_netns.sh, as root); without one they are
left out and the table says so (with CI=true their absence fails the soak)."""
import argparse
import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MEMBER = os.path.join(HERE, "..", "proxy", "member.py")
sys.path.insert(0, HERE)
from netfaults_support import PortDrop, in_private_netns  # noqa: E402

RING = "soak"
REPLICAS = 4
CLIENTS = 4
CLIENT_TIMEOUT = 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=2.0):
    """(status, body) or (None, None) when nothing answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Stack:
    def __init__(self, workdir, bin_dir):
        self.dir = workdir
        self.bin_dir = bin_dir
        self.member_logs = os.path.join(workdir, "members")
        os.makedirs(self.member_logs)
        self.resource = os.path.join(workdir, "soak.yaml")
        args = ", ".join(json.dumps(a) for a in [MEMBER, "--id", "$(RINGLB_SLOT)", "--port", "$(PORT)", "--log",
                                                 os.path.join(self.member_logs, "$(RINGLB_SLOT).jsonl")])
        with open(self.resource, "w") as f:
            f.write(f"""apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {{name: {RING}}}
spec:
  replicas: {REPLICAS}
  template:
    command: [{json.dumps(sys.executable)}]
    args: [{args}]
  hashing: {{algorithm: ring, key: {{source: path}}, virtualNodes: 160}}
  healthCheck: {{path: /healthz, intervalSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1}}
  drainSeconds: 1
""")
        self.operator_port = free_port()
        self.operator = None
        self.proxies = [None, None]
        self.proxy_ports = [(free_port(), free_port()) for _ in range(2)]
        self.lock = threading.Lock()
        self.started_at = {}  # "operator", "proxy-0", "proxy-1" -> monotonic start time

    def start_operator(self):
        log = open(os.path.join(self.dir, "operator.log"), "a")
        self.operator = subprocess.Popen(
            [os.path.join(self.bin_dir, "ringlb-operator"), "--resources", self.resource,
             "--listen", f"127.0.0.1:{self.operator_port}", "--state-dir", os.path.join(self.dir, "state"),
             "--resync-seconds", "5", "--poll-ms", "100", "--stop-grace-seconds", "3"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.wait(lambda: http_get(self.operator_port, "/healthz")[0] == 200, 20, "the operator to listen")
        self.started_at["operator"] = time.monotonic()

    def start_proxy(self, index):
        port, admin = self.proxy_ports[index]
        log = open(os.path.join(self.dir, f"proxy-{index}.log"), "a")
        proc = subprocess.Popen(
            [os.path.join(self.bin_dir, "ringlb-proxy"), "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
             "--threads", "1", "--ring-url", f"http://127.0.0.1:{self.operator_port}/v1/rings/{RING}",
             "--connect-timeout", "1s", "--upstream-timeout", "2s", "--retries", "2", "--eject-after", "3",
             "--eject-base", "2s", "--drain-timeout", "5s", "--ring-watch-timeout", "5s", "--ring-backoff-max", "1s"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        with self.lock:
            self.proxies[index] = proc
        self.wait(lambda: http_get(admin, "/readyz")[0] == 200, 20, f"proxy {index} to be ready")
        self.started_at[f"proxy-{index}"] = time.monotonic()

    @staticmethod
    def wait(predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise SoakError(f"timed out after {timeout} s waiting for {what}")

    def status_members(self):
        status, body = http_get(self.operator_port, "/v1/status")
        if status != 200:
            return {}
        ring = next((r for r in json.loads(body)["rings"] if r["name"] == RING), None)
        return {m["id"]: m for m in ring["members"]} if ring else {}

    def ring(self):
        status, body = http_get(self.operator_port, f"/v1/rings/{RING}")
        return json.loads(body) if status == 200 else None

    def all_ready(self):
        ring = self.ring()
        return bool(ring) and len(ring["members"]) == REPLICAS and all(m["state"] == "Ready" for m in ring["members"])

    def replica_pids(self):
        pids = []
        directory = os.path.join(self.dir, "state", "replicas")
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                try:
                    with open(os.path.join(directory, name)) as f:
                        pids.append(json.load(f)["pid"])
                except (OSError, ValueError, KeyError):
                    pass
        return pids

    def close(self):
        for proc in [*self.proxies, self.operator]:
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for pid in self.replica_pids():  # replicas a killed operator left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class SoakError(RuntimeError):
    pass


class Events:
    """Fault windows: when each member fault and proxy kill started and ended (monotonic)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.member_faults = []  # [start, end or None]
        self.proxy_kills = []    # (index, pid, time)
        self.counts = collections.Counter()

    def member_fault(self, kind):
        with self.lock:
            self.counts[kind] += 1
            window = [time.monotonic(), None]
            self.member_faults.append(window)
            return window

    def member_fault_overlaps(self, start, end):
        with self.lock:
            return any(s <= end and (e is None or e >= start) for s, e in self.member_faults)

    def proxy_killed(self, pid, start, end):
        with self.lock:
            return any(p == pid and start - 0.05 <= t <= end for _, p, t, in self.proxy_kills)


class Client(threading.Thread):
    """Keep-alive GETs (80%) and POSTs (20%) through proxy A and B in turn. As HTTP clients do
    (RFC 9112 §9.3.1), a GET that fails on a reused connection before any answer is sent again once
    on a new connection; a refused connect (the proxy is restarting) goes to the other proxy; a
    POST is never sent twice."""

    def __init__(self, number, stack, events, stop, rng):
        super().__init__(daemon=True)
        self.number = number
        self.stack = stack
        self.events = events
        self.stop_event = stop
        self.rng = rng
        self.counts = collections.Counter()
        self.failures = []  # (reason, allowed, detail)
        self.posts = {}     # request id -> status or None

    def connect(self, index):
        port = self.stack.proxy_ports[index][0]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        conn.connect()
        with self.stack.lock:
            proc = self.stack.proxies[index]
        conn.proxy_pid = proc.pid if proc else None
        conn.used = False
        return conn

    def run(self):
        conns = [None, None]
        n = 0
        while not self.stop_event.is_set():
            n += 1
            index = n % 2
            method = "POST" if self.rng.random() < 0.2 else "GET"
            path = f"/soak/{self.rng.randrange(5000)}"
            request_id = str(uuid.uuid4())
            self.counts[method] += 1
            self.one(conns, index, method, path, request_id)
            time.sleep(0.005)
        for conn in conns:
            if conn:
                conn.close()

    def one(self, conns, index, method, path, request_id):
        headers = {"X-Request-Id": request_id}
        body = b"soak" if method == "POST" else None
        if method == "POST":
            self.posts[request_id] = None
        attempts = 0
        while True:
            attempts += 1
            start = time.monotonic()
            try:
                if conns[index] is None:
                    conns[index] = self.connect(index)
            except OSError:
                conns[index] = None
                # Refused or unreachable: never sent. The other proxy takes it (once each way).
                if attempts <= 2:
                    self.counts["failed over"] += 1
                    index = 1 - index
                    continue
                time.sleep(0.2)
                if attempts <= 20:
                    continue
                return self.fail(method, "both proxies refused connections for 4 s", False, path)
            conn = conns[index]
            reused = conn.used
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                conn.used = True
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conns[index] = None
            except (OSError, http.client.HTTPException) as error:
                end = time.monotonic()
                conn.close()
                conns[index] = None
                killed = self.events.proxy_killed(conn.proxy_pid, start, end)
                if reused and method == "GET" and attempts == 1 and not isinstance(error, TimeoutError):
                    self.counts["GET resent: in flight on a SIGKILLed proxy" if killed else
                                "GET resent: kept-alive connection closed before an answer"] += 1
                    continue
                if killed:
                    return self.fail(method, "in flight on a SIGKILLed proxy", True, repr(error))
                if method == "POST" and reused and not isinstance(error, TimeoutError):
                    return self.fail(method, "POST on a kept-alive connection the proxy closed; not resent", True,
                                     repr(error))
                return self.fail(method, "connection error", False, f"{path}: {error!r}")
            if method == "POST":
                self.posts[request_id] = response.status
            if response.status < 500:
                self.counts["ok"] += 1
                return
            end = time.monotonic()
            if method == "POST" and self.events.member_fault_overlaps(start - 1.0, end):
                return self.fail(method, f"POST {response.status}: its member was killed or partitioned in flight; "
                                 "sent, so not retried", True, path)
            return self.fail(method, f"{method} {response.status}", False, path)

    def fail(self, method, reason, allowed, detail):
        self.failures.append((method, reason, allowed, detail))


class Sampler(threading.Thread):
    """Every 0.5 s: ring versions (operator and each proxy) and RSS and descriptors of each process."""

    def __init__(self, stack, stop):
        super().__init__(daemon=True)
        self.stack = stack
        self.stop_event = stop
        self.versions = collections.defaultdict(list)   # source -> [version]
        self.resources = collections.defaultdict(list)  # (name, pid) -> [(t, rss, fds)]

    def run(self):
        while not self.stop_event.wait(0.5):
            ring = self.stack.ring()
            if ring:
                self.versions["operator"].append(ring["version"])
            with self.stack.lock:
                procs = [(f"proxy-{i}", p) for i, p in enumerate(self.stack.proxies)] + [("operator", self.stack.operator)]
            for i, (port, admin) in enumerate(self.stack.proxy_ports):
                status, body = http_get(admin, "/ring", timeout=1)
                if status == 200:
                    self.versions[f"proxy-{i}"].append(json.loads(body)["version"])
            for name, proc in procs:
                if proc is None or proc.poll() is not None:
                    continue
                try:
                    rss, fds = rss_kb(proc.pid), open_fds(proc.pid)
                except OSError:
                    continue  # it exited between the check and the read
                if rss is not None:  # a process that is exiting has no VmRSS
                    self.resources[(name, proc.pid)].append((time.monotonic(), rss, fds))


def drift(samples, warmup):
    """(rss drift KB, fd drift, lifetime s) of one process: the median of its last three samples
    against the median of its first three after `warmup` seconds; None if it lived too briefly."""
    if len(samples) < 8:
        return None
    t0 = samples[0][0]
    settled = [s for s in samples if s[0] - t0 >= warmup]
    if len(settled) < 6:
        return None
    first, last = settled[:3], settled[-3:]
    return (statistics.median(s[1] for s in last) - statistics.median(s[1] for s in first),
            statistics.median(s[2] for s in last) - statistics.median(s[2] for s in first),
            settled[-1][0] - settled[0][0])


def run(args):
    workdir = tempfile.mkdtemp(prefix="ringlb-soak-")
    rng = random.Random(args.seed)
    partitions = in_private_netns() and shutil.which("iptables") is not None
    if not partitions and os.environ.get("CI") == "true":
        raise SoakError("partitions need a private network namespace: run through run_in_netns.sh as root")
    stack = Stack(workdir, args.bin_dir)
    events = Events()
    stop = threading.Event()
    problems = []
    started = time.monotonic()
    try:
        stack.start_operator()
        stack.wait(stack.all_ready, 60, f"{REPLICAS} Ready members")
        stack.start_proxy(0)
        stack.start_proxy(1)
        sampler = Sampler(stack, stop)
        sampler.start()
        clients = [Client(i, stack, events, stop, random.Random(rng.random())) for i in range(CLIENTS)]
        for client in clients:
            client.start()
        cycle = ["member SIGKILL", "member partition", "operator SIGKILL + restart", "proxy 0 SIGTERM + restart",
                 "member SIGKILL", "member partition", "proxy 1 SIGKILL + restart", "proxy 0 SIGKILL + restart",
                 "proxy 1 SIGTERM + restart"]
        deadline = started + args.minutes * 60
        # A process is restarted only once it has lived a third of the run (at least 30 s), so that
        # its RSS and descriptors are watched over a long life, in a long soak as in a short one.
        lifetime = max(30.0, args.minutes * 60 / 3)
        step = 0
        filler = 0
        time.sleep(3)
        while time.monotonic() < deadline - args.period:
            fault = cycle[step % len(cycle)]
            target = "operator" if "operator" in fault else fault.split(" SIG")[0].replace(" ", "-")
            if "member" not in fault and time.monotonic() - stack.started_at[target] < lifetime:
                # Too young to restart yet: a member fault meanwhile, and this restart stays next.
                fault = ("member SIGKILL", "member partition")[filler % 2]
                filler += 1
            else:
                step += 1
            if "member" in fault:
                # One member fault at a time: the previous one has healed first.
                stack.wait(stack.all_ready, 90, "every member Ready before the next member fault")
            apply_fault(fault, stack, events, rng, partitions)
            time.sleep(args.period)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and isinstance(thread, (Client, Sampler)):
                thread.join(CLIENT_TIMEOUT + 5)
        stack.close()
    elapsed = time.monotonic() - started
    report = summarize(args, stack, events, clients, sampler, elapsed, partitions, problems)
    print(report)
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if problems:
        print("SOAK FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("soak passed")
    return 0


def apply_fault(fault, stack, events, rng, partitions):
    if fault == "member SIGKILL":
        window = events.member_fault(fault)
        pids = stack.replica_pids()
        os.kill(rng.choice(pids), signal.SIGKILL)
        window[1] = time.monotonic() + 6  # until the replacement is Ready, generously
    elif fault == "member partition":
        if not partitions:
            events.counts["member partition (skipped: no private namespace)"] += 1
            return
        member = rng.choice(list(stack.status_members().values()))
        port = int(member["address"].rsplit(":", 1)[1])
        window = events.member_fault(fault)
        with PortDrop(port):
            time.sleep(6)
        window[1] = time.monotonic() + 4
    elif fault == "operator SIGKILL + restart":
        events.counts[fault] += 1
        stack.operator.kill()
        stack.operator.wait()
        stack.start_operator()
    else:
        index = int(fault.split()[1])
        events.counts[fault] += 1
        with stack.lock:
            proc = stack.proxies[index]
        if "SIGKILL" in fault:
            with events.lock:
                events.proxy_kills.append((index, proc.pid, time.monotonic()))
            proc.kill()
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        stack.start_proxy(index)


def summarize(args, stack, events, clients, sampler, elapsed, partitions, problems):
    counts = collections.Counter()
    failures = collections.Counter()
    posts = {}
    for client in clients:
        counts.update(client.counts)
        posts.update(client.posts)
        for method, reason, allowed, detail in client.failures:
            failures[(method, reason, allowed)] += 1
            if not allowed:
                problems.append(f"{method} failed: {reason} ({detail})")
    # Who received each POST, from the members' own logs (replacements append to their slot's log).
    delivered = collections.Counter()
    for name in os.listdir(stack.member_logs):
        with open(os.path.join(stack.member_logs, name)) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut by a SIGKILL
                if event.get("event") == "request" and event.get("method") == "POST":
                    delivered[event["headers"].get("X-Request-Id")] += 1
    duplicates = sum(1 for rid in posts if delivered[rid] > 1)
    lost_ok = sum(1 for rid, status in posts.items() if status is not None and status < 300 and delivered[rid] != 1)
    if duplicates:
        problems.append(f"{duplicates} POSTs delivered more than once")
    if lost_ok:
        problems.append(f"{lost_ok} POSTs answered 2xx but not delivered exactly once")
    proxy_kills = len(events.proxy_kills)
    in_flight = sum(n for (m, r, a), n in failures.items() if r == "in flight on a SIGKILLed proxy")
    if in_flight > CLIENTS * proxy_kills:
        problems.append(f"{in_flight} requests lost on killed proxies: more than {CLIENTS} per kill")
    for source, versions in sampler.versions.items():
        if any(b < a for a, b in zip(versions, versions[1:])):
            problems.append(f"{source}: ring version went back ({versions})")
    drifts = {}
    for (name, pid), samples in sampler.resources.items():
        d = drift(samples, warmup=5)
        if d is None:
            continue
        rss, fds, lifetime = d
        kind = name.split("-")[0]
        previous = drifts.get(kind)
        if previous is None or rss > previous[0]:
            drifts[kind] = (rss, max(fds, previous[1] if previous else fds), lifetime)
        if fds > 16:
            problems.append(f"{name} (pid {pid}): {fds:+.0f} open descriptors over {lifetime:.0f} s")
        first_rss = samples[0][1]
        if rss > max(8 * 1024, first_rss * 0.5):
            problems.append(f"{name} (pid {pid}): RSS {rss / 1024:+.1f} MB over {lifetime:.0f} s")
    if not drifts.get("proxy") or not drifts.get("operator"):
        problems.append("no proxy or operator lived long enough to measure drift (run longer)")
    expected_faults = sum(events.counts.values())
    if expected_faults < 4:
        problems.append(f"only {expected_faults} faults were applied (run longer)")
    if not partitions:
        problems.append("partitions skipped (no private network namespace)") if os.environ.get("CI") == "true" else None

    lines = [f"\nsoak: {elapsed / 60:.1f} minutes, 2 proxies, {REPLICAS} members, {CLIENTS} clients, seed {args.seed}",
             "", "| fault | count |", "|---|---:|"]
    lines += [f"| {fault} | {n} |" for fault, n in sorted(events.counts.items())]
    lines += ["", "| requests | count |", "|---|---:|",
              f"| GET | {counts['GET']} |", f"| POST | {counts['POST']} |",
              f"| answered < 500 | {counts['ok']} |",
              f"| refused connect, sent to the other proxy (never sent) | {counts['failed over']} |",
              "| GET resent once on a new connection (RFC 9112 §9.3.1), because its kept-alive connection "
              f"was on a SIGKILLed proxy | {counts['GET resent: in flight on a SIGKILLed proxy']} |",
              "| GET resent once on a new connection, because the proxy closed its kept-alive connection "
              f"(SIGTERM drain) | {counts['GET resent: kept-alive connection closed before an answer']} |",
              "", "| failure (and why) | count | allowed |", "|---|---:|---|"]
    if not failures:
        lines.append("| (none) | 0 | |")
    for (method, reason, allowed), n in sorted(failures.items()):
        lines.append(f"| {method}: {reason} | {n} | {'yes' if allowed else 'NO'} |")
    lines += ["", "| check | result |", "|---|---|",
              f"| POSTs delivered twice | {duplicates} |",
              f"| POSTs answered 2xx, not delivered exactly once | {lost_ok} |"]
    for source, versions in sorted(sampler.versions.items()):
        ok = all(b >= a for a, b in zip(versions, versions[1:]))
        lines.append(f"| ring versions, {source} | {versions[0] if versions else '-'} → "
                     f"{versions[-1] if versions else '-'}, {'only increased' if ok else 'WENT BACK'} |")
    for kind, (rss, fds, lifetime) in sorted(drifts.items()):
        lines.append(f"| {kind}: worst RSS and FD drift of one process | {rss / 1024:+.1f} MB, {fds:+.0f} fds "
                     f"(over {lifetime:.0f} s) |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="how long to run (default 2)")
    parser.add_argument("--period", type=float, default=7.0, help="seconds between faults (default 7)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--bin-dir", default=os.environ.get("RINGLB_BIN_DIR",
                                                            os.path.join(HERE, "..", "..", "..", "build", "dev", "bin")))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, member logs)")
    args = parser.parse_args()
    try:
        return run(args)
    except SoakError as error:
        print(f"soak: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
