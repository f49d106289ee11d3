#!/usr/bin/env python3
"""Protocol tests of the fake API server itself (no kubectl): the list/watch, conflict, apply,
subresource, Pod, Lease and Event semantics the C++ Kubernetes client will be tested against."""

import http.client
import json
import os
import select
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_support as ks  # noqa: E402

NS = "/apis/ringlb.dev/v1alpha1/namespaces/default/hashrings"
PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


def ring(name, replicas=3, **spec):
    body = {"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": name},
            "spec": {"replicas": replicas, "template": {"image": "ringlb/ringlb-apod:0.1.0"}}}
    body["spec"].update(spec)
    return body


class WatchStream:
    """A raw watch: reads the chunked body event by event."""

    def __init__(self, server, path):
        self.conn = server.connection(timeout=10)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        self.buffer = b""

    def next(self):
        while b"\n" not in self.buffer:
            chunk = self.resp.read1(65536) if hasattr(self.resp, "read1") else self.resp.read(1)
            if not chunk:
                return None  # clean end of stream
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.conn.close()


class FakeApiServerTest(unittest.TestCase):
    def setUp(self):
        ks.require_yaml(self)
        self.server = ks.FakeApiServer()
        self.addCleanup(self.server.stop)
        crd = ks.load_crd()
        self.server.ok("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)

    def create(self, obj, path=NS):
        return self.server.ok("POST", path, obj)

    def watch(self, path):
        stream = WatchStream(self.server, path)
        self.addCleanup(stream.close)
        self.assertEqual(stream.resp.status, 200)
        self.assertEqual(stream.resp.getheader("Transfer-Encoding"), "chunked")
        return stream

    # -- list ------------------------------------------------------------------------------------
    def test_list_pages_with_limit_and_continue(self):
        for i in range(5):
            self.create(ring(f"r{i}"))
        page = self.server.ok("GET", NS + "?limit=2")
        self.assertEqual(page["kind"], "HashRingList")
        self.assertEqual([i["metadata"]["name"] for i in page["items"]], ["r0", "r1"])
        self.assertEqual(page["metadata"]["remainingItemCount"], 3)
        rv = page["metadata"]["resourceVersion"]
        names = [i["metadata"]["name"] for i in page["items"]]
        while page["metadata"].get("continue"):
            page = self.server.ok("GET", NS + "?limit=2&continue=" + page["metadata"]["continue"])
            self.assertEqual(page["metadata"]["resourceVersion"], rv)
            names += [i["metadata"]["name"] for i in page["items"]]
        self.assertEqual(names, [f"r{i}" for i in range(5)])
        token = self.server.ok("GET", NS + "?limit=2")["metadata"]["continue"]
        self.server.ok("POST", "/_fake/compact", {})
        status, _, body = self.server.request("GET", NS + "?limit=2&continue=" + token)
        self.assertEqual((status, body["reason"], body["code"]), (410, "Expired", 410))

    def test_label_and_field_selectors(self):
        a = ring("a")
        a["metadata"]["labels"] = {"tier": "web"}
        self.create(a)
        self.create(ring("b"))
        names = lambda q: [i["metadata"]["name"] for i in self.server.ok("GET", NS + "?" + q)["items"]]
        self.assertEqual(names("labelSelector=tier%3Dweb"), ["a"])
        self.assertEqual(names("labelSelector=tier%20notin%20(web)"), ["b"])
        self.assertEqual(names("labelSelector=!tier"), ["b"])
        self.assertEqual(names("fieldSelector=metadata.name%3Db"), ["b"])

    # -- writes, generation, conflicts -------------------------------------------------------------
    def test_generation_moves_only_on_spec_changes(self):
        created = self.create(ring("g"))
        self.assertEqual(created["metadata"]["generation"], 1)
        self.assertNotIn("status", created)
        rv0 = int(created["metadata"]["resourceVersion"])
        labelled = self.server.ok("PATCH", NS + "/g", {"metadata": {"labels": {"x": "y"}}}, MERGE)
        self.assertEqual(labelled["metadata"]["generation"], 1)
        self.assertGreater(int(labelled["metadata"]["resourceVersion"]), rv0)
        status = self.server.ok("PATCH", NS + "/g/status", {"status": {"readyReplicas": 2}, "spec": {"replicas": 9}}, MERGE)
        self.assertEqual(status["metadata"]["generation"], 1)
        self.assertEqual(status["spec"]["replicas"], 3, "a status write ignores spec")
        spec = self.server.ok("PATCH", NS + "/g", {"spec": {"replicas": 4}, "status": {"readyReplicas": 0}}, MERGE)
        self.assertEqual(spec["metadata"]["generation"], 2)
        self.assertEqual(spec["status"]["readyReplicas"], 2, "a main-resource write ignores status")
        same = self.server.ok("PATCH", NS + "/g", {"spec": {"replicas": 4}}, MERGE)
        self.assertEqual(same["metadata"]["resourceVersion"], spec["metadata"]["resourceVersion"], "a no-op write changes nothing")

    def test_update_with_stale_resource_version_is_409(self):
        created = self.create(ring("c"))
        fresh = dict(created, spec=dict(created["spec"], replicas=5))
        updated = self.server.ok("PUT", NS + "/c", fresh)
        self.assertEqual(updated["metadata"]["generation"], 2)
        stale = dict(created, spec=dict(created["spec"], replicas=6))
        status, _, body = self.server.request("PUT", NS + "/c", stale)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        self.assertIn("the object has been modified", body["message"])
        no_rv = json.loads(json.dumps(created))
        del no_rv["metadata"]["resourceVersion"]
        status, _, body = self.server.request("PUT", NS + "/c", no_rv)
        self.assertEqual(status, 422, "custom resources need a resourceVersion on update")
        status, _, body = self.server.request("POST", NS, ring("c"))
        self.assertEqual((status, body["reason"]), (409, "AlreadyExists"))

    def test_schema_validation_and_defaults(self):
        status, _, body = self.server.request("POST", NS, ring("bad", replicas=-1, hashing={"algorithm": "x"}))
        self.assertEqual(status, 422)
        fields = {c["field"] for c in body["details"]["causes"]}
        self.assertEqual(fields, {"spec.replicas", "spec.hashing.algorithm"})
        status, _, body = self.server.request("POST", NS + "?fieldValidation=Strict", ring("bad", extra=1))
        self.assertEqual(status, 400)
        self.assertIn('unknown field "spec.extra"', body["message"])
        status, headers, body = self.server.request("POST", NS, ring("warned", extra=1))
        self.assertEqual(status, 201)
        self.assertIn('unknown field \\"spec.extra\\"'.replace("\\", ""), headers.get("Warning", "").replace("'", '"'))
        self.assertNotIn("extra", body["spec"])
        self.assertEqual(body["spec"]["hashing"], {"algorithm": "ring", "key": {"source": "path"}, "virtualNodes": 160,
                                                   "tableSize": 65537, "capacity": 1024, "loadFactor": 0})
        status, _, _ = self.server.request("POST", "/apis/ringlb.dev/v1alpha1/namespaces/nope/hashrings", ring("x"))
        self.assertEqual(status, 404, "the namespace must exist")

    def test_json_patch_and_injected_conflicts(self):
        self.create(ring("j"))
        patched = self.server.ok("PATCH", NS + "/j", [{"op": "replace", "path": "/spec/replicas", "value": 7},
                                                       {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
                                 "application/json-patch+json")
        self.assertEqual((patched["spec"]["replicas"], patched["metadata"]["labels"]), (7, {"a": "b"}))
        status, _, _ = self.server.request("PATCH", NS + "/j", [{"op": "test", "path": "/spec/replicas", "value": 1}],
                                           "application/json-patch+json")
        self.assertEqual(status, 422)
        self.server.ok("POST", "/_fake/inject", {"code": 409, "method": "PATCH", "path": "/hashrings/j/status$", "times": 2})
        for _ in range(2):
            status, _, body = self.server.request("PATCH", NS + "/j/status", {"status": {"ringVersion": 1}}, MERGE)
            self.assertEqual((status, body["reason"]), (409, "Conflict"))
        self.server.ok("PATCH", NS + "/j/status", {"status": {"ringVersion": 1}}, MERGE)

    # -- server-side apply -------------------------------------------------------------------------
    def test_server_side_apply(self):
        status, _, body = self.server.request("PATCH", NS + "/s", ring("s"), APPLY)
        self.assertEqual(status, 400, "fieldManager is required")
        status, _, body = self.server.request("PATCH", NS + "/s?fieldManager=ringlb-operator&force=true",
                                              ring("s", drainSeconds=9), APPLY)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["spec"]["drainSeconds"], 9)
        entry = [m for m in body["metadata"]["managedFields"] if m["manager"] == "ringlb-operator"][0]
        self.assertEqual(entry["operation"], "Apply")
        self.assertIn("f:drainSeconds", entry["fieldsV1"]["f:spec"])
        # Dropping a field from the applied configuration removes it (its default comes back).
        body = self.server.ok("PATCH", NS + "/s?fieldManager=ringlb-operator", ring("s"), APPLY)
        self.assertEqual(body["spec"]["drainSeconds"], 5)
        # Another manager changes replicas; applying a different value conflicts unless forced.
        self.server.ok("PATCH", NS + "/s?fieldManager=kubectl-scale", {"spec": {"replicas": 8}}, MERGE)
        status, _, body = self.server.request("PATCH", NS + "/s?fieldManager=ringlb-operator", ring("s", replicas=3), APPLY)
        self.assertEqual(status, 409)
        self.assertIn('conflict with "kubectl-scale"', body["message"])
        self.assertIn(".spec.replicas", body["message"])
        body = self.server.ok("PATCH", NS + "/s?fieldManager=ringlb-operator&force=true", ring("s", replicas=3), APPLY)
        self.assertEqual(body["spec"]["replicas"], 3)
        # Status through /status with apply; a second identical apply is a no-op.
        status_cfg = {"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "metadata": {"name": "s"},
                      "status": {"observedGeneration": 1, "conditions": [
                          {"type": "Ready", "status": "True", "reason": "AllReplicasReady", "message": "3/3",
                           "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}}
        first = self.server.ok("PATCH", NS + "/s/status?fieldManager=ringlb-operator&force=true", status_cfg, APPLY)
        self.assertEqual(first["status"]["conditions"][0]["reason"], "AllReplicasReady")
        again = self.server.ok("PATCH", NS + "/s/status?fieldManager=ringlb-operator&force=true", status_cfg, APPLY)
        self.assertEqual(again["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"])
        sub = [m for m in again["metadata"]["managedFields"] if m.get("subresource") == "status"]
        self.assertEqual(len(sub), 1)

    # -- subresources ------------------------------------------------------------------------------
    def test_scale_subresource(self):
        self.create(ring("sc"))
        self.server.ok("PATCH", NS + "/sc/status", {"status": {"replicas": 3, "selector": "ring=sc"}}, MERGE)
        scale = self.server.ok("GET", NS + "/sc/scale")
        self.assertEqual((scale["apiVersion"], scale["kind"]), ("autoscaling/v1", "Scale"))
        self.assertEqual(scale["spec"], {"replicas": 3})
        self.assertEqual(scale["status"], {"replicas": 3, "selector": "ring=sc"})
        scale["spec"]["replicas"] = 6
        updated = self.server.ok("PUT", NS + "/sc/scale", scale)
        self.assertEqual(updated["spec"]["replicas"], 6)
        status, _, _ = self.server.request("PUT", NS + "/sc/scale", scale)
        self.assertEqual(status, 409, "stale resourceVersion in a Scale")
        obj = self.server.ok("GET", NS + "/sc")
        self.assertEqual((obj["spec"]["replicas"], obj["metadata"]["generation"]), (6, 2))

    # -- watch -------------------------------------------------------------------------------------
    def test_watch_events_bookmarks_and_timeout(self):
        rv = self.server.ok("GET", NS)["metadata"]["resourceVersion"]
        stream = self.watch(f"{NS}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=5")
        self.create(ring("w"))
        self.server.ok("PATCH", NS + "/w", {"spec": {"replicas": 2}}, MERGE)
        self.server.ok("DELETE", NS + "/w")
        seen = []
        while len([e for e in seen if e["type"] != "BOOKMARK"]) < 3:
            event = stream.next()
            self.assertIsNotNone(event, "stream ended early")
            seen.append(event)
        types = [e["type"] for e in seen if e["type"] != "BOOKMARK"]
        self.assertEqual(types, ["ADDED", "MODIFIED", "DELETED"])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen if e["type"] != "BOOKMARK"]
        self.assertEqual(rvs, sorted(rvs))
        self.server.ok("POST", "/_fake/bookmark", {})
        event = stream.next()
        self.assertEqual(event["type"], "BOOKMARK")
        self.assertEqual(event["object"]["kind"], "HashRing")
        self.assertGreaterEqual(int(event["object"]["metadata"]["resourceVersion"]), rvs[-1])
        started = time.monotonic()
        while stream.next() is not None:
            pass
        self.assertLess(time.monotonic() - started, 8, "timeoutSeconds ends the stream")

    def test_watch_without_resource_version_sends_current_state(self):
        self.create(ring("one"))
        stream = self.watch(f"{NS}?watch=true&timeoutSeconds=2")
        event = stream.next()
        self.assertEqual((event["type"], event["object"]["metadata"]["name"]), ("ADDED", "one"))

    def test_watch_objects_split_across_chunks(self):
        self.server.ok("POST", "/_fake/config", {"watchChunkBytes": 7})
        rv = self.server.ok("GET", NS)["metadata"]["resourceVersion"]
        stream = self.watch(f"{NS}?watch=1&resourceVersion={rv}&timeoutSeconds=5")
        self.create(ring("split"))
        event = stream.next()
        self.assertEqual(event["object"]["metadata"]["name"], "split")

    def test_410_in_stream_and_as_http_status(self):
        rv = self.server.ok("GET", NS)["metadata"]["resourceVersion"]
        live = self.watch(f"{NS}?watch=1&resourceVersion={rv}&timeoutSeconds=10")
        compacted = self.server.ok("POST", "/_fake/compact", {})["compactedResourceVersion"]
        self.assertGreater(compacted, int(rv))
        event = live.next()
        self.assertEqual(event["type"], "ERROR")
        self.assertEqual((event["object"]["code"], event["object"]["reason"]), (410, "Expired"))
        self.assertIsNone(live.next(), "the stream ends after the ERROR")
        again = self.watch(f"{NS}?watch=1&resourceVersion={rv}&timeoutSeconds=10")
        self.assertEqual(again.next()["object"]["code"], 410)
        self.server.ok("POST", "/_fake/gone-mode", {"mode": "http"})
        status, _, body = self.server.request("GET", f"{NS}?watch=1&resourceVersion={rv}")
        self.assertEqual((status, body["code"], body["reason"]), (410, 410, "Expired"))
        # After a relist the new resourceVersion watches fine.
        fresh = self.server.ok("GET", NS)["metadata"]["resourceVersion"]
        ok = self.watch(f"{NS}?watch=1&resourceVersion={fresh}&timeoutSeconds=3")
        self.create(ring("after"))
        self.assertEqual(ok.next()["type"], "ADDED")

    def test_closed_and_stalled_watches(self):
        rv = self.server.ok("GET", NS)["metadata"]["resourceVersion"]
        stream = self.watch(f"{NS}?watch=1&resourceVersion={rv}&timeoutSeconds=30")
        self.server.ok("POST", "/_fake/watches/close", {})
        self.assertIsNone(stream.next(), "a closed watch ends cleanly")
        stream = self.watch(f"{NS}?watch=1&resourceVersion={rv}&timeoutSeconds=30")
        self.server.ok("POST", "/_fake/watches/stall", {"stalled": True})
        self.create(ring("quiet"))
        readable, _, _ = select.select([stream.conn.sock], [], [], 1.0)
        self.assertEqual(readable, [], "a stalled watch sends nothing")
        self.server.ok("POST", "/_fake/watches/stall", {"stalled": False})
        self.assertEqual(stream.next()["object"]["metadata"]["name"], "quiet")

    # -- Pods, garbage collection, readiness ----------------------------------------------------------
    def test_pods_owned_by_a_ring_are_collected(self):
        owner = self.create(ring("apod"))
        ref = {"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "name": "apod", "uid": owner["metadata"]["uid"],
               "controller": True, "blockOwnerDeletion": True}
        for i in range(2):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"apod-{i}", "labels": {"ring": "apod"}, "ownerReferences": [ref]},
                   "spec": {"containers": [{"name": "apod", "image": "ringlb/ringlb-apod:0.1.0"}]}}
            created = self.create(pod, PODS)
            self.assertEqual(created["status"]["phase"], "Pending")
            self.assertEqual(created["metadata"]["ownerReferences"], [ref])
        listed = self.server.ok("GET", PODS + "?labelSelector=ring%3Dapod")
        self.assertEqual(len(listed["items"]), 2)
        self.server.ok("DELETE", NS + "/apod")
        self.assertEqual(self.server.ok("GET", PODS)["items"], [], "garbage collection deletes owned Pods")

    def test_pod_spec_is_immutable_except_images(self):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "im"},
               "spec": {"containers": [{"name": "c", "image": "a:1", "env": [{"name": "X", "value": "1"}]}]}}
        self.create(pod, PODS)
        patched = self.server.ok("PATCH", PODS + "/im", {"spec": {"containers": [{"name": "c", "image": "a:2"}]}},
                                 "application/strategic-merge-patch+json")
        self.assertEqual(patched["spec"]["containers"][0], {"name": "c", "image": "a:2", "env": [{"name": "X", "value": "1"}]})
        status, _, body = self.server.request("PATCH", PODS + "/im", {"spec": {"containers": [{"name": "c", "env": [{"name": "X", "value": "2"}]}]}},
                                              "application/strategic-merge-patch+json")
        self.assertEqual(status, 422)
        self.assertIn("pod updates may not change fields", body["message"])

    def test_finalizers_hold_deletion(self):
        obj = ring("fin")
        obj["metadata"]["finalizers"] = ["ringlb.dev/cleanup"]
        self.create(obj)
        deleting = self.server.ok("DELETE", NS + "/fin")
        self.assertIn("deletionTimestamp", deleting["metadata"])
        status, _, _ = self.server.request("PATCH", NS + "/fin", {"metadata": {"finalizers": ["ringlb.dev/cleanup", "other"]}}, MERGE)
        self.assertEqual(status, 422, "no new finalizers while deleting")
        self.server.ok("PATCH", NS + "/fin", {"metadata": {"finalizers": None}}, MERGE)
        status, _, _ = self.server.request("GET", NS + "/fin")
        self.assertEqual(status, 404)

    # -- Leases and Events -------------------------------------------------------------------------
    def test_lease_updates_conflict_on_stale_resource_version(self):
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "ringlb-operator"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": "2026-01-01T00:00:00.000000Z",
                          "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 0}}
        created = self.create(lease, LEASES)
        renewed = json.loads(json.dumps(created))
        renewed["spec"]["renewTime"] = "2026-01-01T00:00:02.000000Z"
        renewed = self.server.ok("PUT", LEASES + "/ringlb-operator", renewed)
        takeover = json.loads(json.dumps(created))
        takeover["spec"]["holderIdentity"] = "b"
        status, _, body = self.server.request("PUT", LEASES + "/ringlb-operator", takeover)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        self.assertEqual(self.server.ok("GET", LEASES + "/ringlb-operator")["spec"]["holderIdentity"], "a")

    def test_events_are_validated(self):
        event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "apod.1"},
                 "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "ringlb.dev/operator",
                 "reportingInstance": "ringlb-operator-0", "action": "Scale", "reason": "ScaledUp", "type": "Normal",
                 "note": "scaled to 5", "regarding": {"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing", "name": "apod", "namespace": "default"}}
        self.create(event, EVENTS)
        bad = dict(event, metadata={"name": "apod.2"}, type="Info")
        del bad["reportingController"]
        status, _, body = self.server.request("POST", EVENTS, bad)
        self.assertEqual(status, 422)
        self.assertEqual({c["field"] for c in body["details"]["causes"]}, {"reportingController", "type"})

    # -- hooks -------------------------------------------------------------------------------------
    def test_write_counter(self):
        seq = self.server.ok("GET", "/_fake/requests")["lastSeq"]
        self.create(ring("count"))
        self.server.ok("PATCH", NS + "/count/status", {"status": {"ringVersion": 1}}, MERGE)
        self.server.ok("GET", NS + "/count")
        log = self.server.ok("GET", f"/_fake/requests?since={seq}")
        self.assertEqual(log["writes"], 2)
        self.assertEqual([r["method"] for r in log["requests"] if r["write"]], ["POST", "PATCH"])


class FakeApiServerAuthTest(unittest.TestCase):
    def test_bearer_token_is_reread_from_its_file(self):
        directory = tempfile.mkdtemp(prefix="ringlb-token-")
        self.addCleanup(lambda: __import__("shutil").rmtree(directory, ignore_errors=True))
        token_file = os.path.join(directory, "token")
        with open(token_file, "w") as f:
            f.write("first\n")
        server = ks.FakeApiServer(token_file=token_file)
        self.addCleanup(server.stop)
        status, _, _ = server.request("GET", "/api/v1/namespaces")
        self.assertEqual(status, 401)
        server.token = "first"
        self.assertEqual(server.request("GET", "/api/v1/namespaces")[0], 200)
        with open(token_file, "w") as f:
            f.write("second\n")
        self.assertEqual(server.request("GET", "/api/v1/namespaces")[0], 401, "a rotated token invalidates the old one")
        server.token = "second"
        self.assertEqual(server.request("GET", "/api/v1/namespaces")[0], 200)


if __name__ == "__main__":
    unittest.main()
