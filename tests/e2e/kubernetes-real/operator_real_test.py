"""ringlb-operator (--runtime kubernetes) against the REAL kube-apiserver v1.35, as a local process
with the admin kubeconfig: what only a real API server shows about the operator's own defects
(issue 16).

- Same-named HashRings in two namespaces: each ring is published under /v1/rings/{namespace}/{name}
  with its own Pods, and the bare name /v1/rings/apod is refused (409) rather than answered with
  either one.
- An invalid HashRing (maglev tableSize 8, which the CRD cannot check): Degraded=True with reason
  InvalidSpec and a Warning Event on that HashRing only, the valid ring beside it keeps publishing,
  and the operator's /readyz stays 200.

Replica Pods run on the node agent when a test before these started it (tests/e2e/node_agent.py);
without one they stay Pending, and where a test needs a Pod to run it writes what a kubelet would
(status.phase Running, a podIP on 127.0.x.y, Ready=True) through the status subresource. The tests
assert only on what is deterministic either way: member ids and addresses.
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, wait_until

RING_PORT = 8080


def bin_dir():
    return os.environ.get("RINGLB_BIN_DIR") or os.path.join(ROOT, "build", "dev", "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """(status, body text) of a GET; status 0 and the error when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


class Operator:
    """ringlb-operator as a local process against the cluster: by default with no leader election
    (it reconciles); `election` (flags) campaigns instead, `kubeconfig` replaces the admin one.
    `resync_seconds` None keeps the operator's default; `directory` (kept afterwards) holds its
    log and state instead of a temporary one."""

    def __init__(self, cluster, namespaces, election=None, kubeconfig=None, resync_seconds=2, directory=None):
        binary = os.path.join(bin_dir(), "ringlb-operator")
        if not os.access(binary, os.X_OK):
            pytest.skip(f"ringlb-operator not built in {bin_dir()}")
        self.port = free_port()
        self.owns_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="ringlb-operator-real-")
        self.log_path = os.path.join(self.dir, "operator.log")
        self.log = open(self.log_path, "w")
        resync = [] if resync_seconds is None else ["--resync-seconds", str(resync_seconds)]
        args = [binary, "--runtime", "kubernetes", "--kubeconfig", kubeconfig or cluster.kubeconfig,
                *(election if election is not None else ["--no-leader-elect"]),
                "--listen", f"127.0.0.1:{self.port}", "--state-dir", os.path.join(self.dir, "state"),
                *resync, "--watch-namespaces", ",".join(namespaces)]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and self.get("/healthz")[0] == 200, 30, "the operator's /healthz")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path):
        try:
            return http_get(self.url(path))
        except OSError as e:
            return 0, str(e)

    def ring(self, path):
        status, body = self.get(path)
        return json.loads(body) if status == 200 else None

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.owns_dir:
            subprocess.run(["rm", "-rf", self.dir])


# The operator watches only these, so HashRings other tests leave behind never meet it.
NAMESPACES = {role: f"ringlb-op-{role}-{os.getpid() % 10000}" for role in ("a", "b", "bad")}


@pytest.fixture(scope="module")
def operator(cluster, crd):
    for ns in NAMESPACES.values():
        cluster.namespace(ns)
    op = Operator(cluster, list(NAMESPACES.values()))
    yield op
    if op.proc.poll() is not None:
        print(f"operator exited with {op.proc.returncode}; log:\n{op.log_text()[-4000:]}")
    op.stop()
    for ns in NAMESPACES.values():
        cluster.request("DELETE", f"/api/v1/namespaces/{ns}")


def hashring(name, replicas, **hashing):
    return {
        "apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "template": {"image": "ringlb/ringlb-apod:0.1.0", "args": ["--port", "$(PORT)"], "port": RING_PORT},
            # The Pods' readiness probe runs at this period (a long one would leave a replica whose first
            # probe came before it listened unready for that long). Without a node agent nothing answers:
            # the threshold keeps failing members in their slot for the test's length.
            "healthCheck": {"intervalSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 100},
            **({"hashing": hashing} if hashing else {}),
        },
    }


def pod_names(cluster, ns):
    status, pods = cluster.get(f"/api/v1/namespaces/{ns}/pods")
    assert status == 200, pods
    return sorted(p["metadata"]["name"] for p in pods["items"])


def act_as_kubelet(cluster, ns, pod, ip):
    """What a kubelet would write once the Pod runs and its readiness probe passes."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
              "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}
    cluster.ok("PATCH", f"/api/v1/namespaces/{ns}/pods/{pod}/status", {"status": status},
               content_type="application/merge-patch+json", expect=(200,))


def wait_for_pod_ip(cluster, ns, pod, timeout):
    """The Pod's IP once a node runs it, or None after `timeout` seconds (no node)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, obj = cluster.get(f"/api/v1/namespaces/{ns}/pods/{pod}")
        if status == 200 and obj.get("status", {}).get("podIP"):
            return obj["status"]["podIP"]
        time.sleep(0.3)
    return None


def hashring_status(cluster, ns, name):
    status, obj = cluster.get(f"/apis/ringlb.dev/v1alpha1/namespaces/{ns}/hashrings/{name}")
    return obj.get("status", {}) if status == 200 else {}


