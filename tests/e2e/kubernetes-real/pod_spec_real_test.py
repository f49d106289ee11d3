"""The replica Pod spec (spec.template: resources, securityContext, nodeSelector, tolerations, affinity,
topologySpreadConstraints, imagePullSecrets, serviceAccountName, volumes, volumeMounts) against the REAL
kube-apiserver v1.35, with ringlb-operator (--runtime kubernetes) as a local process (issue 16).

Every field is read back from the Pod the API server admitted under Pod Security `restricted`, not from
what the operator sent: the node agent does not enforce scheduling constraints, resources or volumes
(tests/e2e/node_agent.py), so the admitted object is the evidence. A value only the API server's Pod
validation or Pod Security can refuse ends as Degraded on the HashRing, a Warning Event and a log line,
retried with backoff rather than in a loop.
"""

import os
import re
import time

import pytest

from conftest import wait_until
from operator_real_test import Operator, hashring_status

IMAGE = "ringlb/ringlb-apod:0.1.0"
NAMESPACE = f"ringlb-podspec-{os.getpid() % 10000}"
SERVICE_ACCOUNT = "apod-reader"

FULL_TEMPLATE = {
    "image": IMAGE,
    "args": ["--port", "$(PORT)"],
    "port": 8080,
    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi", "ephemeral-storage": "1Gi"}},
    "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000]},
    "nodeSelector": {"disktype": "ssd"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ringlb", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]}]}]}}},
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}],
    "imagePullSecrets": [{"name": "regcred"}],
    "serviceAccountName": SERVICE_ACCOUNT,
    "volumes": [{"name": "data", "configMap": {"name": "apod-data"}}],
    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
}


def hashring(name, template, replicas=1):
    return {
        "apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": name},
        "spec": {"replicas": replicas, "template": template,
                 # No node may run these Pods: a long threshold keeps them in their slot unreplaced.
                 "healthCheck": {"intervalSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 100}},
    }


@pytest.fixture(scope="module")
def operator(cluster, crd):
    cluster.namespace(NAMESPACE)
    # The ServiceAccount admission plugin refuses a Pod whose ServiceAccount does not exist.
    cluster.ok("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT}})
    op = Operator(cluster, [NAMESPACE])
    yield op
    if op.proc.poll() is not None:
        print(f"operator exited with {op.proc.returncode}; log:\n{op.log_text()[-4000:]}")
    op.stop()
    cluster.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")


def admitted_pod(cluster, operator, name, timeout=60):
    """The Pod as the API server admitted it, once it exists."""
    def pod():
        status, obj = cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
        return obj if status == 200 else None

    try:
        return wait_until(pod, timeout, f"Pod {NAMESPACE}/{name}")
    except AssertionError as e:
        raise AssertionError(f"{e}\noperator log (tail):\n{operator.log_text()[-4000:]}") from None


def container_of(pod):
    containers = pod["spec"]["containers"]
    assert len(containers) == 1, containers
    return containers[0]


def test_a_bad_toleration_operator_is_refused_naming_the_field(cluster, kubectl, operator):
    template = dict(FULL_TEMPLATE, tolerations=[{"key": "dedicated", "operator": "Equals", "value": "ringlb"}])
    proc = kubectl.apply(hashring("typo", template), namespace=NAMESPACE, check=False)
    assert proc.returncode != 0, proc.stdout
    assert 'spec.template.tolerations[0].operator: Unsupported value: "Equals"' in proc.stderr, proc.stderr
    got = kubectl.run("get", "hr", "-n", NAMESPACE, "typo", check=False)
    assert got.returncode != 0 and "NotFound" in got.stderr, got


def test_every_pod_setting_is_in_the_admitted_pod(cluster, kubectl, operator):
    kubectl.apply(hashring("full", FULL_TEMPLATE), namespace=NAMESPACE)
    pod = admitted_pod(cluster, operator, "full-0")
    spec = pod["spec"]
    container = container_of(pod)

    # Requests below the memory limit: Burstable (the API server computes qosClass on admission).
    assert pod["status"]["qosClass"] == "Burstable", pod["status"]
    # ephemeral-storage has only a limit: the API server requests the limit.
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "1Gi"},
                                      "limits": {"memory": "256Mi", "ephemeral-storage": "1Gi"}}, container["resources"]
    context = spec["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"], context["supplementalGroups"]) == \
        (1000, 3000, 2000, [4000]), context
    assert context["runAsNonRoot"] is True and context["seccompProfile"] == {"type": "RuntimeDefault"}, context
    assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["securityContext"]

    assert spec["nodeSelector"] == {"disktype": "ssd"}
    # The DefaultTolerationSeconds admission plugin adds not-ready/unreachable tolerations beside ours.
    assert FULL_TEMPLATE["tolerations"][0] in spec["tolerations"], spec["tolerations"]
    assert spec["affinity"] == FULL_TEMPLATE["affinity"], spec["affinity"]
    # Without a labelSelector the constraint counts this ring's Pods.
    assert spec["topologySpreadConstraints"] == [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": {"ringlb.dev/ring": "full"}}}], spec["topologySpreadConstraints"]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["serviceAccountName"] == SERVICE_ACCOUNT
    assert spec["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(volumes) == {"tmp", "data"}, spec["volumes"]
    assert volumes["tmp"]["emptyDir"] == {}, volumes["tmp"]
    assert volumes["data"]["configMap"]["name"] == "apod-data", volumes["data"]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"},
                                         {"name": "data", "mountPath": "/data", "readOnly": True}], container["volumeMounts"]


def test_defaults_request_without_limits_and_mount_a_writable_tmp(cluster, kubectl, operator):
    kubectl.apply(hashring("plain", {"image": IMAGE, "args": ["--port", "$(PORT)"]}), namespace=NAMESPACE)
    pod = admitted_pod(cluster, operator, "plain-0")
    container = container_of(pod)
    assert pod["status"]["qosClass"] == "Burstable", pod["status"]
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "32Mi"}}, container["resources"]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 65532
    assert pod["spec"]["serviceAccountName"] == "default"
    for field in ("nodeSelector", "affinity", "topologySpreadConstraints", "imagePullSecrets"):
        assert field not in pod["spec"], (field, pod["spec"])


