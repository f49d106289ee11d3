"""The chart's ServiceMonitors and PrometheusRule through the real Prometheus Operator (issue 17).

Runs inside a network namespace of its own (tests/e2e/pod_network.py, ctest
`kubernetes.prometheus_operator`): the node agent gives Pods 10.244.<node>.<n> addresses there, so
the real EndpointSlice controller can publish them (it refuses loopback addresses).

The stack, all real except the node agent (the kubelet's stand-in, README.md):
- the control plane (its own, started in this namespace by the session's `cluster` fixture);
- the Prometheus Operator v0.90.1 (scripts/lib/prometheus-operator.sh: cmd/operator built from its
  Go module), as a local process with its own client certificate, and its monitoring.coreos.com
  CRDs from the same module version, applied server-side;
- a `Prometheus` resource in namespace `monitoring` that selects ServiceMonitors and
  PrometheusRules in every namespace by `release: kube-prometheus-stack`, as kube-prometheus-stack's
  default Prometheus does, with `serviceDiscoveryRole: EndpointSlice`;
- `helm install` of helm/ringlb with the ServiceMonitors and the PrometheusRule enabled and that
  label set through `additionalLabels`;
- the configuration the operator generates (Secret `prometheus-kps`, `prometheus.yaml.gz`) and the
  rule files (ConfigMap `prometheus-kps-rulefiles-0`), read back and run by a real Prometheus with
  kubernetes_sd against the real API server (the ServiceAccount `prometheus`'s token from the
  TokenRequest API, the kube-root-ca.crt CA). That Prometheus is v3.10.0 built from its Go module
  (scripts/lib/prometheus-operator.sh), not Debian's: Debian's package is built without the
  Kubernetes service discovery and refuses the generated file ("field kubernetes_sd_configs not
  found in type config.ScrapeConfig"). POD_REWRITES lists every change made to the config:
  the paths inside the Pod, plus the `$(VAR)` expansion the Pod's config-reloader does with the
  environment the operator gives it (read from the operator's StatefulSet).
"""

import base64
import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
import yaml

import kube_cluster as kc
import pod_network
from chart_real_test import CHART, Helm, ready_pods, ring_ready
from conftest import ROOT, say, unavailable, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "prometheus"))
import promlib  # noqa: E402  (tests/e2e/prometheus: the shared Prometheus helpers)

RELEASE_LABEL = {"release": "kube-prometheus-stack"}  # what kube-prometheus-stack's Prometheus selects
MONITORING = "monitoring"
PROMETHEUS = "kps"
RELEASE = "ringlb"
VERSION_CHECKED = "v0.90.1"
# The Prometheus that runs the generated configuration (scripts/lib/prometheus-operator.sh builds it:
# Debian's package has no kubernetes_sd); the operator writes configuration for the version the
# Prometheus resource names. v3.10.0 is the operator's own default.
PROMETHEUS_VERSION = "v3.10.0"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RULES_DIR = "/etc/prometheus/rules"


def pod_rewrites(files_dir):
    """Every change made to the operator's configuration before Debian's Prometheus runs it:
    (what, in the operator's output, replaced by). Paths inside the Pod become the test's files;
    `$(SHARD)` and `$(POD_NAME)` are what the Pod's config-reloader expands (the values come from
    the StatefulSet's config-reloader env, see envsubst_values)."""
    return [
        (f"{SA_DIR}/token", os.path.join(files_dir, "serviceaccount", "token")),   # apiserverConfig.authorization
        (f"{SA_DIR}/ca.crt", os.path.join(files_dir, "serviceaccount", "ca.crt")),  # apiserverConfig.tlsConfig.caFile
        (f"{RULES_DIR}/", os.path.join(files_dir, "rules") + "/"),                  # rule_files globs
    ]


