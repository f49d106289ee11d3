"""ringlb-operator's replica Pods against the REAL kube-apiserver v1.35 (moved from the fake API
server's operator_test.py, issue 16). The operator runs as a local process with no leader election,
under a client certificate of its own (user `ringlb-replica-op`), so the audit log tells its writes
apart; the node agent runs the Pods (restricted Pod Security enforced on the namespace).

- A HashRing of 3: Pods apod-0..2 with the ring's labels, one controlling ownerReference, the
  restricted securityContext, PORT/RINGLB_SLOT in env, the readiness probe from healthCheck, and
  `ringlb-operator` among the managedFields managers; status selector, members (the Pods' IPs),
  conditions in the metav1.Condition shape; /v1/rings/<ns>/apod all Ready; 3 ReplicaCreated Events.
- `kubectl scale` to 5 converges; `kubectl delete pod apod-1` comes back under that name, new uid.
- An idle ring makes no API writes for 30 s (read from the audit log; no Lease without election).
- `kubectl apply -f examples/apod.yaml` (its namespace set to a restricted one): 3 Pods admitted,
  Ready, `status.readyReplicas: 3`.
"""

import json
import os
import time

import pytest
import yaml

from conftest import ROOT, say, wait_until
from election import parse_time
from operator_real_test import Operator

OPERATOR_USER = "ringlb-replica-op"
PORT = 8080


def hashring(replicas):
    return {
        "apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": "apod"},
        "spec": {"replicas": replicas,
                 "template": {"image": "ringlb/ringlb-apod:0.1.0", "args": ["--port", "$(PORT)"], "port": PORT,
                              "env": [{"name": "APOD_GREETING", "value": "hello"}]},
                 "healthCheck": {"path": "/healthz", "intervalSeconds": 1, "timeoutSeconds": 1,
                                 "failureThreshold": 3, "successThreshold": 1},
                 "drainSeconds": 1},
    }