def test_the_shorthand_limits_give_guaranteed_pods(cluster, kubectl, operator):
    template = {"image": IMAGE, "args": ["--port", "$(PORT)"], "resources": {"memory": "128Mi", "cpus": "250m"}}
    kubectl.apply(hashring("limited", template), namespace=NAMESPACE)
    pod = admitted_pod(cluster, operator, "limited-0")
    resources = container_of(pod)["resources"]
    assert resources["limits"] == {"memory": "128Mi", "cpu": "250m"}, resources
    assert resources["requests"] == resources["limits"], "Kubernetes requests the limits"
    assert pod["status"]["qosClass"] == "Guaranteed", pod["status"]


def test_a_changed_pod_setting_replaces_the_pod(cluster, kubectl, operator):
    template = {"image": IMAGE, "args": ["--port", "$(PORT)"], "nodeSelector": {"pool": "a"}}
    kubectl.apply(hashring("moving", template), namespace=NAMESPACE)
    first = admitted_pod(cluster, operator, "moving-0")
    kubectl.apply(hashring("moving", dict(template, nodeSelector={"pool": "b"})), namespace=NAMESPACE)

    def replaced():
        status, pod = cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods/moving-0")
        return status == 200 and pod["metadata"]["uid"] != first["metadata"]["uid"] and pod

    pod = wait_until(replaced, 90, "Pod moving-0 replaced after the nodeSelector changed")
    assert pod["spec"]["nodeSelector"] == {"pool": "b"}
    assert pod["metadata"]["labels"]["ringlb.dev/spec-hash"] != first["metadata"]["labels"]["ringlb.dev/spec-hash"]