class Prometheus:
    """Prometheus (RINGLB_PROMETHEUS_K8S) on 127.0.0.1 with a given configuration file (reloadable)."""

    def __init__(self, binary, workdir, config_path):
        self.binary = binary
        self.dir = workdir
        self.config = config_path
        self.port = kc.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "prometheus.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle", "--log.level=info"],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: self.proc.poll() is None and self._ready(), 30, "prometheus ready")
        except AssertionError as e:
            raise AssertionError(f"{e}; its log:\n{self.log()}") from None
        return self

    def _ready(self):
        try:
            return urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def log(self, lines=20):
        with open(self.log_path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])

    def reload(self):
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        assert urllib.request.urlopen(req, timeout=10).status == 200
        assert "error" not in self.log(3).lower(), self.log()

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.api("query", **params)["result"]

    def query_range(self, expr, start, end, step):
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)["result"]

    def active_targets(self):
        return self.api("targets", state="active")["activeTargets"]

    def rule_groups(self):
        return self.api("rules")["groups"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class PrometheusOperator:
    """cmd/operator as a local process, its own client certificate (system:masters), web on a free
    loopback port."""

    def __init__(self, binary, cluster, workdir):
        cert, key = cluster.pki.issue("prometheus-operator", "/O=system:masters/CN=prometheus-operator")
        self.log_path = os.path.join(workdir, "prometheus-operator.log")
        self.port = kc.free_port()
        self.proc = subprocess.Popen(
            [binary, f"--apiserver={cluster.server}", f"--cert-file={cert}", f"--key-file={key}",
             f"--ca-file={cluster.pki.ca_crt}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log-format=json"],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, lines=30):
        with open(self.log_path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def prometheus_resource(cluster):
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": PROMETHEUS, "namespace": MONITORING},
        "spec": {
            "version": PROMETHEUS_VERSION,
            "replicas": 1,
            "serviceAccountName": "prometheus",
            "serviceDiscoveryRole": "EndpointSlice",
            # kube-prometheus-stack's default Prometheus: every namespace, its `release` label.
            "serviceMonitorSelector": {"matchLabels": RELEASE_LABEL},
            "serviceMonitorNamespaceSelector": {},
            "ruleSelector": {"matchLabels": RELEASE_LABEL},
            "ruleNamespaceSelector": {},
            "scrapeInterval": "2s",
            "evaluationInterval": "2s",
            # In a Pod, Prometheus would use its in-cluster config (fixed paths that no
            # configuration names); stated as apiserverConfig, the token and CA paths are in the
            # generated configuration, where POD_REWRITES can point them at the test's files.
            "apiserverConfig": {
                "host": cluster.server,
                "authorization": {"type": "Bearer", "credentialsFile": f"{SA_DIR}/token"},
                "tlsConfig": {"caFile": f"{SA_DIR}/ca.crt"},
            },
            # This test runs the Prometheus; the operator's StatefulSet Pod stays Pending.
            "nodeSelector": {"ringlb.dev/prometheus-runs-in-the-test": "true"},
        },
    }


def prometheus_rbac():
    """The ServiceAccount Prometheus discovers with, and what kube-prometheus-stack grants it."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "prometheus", "namespace": MONITORING}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "prometheus-kps"},
         "rules": [
             {"apiGroups": [""], "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods"],
              "verbs": ["get", "list", "watch"]},
             {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
             {"nonResourceURLs": ["/metrics", "/metrics/cadvisor"], "verbs": ["get"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "prometheus-kps"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "prometheus-kps"},
         "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": MONITORING}]},
    ]


def chart_values(service_monitor=True):
    label = next(iter(RELEASE_LABEL.items()))
    return ["--set", f"metrics.serviceMonitor.enabled={str(service_monitor).lower()}",
            "--set", f"metrics.serviceMonitor.additionalLabels.{label[0]}={label[1]}",
            "--set", "metrics.serviceMonitor.interval=2s", "--set", "metrics.serviceMonitor.scrapeTimeout=1s",
            "--set", "metrics.prometheusRule.enabled=true",
            "--set", f"metrics.prometheusRule.additionalLabels.{label[0]}={label[1]}"]


class Stack:
    """Everything above, up and Ready; `generated()` reads the operator's output back."""

    def __init__(self, cluster, kubectl, workdir):
        self.cluster, self.kubectl, self.dir = cluster, kubectl, workdir
        self.files = os.path.join(workdir, "files")
        self.config_path = os.path.join(workdir, "prometheus.yaml")
        self.prometheus = None
        self.operator = None
        self.applied_rewrites = []

    def secret_config(self):
        status, secret = self.cluster.get(f"/api/v1/namespaces/{MONITORING}/secrets/prometheus-{PROMETHEUS}")
        if status != 200 or "prometheus.yaml.gz" not in secret.get("data", {}):
            return None
        return gzip.decompress(base64.b64decode(secret["data"]["prometheus.yaml.gz"])).decode()

    def rule_configmaps(self):
        cms = self.cluster.ok("GET", f"/api/v1/namespaces/{MONITORING}/configmaps")["items"]
        return {cm["metadata"]["name"]: cm.get("data", {}) for cm in cms
                if cm["metadata"]["name"].startswith(f"prometheus-{PROMETHEUS}-rulefiles-")}

    def envsubst_values(self):
        """The config-reloader container's environment in the operator's StatefulSet: what it
        expands `$(NAME)` with in the Pod (POD_NAME from the downward API: the Pod's name)."""
        sts = self.cluster.ok("GET", f"/apis/apps/v1/namespaces/{MONITORING}/statefulsets/prometheus-{PROMETHEUS}")
        containers = sts["spec"]["template"]["spec"]["containers"]
        reloader = next(c for c in containers if c["name"] == "config-reloader")
        values = {}
        for env in reloader.get("env", []):
            if "value" in env:
                values[env["name"]] = env["value"]
            elif env.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                values[env["name"]] = f"{sts['metadata']['name']}-0"
        return values

    def write_config(self, text):
        """Applies POD_REWRITES and the reloader's expansion to the operator's configuration, writes
        it, the token, the CA and the rule files; returns the parsed result."""
        sa = os.path.join(self.files, "serviceaccount")
        os.makedirs(sa, exist_ok=True)
        token = self.kubectl("create", "token", "prometheus", "-n", MONITORING, "--duration=2h").strip()
        with open(os.path.join(sa, "token"), "w") as f:
            f.write(token)
        ca = self.cluster.ok("GET", f"/api/v1/namespaces/{MONITORING}/configmaps/kube-root-ca.crt")["data"]["ca.crt"]
        with open(os.path.join(sa, "ca.crt"), "w") as f:
            f.write(ca)
        rules_root = os.path.join(self.files, "rules")
        subprocess.run(["rm", "-rf", rules_root], check=True)
        for name, data in self.rule_configmaps().items():
            os.makedirs(os.path.join(rules_root, name))
            for key, content in data.items():
                with open(os.path.join(rules_root, name, key), "w") as f:
                    f.write(content)
        applied = []
        for old, new in pod_rewrites(self.files):
            if old in text:
                applied.append(old)
                text = text.replace(old, new)
        env = self.envsubst_values()
        for name in sorted(set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", text))):
            assert name in env, f"$({name}) in the configuration, but not in the config-reloader's env {env}"
            applied.append(f"$({name})")
            text = text.replace(f"$({name})", env[name])
        self.applied_rewrites = applied
        with open(self.config_path, "w") as f:
            f.write(text)
        return yaml.safe_load(text)


def config_paths(node, key=""):
    """Every value of a *_file / *_files / rule_files key in a parsed configuration."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from config_paths(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from config_paths(v, key)
    elif isinstance(node, str) and (key.endswith("_file") or key.endswith("_files")):
        yield node


def all_panels(dashboard):
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def served_by_burst(pods, per_pod):
    """GETs `per_pod` distinct paths through each proxy Pod (its Pod IP, the data port); returns
    {member: count} from X-Served-By and the number of requests without one."""
    counts, missing = {}, 0
    for i, pod in enumerate(pods):
        conn = http.client.HTTPConnection(pod["status"]["podIP"], 8080, timeout=10)
        for n in range(per_pod):
            conn.request("GET", f"/planetary/apod/burst-{i}-{n}")
            resp = conn.getresponse()
            resp.read()
            member = resp.getheader("X-Served-By")
            if member:
                counts[member] = counts.get(member, 0) + 1
            else:
                missing += 1
        conn.close()
    return counts, missing


@pytest.fixture(scope="module")
def stack(request, pytestconfig, tmp_path_factory):
    reason = os.environ.get(pod_network.UNAVAILABLE_VAR) or pod_network.problem()
    if reason:
        unavailable(f"the Prometheus Operator test needs its own network namespace and tools: {reason}")
    # Only now: outside the namespace the test skips before a control plane starts.
    cluster = request.getfixturevalue("cluster")
    kubectl = request.getfixturevalue("kubectl")
    binary = os.environ.get("RINGLB_PROMETHEUS_OPERATOR")
    crds = os.environ.get("RINGLB_PROMETHEUS_OPERATOR_CRDS")
    import node_agent  # noqa: PLC0415
    missing = [b for b in ("ringlb-operator", "ringlb-proxy", "ringlb-apod")
               if not os.access(os.path.join(node_agent.binary_dir(), b), os.X_OK)]
    if missing:
        unavailable(f"{missing} not built in {node_agent.binary_dir()} (cmake --build --preset release)")
    workdir = str(tmp_path_factory.mktemp("prometheus-operator"))
    s = Stack(cluster, kubectl, workdir)
    t0 = time.monotonic()
    timings = {}
    try:
        s.node = cluster.add_node(pod_subnet=pod_network.pod_subnet_prefix())
        kubectl("apply", "--server-side", "-f", crds)
        kc.wait_established(kubectl, "-f", crds)
        s.operator = PrometheusOperator(binary, cluster, workdir)
        cluster.namespace(MONITORING, enforce=None)
        for obj in prometheus_rbac():
            kubectl.apply(obj)
        kubectl.apply(prometheus_resource(cluster))
        timings["crds, operator, Prometheus resource"] = time.monotonic() - t0

        cluster.namespace(RELEASE)  # Pod Security restricted
        s.helm = Helm(os.environ.get("RINGLB_HELM4") or unavailable("RINGLB_HELM4 unset"), cluster,
                      os.path.join(workdir, "helm-home"))
        proc = s.helm.run("install", RELEASE, CHART, "-n", RELEASE, "--wait", "--timeout", "240s", *chart_values())
        timings["helm install --wait"] = proc.seconds
        wait_until(ring_ready(kubectl, RELEASE, 3), 120, "ring apod with 3 ready replicas")

        def generated():
            text = s.secret_config()
            return text if text and f"serviceMonitor/{RELEASE}/ringlb-proxy/0" in text and s.rule_configmaps() else None
        try:
            s.generated_text = wait_until(generated, 90, "the operator's configuration Secret naming the chart's "
                                          "ServiceMonitors, and its rule ConfigMaps", interval=1)
        except AssertionError as e:
            raise AssertionError(f"{e}; the Prometheus Operator's log:\n{s.operator.log()}") from None
        s.config = s.write_config(s.generated_text)
        s.prometheus = Prometheus(os.environ["RINGLB_PROMETHEUS_K8S"], workdir, s.config_path).start()
        timings["to a running Prometheus"] = time.monotonic() - t0
        say(pytestconfig, "\n[prometheus-operator] " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
            + f"; rewrites: {s.applied_rewrites}")
        yield s
    finally:
        if s.prometheus:
            s.prometheus.stop()
        if s.operator:
            s.operator.stop()


def chart_pods(kubectl, component):
    return sorted(ready_pods(kubectl, RELEASE, f"app.kubernetes.io/component={component}"),
                  key=lambda p: p["metadata"]["name"])


def our_targets(prom):
    return [t for t in prom.active_targets() if t["labels"].get("namespace") == RELEASE]


def test_operator_output_is_what_prometheus_runs(stack, kubectl):
    """The operator's Secret holds one scrape job per chart ServiceMonitor endpoint, discovering
    EndpointSlices in the release namespace through the real API server; after the rewrites no
    path points inside a Pod, and each rewrite listed was needed."""
    jobs = {j["job_name"]: j for j in stack.config["scrape_configs"]}
    assert set(jobs) == {f"serviceMonitor/{RELEASE}/ringlb-operator/0", f"serviceMonitor/{RELEASE}/ringlb-proxy/0"}
    for job in jobs.values():
        (sd,) = job["kubernetes_sd_configs"]
        assert sd["role"] == "endpointslice"
        assert sd["namespaces"]["names"] == [RELEASE]
        assert sd["api_server"] == stack.cluster.server
    assert sorted(stack.applied_rewrites) == sorted(
        [f"{SA_DIR}/token", f"{SA_DIR}/ca.crt", f"{RULES_DIR}/", "$(SHARD)", "$(POD_NAME)"]), stack.applied_rewrites
    paths = list(config_paths(stack.config))
    assert paths and all(p.startswith(stack.files) for p in paths), paths
    # The rule files are the operator's ConfigMap, holding the chart's PrometheusRule.
    (cm,) = stack.rule_configmaps().values()
    (key,) = cm
    (rule,) = kubectl.json("prometheusrules", "-n", RELEASE)["items"]
    assert key == f"{RELEASE}-{rule['metadata']['name']}-{rule['metadata']['uid']}.yaml", key
    chart_rules = yaml.safe_load(open(os.path.join(ROOT, "helm", "ringlb", "files", "prometheus-rules.yaml")))
    assert yaml.safe_load(cm[key])["groups"] == chart_rules["groups"]


def test_targets_are_the_endpointslices_of_the_chart_services_and_up(stack, kubectl):
    """Issue 17, targets: /api/v1/targets lists both operator Pods and both proxy Pods, up, found
    through the chart's ServiceMonitors in the EndpointSlices that the real controller-manager made
    from the chart's Services and the Pods' readiness."""
    expected = {}
    for component, port in (("operator", 8081), ("proxy", 9901)):
        pods = chart_pods(kubectl, component)
        assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
        # The real EndpointSlice controller's slices for the Service: one ready endpoint per Pod.
        slices = kubectl.json("endpointslices", "-n", RELEASE, "-l",
                              f"kubernetes.io/service-name=ringlb-{component}")["items"]
        assert slices and all(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
                              == "endpointslice-controller.k8s.io" for s in slices)
        endpoints = {(e["targetRef"]["name"], a) for s in slices for e in s["endpoints"] for a in e["addresses"]
                     if e["conditions"].get("ready")}
        assert endpoints == {(p["metadata"]["name"], p["status"]["podIP"]) for p in pods}
        for p in pods:
            assert p["status"]["podIP"].startswith("10.244."), p["status"]["podIP"]
            expected[p["metadata"]["name"]] = (component, f"{p['status']['podIP']}:{port}")

    def all_up():
        got = {t["labels"]["pod"]: t for t in our_targets(stack.prometheus)}
        return got if set(got) == set(expected) and all(t["health"] == "up" for t in got.values()) else None
    targets = wait_until(all_up, 60, f"the 4 chart Pods up in Prometheus ({our_targets(stack.prometheus)})", interval=1)
    for pod, (component, address) in expected.items():
        t = targets[pod]
        assert t["labels"]["job"] == component  # the ServiceMonitor's jobLabel: app.kubernetes.io/component
        assert t["labels"]["instance"] == address
        assert t["scrapePool"] == f"serviceMonitor/{RELEASE}/ringlb-{component}/0"
        assert t["discoveredLabels"]["__meta_kubernetes_endpointslice_name"].startswith(f"ringlb-{component}-")
        assert t["lastError"] == ""


def test_operator_metrics_keep_the_hashring_namespace(stack, kubectl):
    """The operator's series carry the HashRing's namespace, not the operator Pod's: a ring named
    apod in another namespace is told apart from the release's (the operator endpoint honours the
    exposition's labels; without it Prometheus renamed them to exported_namespace)."""
    other = stack.cluster.namespace("ringlb-other")
    ring = {"apiVersion": "ringlb.dev/v1alpha1", "kind": "HashRing",
            "metadata": {"name": "apod", "namespace": other},
            "spec": {"replicas": 1, "template": {"image": "ringlb/ringlb-apod:0.1.0",
                                                 "args": ["--port", "$(PORT)"], "port": 8080}}}
    kubectl.apply(ring)
    try:
        wait_until(ring_ready(kubectl, other, 1), 120, "ring apod in the other namespace Ready")

        def both():
            series = stack.prometheus.query('ringlb_operator_desired_replicas{ring="apod"}')
            return series if {s["metric"].get("namespace") for s in series} == {RELEASE, other} else None
        series = wait_until(both, 60, "ringlb_operator_desired_replicas for both namespaces", interval=1)
        by_ns = {}
        for s in series:
            assert "exported_namespace" not in s["metric"], s["metric"]
            by_ns.setdefault(s["metric"]["namespace"], set()).add(float(s["value"][1]))
        assert by_ns == {RELEASE: {3.0}, other: {1.0}}, by_ns
    finally:
        kubectl("delete", "hashring", "apod", "-n", other, "--wait=true", check=False)


def test_request_counts_match_served_by(stack, kubectl, pytestconfig):
    """Issue 17, counts: sum by (member) (ringlb_proxy_requests_total) in Prometheus equals the
    X-Served-By counts of a known burst through both proxy Pods."""
    prom = stack.prometheus
    expr = 'sum by (member) (ringlb_proxy_requests_total{member!="none"})'

    def values():
        return {s["metric"]["member"]: float(s["value"][1]) for s in prom.query(expr)}
    before = values()
    pods = chart_pods(kubectl, "proxy")
    counts, missing = served_by_burst(pods, 300)
    assert missing == 0
    assert set(counts) == {"apod-0", "apod-1", "apod-2"}, counts
    sent_at = time.time()

    def scraped_after():
        proxies = [t for t in our_targets(prom) if t["labels"]["job"] == "proxy"]
        return len(proxies) == 2 and all(promlib.rfc3339_seconds(t["lastScrape"]) > sent_at + 0.1 for t in proxies)
    wait_until(scraped_after, 30, "a scrape of both proxies after the burst", interval=0.5)
    after = values()
    delta = {m: round(after.get(m, 0) - before.get(m, 0)) for m in set(after) | set(before)}
    delta = {m: d for m, d in delta.items() if d}
    assert delta == counts, f"Prometheus {delta} against X-Served-By {counts} (before: {before})"
    assert sum(counts.values()) == 600
    say(pytestconfig, f"\n[prometheus-operator] 600 requests: X-Served-By {dict(sorted(counts.items()))}, "
                      f"Prometheus {dict(sorted(delta.items()))}")


def test_rules_loaded_through_the_operator_and_evaluate(stack):
    """Issue 17, rules: the PrometheusRule's groups are in /api/v1/rules, from the rule files the
    operator wrote, and every rule evaluates without error on the live series."""
    chart_rules = yaml.safe_load(open(os.path.join(ROOT, "helm", "ringlb", "files", "prometheus-rules.yaml")))
    names = [g["name"] for g in chart_rules["groups"]]
    since = time.time()

    def evaluated():
        groups = {g["name"]: g for g in stack.prometheus.rule_groups()}
        if set(groups) != set(names):
            return None
        rules = [r for g in groups.values() for r in g["rules"]]
        return groups if all(promlib.rfc3339_seconds(r["lastEvaluation"]) > since + 2 for r in rules) else None
    groups = wait_until(evaluated, 60, "two fresh evaluations of every rule", interval=1)
    for name, g in groups.items():
        assert g["file"].startswith(os.path.join(stack.files, "rules", f"prometheus-{PROMETHEUS}-rulefiles-0")), g["file"]
        expected = [r.get("alert") or r.get("record") for r in next(x for x in chart_rules["groups"]
                                                                   if x["name"] == name)["rules"]]
        assert [r["name"] for r in g["rules"]] == expected
        for r in g["rules"]:
            assert r["health"] == "ok", f"{r['name']}: {r.get('lastError')}"
            assert r.get("lastError", "") == ""
    # The recording rules have live series behind them (traffic went through the proxies above).
    assert stack.prometheus.query("member:ringlb_proxy_requests:rate5m"), "no live series for the recording rule"
    # RingStale's version comparison joins the proxies' ring with the operator's under these
    # target labels: with the comparison turned to >=, both proxies are found (an up-to-date proxy),
    # so the alert's `<` can fire when one falls behind.
    joined = stack.prometheus.query(
        "(ringlb_proxy_ring_version * on (job, instance) group_left (ring) ringlb_proxy_ring_info)"
        " >= on (ring) group_left () max by (ring) (ringlb_operator_ring_version)")
    assert len(joined) == 2 and {s["metric"]["job"] for s in joined} == {"proxy"}, joined


def test_every_dashboard_query_returns_data(stack, kubectl):
    """Issue 17, the dashboard: every Grafana dashboard query returns data against this Prometheus,
    its variables resolved as Grafana would from the live label values."""
    prom = stack.prometheus
    with open(os.path.join(ROOT, "deploy", "grafana", "ringlb.json")) as f:
        dashboard = json.load(f)
    served_by_burst(chart_pods(kubectl, "proxy"), 100)  # fresh traffic for the rate() windows
    sent = time.time()
    wait_until(lambda: all(promlib.rfc3339_seconds(t["lastScrape"]) > sent + 0.1 for t in our_targets(prom)), 30,
               "a scrape of every chart target after the traffic", interval=0.5)
    subs = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"].strip())
        assert m, var
        values = prom.api("label/" + m.group(2) + "/values", **{"match[]": m.group(1)})
        assert values, f"variable {var['name']} offers nothing"
        subs[var["name"]] = var["allValue"] if var.get("includeAll") else values[0]
    assert "proxy" in prom.api("label/job/values", **{"match[]": "ringlb_proxy_ring_version"})
    now = time.time()
    subs.update({"__rate_interval": "1m", "__interval": "5s", "__range": "10m"})
    checked = 0
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name in sorted(subs, key=len, reverse=True):
                expr = expr.replace("${" + name + "}", subs[name]).replace("$" + name, subs[name])
            assert "$" not in expr, expr
            result = prom.query_range(expr, now - 60, now, "5")
            values = [v for s in result for _, v in s["values"] if v not in ("NaN", "+Inf", "-Inf")]
            assert values, f"{panel['title']}: no data for {expr}"
            checked += 1
    assert checked >= 20


def test_service_monitors_disabled_lists_none(stack, kubectl):
    """Issue 17, targets: with metrics.serviceMonitor.enabled=false the operator drops the jobs and
    Prometheus, given its new configuration, lists none of the chart's Pods."""
    stack.helm.run("upgrade", RELEASE, CHART, "-n", RELEASE, "--wait", "--timeout", "240s",
                   *chart_values(service_monitor=False))
    assert kubectl.json("servicemonitors", "-n", RELEASE)["items"] == []

    def regenerated():
        text = stack.secret_config()
        return text if text and "serviceMonitor/" not in text else None
    text = wait_until(regenerated, 60, "the operator's configuration without the ServiceMonitor jobs", interval=1)
    config = stack.write_config(text)
    assert not config.get("scrape_configs"), config.get("scrape_configs")
    stack.prometheus.reload()
    wait_until(lambda: our_targets(stack.prometheus) == [], 30, "no chart target left in Prometheus", interval=0.5)
    assert not [t for t in stack.prometheus.active_targets() if t["scrapePool"].startswith("serviceMonitor/")]
    # The PrometheusRule is still selected: the rules stay.
    assert {g["name"] for g in stack.prometheus.rule_groups()} == {"ringlb.recording", "ringlb.alerts"}

