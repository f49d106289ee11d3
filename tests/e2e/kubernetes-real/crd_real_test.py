"""The HashRing CRD (crds/hashrings.ringlb.dev.yaml) against a real kube-apiserver v1.35, with the
real kubectl v1.35.2: Established, each CEL rule enforced with its own message, defaults applied,
unknown fields refused or pruned, the scale subresource, the printer columns, and same-named
HashRings in two namespaces. No operator runs here: these check the API server's side only."""

import copy
import json
import os
import re

import pytest
import yaml

from conftest import CRD_FILE

BASE = {
    "apiVersion": "ringlb.dev/v1alpha1",
    "kind": "HashRing",
    "metadata": {"name": "apod"},
    "spec": {"template": {"image": "ringlb/ringlb-apod:0.1.0", "args": ["--port", "$(PORT)"]}},
}


def hashring(name="apod", **spec):
    """BASE with spec fields merged in (one level deep for dicts)."""
    obj = copy.deepcopy(BASE)
    obj["metadata"]["name"] = name
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(obj["spec"].get(key), dict):
            obj["spec"][key].update(value)
        else:
            obj["spec"][key] = value
    return obj


def crd_rules():
    """Every (path, rule, message) of x-kubernetes-validations in the CRD's schema."""
    with open(CRD_FILE) as f:
        crd = yaml.safe_load(f)
    found = []

    def walk(node, path):
        for v in node.get("x-kubernetes-validations", []):
            found.append((path, v["rule"], v["message"]))
        for key, child in node.get("properties", {}).items():
            walk(child, f"{path}.{key}" if path else key)
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "")
    return found


