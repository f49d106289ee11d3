"""The Helm chart against the real control plane, with the node agent running its Pods (issue 16):
`helm install ringlb helm/ringlb --wait` with the defaults, `helm test`, `kubectl scale` kept by
`helm upgrade`, `helm uninstall` leaving the CRD and the HashRing; with helm 3 and helm 4. And the
operator with leader election disabled.

No chart value is set for the test environment: the node agent maps the chart's images to our
binaries (node_agent.IMAGE_BINARIES, plus curlimages/curl to the machine's curl for `helm test`),
and its shim resolves the Service names the chart uses."""

import json
import os
import subprocess
import time

import pytest

import kube_cluster as kc
from conftest import ROOT, unavailable, wait_until

CHART = os.path.join(ROOT, "helm", "ringlb")
CRD_NAME = "hashrings.ringlb.dev"


class Helm:
    def __init__(self, binary, cluster, home):
        self.binary = binary
        self.env = dict(os.environ, KUBECONFIG=cluster.kubeconfig, HOME=home,
                        HELM_CACHE_HOME=os.path.join(home, "cache"), HELM_CONFIG_HOME=os.path.join(home, "config"),
                        HELM_DATA_HOME=os.path.join(home, "data"))

    def run(self, *args, check=True, timeout=300):
        t0 = time.monotonic()
        proc = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout, env=self.env)
        proc.seconds = time.monotonic() - t0
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}) after {proc.seconds:.0f}s:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc


def helm_binary(version):
    var = {"helm3": "RINGLB_HELM3", "helm4": "RINGLB_HELM4"}[version]
    path = os.environ.get(var)
    if not path:
        path = kc._script_paths(kc.KUBE_TOOLS_SCRIPT, [var], 900)[var]
    if not path or not os.access(path, os.X_OK):
        unavailable(f"{version} missing ({path!r})")
    return path


def delete_namespace(cluster, ns, timeout=120):
    """Deletes a namespace and waits until it is gone: an operator of a later test watches every
    namespace, and a ring named apod left here would meet that test's (issue 16 #1)."""
    cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
    wait_until(lambda: cluster.get(f"/api/v1/namespaces/{ns}")[0] == 404, timeout, f"namespace {ns} deleted")


def ring(kubectl, namespace, name="apod"):
    return kubectl.json("hashring", name, "-n", namespace)


def ring_ready(kubectl, namespace, replicas, name="apod"):
    def check():
        r = ring(kubectl, namespace, name)
        status = r.get("status", {})
        ok = (r["spec"]["replicas"] == replicas and status.get("readyReplicas") == replicas
              and status.get("observedGeneration") == r["metadata"]["generation"])
        return r if ok else False
    return check


def ready_pods(kubectl, namespace, selector):
    pods = kubectl.json("pods", "-n", namespace, "-l", selector)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