def test_same_named_rings_in_two_namespaces_are_published_apart(cluster, kubectl, operator):
    ns_a, ns_b = NAMESPACES["a"], NAMESPACES["b"]
    subnet = {ns_a: "127.0.1", ns_b: "127.0.2"}
    replicas = {ns_a: 2, ns_b: 3}
    for ns in (ns_a, ns_b):
        kubectl.apply(hashring("apod", replicas[ns]), namespace=ns)
    for ns in (ns_a, ns_b):
        want = [f"apod-{i}" for i in range(replicas[ns])]
        wait_until(lambda: pod_names(cluster, ns) == want, 60, f"Pods {want} in {ns}")

    # Each status lists its own namespace's slots.
    for ns in (ns_a, ns_b):
        want = [f"apod-{i}" for i in range(replicas[ns])]
        wait_until(lambda: [m["id"] for m in hashring_status(cluster, ns, "apod").get("members", [])] == want,
                   60, f"status.members of {ns}/apod")

    # The Pods run: on the node agent when a test before this one started it, else this test writes
    # what a kubelet would. Either way each ring comes to hold its own namespace's Pod IPs only.
    ips = {}
    for ns in (ns_a, ns_b):
        for i in range(replicas[ns]):
            ip = wait_for_pod_ip(cluster, ns, f"apod-{i}", 10)
            if not ip:
                ip = f"{subnet[ns]}.{i + 1}"
                act_as_kubelet(cluster, ns, f"apod-{i}", ip)
            ips[(ns, i)] = ip
    for ns in (ns_a, ns_b):
        want = [(f"apod-{i}", f"{ips[(ns, i)]}:{RING_PORT}") for i in range(replicas[ns])]

        seen = {}

        def members():
            seen["ring"] = operator.ring(f"/v1/rings/{ns}/apod")
            ring = seen["ring"]
            return ring and [(m["id"], m["address"]) for m in ring["members"]] == want and ring

        try:
            ring = wait_until(members, 60, f"/v1/rings/{ns}/apod to list {want}")
        except AssertionError as e:
            pods = cluster.get(f"/api/v1/namespaces/{ns}/pods")[1].get("items", [])
            raise AssertionError(f"{e}\nlast ring: {seen.get('ring')}\npods: "
                                 f"{[(p['metadata']['name'], p['status']) for p in pods]}\n"
                                 f"operator log (tail):\n{operator.log_text()[-6000:]}") from None
        assert ring["name"] == "apod"
        explain = json.loads(operator.get(f"/v1/rings/{ns}/apod/explain?key=/x")[1])
        assert explain["namespace"] == ns
        assert {w["address"] for w in explain["walk"]} <= {address for _, address in want}, explain

    # The bare name is ambiguous: refused, naming both namespaces, never answered with one.
    for path in ("/v1/rings/apod", "/v1/rings/apod?watch=0&timeoutSeconds=1", "/v1/rings/apod/explain?key=/x"):
        status, body = operator.get(path)
        assert status == 409, (path, status, body)
        assert ns_a in body and ns_b in body, body
    listed = json.loads(operator.get("/v1/rings")[1])["rings"]
    assert sorted(r["namespace"] for r in listed if r["name"] == "apod") == sorted([ns_a, ns_b])
    metrics = operator.get("/metrics")[1]
    for ns in (ns_a, ns_b):
        assert f'ringlb_operator_desired_replicas{{namespace="{ns}",ring="apod"}} {replicas[ns]}' in metrics

    # Deleting one namespace's ring leaves the other's alone, and its bare name works again.
    kubectl("delete", "-n", ns_a, "hashring/apod")
    wait_until(lambda: operator.get(f"/v1/rings/{ns_a}/apod")[0] == 404, 60, f"{ns_a}/apod withdrawn")
    ring = operator.ring("/v1/rings/apod")
    assert ring and len(ring["members"]) == replicas[ns_b], ring
    assert pod_names(cluster, ns_b) == ["apod-0", "apod-1", "apod-2"]


def test_an_invalid_hashring_is_degraded_alone_and_the_operator_stays_ready(cluster, kubectl, operator):
    namespace = NAMESPACES["bad"]
    # tableSize 8 passes the CRD (minimum 7) but is not prime: only the operator can refuse it.
    proc = kubectl.apply(hashring("bad", 1, algorithm="maglev", tableSize=8), namespace=namespace, check=False)
    assert proc.returncode == 0, f"the API server accepts it (the CRD cannot check primes):\n{proc.stderr}"
    kubectl.apply(hashring("good", 1), namespace=namespace)

    def degraded():
        conditions = {c["type"]: c for c in hashring_status(cluster, namespace, "bad").get("conditions", [])}
        return conditions.get("Degraded", {}).get("status") == "True" and conditions

    conditions = wait_until(degraded, 60, "Degraded=True on HashRing bad")
    assert conditions["Degraded"]["reason"] == "InvalidSpec", conditions
    assert "tableSize" in conditions["Degraded"]["message"], conditions
    assert conditions["Ready"]["status"] == "False", conditions
    assert conditions["Degraded"]["observedGeneration"] >= 1, conditions

    def invalid_event():
        status, events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
        found = [e for e in events.get("items", []) if e.get("reason") == "InvalidSpec"]
        return found

    events = wait_until(invalid_event, 60, "an InvalidSpec Event")
    assert {e["regarding"]["name"] for e in events} == {"bad"}, events
    assert all(e["type"] == "Warning" and "tableSize" in e["note"] for e in events), events

    ring = wait_until(lambda: operator.ring(f"/v1/rings/{namespace}/good"), 60, "ring good published")
    assert ring["version"] >= 1
    wait_until(lambda: hashring_status(cluster, namespace, "good").get("ringVersion", 0) >= 1, 60,
               "good's status.ringVersion")
    good = {c["type"]: c for c in hashring_status(cluster, namespace, "good").get("conditions", [])}
    assert good["Degraded"]["status"] == "False", good
    assert operator.get(f"/v1/rings/{namespace}/bad")[0] == 404
    status, body = operator.get("/readyz")
    assert status == 200, body
    assert "tableSize" in body, "readiness still names the invalid resource"
    assert pod_names(cluster, namespace) == ["good-0"], "the invalid ring starts nothing"
