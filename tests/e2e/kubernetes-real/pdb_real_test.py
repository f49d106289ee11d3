"""The replica Pods' PodDisruptionBudget against the REAL kube-apiserver v1.35 and its disruption
controller (issue 16, item 4). The operator runs as a local process with no leader election; the node
agent runs the Pods (restricted Pod Security enforced on the namespace).

- A HashRing of 3 without `spec.podDisruptionBudget` gets a policy/v1 PodDisruptionBudget `apod`:
  selector `ringlb.dev/ring=apod`, `maxUnavailable: 1`, one controlling ownerReference to the
  HashRing (blockOwnerDeletion), applied by the `ringlb-operator` field manager. The real disruption
  controller computes its status: expectedPods 3, currentHealthy 3, disruptionsAllowed 1.
- Evicting one Pod (policy/v1 Eviction) is allowed; evicting a second while the first is disrupted is
  refused by the API server with 429. The evicted slot comes back and the budget is healthy again.
- `minAvailable: "50%"` replaces maxUnavailable; both at once is refused by the CRD's CEL rule, 150%
  and -1 by its schema;
  `enabled: false` deletes the budget; with the operator stopped, deleting the HashRing leaves the
  budget to the garbage collector, which removes it.
"""

import time

import pytest

from conftest import say, wait_until
from election import parse_time
from operator_real_test import Operator
from replica_pods_real_test import converged, hashring, pods_of, ring_of

OPERATOR_USER = "ringlb-pdb-op"


def pdb_path(namespace):
    return f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/apod"


def pdb_of(cluster, namespace):
    status, body = cluster.get(pdb_path(namespace))
    return body if status == 200 else None


def with_budget(budget):
    ring = hashring(3)
    if budget is not None:
        ring["spec"]["podDisruptionBudget"] = budget
    return ring


def evict(cluster, namespace, pod):
    """(HTTP status, answer) of a policy/v1 Eviction of `pod`, as `kubectl drain` sends it."""
    return cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction",
                           {"apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": pod, "namespace": namespace}})


def budget_settled(cluster, namespace, seen=None):
    """The budget once the disruption controller has seen its current spec and 3 healthy Pods, and no
    eviction is pending (an eviction records its Pod in disruptedPods until the controller sees it go)."""
    pdb = pdb_of(cluster, namespace)
    if not pdb:
        return None
    status = pdb.get("status", {})
    if seen is not None:
        seen["status"] = status  # for the timeout's message
    done = (status.get("observedGeneration") == pdb["metadata"]["generation"]
            and status.get("expectedPods") == 3 and status.get("currentHealthy") == 3
            and status.get("disruptionsAllowed") == 1 and not status.get("disruptedPods"))
    return pdb if done else None


# kube-controller-manager maps kinds through a discovery RESTMapper that it resets every 30 s, so
# for up to 30 s after a CRD is created the disruption controller cannot resolve the Pods' owner
# ("no matches for kind HashRing") and backs the budget off exponentially (5 ms doubling). A
# cluster's CRD predates its HashRings; here it may be seconds old, so wait until it is not.
MAPPER_RESET_SECONDS = 30


def wait_for_crd_known_to_the_controller_manager(cluster):
    crd = cluster.ok("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/hashrings.ringlb.dev")
    age = time.time() - parse_time(crd["metadata"]["creationTimestamp"])
    if age < MAPPER_RESET_SECONDS + 5:
        time.sleep(MAPPER_RESET_SECONDS + 5 - age)


@pytest.fixture
def operator(cluster, crd, node, namespace):
    wait_for_crd_known_to_the_controller_manager(cluster)
    op = Operator(cluster, [namespace], kubeconfig=cluster.user_kubeconfig(OPERATOR_USER))
    yield op
    if op.log.closed:
        return  # the test stopped it itself
    if op.proc.poll() is not None:
        print(f"operator exited with {op.proc.returncode}; log:\n{op.log_text()[-4000:]}")
    op.stop()


