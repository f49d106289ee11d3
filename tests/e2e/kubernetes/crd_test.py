#!/usr/bin/env python3
"""Static checks of crds/hashrings.ringlb.dev.yaml against the operator checklist (no tools needed)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_support as ks  # noqa: E402
from fake_apiserver import SchemaWalker  # noqa: E402


def walk(schema, path="", root=True):
    """(path, schema) of every node of an openAPIV3Schema."""
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{name}" if path else name, False)
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], path + "[]", False)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], path + "{}", False)


class CrdTest(unittest.TestCase):
    def setUp(self):
        ks.require_yaml(self)
        self.crd = ks.load_crd()
        self.version = self.crd["spec"]["versions"][0]
        self.schema = self.version["schema"]["openAPIV3Schema"]
        self.props = {p: s for p, s in walk(self.schema)}

    def test_basics(self):
        spec = self.crd["spec"]
        self.assertEqual(self.crd["apiVersion"], "apiextensions.k8s.io/v1")
        self.assertEqual(self.crd["metadata"]["name"], "hashrings.ringlb.dev")
        self.assertEqual((spec["group"], spec["scope"]), ("ringlb.dev", "Namespaced"))
        self.assertEqual((spec["names"]["kind"], spec["names"]["plural"], spec["names"]["shortNames"]), ("HashRing", "hashrings", ["hr"]))
        # Issue 16: `all` would let `kubectl delete all` delete HashRings (and their Pods).
        self.assertEqual(spec["names"]["categories"], ["ringlb"])
        self.assertEqual([v["name"] for v in spec["versions"] if v["storage"]], ["v1alpha1"])
        self.assertTrue(all(v["served"] for v in spec["versions"]))

    # core/v1 structures passed to the replica Pods as written (the API server validates them when it
    # admits each Pod); nowhere else.
    PASSED_THROUGH = {"spec.template.affinity.nodeAffinity", "spec.template.affinity.podAffinity",
                      "spec.template.affinity.podAntiAffinity", "spec.template.topologySpreadConstraints[].labelSelector",
                      "spec.template.volumes[]"}

    def test_schema_is_structural(self):
        preserved = {path for path, node in self.props.items() if node.get("x-kubernetes-preserve-unknown-fields")}
        self.assertEqual(preserved, self.PASSED_THROUGH)
        for path, node in self.props.items():
            with self.subTest(path=path or "<root>"):
                if node.get("x-kubernetes-int-or-string"):
                    self.assertEqual(node["anyOf"], [{"type": "integer"}, {"type": "string"}])
                else:
                    self.assertIn(node.get("type"), ("object", "array", "string", "integer", "number", "boolean"))
                if node.get("type") == "array":
                    self.assertIn("items", node)
                    self.assertIn("maxItems", node, "CEL cost estimation needs bounded lists")
                for rule in node.get("x-kubernetes-validations", []):
                    self.assertTrue(rule.get("message"), f"rule {rule['rule']} has no message")

    def test_spec_fields(self):
        replicas = self.props["spec.replicas"]
        self.assertEqual((replicas["type"], replicas["minimum"], replicas["maximum"], replicas["default"]), ("integer", 0, 1000, 1))
        self.assertEqual(self.props["spec.hashing.algorithm"]["enum"], ["ring", "maglev", "anchor"])
        capacity = self.props["spec.hashing.capacity"]
        self.assertEqual((capacity["minimum"], capacity["maximum"], capacity["default"]), (1, 1048576, 1024))
        weights = self.props["spec.weights"]
        self.assertEqual((weights["type"], weights["maxItems"]), ("array", 1000))
        self.assertEqual((self.props["spec.weights[]"]["minimum"], self.props["spec.weights[]"]["maximum"]), (1, 1000))
        self.assertEqual(self.props["spec.template.securityContext.runAsUser"]["minimum"], 1, "never root")
        self.assertEqual(self.props["spec.template.tolerations[].operator"]["enum"], ["Exists", "Equal"])
        self.assertEqual(self.props["spec.hashing.key.source"]["enum"], ["path", "pathAndQuery", "header", "cookie", "query", "sourceIP"])
        for path in ("spec.template.image", "spec.template.command", "spec.template.args", "spec.template.port",
                     "spec.template.env[].name", "spec.template.env[].value", "spec.template.resources.memory",
                     "spec.template.resources.cpus", "spec.hashing.virtualNodes", "spec.hashing.tableSize",
                     "spec.hashing.loadFactor", "spec.healthCheck.path", "spec.healthCheck.grpc.service",
                     "spec.healthCheck.intervalSeconds",
                     "spec.healthCheck.timeoutSeconds", "spec.healthCheck.failureThreshold",
                     "spec.healthCheck.successThreshold", "spec.drainSeconds", "spec.template.resources.requests",
                     "spec.template.resources.limits", "spec.template.securityContext.runAsUser",
                     "spec.template.securityContext.runAsGroup", "spec.template.securityContext.fsGroup",
                     "spec.template.nodeSelector", "spec.template.tolerations[].operator", "spec.template.affinity",
                     "spec.template.topologySpreadConstraints[].maxSkew", "spec.template.imagePullSecrets[].name",
                     "spec.template.serviceAccountName", "spec.template.volumes[].name",
                     "spec.template.volumeMounts[].mountPath"):
            self.assertIn(path, self.props)
        rules = {r["message"]: r["rule"] for r in self.props["spec.hashing.key"]["x-kubernetes-validations"]}
        self.assertTrue(any("key.name is required" in m for m in rules))
        budget = self.props["spec.podDisruptionBudget"]
        self.assertEqual(budget["x-kubernetes-validations"][0]["rule"], "!(has(self.maxUnavailable) && has(self.minAvailable))")
        self.assertEqual(self.props["spec.podDisruptionBudget.enabled"]["default"], True)
        for field in ("maxUnavailable", "minAvailable"):
            value = self.props[f"spec.podDisruptionBudget.{field}"]
            self.assertEqual((value["minimum"], value["pattern"]), (0, "^(100|[1-9]?[0-9])%$"), field)
            self.assertNotIn("default", value, "the operator's default (maxUnavailable 1) depends on replicas")
        load = self.props["spec.hashing.loadFactor"]["x-kubernetes-validations"][0]
        self.assertEqual(load["rule"], "self == 0.0 || self >= 1.0")

    def test_status_fields_and_conditions(self):
        for path, kind in (("status.observedGeneration", "integer"), ("status.replicas", "integer"),
                           ("status.readyReplicas", "integer"), ("status.selector", "string"), ("status.ringVersion", "integer"),
                           ("status.members[].id", "string"), ("status.members[].address", "string"),
                           ("status.members[].state", "string"), ("status.members[].restarts", "integer"),
                           ("status.members[].lastFailure", "string"), ("status.members[].rampPermille", "integer")):
            self.assertEqual(self.props[path]["type"], kind, path)
        self.assertEqual((self.props["status.members[].rampPermille"]["minimum"],
                          self.props["status.members[].rampPermille"]["maximum"]), (0, 1000))
        conditions = self.props["status.conditions"]
        self.assertEqual((conditions["x-kubernetes-list-type"], conditions["x-kubernetes-list-map-keys"]), ("map", ["type"]))
        item = conditions["items"]
        self.assertEqual(set(item["required"]), {"type", "status", "reason", "message", "lastTransitionTime"})
        self.assertEqual(item["properties"]["status"]["enum"], ["True", "False", "Unknown"])
        self.assertEqual(item["properties"]["reason"]["minLength"], 1)
        self.assertEqual(item["properties"]["lastTransitionTime"]["format"], "date-time")
        self.assertIn("observedGeneration", item["properties"])

    def test_subresources_and_printer_columns(self):
        self.assertEqual(self.version["subresources"]["status"], {})
        self.assertEqual(self.version["subresources"]["scale"], {"specReplicasPath": ".spec.replicas",
                                                                 "statusReplicasPath": ".status.replicas",
                                                                 "labelSelectorPath": ".status.selector"})
        columns = {c["name"]: c for c in self.version["additionalPrinterColumns"]}
        self.assertEqual(columns["Replicas"]["jsonPath"], ".spec.replicas")
        self.assertEqual(columns["Ready"]["jsonPath"], ".status.readyReplicas")
        self.assertEqual(columns["Ring version"]["jsonPath"], ".status.ringVersion")
        self.assertEqual((columns["Age"]["type"], columns["Age"]["jsonPath"]), ("date", ".metadata.creationTimestamp"))

    def test_defaults_fill_a_minimal_ring(self):
        walker = SchemaWalker(self.schema)
        obj = {"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": "m"},
               "spec": {"template": {"image": "x"}}}
        walker.default(obj)
        self.assertEqual(walker.validate(obj), [])
        self.assertEqual(obj["spec"]["replicas"], 1)
        self.assertEqual(obj["spec"]["hashing"]["key"], {"source": "path"})
        self.assertEqual(obj["spec"]["healthCheck"]["failureThreshold"], 3)
        self.assertEqual(obj["spec"]["drainSeconds"], 5)
        self.assertEqual(obj["spec"]["protocol"], "http1")
        obj["spec"]["protocol"] = "h2"
        self.assertEqual([c["field"] for c in walker.validate(obj)], ["spec.protocol"])
        obj["spec"]["protocol"] = "h2c"
        self.assertEqual(walker.validate(obj), [])
        obj["spec"]["replicas"] = 1001
        self.assertEqual([c["field"] for c in walker.validate(obj)], ["spec.replicas"])


if __name__ == "__main__":
    unittest.main()
