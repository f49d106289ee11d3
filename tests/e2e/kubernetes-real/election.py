"""What the failover and lost-node tests share: operators campaigning for one Lease, a sampler that
records what each of them (and a proxy, the Lease and the HashRing's status) says over time, a TCP
forwarder that can stop answering, and the readers of operator logs, metrics and the audit log."""

import datetime
import json
import os
import re
import select
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from operator_real_test import Operator, bin_dir, free_port, http_get

# Short timings so a failover fits a test: the standby takes over at most LEASE + RETRY after the
# leader's last renewal it saw; a leader that cannot renew stops within RENEW.
LEASE, RENEW, RETRY = 6, 4, 1


def election_flags(namespace, lease, identity):
    return ["--leader-elect", "--leader-election-namespace", namespace, "--leader-election-lease-name", lease,
            "--leader-election-identity", identity,
            "--leader-election-lease-duration", f"{LEASE}s", "--leader-election-renew-deadline", f"{RENEW}s",
            "--leader-election-retry-period", f"{RETRY}s", "--log-format", "json"]


def campaigning_operator(cluster, namespace, lease, identity, server=None):
    """An operator with leader election on, under a client certificate of its own (user `identity`,
    so the audit log tells its writes apart), talking to `server` (default: the API server)."""
    kubeconfig = cluster.user_kubeconfig(identity, server=server)
    return Operator(cluster, [namespace], election=election_flags(namespace, lease, identity), kubeconfig=kubeconfig)


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 UTC time with any fraction."""
    text = text.rstrip("Z")
    whole, _, fraction = text.partition(".")
    seconds = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return seconds.timestamp() + (float("0." + fraction) if fraction else 0.0)


def log_records(op):
    """The operator's JSON log lines as (epoch seconds, level, message)."""
    records = []
    for line in op.log_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        records.append((parse_time(record["time"]), record["level"], record["msg"]))
    return records


def first_log(op, pattern):
    """Epoch seconds of the first log line matching `pattern`, or None."""
    for when, _, message in log_records(op):
        if re.search(pattern, message):
            return when
    return None


def metric(op, name):
    """The value of an unlabelled series on the operator's /metrics, or None if it does not answer."""
    status, body = op.get("/metrics")
    if status != 200:
        return None
    match = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(match.group(1)) if match else None


def leads(op):
    return metric(op, "ringlb_operator_leader") == 1


def ring_version(url):
    try:
        status, body = http_get(url, timeout=2)
    except OSError:
        return None
    return json.loads(body).get("version") if status == 200 else None


def lease_holder(cluster, namespace, lease):
    status, obj = cluster.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{lease}")
    return obj["spec"].get("holderIdentity") if status == 200 else None


def status_ring_version(cluster, namespace, name):
    status, obj = cluster.get(f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings/{name}")
    return obj.get("status", {}).get("ringVersion") if status == 200 else None


def reconcile_writes(cluster, user, namespace):
    """(epoch seconds, verb, resource/subresource name) of every Pod, HashRing and Event write that
    `user` made in `namespace`, as the API server audited it (whatever the outcome)."""
    writes = []
    for event in cluster.audit_events():
        ref = event.get("objectRef", {})
        if event.get("user", {}).get("username") != user or ref.get("namespace") != namespace:
            continue
        if ref.get("resource") not in ("pods", "hashrings", "events"):
            continue
        what = ref["resource"] + ("/" + ref["subresource"] if ref.get("subresource") else "") + " " + ref.get("name", "")
        writes.append((parse_time(event["requestReceivedTimestamp"]), event["verb"], what))
    return writes


def non_decreasing(values):
    """The first (earlier, later) pair where a sequence goes back, or None."""
    seen = [v for v in values if v is not None]
    for earlier, later in zip(seen, seen[1:]):
        if later < earlier:
            return earlier, later
    return None


class Sampler:
    """Polls named probes every `interval` seconds on a thread: {name: [(epoch seconds, value)]}."""

    def __init__(self, probes, interval=0.2):
        self.probes = probes
        self.interval = interval
        self.samples = {name: [] for name in probes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self):
        while not self._stop.is_set():
            for name, probe in self.probes.items():
                try:
                    value = probe()
                except Exception:  # noqa: BLE001 -- a probe of a killed process fails: no value
                    value = None
                self.samples[name].append((time.time(), value))
            self._stop.wait(self.interval)

    def values(self, name):
        return [v for _, v in self.samples[name]]


class Proxy:
    """ringlb-proxy following one ring URL; `ring_version()` is what its admin /ring holds."""

    def __init__(self, ring_url):
        binary = os.path.join(bin_dir(), "ringlb-proxy")
        if not os.access(binary, os.X_OK):
            pytest.skip(f"ringlb-proxy not built in {bin_dir()}")
        self.port, self.admin = free_port(), free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="ringlb-proxy-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{self.port}", "--admin",
                                      f"127.0.0.1:{self.admin}", "--ring-url", ring_url],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def ring_version(self):
        return ring_version(f"http://127.0.0.1:{self.admin}/ring")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


class Blackhole:
    """A TCP forwarder on 127.0.0.1 in front of the API server. `cut()` makes it a black hole:
    connections stay open and new ones are accepted, but no byte moves either way any more, as
    behind a partition or a hung load balancer. `mend()` drops what it held and forwards again."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_at = None
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._held = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def cut(self):
        self.cut_at = time.time()
        self._cut.set()

    def mend(self):
        with self._lock:
            held, self._held = self._held, []
        for s in held:
            s.close()
        self._cut.clear()

    def close(self):
        self._closed.set()
        self.listener.close()
        self.mend()

    def _accept(self):
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(client)
            if self._cut.is_set():
                continue  # accepted, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._held.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client, upstream):
        peers = {client: upstream, upstream: client}
        try:
            while not self._closed.is_set():
                if self._cut.is_set():
                    time.sleep(0.05)  # hold both ends open, move nothing
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self._cut.is_set():
                        continue  # read as the cut came: dropped, not forwarded
                    peers[s].sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket mend() or close() closed
            return
        finally:
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass
