"""ringlb-operator (--runtime kubernetes) with toxiproxy between it and the REAL kube-apiserver
(tests/integration/netfaults/toxiproxy.py): 300 ms ± 100 ms each way, then a blackhole (connected,
never answered), then healed. What a user of a controller-runtime operator expects: a slow API
server only slows it; an unreachable one leaves its slots (its /v1/status) and every Pod in place
(no teardown on lost contact), and once healed it catches up with what changed meanwhile without
a restart. kubectl talks to the API server directly throughout. Part of `kubernetes.real`."""

import json
import os
import shutil
import sys
import tempfile
import time

import pytest

from conftest import ROOT, wait_until
from operator_real_test import Operator, hashring, pod_names

sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "netfaults"))
import toxiproxy  # noqa: E402


@pytest.fixture
def link(cluster):
    if toxiproxy.binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("toxiproxy is not built: bash scripts/lib/toxiproxy.sh")
        pytest.skip("toxiproxy is not built: bash scripts/lib/toxiproxy.sh")
    workdir = tempfile.mkdtemp(prefix="ringlb-apiserver-faults-")
    server = toxiproxy.Toxiproxy(workdir)
    link = server.link("apiserver", cluster.server.removeprefix("https://"))
    # The admin kubeconfig, pointed at the link (the serving certificate names 127.0.0.1 either way).
    with open(cluster.kubeconfig) as f:
        text = f.read()
    assert cluster.server in text
    link.kubeconfig = os.path.join(workdir, "through-toxiproxy.kubeconfig")
    with open(link.kubeconfig, "w") as f:
        f.write(text.replace(cluster.server, f"https://{link.address}"))
    yield link
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def status_slots(operator, ns):
    """The slots the operator's status lists for the HashRing (its view of the cluster)."""
    status, body = operator.get("/v1/status")
    if status != 200:
        return None
    ring = next((r for r in json.loads(body)["rings"] if r["name"] == "apod" and r.get("namespace", ns) == ns), None)
    return sorted(m["id"] for m in ring["members"]) if ring else None


def test_slow_then_blackholed_api_server_keeps_the_ring_and_the_pods_and_catches_up(cluster, kubectl, crd, namespace,
                                                                                    link):
    operator = Operator(cluster, [namespace], kubeconfig=link.kubeconfig)
    try:
        kubectl.apply(hashring("apod", 2), namespace=namespace)
        wait_until(lambda: status_slots(operator, namespace) == ["apod-0", "apod-1"], 60, "a ring of 2 slots")

        # Slow: every byte 300 ms ± 100 ms late each way. The operator still reconciles a change.
        link.add("latency", "downstream", latency=300, jitter=100)
        link.add("latency", "upstream", latency=300, jitter=100)
        kubectl.apply(hashring("apod", 3), namespace=namespace)
        wait_until(lambda: status_slots(operator, namespace) == ["apod-0", "apod-1", "apod-2"], 90,
                   "the scale to 3 through a slow API server")
        wait_until(lambda: pod_names(cluster, namespace) == ["apod-0", "apod-1", "apod-2"], 60, "3 Pods")
        link.clear()

        # Blackholed: the change cannot reach the operator; what it published and created stays.
        link.blackhole()
        kubectl.apply(hashring("apod", 4), namespace=namespace)
        time.sleep(15)
        assert operator.proc.poll() is None, operator.log_text()[-3000:]
        assert operator.get("/healthz")[0] == 200
        assert status_slots(operator, namespace) == ["apod-0", "apod-1", "apod-2"], "its slots stay as they were"
        assert pod_names(cluster, namespace) == ["apod-0", "apod-1", "apod-2"], "no Pod deleted, none created"

        # Healed: the operator notices the scale to 4 without a restart.
        link.clear()
        healed = time.monotonic()
        wait_until(lambda: status_slots(operator, namespace) == ["apod-0", "apod-1", "apod-2", "apod-3"], 120,
                   "the scale to 4 after the API server came back")
        wait_until(lambda: pod_names(cluster, namespace) == ["apod-0", "apod-1", "apod-2", "apod-3"], 60, "4 Pods")
        print(f"\ncaught up {time.monotonic() - healed:.1f} s after the API server came back")
    finally:
        operator.stop()
