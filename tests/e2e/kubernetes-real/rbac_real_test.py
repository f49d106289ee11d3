"""ringlb-operator under the chart's own ServiceAccount and RBAC, judged by the REAL authorizer of
kube-apiserver v1.35 (issue 16: RBAC, and the client's exec credential plugins).

The chart's ServiceAccount, ClusterRole, ClusterRoleBinding and leader-election Role are rendered
with `helm template` and applied as they are. The operator runs as a local process whose kubeconfig
holds no secret at all: an exec credential plugin (client.authentication.k8s.io/v1) prints the
ServiceAccount's token (`kubectl create token`), so every call the operator makes is the
ServiceAccount's, through the plugin.

- With the chart's RBAC the operator takes its Lease, creates the ring's Pods, writes status and
  records Events, and the API server refuses none of its calls (no 403 on its
  ringlb_operator_kubernetes_api_requests_total, no "forbidden" in its log).
- With `patch` on pods taken away from the ClusterRole (the operator creates Pods with server-side
  apply), a new ring's Pods cannot be made: the HashRing gets Degraded=True naming the refused verb
  and resource, the operator keeps serving (/healthz 200, the first ring's Pods untouched) and backs
  off: its 403s over 20 s stay far below what a hot loop at the client's own rate limit would send.
  With the verb given back, the Pods come.
- With `create` and `patch` on poddisruptionbudgets taken away, a new ring's Pods run but its budget
  cannot be applied: Degraded=True (RingPolicyFailed) naming the refused verb and resource, a
  DisruptionBudgetFailed Warning Event, refusals backed off (the same bound over 20 s); with the verbs
  given back the budget is applied and Degraded clears.
"""

import json
import os
import re
import subprocess
import tempfile
import time

import pytest
import yaml

import kube_cluster as kc
from conftest import ROOT, unavailable, wait_until
from operator_real_test import Operator

CHART = os.path.join(ROOT, "helm", "ringlb")
NAMESPACE = f"ringlb-rbac-{os.getpid() % 10000}"
EXEC_API = "client.authentication.k8s.io/v1"

# A hot loop is bounded only by the client's rate limit (--kube-api-qps 20): about 400 calls in
# 20 s. Two failing slots with the operator's restart back-off (1 s doubling) and its resync make
# a few dozen at most.
HOT_LOOP_WINDOW_SECONDS = 20
MAX_FORBIDDEN_IN_WINDOW = 40


def helm_binary():
    path = os.environ.get("RINGLB_HELM4")
    if not path:
        path = kc._script_paths(kc.KUBE_TOOLS_SCRIPT, ["RINGLB_HELM4"], 900)["RINGLB_HELM4"]
    if not path or not os.access(path, os.X_OK):
        unavailable(f"helm 4 missing ({path!r})")
    return path


def render_chart_rbac(namespace):
    """The chart's ServiceAccount and RBAC documents for a release `ringlb` in `namespace`, and the
    Lease name its Deployment passes to the operator."""
    proc = subprocess.run(
        [helm_binary(), "template", "ringlb", CHART, "-n", namespace,
         "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml",
         "--show-only", "templates/operator-deployment.yaml"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    lease = next(a.split("=", 1)[1] for a in args if a.startswith("--leader-election-lease-name="))
    return [d for d in docs if d["kind"] != "Deployment"], lease


def write_exec_kubeconfig(path, cluster, plugin):
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "test", "cluster": {"server": cluster.server,
                                                   "certificate-authority": cluster.pki.ca_crt}}],
        "users": [{"name": "operator-sa", "user": {"exec": {
            "apiVersion": EXEC_API, "command": plugin, "interactiveMode": "Never",
            "provideClusterInfo": True}}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": "operator-sa",
                                                      "namespace": NAMESPACE}}],
    }
    with open(path, "w") as f:
        json.dump(config, f)


