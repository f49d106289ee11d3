"""A 410 in the middle of a watch, from the REAL kube-apiserver and a real etcd compaction (moved
from the fake API server's operator_test.py, issue 16): the operator relists and loses no change.

The session's control plane serves watches from kube-apiserver's watch cache, which keeps the
history an etcd compaction removes: a re-watch from a compacted resourceVersion is answered with the
events, never 410. This test therefore starts a control plane of its own with `--watch-cache=false`
(watches then go to etcd, and a compacted resourceVersion is an in-stream ERROR with code 410,
reason Expired). The operator talks to it through a TCP forwarder in the test (election.Blackhole):

1. a HashRing of 2; the operator makes Pods apod-0 and apod-1 (no node: they stay Pending);
2. the forwarder stops moving bytes, so the operator's open watches see nothing more;
3. `kubectl scale hr/apod --replicas=3` and an etcd compaction at etcd's current revision (the etcd
   v3 JSON gateway, `POST /v3/kv/compaction`) remove that change from the watchable history;
4. the forwarder drops what it held (each connection reset): the operator re-watches from its last
   resourceVersion, gets 410, relists, and creates apod-2.

The operator runs with --log-level debug, and its log must say that the HashRing watch expired (410)
and was relisted: a scale it found another way would not pass."""

import json
import os
import subprocess
import tempfile
import time
import urllib.request

import pytest

import kube_cluster as kc
from conftest import CRD_FILE, unavailable, wait_until
from election import Blackhole
from operator_real_test import Operator, hashring, pod_names

NAMESPACE = "ringlb-watch-gone"


def etcd(cluster, path, body):
    """A call to etcd's v3 JSON gateway (on by default on the client port)."""
    request = urllib.request.Request(cluster.etcd_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def compact(cluster):
    """Compacts etcd at its current revision; returns that revision."""
    revision = int(etcd(cluster, "/v3/kv/range", {"key": "AA=="})["header"]["revision"])
    etcd(cluster, "/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


@pytest.fixture(scope="module")
def uncached_cluster():
    try:
        binaries = kc.control_plane_binaries()
        kubectl = kc.kubectl_binary()
    except kc.Unavailable as e:
        unavailable(str(e))
    cluster = kc.KubeCluster(binaries, apiserver_args=["--watch-cache=false"]).start()
    home = tempfile.mkdtemp(prefix="ringlb-kubectl-home-")
    env = dict(os.environ, KUBECONFIG=cluster.kubeconfig, HOME=home)

    def run(*args):
        proc = subprocess.run([kubectl, *args], capture_output=True, text=True, env=env, timeout=90, check=False)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}:\n{proc.stderr}"
        return proc.stdout

    cluster.kubectl = run
    try:
        run("apply", "-f", CRD_FILE)
        kc.wait_established(run, "crd/hashrings.ringlb.dev")
        wait_until(lambda: "hashrings" in run("api-resources", "--api-group=ringlb.dev", "--no-headers"), 30,
                   "hashrings in discovery")
        cluster.namespace(NAMESPACE)
        yield cluster
    finally:
        cluster.stop()
        subprocess.run(["rm", "-rf", home], check=False)


def test_410_mid_watch_after_an_etcd_compaction_relists_without_losing_the_change(uncached_cluster):
    cluster = uncached_cluster
    hole = Blackhole(cluster.port)
    op = None
    try:
        op = Operator(cluster, [NAMESPACE], election=["--no-leader-elect", "--log-level", "debug"],
                      kubeconfig=cluster.user_kubeconfig("ringlb-watch-op", server=hole.url))
        cluster.ok("POST", f"/apis/ringlb.dev/v1alpha1/namespaces/{NAMESPACE}/hashrings",
                   {**hashring("apod", 2), "metadata": {"name": "apod", "namespace": NAMESPACE}})
        wait_until(lambda: pod_names(cluster, NAMESPACE) == ["apod-0", "apod-1"], 60, "Pods apod-0 and apod-1")
        time.sleep(2)  # the operator's watches are open and idle
        path = f"/apis/ringlb.dev/v1alpha1/namespaces/{NAMESPACE}/hashrings"
        before = cluster.ok("GET", path)["metadata"]["resourceVersion"]

        hole.cut()
        cluster.kubectl("scale", "-n", NAMESPACE, "hr/apod", "--replicas=3")
        # One more write, so that the compaction revision lies past the scale: a watch from exactly
        # one below the compaction revision is not 410 but a 500 ("etcd event received with
        # PrevKv=nil"), as kube-apiserver v1.35 answers it.
        cluster.ok("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps",
                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-the-scale"}})
        compact(cluster)
        # The server itself now answers a watch from before the cut with an in-stream 410.
        status, event = cluster.request("GET", f"{path}?watch=1&resourceVersion={before}&timeoutSeconds=2")
        assert status == 200 and event.get("type") == "ERROR" and event["object"]["code"] == 410, json.dumps(event)
        time.sleep(1)
        assert pod_names(cluster, NAMESPACE) == ["apod-0", "apod-1"], "the operator saw the scale through the cut"
        hole.mend()

        wait_until(lambda: pod_names(cluster, NAMESPACE) == ["apod-0", "apod-1", "apod-2"], 60,
                   "apod-2 created after the relist")
        expired = [line for line in op.log_text().splitlines()
                   if "expired (410); relisting" in line and "hashrings" in line]
        assert expired, f"the operator never logged a 410 on its HashRing watch:\n{op.log_text()[-4000:]}"
    finally:
        if op is not None:
            op.stop()
        hole.close()
