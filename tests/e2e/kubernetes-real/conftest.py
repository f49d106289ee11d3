"""Fixtures for the tests against a real control plane (tests/e2e/kube_cluster.py).

`cluster` is one control plane per pytest run (session scope), `kubectl` the pinned real kubectl
v1.35.2 with the cluster's admin kubeconfig. If the control plane or kubectl cannot be had, every
test is skipped, except with CI=true, where that is a failure. On any test failure, the last lines
of every component's log are printed when the cluster stops."""

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import kube_cluster as kc  # noqa: E402

ROOT = kc.ROOT
CRD_FILE = os.path.join(ROOT, "crds", "hashrings.ringlb.dev.yaml")


def unavailable(reason):
    if kc.in_ci():
        pytest.fail(f"{reason}\n(CI=true: the real-cluster Kubernetes tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


_failures = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        _failures.append(item.nodeid)


def say(config, line):
    """A line on pytest's terminal, not captured (the timings belong in the ctest log)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter and capture:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
    else:
        sys.stderr.write(line + "\n")


@pytest.fixture(scope="session")
def cluster(pytestconfig):
    try:
        binaries = kc.control_plane_binaries()
    except kc.Unavailable as e:
        unavailable(str(e))
    c = kc.KubeCluster(binaries).start()
    say(pytestconfig, f"\n[kube_cluster] control plane ready in {c.started_seconds:.1f}s at {c.server} ({c.dir})")
    yield c
    if _failures:
        say(pytestconfig, f"\n[kube_cluster] tests failed ({', '.join(_failures)}); component logs:\n{c.logs(60)}")
    c.stop()


class Kubectl:
    """The real kubectl against the cluster, with a private HOME (discovery cache)."""

    def __init__(self, binary, cluster):
        self.binary = binary
        self.cluster = cluster
        self.home = tempfile.mkdtemp(prefix="ringlb-kubectl-home-")
        self.env = dict(os.environ, KUBECONFIG=cluster.kubeconfig, HOME=self.home)

    def run(self, *args, check=True, input=None, timeout=90):
        proc = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def __call__(self, *args, **kwargs):
        return self.run(*args, **kwargs).stdout

    def apply(self, manifest, *args, check=True, namespace=None):
        """kubectl apply -f - with a dict (sent as JSON) or text."""
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        ns = ["-n", namespace] if namespace else []
        return self.run("apply", *ns, *args, "-f", "-", input=text, check=check)

    def json(self, *args):
        return json.loads(self("get", "-o", "json", *args))


@pytest.fixture(scope="session")
def kubectl(cluster):
    try:
        binary = kc.kubectl_binary()
    except kc.Unavailable as e:
        unavailable(str(e))
    k = Kubectl(binary, cluster)
    yield k
    subprocess.run(["rm", "-rf", k.home])


@pytest.fixture(scope="session")
def crd(kubectl, pytestconfig):
    """The HashRing CRD from crds/, applied with kubectl and Established."""
    proc = kubectl.run("apply", "-f", CRD_FILE, check=False)
    assert proc.returncode == 0, f"the API server refused {CRD_FILE}:\n{proc.stderr}"
    assert "customresourcedefinition.apiextensions.k8s.io/hashrings.ringlb.dev" in proc.stdout
    kc.wait_established(kubectl, "crd/hashrings.ringlb.dev")
    # Discovery lags Established a little; kubectl must map the kind before the tests use it.
    deadline = time.monotonic() + 30
    while "hashrings" not in kubectl("api-resources", "--api-group=ringlb.dev", "--no-headers", check=False):
        assert time.monotonic() < deadline, "ringlb.dev/hashrings never appeared in discovery"
        time.sleep(0.5)
    return CRD_FILE


@pytest.fixture(scope="session")
def node(cluster):
    """One node agent for the session (tests/e2e/node_agent.py, the kubelet's stand-in), which
    runs Pods from our release binaries; skipped (failed in CI) until they are built."""
    import node_agent  # noqa: PLC0415
    missing = [b for b in ("ringlb-operator", "ringlb-proxy", "ringlb-apod")
               if not os.access(os.path.join(node_agent.binary_dir(), b), os.X_OK)]
    if missing:
        unavailable(f"{missing} not built in {node_agent.binary_dir()} (cmake --build --preset release)")
    return cluster.nodes[0] if cluster.nodes else cluster.add_node()


_ns_counter = [0]


@pytest.fixture
def namespace(cluster):
    """A fresh namespace per test (Pod Security restricted enforced), deleted afterwards."""
    _ns_counter[0] += 1
    name = f"ringlb-t{_ns_counter[0]}-{os.getpid() % 10000}"
    cluster.namespace(name)
    yield name
    cluster.request("DELETE", f"/api/v1/namespaces/{name}")


def wait_until(predicate, timeout, what, interval=0.3):
    """Polls `predicate` until it returns something truthy (and returns that), or fails naming `what`
    and the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
