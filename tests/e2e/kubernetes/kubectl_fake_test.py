#!/usr/bin/env python3
"""The real kubectl v1.35 against the fake API server: the evidence that the fake is faithful
enough for kubectl (apply, get with printer columns, scale, get -w, delete) and that the CRD works."""

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_support as ks  # noqa: E402

HASHRING = """apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata:
  name: apod
spec:
  replicas: {replicas}
  template:
    image: ringlb/ringlb-apod:0.1.0
    args: ["--port", "$(PORT)"]
  hashing:
    algorithm: {algorithm}
    key: {{source: path}}
    loadFactor: 1.25
"""
RING_PATH = "/apis/ringlb.dev/v1alpha1/namespaces/default/hashrings/apod"


class KubectlAgainstFakeTest(unittest.TestCase):
    tls = False

    def setUp(self):
        self.kubectl = ks.tools(self)["kubectl"]
        ks.require_yaml(self)
        self.server = ks.FakeApiServer(tls=self.tls)
        self.addCleanup(self.server.stop)
        self.home = tempfile.mkdtemp(prefix="ringlb-kubectl-home-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.home]))
        self.env = dict(os.environ, KUBECONFIG=self.server.kubeconfig, HOME=self.home)
        out = self.k("apply", "-f", ks.CRD_FILE)
        self.assertIn("customresourcedefinition.apiextensions.k8s.io/hashrings.ringlb.dev created", out)

    def k(self, *args, check=True):
        proc = subprocess.run([self.kubectl, "--cache-dir", os.path.join(self.home, "cache"), *args],
                              capture_output=True, text=True, timeout=60, env=self.env)
        if check and proc.returncode != 0:
            self.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\nserver log:\n{self.server.log()}")
        return proc.stdout if check else proc

    def write(self, replicas=3, algorithm="ring", extra=""):
        path = os.path.join(self.home, f"hr-{replicas}-{algorithm}.yaml")
        with open(path, "w") as f:
            f.write(HASHRING.format(replicas=replicas, algorithm=algorithm) + extra)
        return path

    def ring(self):
        return self.server.ok("GET", RING_PATH)

    def set_status(self, ready, version):
        self.server.ok("PATCH", RING_PATH + "/status", {"status": {"replicas": ready, "readyReplicas": ready, "ringVersion": version,
                                                                   "selector": "app.kubernetes.io/instance=apod"}},
                       content_type="application/merge-patch+json")

    def test_crd_is_established_and_discoverable(self):
        crd = json.loads(self.k("get", "crd", "hashrings.ringlb.dev", "-o", "json"))
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        self.assertEqual(conditions["Established"], "True")
        resources = self.k("api-resources", "--api-group=ringlb.dev", "--no-headers")
        fields = resources.split()
        self.assertEqual(fields[:5], ["hashrings", "hr", "ringlb.dev/v1alpha1", "true", "HashRing"])

    def test_apply_get_shows_printer_columns(self):
        self.assertIn("hashring.ringlb.dev/apod created", self.k("apply", "-f", self.write()))
        lines = self.k("get", "hr").splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "REPLICAS", "READY", "RING", "VERSION", "AGE"])
        self.assertEqual(lines[1].split()[:2], ["apod", "3"])
        self.set_status(3, 17)
        row = self.k("get", "hashrings", "apod", "--no-headers").split()
        self.assertEqual(row[:4], ["apod", "3", "3", "17"])
        self.assertRegex(row[4], r"^\d+s$")
        wide = self.k("get", "hr", "-o", "wide").splitlines()
        self.assertEqual(wide[0].split(), ["NAME", "REPLICAS", "READY", "RING", "VERSION", "ALGORITHM", "KEY", "AGE"])
        self.assertEqual(wide[1].split()[4:6], ["ring", "path"])
        # The category and the defaults the schema applied.
        self.assertIn("apod", self.k("get", "ringlb"))
        obj = json.loads(self.k("get", "hr", "apod", "-o", "json"))
        self.assertEqual(obj["spec"]["hashing"]["virtualNodes"], 160)
        self.assertEqual(obj["spec"]["healthCheck"]["path"], "/healthz")
        self.assertEqual(obj["spec"]["template"]["port"], 8080)
        self.assertEqual(obj["metadata"]["generation"], 1)

    def test_scale_changes_replicas_and_generation(self):
        self.k("apply", "-f", self.write())
        self.set_status(3, 4)
        before = self.ring()
        self.assertIn("hashring.ringlb.dev/apod scaled", self.k("scale", "hr/apod", "--replicas=5"))
        after = self.ring()
        self.assertEqual(after["spec"]["replicas"], 5)
        self.assertEqual(after["metadata"]["generation"], before["metadata"]["generation"] + 1)
        self.assertEqual(after["status"], before["status"], "scaling must not touch status")
        scale = json.loads(self.k("get", "hr", "apod", "--subresource=scale", "-o", "json"))
        self.assertEqual(scale["apiVersion"], "autoscaling/v1")
        self.assertEqual(scale["kind"], "Scale")
        self.assertEqual(scale["spec"]["replicas"], 5)
        self.assertEqual(scale["status"], {"replicas": 3, "selector": "app.kubernetes.io/instance=apod"})
        # Preconditions: a stale --resource-version is refused.
        proc = self.k("scale", "hr/apod", "--replicas=2", "--resource-version=1", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("resource version", proc.stderr)
        proc = self.k("scale", "hr/apod", "--replicas=2000", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("spec.replicas", proc.stderr)
        self.assertEqual(self.ring()["spec"]["replicas"], 5)

    def test_get_watch_streams_changes(self):
        self.k("apply", "-f", self.write())
        proc = subprocess.Popen([self.kubectl, "--cache-dir", os.path.join(self.home, "cache"), "get", "hr", "-w", "--no-headers"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        self.addCleanup(lambda: (proc.poll() is None and proc.kill(), proc.wait(), proc.stdout.close(), proc.stderr.close()))

        def next_line(timeout=15):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if ready:
                    line = proc.stdout.readline()
                    if line:
                        return line.split()
                if proc.poll() is not None:
                    self.fail(f"kubectl get -w exited: {proc.stderr.read()}")
            self.fail("kubectl get -w printed nothing in time")

        self.assertEqual(next_line()[:2], ["apod", "3"])
        self.set_status(3, 9)
        self.assertEqual(next_line()[:4], ["apod", "3", "3", "9"])
        self.k("scale", "hr/apod", "--replicas=4")
        self.assertEqual(next_line()[:4], ["apod", "4", "3", "9"])

    def test_apply_of_edited_file_updates_and_reapply_is_a_noop(self):
        self.k("apply", "-f", self.write(3, "ring"))
        first = self.ring()
        out = self.k("apply", "-f", self.write(3, "maglev"))
        self.assertIn("hashring.ringlb.dev/apod configured", out)
        second = self.ring()
        self.assertEqual(second["spec"]["hashing"]["algorithm"], "maglev")
        self.assertEqual(second["metadata"]["generation"], first["metadata"]["generation"] + 1)
        self.assertEqual(second["metadata"]["uid"], first["metadata"]["uid"])
        out = self.k("apply", "-f", self.write(3, "maglev"))
        self.assertIn("hashring.ringlb.dev/apod unchanged", out)
        self.assertEqual(self.ring()["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"])
        # A status write does not move generation either.
        self.set_status(3, 2)
        self.assertEqual(self.ring()["metadata"]["generation"], second["metadata"]["generation"])

    def test_server_side_validation_rejects_bad_resources(self):
        cases = (
            (self.write(replicas=5000), "spec.replicas"),
            (self.write(algorithm="rendezvous"), 'Unsupported value: "rendezvous"'),
            (self.write(extra="  bogus: 1\n"), 'unknown field "spec.bogus"'),
        )
        for path, message in cases:
            with self.subTest(message=message):
                proc = self.k("apply", "-f", path, check=False)
                self.assertNotEqual(proc.returncode, 0)
                self.assertIn(message, proc.stderr)
        status, _, _ = self.server.request("GET", RING_PATH)
        self.assertEqual(status, 404)

    def test_server_side_apply(self):
        out = self.k("apply", "--server-side", "--field-manager=ringlb-test", "-f", self.write())
        self.assertIn("serverside-applied", out)
        obj = self.ring()
        managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
        self.assertIn(("ringlb-test", "Apply"), managers)
        self.k("scale", "hr/apod", "--replicas=7")  # another manager now owns spec.replicas
        proc = self.k("apply", "--server-side", "--field-manager=ringlb-test", "-f", self.write(replicas=3), check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("conflict", proc.stderr.lower())
        self.k("apply", "--server-side", "--force-conflicts", "--field-manager=ringlb-test", "-f", self.write(replicas=3))
        self.assertEqual(self.ring()["spec"]["replicas"], 3)

    def test_delete(self):
        self.k("apply", "-f", self.write())
        out = self.k("delete", "hr", "apod")
        self.assertIn('hashring.ringlb.dev "apod" deleted', out)
        proc = self.k("get", "hr", "apod", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('hashrings.ringlb.dev "apod" not found', proc.stderr)
        self.assertIn("No resources found", self.k("get", "hr").strip() + self.k("get", "hr", check=False).stderr)


class KubectlAgainstFakeOverTlsTest(unittest.TestCase):
    """The fake's TLS mode (a self-signed certificate from the openssl CLI), as the C++ client uses it."""

    def test_kubectl_verifies_the_certificate_and_works(self):
        kubectl = ks.tools(self)["kubectl"]
        server = ks.FakeApiServer(tls=True)
        self.addCleanup(server.stop)
        self.assertTrue(server.url.startswith("https://127.0.0.1:"))
        env = dict(os.environ, KUBECONFIG=server.kubeconfig, HOME=server.dir)
        proc = subprocess.run([kubectl, "apply", "-f", ks.CRD_FILE], capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = subprocess.run([kubectl, "get", "namespaces", "-o", "name"], capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("namespace/default", proc.stdout.split())
        # Without the CA, verification fails: the certificate is really checked.
        proc = subprocess.run([kubectl, "--server", server.url, "--certificate-authority", "/dev/null", "get", "ns"],
                              capture_output=True, text=True, timeout=60, env=dict(env, KUBECONFIG="/dev/null"))
        self.assertNotEqual(proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