# Values the CRD cannot check: the API server's Pod validation refuses the first (422), Pod Security
# `restricted` the second (403).
REFUSED = [
    pytest.param("badaffinity", {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Bogus", "values": ["a"]}]}]}}}},
        'operator: Invalid value: "Bogus": not a valid selector operator', id="invalid-affinity-operator"),
    pytest.param("hostpath", {"volumes": [{"name": "host", "hostPath": {"path": "/etc"}}]},
                 'violates PodSecurity "restricted:latest"', id="hostpath-volume-under-restricted"),
]


@pytest.mark.parametrize("name,fields,reason", REFUSED)
def test_a_pod_the_api_server_refuses_degrades_the_ring_with_backoff(cluster, kubectl, operator, name, fields, reason):
    template = dict({"image": IMAGE, "args": ["--port", "$(PORT)"]}, **fields)
    kubectl.apply(hashring(name, template), namespace=NAMESPACE)

    def degraded():
        conditions = {c["type"]: c for c in hashring_status(cluster, NAMESPACE, name).get("conditions", [])}
        return conditions.get("Degraded", {}).get("status") == "True" and conditions

    try:
        conditions = wait_until(degraded, 60, f"Degraded=True on HashRing {name}")
    except AssertionError as e:
        raise AssertionError(f"{e}\noperator log (tail):\n{operator.log_text()[-4000:]}") from None
    degraded_condition = conditions["Degraded"]
    assert degraded_condition["reason"] == "ReplicaFailing", degraded_condition
    assert f"apply Pod {NAMESPACE}/{name}-0" in degraded_condition["message"], degraded_condition
    assert reason in degraded_condition["message"], degraded_condition
    assert conditions["Ready"]["status"] == "False", conditions

    def refused_event():
        status, events = cluster.get(f"/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events")
        return [e for e in events.get("items", [])
                if e.get("reason") == "ReplicaCreateFailed" and e["regarding"]["name"] == name]

    events = wait_until(refused_event, 60, f"a ReplicaCreateFailed Event on HashRing {name}")
    assert all(e["type"] == "Warning" and reason in e["note"] for e in events), events
    status, _ = cluster.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}-0")
    assert status == 404, "no Pod was admitted"

    # Retried with the crash-loop backoff (0, 1, 2, 4, 8 ... 30 s), not in a loop: over 12 s a loop
    # would try hundreds of times, the backoff about five.
    attempt = re.compile(rf"(?:Start|Restart) {re.escape(name)}-0 failed: .*apply Pod {re.escape(NAMESPACE)}/{re.escape(name)}-0")
    before = len(attempt.findall(operator.log_text()))
    assert before >= 1, f"no log line names the refused Pod:\n{operator.log_text()[-4000:]}"
    time.sleep(12)
    retries = len(attempt.findall(operator.log_text())) - before
    print(f"{name}: {before} attempt(s) until Degraded was seen, {retries} in the next 12 s")
    assert 1 <= retries <= 6, f"{retries} attempts in 12 s"


def test_a_missing_service_account_degrades_the_ring_until_it_exists(cluster, kubectl, operator):
    template = {"image": IMAGE, "args": ["--port", "$(PORT)"], "serviceAccountName": "late"}
    kubectl.apply(hashring("late", template), namespace=NAMESPACE)

    def conditions():
        return {c["type"]: c for c in hashring_status(cluster, NAMESPACE, "late").get("conditions", [])}

    degraded = wait_until(lambda: conditions().get("Degraded", {}).get("status") == "True" and conditions(), 60,
                          "Degraded=True on HashRing late")
    assert 'serviceaccount "late" not found' in degraded["Degraded"]["message"], degraded["Degraded"]
    # The fix is outside the HashRing: the backed-off retries pick it up.
    cluster.ok("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "late"}})
    pod = admitted_pod(cluster, operator, "late-0", timeout=90)
    assert pod["spec"]["serviceAccountName"] == "late"
    wait_until(lambda: conditions().get("Degraded", {}).get("status") == "False", 60, "Degraded=False on HashRing late")
