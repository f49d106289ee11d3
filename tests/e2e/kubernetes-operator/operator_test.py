#!/usr/bin/env python3
"""ringlb-operator with --runtime kubernetes against the fake API server, driven by the real kubectl.

The test stands in for the kubelet: it marks each replica Pod Ready with a loopback Pod IP
(127.0.0.20 + ordinal) where a small HTTP server answers the operator's heartbeat. With CI=true a
missing kubectl or operator binary is a failure, not a skip."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kubernetes"))
import kube_support  # noqa: E402

ROOT = kube_support.ROOT
NS = "default"
RING = "apod"
BASE_IP = 20  # slot i answers on 127.0.0.(20 + i)


def bin_dir():
    return os.environ.get("RINGLB_BIN_DIR") or os.path.join(ROOT, "build", "dev", "bin")


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as e:  # noqa: BLE001 - report the last failure if it never holds
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Replica(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"slot": self.server.slot, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Served-By", self.server.slot)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Backends:
    """One HTTP server per slot on 127.0.0.(20+i):port, the same port for all."""

    def __init__(self, count=8):
        for _ in range(20):
            self.port = free_port(f"127.0.0.{BASE_IP}")
            self.servers = []
            try:
                for i in range(count):
                    server = ThreadingHTTPServer((f"127.0.0.{BASE_IP + i}", self.port), Replica)
                    server.slot = f"{RING}-{i}"
                    server.daemon_threads = True
                    self.servers.append(server)
                break
            except OSError:
                for s in self.servers:
                    s.server_close()
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in self.servers]
        for t in self.threads:
            t.start()

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


class Kubelet:
    """Marks every replica Pod Ready (once per Pod uid) with its slot's loopback IP."""

    def __init__(self, fake):
        self.fake = fake
        self.marked = set()
        self.stopping = threading.Event()
        self.enabled = threading.Event()
        self.enabled.set()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(0.2):
            if not self.enabled.is_set():
                continue
            try:
                status, _, pods = self.fake.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=ringlb.dev%2Fring%3D{RING}")
                if status != 200:
                    continue
                for pod in pods["items"]:
                    uid = pod["metadata"]["uid"]
                    if uid in self.marked or pod["metadata"].get("deletionTimestamp"):
                        continue
                    ordinal = int(pod["metadata"]["name"].rsplit("-", 1)[1])
                    self.fake.ok("POST", "/_fake/pods/ready", {"namespace": NS, "name": pod["metadata"]["name"],
                                                               "podIP": f"127.0.0.{BASE_IP + ordinal}"})
                    self.marked.add(uid)
            except Exception:  # noqa: BLE001 - the fake may be going away
                pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)


class Operator:
    def __init__(self, fake, workdir, name, extra=()):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        binary = os.path.join(bin_dir(), "ringlb-operator")
        args = [binary, "--runtime", "kubernetes", "--kubeconfig", fake.kubeconfig, "--listen", f"127.0.0.1:{self.port}",
                "--state-dir", os.path.join(workdir, f"{name}-state"), "--leader-election-id", name,
                "--log-level", "debug", *extra]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def tail(self):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-60:])


class OperatorTestCase(unittest.TestCase):
    def setUp(self):
        tools = kube_support.tools(self)
        self.kubectl_bin = tools["kubectl"]
        if not os.access(os.path.join(bin_dir(), "ringlb-operator"), os.X_OK):
            kube_support.unavailable(self, f"ringlb-operator not built in {bin_dir()}")
        self.workdir = tempfile.mkdtemp(prefix="ringlb-k8s-operator-")
        self.fake = kube_support.FakeApiServer(tls=True)
        self.addCleanup(self.fake.stop)
        self.kubectl("apply", "-f", kube_support.CRD_FILE)
        self.backends = Backends()
        self.addCleanup(self.backends.stop)
        self.operators = []
        self.kubelet = Kubelet(self.fake)
        self.addCleanup(self.kubelet.stop)
        self.addCleanup(self.stop_operators)

    def stop_operators(self):
        for op in self.operators:
            op.stop()
            if self._outcome_failed():
                sys.stderr.write(f"--- {op.name} log ---\n{op.tail()}\n")

    def _outcome_failed(self):
        result = getattr(self._outcome, "result", None)
        return bool(result and (result.failures or result.errors))

    def kubectl(self, *args, stdin=None, check=True):
        return kube_support.run([self.kubectl_bin, "--kubeconfig", self.fake.kubeconfig, *args], check=check,
                                input=stdin)

    def start_operator(self, name, extra=()):
        op = Operator(self.fake, self.workdir, name, extra)
        self.operators.append(op)
        return op

    def apply_ring(self, replicas):
        ring = {"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": RING, "namespace": NS},
                "spec": {"replicas": replicas,
                         "template": {"image": "ringlb/apod:0.1.0", "port": self.backends.port,
                                      "env": [{"name": "APOD_DATA", "value": "/data"}]},
                         "healthCheck": {"path": "/healthz", "intervalSeconds": 1, "timeoutSeconds": 1,
                                         "failureThreshold": 3, "successThreshold": 1},
                         "drainSeconds": 1}}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(ring))

    def ring(self):
        return self.fake.ok("GET", f"/apis/ringlb.dev/v1alpha1/namespaces/{NS}/hashrings/{RING}")

    def pods(self):
        items = self.fake.ok("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=ringlb.dev%2Fring%3D{RING}")["items"]
        return {p["metadata"]["name"]: p for p in items}

    def lease_holder(self):
        status, _, lease = self.fake.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/ringlb-operator")
        return lease["spec"].get("holderIdentity") if status == 200 else None

    def wait_converged(self, replicas, timeout=60):
        def converged():
            ring = self.ring()
            status = ring.get("status", {})
            ready = {c["type"]: c for c in status.get("conditions", [])}.get("Ready", {})
            return (status.get("readyReplicas") == replicas and status.get("replicas") == replicas
                    and status.get("observedGeneration") == ring["metadata"]["generation"]
                    and ready.get("status") == "True" and len(self.pods()) == replicas) and ring
        return wait_for(f"{replicas} Ready replicas in the HashRing status", converged, timeout)

    def writes_since(self, seq):
        log = self.fake.ok("GET", f"/_fake/requests?since={seq}")
        return [r for r in log["requests"] if r["write"] and "/leases/" not in r["path"]]

    def last_seq(self):
        return self.fake.ok("GET", "/_fake/requests?since=0")["lastSeq"]