def ring_of(cluster, namespace):
    return cluster.ok("GET", f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings/apod")


def pods_of(cluster, namespace):
    items = cluster.ok("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=ringlb.dev%2Fring%3Dapod")["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def converged(cluster, namespace, replicas):
    """The HashRing once its status shows `replicas` Ready for its current generation, else None."""
    ring = ring_of(cluster, namespace)
    status = ring.get("status", {})
    ready = {c["type"]: c for c in status.get("conditions", [])}.get("Ready", {})
    done = (status.get("replicas") == replicas and status.get("readyReplicas") == replicas
            and status.get("observedGeneration") == ring["metadata"]["generation"]
            and ready.get("status") == "True" and len(pods_of(cluster, namespace)) == replicas)
    return ring if done else None


def operator_writes(cluster, namespace, since):
    """(time, verb, what) of every write the operator made in `namespace` from epoch seconds `since` on."""
    writes = []
    for event in cluster.audit_events():
        if event.get("user", {}).get("username") != OPERATOR_USER:
            continue
        when = parse_time(event["requestReceivedTimestamp"])
        if when < since:
            continue
        ref = event.get("objectRef", {})
        if ref.get("namespace") != namespace:
            continue
        writes.append((when, event["verb"], f"{ref.get('resource')}/{ref.get('subresource', '')} {ref.get('name')}"))
    return writes


@pytest.fixture
def operator(cluster, crd, node, namespace):
    op = Operator(cluster, [namespace], kubeconfig=cluster.user_kubeconfig(OPERATOR_USER))
    yield op
    if op.proc.poll() is not None:
        print(f"operator exited with {op.proc.returncode}; log:\n{op.log_text()[-4000:]}")
    op.stop()


def test_pods_status_scale_recreate_and_no_writes_when_idle(cluster, kubectl, namespace, operator, pytestconfig):
    kubectl.apply(hashring(3), namespace=namespace)
    ring_uid = ring_of(cluster, namespace)["metadata"]["uid"]

    pods = wait_until(lambda: (p := pods_of(cluster, namespace)) and len(p) == 3 and p, 60, "3 Pods")
    assert sorted(pods) == ["apod-0", "apod-1", "apod-2"]
    for name, pod in pods.items():
        meta, spec = pod["metadata"], pod["spec"]
        assert meta["labels"]["ringlb.dev/ring"] == "apod"
        assert meta["labels"]["ringlb.dev/slot"] == name
        assert meta["labels"]["app.kubernetes.io/name"] == "apod"
        assert meta["labels"]["ringlb.dev/spec-hash"]
        owners = meta["ownerReferences"]
        assert [(o["kind"], o["name"], o["uid"], o["controller"], o["blockOwnerDeletion"]) for o in owners] == \
            [("HashRing", "apod", ring_uid, True, True)], owners
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        container = spec["containers"][0]
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert container["ports"][0]["containerPort"] == PORT
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert (env["RINGLB_SLOT"], env["PORT"], env["APOD_GREETING"]) == (name, str(PORT), "hello"), env
        probe = container["readinessProbe"]
        assert probe["httpGet"]["path"] == "/healthz"
        assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (1, 1, 3)
    with_fields = cluster.ok("GET", f"/api/v1/namespaces/{namespace}/pods/apod-0")
    assert "ringlb-operator" in [m["manager"] for m in with_fields["metadata"].get("managedFields", [])]

    ring = wait_until(lambda: converged(cluster, namespace, 3), 120, "3 Ready replicas in the HashRing status")
    status = ring["status"]
    assert "ringlb.dev/ring=apod" in status["selector"].split(","), status
    pods = pods_of(cluster, namespace)
    assert [m["id"] for m in status["members"]] == ["apod-0", "apod-1", "apod-2"]
    assert [m["address"] for m in status["members"]] == \
        [f"{pods[f'apod-{i}']['status']['podIP']}:{PORT}" for i in range(3)]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert sorted(conditions) == ["Degraded", "Progressing", "Ready"]
    for c in conditions.values():
        assert c["reason"] and c["reason"][0].isupper() and c["reason"].isalnum(), c
        parse_time(c["lastTransitionTime"])
        assert c["observedGeneration"] == ring["metadata"]["generation"], c
    served = json.loads(operator.get(f"/v1/rings/{namespace}/apod")[1])
    assert [(m["id"], m["state"]) for m in served["members"]] == [(f"apod-{i}", "Ready") for i in range(3)]

    events = cluster.ok("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")["items"]
    created = [e for e in events if e.get("reason") == "ReplicaCreated"]
    assert len(created) == 3, events
    assert {e["regarding"]["name"] for e in created} == {"apod"}
    assert {e["reportingController"] for e in created} == {"ringlb.dev/operator"}

    # kubectl scale goes through /scale.
    kubectl("scale", "-n", namespace, "hr/apod", "--replicas=5")
    wait_until(lambda: converged(cluster, namespace, 5), 120, "5 Ready replicas")
    assert sorted(pods_of(cluster, namespace)) == [f"apod-{i}" for i in range(5)]

    # A deleted Pod comes back under the same name (the node agent stops it as a kubelet would).
    old_uid = pods_of(cluster, namespace)["apod-1"]["metadata"]["uid"]
    kubectl("delete", "-n", namespace, "pod", "apod-1", "--wait=false")
    wait_until(lambda: (p := pods_of(cluster, namespace).get("apod-1")) and p["metadata"]["uid"] != old_uid, 90,
               "apod-1 recreated with a new uid")
    wait_until(lambda: converged(cluster, namespace, 5), 120, "5 Ready replicas after the recreation")

    # An idle ring makes no API writes, although the operator resyncs every 2 s. The audit log is
    # the server's own record of the operator's writes.
    wait_until(lambda: (w := operator_writes(cluster, namespace, 0)) and time.time() - w[-1][0] > 3 and w, 60,
               "the last status write to land", interval=1)
    quiet_from = time.time()
    time.sleep(30)
    writes = operator_writes(cluster, namespace, quiet_from)
    total = len(operator_writes(cluster, namespace, 0))
    say(pytestconfig, f"[replica pods] operator writes in 30 s idle: {len(writes)} (before: {total - len(writes)})")
    assert total > 0, "the audit log holds none of the operator's writes: the filter is wrong"
    assert writes == [], f"writes while idle: {writes}"


def test_example_hashring_gives_three_ready_restricted_pods(cluster, kubectl, namespace, operator):
    with open(os.path.join(ROOT, "examples", "apod.yaml")) as f:
        example = yaml.safe_load(f)
    # The example names `default`, which is not restricted here; the test's namespace is.
    example["metadata"]["namespace"] = namespace
    labels = cluster.ok("GET", f"/api/v1/namespaces/{namespace}")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted", labels
    kubectl.apply(yaml.safe_dump(example))

    ring = wait_until(lambda: converged(cluster, namespace, 3), 120, "examples/apod.yaml's 3 Ready replicas")
    assert ring["status"]["readyReplicas"] == 3
    pods = pods_of(cluster, namespace)
    assert sorted(pods) == ["apod-0", "apod-1", "apod-2"]
    assert all(p["status"]["phase"] == "Running" for p in pods.values()), pods
    # Admitted under restricted: a Pod that breaks it would have been refused at create, and no
    # create of the operator's was refused.
    refused = [e for e in cluster.audit_events()
               if e.get("user", {}).get("username") == OPERATOR_USER and e["verb"] == "create"
               and e.get("objectRef", {}).get("namespace") == namespace
               and e.get("responseStatus", {}).get("code", 200) >= 400]
    assert refused == [], refused
