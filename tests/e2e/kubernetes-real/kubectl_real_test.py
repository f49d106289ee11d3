"""What a cluster user does to a HashRing with the real kubectl v1.35.2, against the REAL
kube-apiserver v1.35, beyond crd_real_test.py (which checks the CRD's validation, defaults, /scale
and printer columns): `kubectl get hr -w` streaming a change, `kubectl apply` of an edited file and
of the same file again (a no-op: resourceVersion and generation stay), server-side apply's real
field ownership (a conflict with the manager `kubectl scale` left on spec.replicas, then
--force-conflicts), and `kubectl delete hr` with a Pod it owns collected by the real garbage
collector (kube-controller-manager). These moved here from the fake API server's
kubectl_fake_test.py (issue 16). No operator runs here."""

import select
import subprocess
import time

import yaml

from conftest import wait_until

HR = "hashring.ringlb.dev/apod"


def hashring_yaml(namespace, replicas=3, algorithm="ring"):
    return yaml.safe_dump({
        "apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing",
        "metadata": {"name": "apod", "namespace": namespace},
        "spec": {"replicas": replicas,
                 "template": {"image": "ringlb/ringlb-apod:0.1.0", "args": ["--port", "$(PORT)"]},
                 "hashing": {"algorithm": algorithm}},
    })


def write(tmp_path, text):
    path = tmp_path / "apod.yaml"
    path.write_text(text)
    return str(path)