# One HashRing per CEL rule that breaks that rule and nothing else the schema checks first
# (enum and type errors stop CEL from running, so none is here). `also` lists other errors the
# server reports with it.
CEL_VIOLATIONS = [
    pytest.param(hashring(name="a" * 60),
                 "metadata.name must be at most 59 characters: replica Pods are named <name>-<ordinal> and must fit 63", (),
                 id="name-longer-than-59"),
    pytest.param(hashring(hashing={"algorithm": "maglev", "tableSize": 5}),
                 "hashing.tableSize must be at least 7 (a prime) for algorithm maglev",
                 # tableSize has `minimum: 7` and `default: 65537`, so the schema rejects the same
                 # values first: this rule can never be the only error (it is redundant).
                 ("should be greater than or equal to 7",), id="maglev-table-below-7"),
    pytest.param(hashring(hashing={"key": {"source": "header"}}),
                 "hashing.key.name is required when hashing.key.source is header, cookie or query", (),
                 id="header-key-without-name"),
    pytest.param(hashring(hashing={"key": {"source": "query", "name": ""}}),
                 "hashing.key.name is required when hashing.key.source is header, cookie or query", (),
                 id="query-key-with-empty-name"),
    pytest.param(hashring(hashing={"key": {"source": "path", "name": "X-User"}}),
                 "hashing.key.name is only allowed when hashing.key.source is header, cookie or query", (),
                 id="path-key-with-name"),
    pytest.param(hashring(hashing={"loadFactor": 0.5}),
                 "hashing.loadFactor must be 0 (off) or at least 1.0", (), id="load-factor-between-0-and-1"),
    pytest.param(hashring(healthCheck={"intervalSeconds": 1, "timeoutSeconds": 2}),
                 "healthCheck.timeoutSeconds must not exceed healthCheck.intervalSeconds", (),
                 id="health-timeout-above-interval"),
    pytest.param(hashring(healthCheck={"grpc": {}}),
                 "healthCheck.grpc needs protocol h2c: gRPC runs over HTTP/2", (), id="grpc-health-on-http1-ring"),
    pytest.param(hashring(protocol="h2c", healthCheck={"path": "/ready", "grpc": {"service": "echo"}}),
                 "healthCheck.path is not used by a gRPC health check (grpc.service names what is checked)", (),
                 id="grpc-health-with-a-path"),
    pytest.param(hashring(template={"resources": {"memory": "1Gi", "limits": {"memory": "256Mi"}}}),
                 "resources.memory is shorthand for resources.limits.memory: set one", (),
                 id="memory-shorthand-and-limit"),
    pytest.param(hashring(template={"resources": {"cpus": 2, "limits": {"cpu": "500m"}}}),
                 "resources.cpus is shorthand for resources.limits.cpu: set one", (), id="cpus-shorthand-and-limit"),
    pytest.param(hashring(template={"tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]}),
                 "a toleration with operator Exists must not have a value", (), id="toleration-exists-with-value"),
    pytest.param(hashring(template={"tolerations": [{"value": "b"}]}),
                 "a toleration without a key must have operator Exists", (), id="toleration-without-key"),
    pytest.param(hashring(template={"tolerations": [{"key": "a", "effect": "NoSchedule", "tolerationSeconds": 5}]}),
                 "tolerationSeconds is only allowed with effect NoExecute", (), id="toleration-seconds-not-noexecute"),
    pytest.param(hashring(template={"topologySpreadConstraints": [
                     {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}]}),
                 "minDomains is only allowed with whenUnsatisfiable DoNotSchedule", (), id="min-domains-schedule-anyway"),
    pytest.param(hashring(template={"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}),
                 "/tmp is the default writable emptyDir: to change it, add a volume named tmp", (), id="mount-over-tmp"),
    pytest.param(hashring(template={"volumeMounts": [{"name": "data", "mountPath": "/data"}]}),
                 "every volumeMounts[].name must name a volume in template.volumes (or the default tmp)", (),
                 id="mount-of-unknown-volume"),
    pytest.param(hashring(podDisruptionBudget={"maxUnavailable": 1, "minAvailable": "50%"}),
                 "podDisruptionBudget: set maxUnavailable or minAvailable, not both", (), id="budget-with-both"),
    pytest.param(hashring(rollout={"keyspacePerStep": 0.0005}),
                 "keyspacePerStep must be 0 (off) or at least 0.001", (), id="rollout-pace-below-a-thousandth"),
]

# Right at the edge of each rule: the server accepts them.
CEL_EDGES_ACCEPTED = [
    pytest.param(hashring(name="a" * 59), id="name-of-59"),
    pytest.param(hashring(hashing={"algorithm": "maglev", "tableSize": 7}), id="maglev-table-7"),
    pytest.param(hashring(hashing={"key": {"source": "cookie", "name": "session"}}), id="cookie-key-with-name"),
    pytest.param(hashring(hashing={"key": {"source": "sourceIP"}}), id="sourceip-key-without-name"),
    pytest.param(hashring(hashing={"loadFactor": 0}), id="load-factor-0-as-integer"),
    pytest.param(hashring(hashing={"loadFactor": 1}), id="load-factor-1-as-integer"),
    pytest.param(hashring(hashing={"loadFactor": 1.25}), id="load-factor-1.25"),
    pytest.param(hashring(healthCheck={"intervalSeconds": 5, "timeoutSeconds": 5}), id="health-timeout-equal-interval"),
    pytest.param(hashring(protocol="h2c", healthCheck={"grpc": {"service": "echo"}}), id="grpc-health-on-h2c-ring"),
    pytest.param(hashring(protocol="h2c", healthCheck={"path": "/healthz", "grpc": {}}),
                 id="grpc-health-with-the-default-path"),
    pytest.param(hashring(template={"resources": {"memory": "1Gi", "limits": {"cpu": "500m"}}}),
                 id="memory-shorthand-with-cpu-limit"),
    pytest.param(hashring(template={"tolerations": [{"operator": "Exists"}]}), id="toleration-exists-without-key"),
    pytest.param(hashring(template={"tolerations": [{"key": "a", "effect": "NoExecute", "tolerationSeconds": 5}]}),
                 id="toleration-seconds-noexecute"),
    pytest.param(hashring(template={"topologySpreadConstraints": [
                     {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "minDomains": 2}]}),
                 id="min-domains-do-not-schedule"),
    pytest.param(hashring(template={"volumes": [{"name": "data", "emptyDir": {}}],
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                                     {"name": "tmp", "mountPath": "/scratch"}]}),
                 id="mounts-of-a-volume-and-of-tmp"),
    pytest.param(hashring(podDisruptionBudget={"maxUnavailable": "25%"}), id="budget-max-unavailable-percent"),
    pytest.param(hashring(podDisruptionBudget={"minAvailable": 0}), id="budget-min-available-0"),
    pytest.param(hashring(podDisruptionBudget={"enabled": False}), id="budget-disabled"),
    pytest.param(hashring(rollout={"keyspacePerStep": 0}), id="rollout-pace-0-off"),
    pytest.param(hashring(rollout={"keyspacePerStep": 0.001}), id="rollout-pace-a-thousandth"),
]


# The real server checks each object's `default: {}` against that object's own CEL rules
# before the nested defaults apply, so every rule guards its fields with has().
def test_crd_file_is_accepted_by_the_real_server(crd, kubectl):
    proc = kubectl.run("apply", "--dry-run=server", "-f", CRD_FILE, check=False)
    assert proc.returncode == 0, f"the API server refuses {CRD_FILE}:\n{proc.stderr}"


def test_crd_is_established_with_names_and_one_storage_version(crd, kubectl):
    obj = kubectl.json("crd", "hashrings.ringlb.dev")
    conditions = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NamesAccepted") == "True"
    assert obj["status"]["acceptedNames"]["shortNames"] == ["hr"]
    assert obj["status"]["storedVersions"] == ["v1alpha1"]
    fields = kubectl("api-resources", "--api-group=ringlb.dev", "--no-headers").split()
    assert fields[:5] == ["hashrings", "hr", "ringlb.dev/v1alpha1", "true", "HashRing"]


def test_every_cel_rule_has_a_violation_in_the_table(crd):
    # (Needs no server, but runs with the others, so that a suite without one skips whole.)
    messages = {m for _, _, m in crd_rules()}
    tested = {p.values[1] for p in CEL_VIOLATIONS}
    assert messages == tested, f"CEL rules without a test: {messages - tested}; stale tests: {tested - messages}"


@pytest.mark.parametrize("manifest,message,also", CEL_VIOLATIONS)
def test_cel_rule_violation_is_rejected_with_its_message(crd, kubectl, namespace, manifest, message, also):
    proc = kubectl.apply(manifest, namespace=namespace, check=False)
    assert proc.returncode != 0, f"accepted a HashRing that breaks '{message}':\n{proc.stdout}"
    assert message in proc.stderr, proc.stderr
    assert f'The HashRing "{manifest["metadata"]["name"]}" is invalid' in proc.stderr, proc.stderr
    for other in also:
        assert other in proc.stderr, proc.stderr
    if not also:
        # The CEL rule is the only error: no schema error travels with it.
        assert "should be" not in proc.stderr and "Unsupported value" not in proc.stderr, proc.stderr
    got = kubectl.run("get", "hr", "-n", namespace, manifest["metadata"]["name"], check=False)
    assert got.returncode != 0 and "NotFound" in got.stderr, got


@pytest.mark.parametrize("manifest", CEL_EDGES_ACCEPTED)
def test_cel_rule_edge_is_accepted(crd, kubectl, namespace, manifest):
    name = manifest["metadata"]["name"]
    assert f"hashring.ringlb.dev/{name} created" in kubectl.apply(manifest, namespace=namespace).stdout


def test_valid_hashring_is_accepted_and_defaulted(crd, kubectl, namespace):
    out = kubectl.apply(BASE, namespace=namespace).stdout
    assert "hashring.ringlb.dev/apod created" in out
    obj = kubectl.json("hr", "apod", "-n", namespace)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["template"] == {"image": "ringlb/ringlb-apod:0.1.0", "args": ["--port", "$(PORT)"], "port": 8080}
    assert spec["hashing"] == {"algorithm": "ring", "key": {"source": "path"}, "virtualNodes": 160,
                               "tableSize": 65537, "capacity": 1024, "loadFactor": 0}
    assert spec["healthCheck"] == {"path": "/healthz", "intervalSeconds": 1, "timeoutSeconds": 1,
                                   "failureThreshold": 3, "successThreshold": 1}
    assert spec["drainSeconds"] == 5
    assert spec["protocol"] == "http1"
    assert obj["metadata"]["generation"] == 1
    assert "status" not in obj


def test_unknown_fields_are_refused_by_strict_validation_and_pruned_otherwise(crd, kubectl, namespace):
    manifest = hashring(bogus=1, template={"image": "x", "sidecar": True})
    proc = kubectl.apply(manifest, namespace=namespace, check=False)
    assert proc.returncode != 0
    assert 'unknown field "spec.bogus"' in proc.stderr and 'unknown field "spec.template.sidecar"' in proc.stderr, proc.stderr
    kubectl.apply(manifest, "--validate=false", namespace=namespace)
    spec = kubectl.json("hr", "apod", "-n", namespace)["spec"]
    assert "bogus" not in spec and "sidecar" not in spec["template"], spec


def test_scale_subresource_and_printer_columns(crd, cluster, kubectl, namespace):
    kubectl.apply(hashring(replicas=3), namespace=namespace)
    assert "hashring.ringlb.dev/apod scaled" in kubectl("scale", "-n", namespace, "hr/apod", "--replicas=5")
    obj = kubectl.json("hr", "apod", "-n", namespace)
    assert obj["spec"]["replicas"] == 5
    assert obj["metadata"]["generation"] == 2
    scale = cluster.ok("GET", f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings/apod/scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5

    # Above the schema's maximum, through the scale subresource too.
    proc = kubectl.run("scale", "-n", namespace, "hr/apod", "--replicas=1001", check=False)
    assert proc.returncode != 0 and "1000" in proc.stderr, proc.stderr

    # What the operator would write, through /status; the main resource ignores status.
    path = f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings/apod/status"
    cluster.ok("PATCH", path, {"status": {"replicas": 5, "readyReplicas": 4, "ringVersion": 7,
                                          "selector": "app.kubernetes.io/instance=apod"}},
               content_type="application/merge-patch+json")
    scale = cluster.ok("GET", f"/apis/ringlb.dev/v1alpha1/namespaces/{namespace}/hashrings/apod/scale")
    assert scale["status"] == {"replicas": 5, "selector": "app.kubernetes.io/instance=apod"}
    assert kubectl.json("hr", "apod", "-n", namespace)["metadata"]["generation"] == 2

    lines = kubectl("get", "hr", "-n", namespace).splitlines()
    assert lines[0].split() == ["NAME", "REPLICAS", "READY", "RING", "VERSION", "AGE"]
    row = lines[1].split()
    assert row[:4] == ["apod", "5", "4", "7"], lines
    assert re.fullmatch(r"\d+[sm]", row[4]), lines
    wide = kubectl("get", "hr", "-n", namespace, "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "REPLICAS", "READY", "RING", "VERSION", "ALGORITHM", "KEY", "AGE"]
    assert wide[1].split()[4:6] == ["ring", "path"], wide


def test_same_name_in_two_namespaces_coexists(crd, cluster, kubectl):
    a = cluster.namespace("ringlb-team-a")
    b = cluster.namespace("ringlb-team-b")
    try:
        kubectl.apply(hashring(replicas=2), namespace=a)
        kubectl.apply(hashring(replicas=4, hashing={"algorithm": "maglev"}), namespace=b)
        kubectl("scale", "-n", a, "hr/apod", "--replicas=3")
        ra = kubectl.json("hr", "apod", "-n", a)
        rb = kubectl.json("hr", "apod", "-n", b)
        assert (ra["spec"]["replicas"], ra["spec"]["hashing"]["algorithm"]) == (3, "ring")
        assert (rb["spec"]["replicas"], rb["spec"]["hashing"]["algorithm"]) == (4, "maglev")
        assert ra["metadata"]["uid"] != rb["metadata"]["uid"]
        rows = [line.split()[:3] for line in kubectl("get", "hr", "-A", "--no-headers").splitlines()]
        assert [a, "apod", "3"] in rows and [b, "apod", "4"] in rows, rows
        kubectl("delete", "-n", a, "hr/apod", "--wait=true")
        assert kubectl.json("hr", "apod", "-n", b)["metadata"]["uid"] == rb["metadata"]["uid"]
    finally:
        for ns in (a, b):
            cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