def test_budget_follows_the_ring_and_the_api_server_enforces_it(cluster, kubectl, namespace, operator, pytestconfig):
    kubectl.apply(with_budget(None), namespace=namespace)
    ring_uid = ring_of(cluster, namespace)["metadata"]["uid"]

    pdb = wait_until(lambda: pdb_of(cluster, namespace), 60, "the PodDisruptionBudget apod")
    assert pdb["spec"]["selector"] == {"matchLabels": {"ringlb.dev/ring": "apod"}}, pdb["spec"]
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"], pdb["spec"]
    owners = pdb["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"], o["controller"], o["blockOwnerDeletion"]) for o in owners] == \
        [("HashRing", "apod", ring_uid, True, True)], owners
    assert "ringlb-operator" in [m["manager"] for m in pdb["metadata"].get("managedFields", [])]

    # The real disruption controller counts the ring's Pods once the node agent has them Ready.
    wait_until(lambda: converged(cluster, namespace, 3), 120, "3 Ready replicas")
    seen = {}
    try:
        pdb = wait_until(lambda: budget_settled(cluster, namespace, seen), 90, "the budget's status: 3 of 3 healthy")
    except AssertionError as e:
        raise AssertionError(f"{e}; the budget's status: {seen.get('status')}") from None
    assert pdb["status"]["desiredHealthy"] == 2, pdb["status"]
    evicted_uid = cluster.ok("GET", f"/api/v1/namespaces/{namespace}/pods/apod-0")["metadata"]["uid"]

    # A drain's evictions: the first is allowed, a second while the first is disrupted is refused.
    status, body = evict(cluster, namespace, "apod-0")
    assert status == 201, (status, body)
    status, body = evict(cluster, namespace, "apod-1")
    assert status == 429, (status, body)
    assert "disruption budget" in str(body), body
    say(pytestconfig, f"[pdb] second eviction refused: HTTP {status}: {body.get('message') if isinstance(body, dict) else body}")
    assert not cluster.ok("GET", f"/api/v1/namespaces/{namespace}/pods/apod-1")["metadata"].get("deletionTimestamp")
    began = time.monotonic()
    wait_until(lambda: (p := pods_of(cluster, namespace).get("apod-0")) and p["metadata"]["uid"] != evicted_uid, 90,
               "apod-0 recreated under its name")
    wait_until(lambda: converged(cluster, namespace, 3), 120, "3 Ready replicas after the eviction")
    wait_until(lambda: budget_settled(cluster, namespace), 120, "the budget healthy again")
    say(pytestconfig, f"[pdb] evicted slot Ready again, budget healthy after {time.monotonic() - began:.1f} s")

    # minAvailable replaces maxUnavailable; both at once is the CEL rule's to refuse.
    kubectl.apply(with_budget({"minAvailable": "50%"}), namespace=namespace)
    pdb = wait_until(lambda: (p := pdb_of(cluster, namespace)) and p["spec"].get("minAvailable") == "50%" and p, 60,
                     "minAvailable 50%")
    assert "maxUnavailable" not in pdb["spec"], pdb["spec"]
    refused = kubectl.apply(with_budget({"minAvailable": 1, "maxUnavailable": 1}), namespace=namespace, check=False)
    assert refused.returncode != 0
    assert "podDisruptionBudget: set maxUnavailable or minAvailable, not both" in refused.stderr, refused.stderr
    for bad in ({"maxUnavailable": "150%"}, {"minAvailable": -1}):
        refused = kubectl.apply(with_budget(bad), namespace=namespace, check=False)
        assert refused.returncode != 0 and "spec.podDisruptionBudget." in refused.stderr, (bad, refused.stderr)

    # Turned off: the operator deletes it.
    kubectl.apply(with_budget({"enabled": False}), namespace=namespace)
    wait_until(lambda: pdb_of(cluster, namespace) is None, 60, "the budget deleted")

    # Back on, then the HashRing deleted with the operator stopped: only the garbage collector can remove it.
    kubectl.apply(with_budget({"enabled": True}), namespace=namespace)
    wait_until(lambda: pdb_of(cluster, namespace), 60, "the budget applied again")
    operator.stop()
    kubectl("delete", "-n", namespace, "hashring", "apod", "--wait=false")
    wait_until(lambda: pdb_of(cluster, namespace) is None, 90, "the budget garbage-collected with its HashRing")