class ReplicaPodsTest(OperatorTestCase):
    def test_pods_status_scale_recreate_and_no_hot_loop(self):
        op = self.start_operator("op-a")
        wait_for("the operator to take the Lease", lambda: self.lease_holder() == "op-a", 20)
        self.apply_ring(3)
        ring_uid = self.ring()["metadata"]["uid"]

        pods = wait_for("3 Pods", lambda: (lambda p: p if len(p) == 3 else None)(self.pods()), 30)
        self.assertEqual(sorted(pods), ["apod-0", "apod-1", "apod-2"])
        for name, pod in pods.items():
            meta, spec = pod["metadata"], pod["spec"]
            self.assertEqual(meta["labels"]["ringlb.dev/ring"], RING)
            self.assertEqual(meta["labels"]["ringlb.dev/slot"], name)
            self.assertEqual(meta["labels"]["app.kubernetes.io/name"], RING)
            self.assertTrue(meta["labels"]["ringlb.dev/spec-hash"])
            owners = meta["ownerReferences"]
            self.assertEqual(len(owners), 1)
            self.assertEqual((owners[0]["kind"], owners[0]["name"], owners[0]["uid"]), ("HashRing", RING, ring_uid))
            self.assertIs(owners[0]["controller"], True)
            self.assertIs(owners[0]["blockOwnerDeletion"], True)
            self.assertIs(spec["securityContext"]["runAsNonRoot"], True)
            self.assertEqual(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
            container = spec["containers"][0]
            ctx = container["securityContext"]
            self.assertIs(ctx["allowPrivilegeEscalation"], False)
            self.assertEqual(ctx["capabilities"]["drop"], ["ALL"])
            self.assertIs(ctx["readOnlyRootFilesystem"], True)
            self.assertEqual(container["ports"][0]["containerPort"], self.backends.port)
            env = {e["name"]: e["value"] for e in container["env"]}
            self.assertEqual(env["RINGLB_SLOT"], name)
            self.assertEqual(env["PORT"], str(self.backends.port))
            self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/healthz")
            self.assertIn("ringlb-operator", [m["manager"] for m in meta.get("managedFields", [])])

        ring = self.wait_converged(3)
        status = ring["status"]
        self.assertEqual(status["selector"], "ringlb.dev/ring=apod")
        self.assertEqual([m["id"] for m in status["members"]], ["apod-0", "apod-1", "apod-2"])
        self.assertEqual([m["address"] for m in status["members"]],
                         [f"127.0.0.{BASE_IP + i}:{self.backends.port}" for i in range(3)])
        conditions = {c["type"]: c for c in status["conditions"]}
        self.assertEqual(sorted(conditions), ["Degraded", "Progressing", "Ready"])
        for c in conditions.values():
            self.assertRegex(c["reason"], r"^[A-Z][A-Za-z0-9]*$")
            self.assertTrue(c["lastTransitionTime"])
            self.assertEqual(c["observedGeneration"], ring["metadata"]["generation"])
        code, body = op.get(f"/v1/rings/{RING}")
        self.assertEqual(code, 200)
        self.assertEqual(sorted(m["state"] for m in json.loads(body)["members"]), ["Ready"] * 3)

        # Notable actions leave events.k8s.io/v1 Events on the HashRing.
        events = self.fake.ok("GET", f"/apis/events.k8s.io/v1/namespaces/{NS}/events")["items"]
        created = [e for e in events if e.get("reason") == "ReplicaCreated"]
        self.assertEqual(len(created), 3, events)
        self.assertEqual({e["regarding"]["name"] for e in created}, {RING})
        self.assertEqual({e["reportingController"] for e in created}, {"ringlb.dev/operator"})

        # kubectl scale goes through the scale subresource.
        self.kubectl("scale", f"hashring/{RING}", "--replicas=5")
        ring = self.wait_converged(5)
        self.assertEqual(sorted(self.pods()), [f"apod-{i}" for i in range(5)])

        # A deleted Pod comes back under the same name.
        old_uid = self.pods()["apod-1"]["metadata"]["uid"]
        self.kubectl("delete", "pod", "apod-1", "--wait=false")
        wait_for("apod-1 recreated", lambda: "apod-1" in self.pods() and self.pods()["apod-1"]["metadata"]["uid"] != old_uid, 30)
        self.wait_converged(5)

        # An idle ring makes no API writes (Lease renewals aside).
        time.sleep(3)  # let the last status write land
        seq = self.last_seq()
        time.sleep(30)
        writes = self.writes_since(seq)
        self.assertEqual(writes, [], f"writes while idle: {writes}")


class WatchGoneTest(OperatorTestCase):
    def test_410_mid_watch_relists_without_losing_an_event(self):
        self.start_operator("op-a")
        self.apply_ring(2)
        self.wait_converged(2)
        for mode, replicas in (("stream", 3), ("http", 4)):
            with self.subTest(mode=mode):
                self.fake.ok("POST", "/_fake/gone-mode", {"mode": mode})
                # The open watches go silent, so the change below is only in the store's history...
                self.fake.ok("POST", "/_fake/watches/stall", {"stalled": True})
                seq = self.last_seq()
                self.kubectl("scale", f"hashring/{RING}", f"--replicas={replicas}")
                # ...which is then compacted away: the watches get 410 and must relist to see it.
                self.fake.ok("POST", "/_fake/compact", {})
                if mode == "http":
                    self.fake.ok("POST", "/_fake/watches/close", {})
                self.fake.ok("POST", "/_fake/watches/stall", {"stalled": False})
                self.wait_converged(replicas, timeout=60)
                log = self.fake.ok("GET", f"/_fake/requests?since={seq}")["requests"]
                relists = [r for r in log if r["method"] == "GET" and r["path"].endswith("/hashrings") and not r["watch"]]
                self.assertTrue(relists, "no relist of hashrings after the 410")
                if mode == "http":
                    self.assertTrue([r for r in log if r["watch"] and r["code"] == 410], "no watch answered 410")


class LeaderElectionTest(OperatorTestCase):
    def test_standby_takes_over_within_17s_after_the_leader_is_killed(self):
        a = self.start_operator("op-a")
        wait_for("op-a to lead", lambda: self.lease_holder() == "op-a", 20)
        b = self.start_operator("op-b")
        self.apply_ring(2)
        self.wait_converged(2)

        # The follower serves the ring from the HashRing status.
        def follower_ring():
            code, body = b.get(f"/v1/rings/{RING}")
            return code == 200 and sorted(m["state"] for m in json.loads(body)["members"]) == ["Ready", "Ready"]
        wait_for("the follower to serve the ring", follower_ring, 20)
        self.assertEqual(b.get("/readyz")[0], 200)
        self.assertEqual(self.lease_holder(), "op-a")

        a.proc.kill()
        killed = time.monotonic()
        wait_for("op-b to take the Lease", lambda: self.lease_holder() == "op-b", 25, interval=0.05)
        takeover = time.monotonic() - killed
        sys.stderr.write(f"\nleader takeover after SIGKILL: {takeover:.2f} s\n")
        self.assertLessEqual(takeover, 17.5)

        # The new leader reconciles: a deleted Pod is recreated.
        old_uid = self.pods()["apod-0"]["metadata"]["uid"]
        self.kubectl("delete", "pod", "apod-0", "--wait=false")
        wait_for("apod-0 recreated by op-b",
                 lambda: "apod-0" in self.pods() and self.pods()["apod-0"]["metadata"]["uid"] != old_uid, 30)
        self.wait_converged(2)

    def test_graceful_shutdown_releases_the_lease(self):
        a = self.start_operator("op-a")
        wait_for("op-a to lead", lambda: self.lease_holder() == "op-a", 20)
        self.start_operator("op-b")
        time.sleep(3)  # op-b is polling as a standby
        stopped = time.monotonic()
        a.stop()
        self.assertEqual(a.proc.returncode, 0)
        wait_for("op-b to take the released Lease", lambda: self.lease_holder() == "op-b", 10, interval=0.05)
        self.assertLess(time.monotonic() - stopped, 8)


if __name__ == "__main__":
    unittest.main()