@pytest.mark.parametrize("version", ["helm3", "helm4"])
def test_install_wait_test_scale_upgrade_uninstall(version, cluster, node, kubectl, pytestconfig, tmp_path):
    """Issue 16, the chart: helm install --wait with the defaults, helm test, helm upgrade keeping a
    kubectl scale, helm uninstall leaving the CRD and the HashRing."""
    from conftest import say  # noqa: PLC0415
    helm = Helm(helm_binary(version), cluster, str(tmp_path))
    ns = cluster.namespace(f"chart-{version}")  # Pod Security `restricted` enforced
    timings = {}

    proc = helm.run("install", "ringlb", CHART, "-n", ns, "--wait", "--timeout", "240s")
    timings["install --wait"] = proc.seconds
    assert "STATUS: deployed" in proc.stdout, proc.stdout
    # What --wait waited for, and the example ring behind the proxies' readiness:
    for deployment in ("ringlb-operator", "ringlb-proxy"):
        d = kubectl.json("deployment", deployment, "-n", ns)
        assert d["status"].get("readyReplicas") == 2, d["status"]
    r = wait_until(ring_ready(kubectl, ns, 3), 120, "ring apod with 3 ready replicas")
    assert [m["id"] for m in r["status"]["members"]] == ["apod-0", "apod-1", "apod-2"]
    assert kubectl.json("crd", CRD_NAME)["spec"]["names"]["categories"] == ["ringlb"]
    # The proxies route (the ring hashes the path): requests through each proxy reach all 3
    # replicas, per X-Served-By.
    for pod in ready_pods(kubectl, ns, "app.kubernetes.io/component=proxy"):
        served = set()
        for key in range(40):
            out = subprocess.run(["curl", "--noproxy", "*", "-s", "-o", "/dev/null", "-D", "-", "--max-time", "5",
                                  f"http://{pod['status']['podIP']}:8080/key-{key}"],
                                 capture_output=True, text=True, timeout=10).stdout
            served |= {line.split(":", 1)[1].strip() for line in out.splitlines()
                       if line.lower().startswith("x-served-by:")}
        assert served == {"apod-0", "apod-1", "apod-2"}, (pod["metadata"]["name"], served)

    proc = helm.run("test", "ringlb", "-n", ns, "--timeout", "120s")
    timings["test"] = proc.seconds
    assert "Phase:          Succeeded" in proc.stdout or "Succeeded" in proc.stdout, proc.stdout

    kubectl("scale", "hr/apod", "-n", ns, "--replicas=4")
    wait_until(ring_ready(kubectl, ns, 4), 120, "ring apod scaled to 4")
    proc = helm.run("upgrade", "ringlb", CHART, "-n", ns, "--wait", "--timeout", "240s")
    timings["upgrade --wait"] = proc.seconds
    r = ring(kubectl, ns)
    assert r["spec"]["replicas"] == 4, "helm upgrade undid kubectl scale"
    assert "helm.sh/hook" not in r["metadata"].get("annotations", {})
    uid = r["metadata"]["uid"]
    wait_until(ring_ready(kubectl, ns, 4), 60, "ring apod still 4 ready after the upgrade")
    assert ring(kubectl, ns)["metadata"]["uid"] == uid, "the upgrade recreated the HashRing"

    proc = helm.run("uninstall", "ringlb", "-n", ns, "--wait", "--timeout", "120s")
    timings["uninstall"] = proc.seconds
    assert kubectl.json("crd", CRD_NAME)["metadata"]["name"] == CRD_NAME
    kept = ring(kubectl, ns)
    assert kept["metadata"]["uid"] == uid and kept["spec"]["replicas"] == 4
    assert kubectl.json("deployments", "-n", ns)["items"] == []
    say(pytestconfig, f"\n[{version}] " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    delete_namespace(cluster, ns)


def test_leader_election_disabled_operator_reconciles(cluster, node, kubectl, tmp_path):
    """Issue 16 #3: operator.leaderElection.enabled=false renders --no-leader-elect; the one
    operator is Ready and reconciles, with no Lease."""
    helm = Helm(helm_binary("helm4"), cluster, str(tmp_path))
    ns = cluster.namespace("chart-no-le")
    helm.run("install", "solo", CHART, "-n", ns, "--wait", "--timeout", "240s",
             "--set", "operator.leaderElection.enabled=false", "--set", "operator.replicas=1",
             "--set", "exampleHashRing.spec.replicas=2")
    args = kubectl.json("deployment", "solo-ringlb-operator", "-n", ns)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--no-leader-elect" in args
    wait_until(ring_ready(kubectl, ns, 2), 120, "ring apod with 2 ready replicas")
    assert kubectl.json("leases", "-n", ns)["items"] == []
    kubectl("scale", "hr/apod", "-n", ns, "--replicas=3")
    wait_until(ring_ready(kubectl, ns, 3), 120, "ring apod scaled to 3")
    helm.run("uninstall", "solo", "-n", ns, "--wait")
    delete_namespace(cluster, ns)
