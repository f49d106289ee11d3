"""The harness itself (tests/e2e/kube_cluster.py): that what it starts is the real thing.
RBAC judges a ServiceAccount token the API server signed, Pod Security admission enforces
`restricted` on the test namespaces, the controller-manager creates ReplicaSets and Pods and
garbage-collects them through ownerReferences, and the scheduler reports Pods it cannot place
(there are no Nodes: no kubelet runs here)."""

import json
import ssl
import time
import urllib.error
import urllib.request

RESTRICTED_POD_SPEC = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{
        "name": "main", "image": "ringlb/ringlb-apod:0.1.0",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True},
    }],
}


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_versions_are_the_pinned_release(cluster, kubectl):
    version = cluster.ok("GET", "/version")
    assert version["gitVersion"] == "v1.35.4" and version["minor"] == "35", version
    out = kubectl("version", "-o", "json")
    assert json.loads(out)["serverVersion"]["gitVersion"] == "v1.35.4"


def test_pod_security_restricted_is_enforced(cluster, kubectl, namespace):
    privileged = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
                  "spec": {"containers": [{"name": "main", "image": "busybox", "securityContext": {"privileged": True}}]}}
    proc = kubectl.apply(privileged, namespace=namespace, check=False)
    assert proc.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in proc.stderr, proc.stderr
    ok = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "restricted"}, "spec": RESTRICTED_POD_SPEC}
    assert "pod/restricted created" in kubectl.apply(ok, namespace=namespace).stdout


def test_scheduler_reports_unschedulable_without_a_matching_node(cluster, kubectl, namespace):
    # A node agent may be running (the chart tests start one): no Node carries this label.
    spec = dict(RESTRICTED_POD_SPEC, nodeSelector={"ringlb.dev/no-such-node": "true"})
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "waits"}, "spec": spec}
    kubectl.apply(pod, namespace=namespace)

    def unschedulable():
        conditions = kubectl.json("pod", "waits", "-n", namespace).get("status", {}).get("conditions", [])
        return any(c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable"
                   for c in conditions)
    wait_until(unschedulable, 60, "PodScheduled=False/Unschedulable from kube-scheduler")


def test_controller_manager_runs_deployments_and_garbage_collects(cluster, kubectl, namespace):
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": RESTRICTED_POD_SPEC}}}
    kubectl.apply(deployment, namespace=namespace)
    def two_owned_pods():
        items = kubectl.json("pods", "-n", namespace, "-l", "app=web")["items"]
        return items if len(items) == 2 and all(p["metadata"].get("ownerReferences") for p in items) else None
    pods = wait_until(two_owned_pods, 60, "the Deployment's 2 Pods (Deployment and ReplicaSet controllers)")
    owner = pods[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet" and owner["controller"] is True
    kubectl("delete", "deployment/web", "-n", namespace, "--cascade=background", "--wait=true")
    wait_until(lambda: not kubectl.json("replicasets,pods", "-n", namespace, "-l", "app=web")["items"], 60,
               "the garbage collector to remove the ReplicaSet and its Pods")


def test_rbac_judges_service_account_tokens(cluster, kubectl, crd, namespace):
    token = kubectl("create", "token", "default", "-n", namespace, "--duration=10m").strip()
    assert token.count(".") == 2  # a JWT the API server signed with the harness's SA key
    ctx = ssl.create_default_context(cafile=cluster.pki.ca_crt)

    def call(path):
        req = urllib.request.Request(cluster.server + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code

    path = f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings"
    assert call(path) == 403
    assert kubectl("auth", "can-i", "list", "hashrings.ringlb.dev", "-n", namespace,
                   f"--as=system:serviceaccount:{namespace}:default", check=False).strip() == "no"
    kubectl("create", "role", "read-rings", "-n", namespace, "--verb=get,list,watch", "--resource=hashrings.ringlb.dev")
    kubectl("create", "rolebinding", "read-rings", "-n", namespace, "--role=read-rings",
            f"--serviceaccount={namespace}:default")
    wait_until(lambda: call(path) == 200, 30, "the RoleBinding to take effect")
    assert call(f"/apis/ringlb.dev/v1alpha1/namespaces/default/hashrings") == 403