class OperatorProcess(Operator):
    """ringlb-operator as a local process with the exec-plugin kubeconfig and leader election on
    the chart's Lease."""

    def __init__(self, cluster, kubeconfig, lease, directory):
        super().__init__(cluster, [NAMESPACE], kubeconfig=kubeconfig, resync_seconds=None, directory=directory,
                         election=["--leader-elect", "--leader-election-namespace", NAMESPACE,
                                   "--leader-election-lease-name", lease, "--leader-election-identity", "rbac-test"])

    def api_answers(self, code):
        """How many answers with HTTP `code` the operator counted, over all methods."""
        status, text = self.get("/metrics")
        assert status == 200, text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("ringlb_operator_kubernetes_api_requests_total{") and f'code="{code}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)


@pytest.fixture(scope="module")
def chart_rbac(cluster, kubectl, crd):
    """The namespace, the chart's RBAC applied in it, the ServiceAccount's token behind an exec
    plugin, and the operator running with it."""
    cluster.namespace(NAMESPACE)
    docs, lease = render_chart_rbac(NAMESPACE)
    for doc in docs:
        kubectl.apply(doc, namespace=NAMESPACE)
    account = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    directory = tempfile.mkdtemp(prefix="ringlb-rbac-real-")
    token_file = os.path.join(directory, "token")
    with open(token_file, "w") as f:
        f.write(kubectl("create", "token", account, "-n", NAMESPACE, "--duration", "2h").strip())
    runs_file = os.path.join(directory, "plugin-runs")
    plugin = os.path.join(directory, "token-plugin.sh")
    with open(plugin, "w") as f:
        f.write("#!/bin/sh\n"
                f"echo run >> '{runs_file}'\n"
                f"printf '{{\"apiVersion\":\"{EXEC_API}\",\"kind\":\"ExecCredential\","
                f"\"status\":{{\"token\":\"%s\"}}}}' \"$(cat '{token_file}')\"\n")
    os.chmod(plugin, 0o700)
    kubeconfig = os.path.join(directory, "kubeconfig")
    write_exec_kubeconfig(kubeconfig, cluster, plugin)
    operator = OperatorProcess(cluster, kubeconfig, lease, directory)
    env = {"operator": operator, "cluster_role": cluster_role, "account": account, "runs_file": runs_file,
           "lease": lease}
    yield env
    if operator.proc.poll() is not None:
        print(f"operator exited with {operator.proc.returncode}")
    print(f"operator log (last 4000 characters):\n{operator.log_text()[-4000:]}")
    operator.stop()
    for doc in docs:
        if doc["kind"].startswith("Cluster"):
            kubectl.run("delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found", check=False)
    cluster.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")
    subprocess.run(["rm", "-rf", directory])