def test_get_watch_streams_a_status_write_and_a_scale(crd, cluster, kubectl, namespace):
    kubectl.apply(hashring_yaml(namespace))
    proc = subprocess.Popen([kubectl.binary, "get", "hr", "-w", "--no-headers", "-n", namespace],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubectl.env)
    try:
        def next_row(timeout=30):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if ready:
                    line = proc.stdout.readline()
                    if line:
                        return line.split()
                assert proc.poll() is None, f"kubectl get -w exited: {proc.stderr.read()}"
            raise AssertionError(f"kubectl get -w printed no row within {timeout} s")

        assert next_row()[:2] == ["apod", "3"]
        # What the operator writes, through /status: the watch prints the new READY and RING VERSION.
        cluster.ok("PATCH", f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings/apod/status",
                   {"status": {"replicas": 3, "readyReplicas": 3, "ringVersion": 9}},
                   content_type="application/merge-patch+json")
        assert next_row()[:4] == ["apod", "3", "3", "9"]
        kubectl("scale", "-n", namespace, "hr/apod", "--replicas=4")
        assert next_row()[:4] == ["apod", "4", "3", "9"]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_apply_of_an_edited_file_updates_and_the_same_file_again_is_a_noop(crd, cluster, kubectl, namespace, tmp_path):
    kubectl("apply", "-f", write(tmp_path, hashring_yaml(namespace, algorithm="ring")))
    first = kubectl.json("hr", "apod", "-n", namespace)
    assert first["metadata"]["generation"] == 1

    out = kubectl("apply", "-f", write(tmp_path, hashring_yaml(namespace, algorithm="maglev")))
    assert f"{HR} configured" in out, out
    second = kubectl.json("hr", "apod", "-n", namespace)
    assert second["spec"]["hashing"]["algorithm"] == "maglev"
    assert second["metadata"]["generation"] == 2
    assert second["metadata"]["uid"] == first["metadata"]["uid"]

    out = kubectl("apply", "-f", write(tmp_path, hashring_yaml(namespace, algorithm="maglev")))
    assert f"{HR} unchanged" in out, out
    third = kubectl.json("hr", "apod", "-n", namespace)
    assert third["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    assert third["metadata"]["generation"] == 2

    # A status write moves resourceVersion but not generation.
    cluster.ok("PATCH", f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings/apod/status",
               {"status": {"replicas": 3, "readyReplicas": 2, "ringVersion": 2}},
               content_type="application/merge-patch+json")
    fourth = kubectl.json("hr", "apod", "-n", namespace)
    assert fourth["metadata"]["resourceVersion"] != third["metadata"]["resourceVersion"]
    assert fourth["metadata"]["generation"] == 2


def test_server_side_apply_conflicts_with_the_manager_of_a_scale(crd, kubectl, namespace, tmp_path):
    path = write(tmp_path, hashring_yaml(namespace, replicas=3))
    out = kubectl("apply", "--server-side", "--field-manager=ringlb-test", "-f", path)
    assert f"{HR} serverside-applied" in out, out
    managers = {(m["manager"], m["operation"])
                for m in kubectl.json("hr", "apod", "-n", namespace, "--show-managed-fields")["metadata"]["managedFields"]}
    assert ("ringlb-test", "Apply") in managers, managers

    # kubectl scale (an Update through /scale) takes spec.replicas over from ringlb-test.
    kubectl("scale", "-n", namespace, "hr/apod", "--replicas=7")
    owners = {m["manager"]: m for m in kubectl.json("hr", "apod", "-n", namespace, "--show-managed-fields")["metadata"]["managedFields"]}
    scaler = [name for name, m in owners.items() if "f:replicas" in str(m.get("fieldsV1", {}))]
    assert scaler and "ringlb-test" not in scaler, owners

    proc = kubectl.run("apply", "--server-side", "--field-manager=ringlb-test", "-f", path, check=False)
    assert proc.returncode != 0
    assert "conflict" in proc.stderr.lower() and ".spec.replicas" in proc.stderr, proc.stderr
    assert scaler[0] in proc.stderr, f"the conflict names the other manager {scaler[0]}:\n{proc.stderr}"
    assert kubectl.json("hr", "apod", "-n", namespace)["spec"]["replicas"] == 7

    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=ringlb-test", "-f", path)
    assert kubectl.json("hr", "apod", "-n", namespace)["spec"]["replicas"] == 3


def owned_pod(namespace, ring):
    """A Pod as the operator makes one (restricted, owned by the HashRing, never Ready here)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "apod-0", "labels": {"ringlb.dev/ring": "apod"},
                     "ownerReferences": [{"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "name": "apod",
                                          "uid": ring["metadata"]["uid"], "controller": True,
                                          "blockOwnerDeletion": True}]},
        "spec": {"nodeSelector": {"ringlb.dev/no-such-node": "true"},  # stays Pending: nothing runs it
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{"name": "apod", "image": "ringlb/ringlb-apod:0.1.0",
                                 "securityContext": {"allowPrivilegeEscalation": False,
                                                     "capabilities": {"drop": ["ALL"]}}}]},
    }


def test_delete_hashring_and_the_garbage_collector_deletes_its_pods(crd, cluster, kubectl, namespace):
    kubectl.apply(hashring_yaml(namespace))
    ring = kubectl.json("hr", "apod", "-n", namespace)
    kubectl.apply(owned_pod(namespace, ring), namespace=namespace)
    pod_uid = kubectl.json("pod", "apod-0", "-n", namespace)["metadata"]["uid"]

    out = kubectl("delete", "-n", namespace, "hr", "apod")
    assert 'hashring.ringlb.dev "apod" deleted' in out, out
    proc = kubectl.run("get", "-n", namespace, "hr", "apod", check=False)
    assert proc.returncode != 0 and 'hashrings.ringlb.dev "apod" not found' in proc.stderr, proc.stderr

    wait_until(lambda: cluster.get(f"/api/v1/namespaces/{namespace}/pods/apod-0")[0] == 404, 60,
               "the owned Pod to be garbage-collected")
    deleters = {e["user"]["username"] for e in cluster.audit_events()
                if e["verb"] == "delete" and e.get("objectRef", {}).get("resource") == "pods"
                and e["objectRef"].get("namespace") == namespace and e["objectRef"].get("name") == "apod-0"}
    assert deleters == {"system:serviceaccount:kube-system:generic-garbage-collector"}, \
        f"the Pod {pod_uid} was deleted by {deleters}, not by the real garbage collector"