def hashring(name, replicas):
    return {
        "apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": name},
        "spec": {"replicas": replicas,
                 "template": {"image": "ringlb/ringlb-apod:0.1.0", "args": ["--port", "$(PORT)"], "port": 8080},
                 "healthCheck": {"intervalSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 100}},
    }


def pod_names(cluster, prefix):
    status, pods = cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods")
    assert status == 200, pods
    return sorted(p["metadata"]["name"] for p in pods["items"] if p["metadata"]["name"].startswith(prefix))


def ring_status(cluster, name):
    status, obj = cluster.get(f"/apis/ringlb.dev/v1alpha1/namespaces/{NAMESPACE}/hashrings/{name}")
    return obj.get("status", {}) if status == 200 else {}


def condition(cluster, name, kind):
    return next((c for c in ring_status(cluster, name).get("conditions", []) if c["type"] == kind), None)


def refused(cluster, account):
    """The API server's own record (its audit log) of the operator's refused calls:
    [(verb, resource, subresource)]."""
    return [(e["verb"], e.get("objectRef", {}).get("resource"), e.get("objectRef", {}).get("subresource"))
            for e in cluster.audit_events(f"system:serviceaccount:{NAMESPACE}:{account}")
            if e.get("responseStatus", {}).get("code") == 403]


def test_chart_rbac_allows_every_call_made_through_an_exec_plugin(cluster, kubectl, chart_rbac):
    operator = chart_rbac["operator"]
    kubectl.apply(hashring("apod", 2), namespace=NAMESPACE)

    # Leader election on the chart's Lease (leases create/get/update in the release namespace).
    wait_until(lambda: (cluster.get(f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{chart_rbac['lease']}")[1]
                        .get("spec", {}).get("holderIdentity") == "rbac-test"), 60, "the operator holding the chart's Lease")
    # Pods through server-side apply (pods patch), status (hashrings/status patch), Events (events create).
    wait_until(lambda: pod_names(cluster, "apod-") == ["apod-0", "apod-1"], 60, "Pods apod-0 and apod-1")
    wait_until(lambda: ring_status(cluster, "apod").get("observedGeneration") == 1
               and [m["id"] for m in ring_status(cluster, "apod").get("members", [])] == ["apod-0", "apod-1"],
               60, "the operator's status of apod")
    wait_until(lambda: [e for e in cluster.get(f"/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events")[1].get("items", [])
                        if e.get("reason") == "ReplicaCreated" and e.get("regarding", {}).get("name") == "apod"],
               60, "ReplicaCreated Events on apod")

    # Every call was the ServiceAccount's, through the plugin, and every one was allowed.
    with open(chart_rbac["runs_file"]) as f:
        assert f.read().count("run") >= 1, "the exec credential plugin never ran"
    assert operator.api_answers(200) > 0
    assert operator.api_answers(403) == 0, operator.get("/metrics")[1]
    account = chart_rbac["account"]
    assert cluster.audit_events(f"system:serviceaccount:{NAMESPACE}:{account}"), "the audit log has no call of the operator"
    assert refused(cluster, account) == []
    assert operator.api_answers(401) == 0
    log = operator.log_text()
    assert "forbidden" not in log.lower(), log[-3000:]


def test_a_verb_taken_away_is_reported_backed_off_and_survived(cluster, kubectl, chart_rbac):
    operator = chart_rbac["operator"]
    kubectl.apply(hashring("apod", 2), namespace=NAMESPACE)
    wait_until(lambda: pod_names(cluster, "apod-") == ["apod-0", "apod-1"], 60, "Pods of the first ring")
    role = json.loads(json.dumps(chart_rbac["cluster_role"]))
    pods_rule = next(r for r in role["rules"] if r["resources"] == ["pods"])
    assert "patch" in pods_rule["verbs"]
    pods_rule["verbs"] = [v for v in pods_rule["verbs"] if v != "patch"]
    kubectl.apply(role)
    forbidden_before = operator.api_answers(403)

    kubectl.apply(hashring("second", 2), namespace=NAMESPACE)

    # A clear error, on the HashRing itself: Degraded names the refused verb and resource.
    degraded = wait_until(lambda: (c := condition(cluster, "second", "Degraded")) and c["status"] == "True"
                          and "forbidden" in c["message"] and c, 90, "Degraded=True on second")
    assert 'cannot patch resource "pods"' in degraded["message"], degraded
    assert degraded["reason"], degraded
    assert re.search(r"forbidden.*pods|pods.*forbidden", operator.log_text()), operator.log_text()[-3000:]
    assert pod_names(cluster, "second-") == []

    # No hot loop: count the refusals over a window, by the operator's metrics and by the API
    # server's audit log, the operator alive and healthy throughout.
    start = operator.api_answers(403)
    server_start = len(refused(cluster, chart_rbac["account"]))
    assert start > forbidden_before
    deadline = time.monotonic() + HOT_LOOP_WINDOW_SECONDS
    while time.monotonic() < deadline:
        assert operator.proc.poll() is None, "the operator exited"
        assert operator.get("/healthz")[0] == 200
        time.sleep(1)
    in_window = operator.api_answers(403) - start
    server_refusals = refused(cluster, chart_rbac["account"])
    server_in_window = len(server_refusals) - server_start
    print(f"403 answers in {HOT_LOOP_WINDOW_SECONDS} s with pods patch taken away: {in_window} "
          f"(the API server's audit log: {server_in_window})")
    assert in_window <= MAX_FORBIDDEN_IN_WINDOW, f"{in_window} refused calls in {HOT_LOOP_WINDOW_SECONDS} s: a hot loop"
    assert server_in_window <= MAX_FORBIDDEN_IN_WINDOW, f"the server refused {server_in_window} calls: a hot loop"
    # Only the verb taken away was refused.
    assert set(server_refusals) == {("patch", "pods", None)}, set(server_refusals)
    # The ring that was fine stays fine: nothing was torn down.
    assert pod_names(cluster, "apod-") == ["apod-0", "apod-1"]

    # The verb given back: the operator recovers on its own (its back-off is capped at 30 s).
    kubectl.apply(chart_rbac["cluster_role"])
    wait_until(lambda: pod_names(cluster, "second-") == ["second-0", "second-1"], 90, "Pods of second after the fix")


def test_a_refused_disruption_budget_is_degraded_backed_off_and_recovered(cluster, kubectl, chart_rbac):
    operator = chart_rbac["operator"]
    role = json.loads(json.dumps(chart_rbac["cluster_role"]))
    budget_rule = next(r for r in role["rules"] if r["resources"] == ["poddisruptionbudgets"])
    budget_rule["verbs"] = [v for v in budget_rule["verbs"] if v not in ("create", "patch")]
    kubectl.apply(role)
    server_start = len(refused(cluster, chart_rbac["account"]))
    kubectl.apply(hashring("third", 2), namespace=NAMESPACE)

    # The replicas run; the ring says why it has no budget, and so does a Warning Event.
    wait_until(lambda: pod_names(cluster, "third-") == ["third-0", "third-1"], 90, "Pods of third")
    degraded = wait_until(lambda: (c := condition(cluster, "third", "Degraded")) and c["status"] == "True" and c,
                          90, "Degraded=True on third")
    assert degraded["reason"] == "RingPolicyFailed", degraded
    assert 'cannot patch resource "poddisruptionbudgets"' in degraded["message"], degraded
    events = wait_until(lambda: [e for e in cluster.ok("GET", f"/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events")["items"]
                                 if e.get("reason") == "DisruptionBudgetFailed" and e["regarding"]["name"] == "third"],
                        60, "a DisruptionBudgetFailed Event on third")
    assert events[0]["type"] == "Warning", events[0]

    # Backed off, not looped: the API server's count of refusals over the window.
    before = len(refused(cluster, chart_rbac["account"]))
    time.sleep(HOT_LOOP_WINDOW_SECONDS)
    server_refusals = refused(cluster, chart_rbac["account"])
    in_window = len(server_refusals) - before
    print(f"403 answers in {HOT_LOOP_WINDOW_SECONDS} s with poddisruptionbudgets create/patch taken away: {in_window}")
    assert in_window <= MAX_FORBIDDEN_IN_WINDOW, f"the server refused {in_window} calls: a hot loop"
    assert set(server_refusals[server_start:]) == {("patch", "poddisruptionbudgets", None)}, set(server_refusals[server_start:])
    assert operator.proc.poll() is None and operator.get("/healthz")[0] == 200

    # The verbs given back: the budget comes and Degraded clears, on the operator's own retries.
    kubectl.apply(chart_rbac["cluster_role"])
    wait_until(lambda: cluster.get(f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets/third")[0] == 200,
               90, "the budget of third after the fix")
    wait_until(lambda: (c := condition(cluster, "third", "Degraded")) and c["status"] == "False", 90,
               "Degraded=False on third")
