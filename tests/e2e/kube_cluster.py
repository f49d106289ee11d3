"""A real Kubernetes control plane for ringlb's tests, on 127.0.0.1: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler, built from their Go modules by
scripts/lib/kube-control-plane.sh. There is no kubelet: Nodes and running Pods come later from a
node agent in the tests (see tests/e2e/kubernetes-real/README.md).

    from kube_cluster import KubeCluster, control_plane_binaries
    cluster = KubeCluster(control_plane_binaries()).start()   # waits for /readyz and healthz
    cluster.kubeconfig        # admin (system:masters) kubeconfig, client certificate auth
    cluster.namespace("ns1")  # a namespace with Pod Security `restricted` enforced
    cluster.stop()            # stops every process group, removes the temp dir

Everything lives in one temp dir: a CA and certificates made with the openssl CLI, the
ServiceAccount signing key, etcd's data dir, one log file per component, kubeconfigs. Ports are
random free ports on 127.0.0.1. Each component runs in its own process group and gets SIGKILL if
the test process dies (PR_SET_PDEATHSIG), so nothing outlives a killed test run.
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CONTROL_PLANE_SCRIPT = os.path.join(ROOT, "scripts", "lib", "kube-control-plane.sh")
KUBE_TOOLS_SCRIPT = os.path.join(ROOT, "scripts", "lib", "kube-tools.sh")

BINARY_VARS = {
    "etcd": "RINGLB_ETCD",
    "kube-apiserver": "RINGLB_KUBE_APISERVER",
    "kube-controller-manager": "RINGLB_KUBE_CONTROLLER_MANAGER",
    "kube-scheduler": "RINGLB_KUBE_SCHEDULER",
}
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"  # API metadata only: nothing routes or listens there
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


DIR_PREFIX = "ringlb-kube-"


def _remove_stale_dirs():
    """Removes the temp dirs of earlier runs that were killed before they could clean up (their
    components died with them, by PR_SET_PDEATHSIG; the dir stayed)."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if not name.startswith(DIR_PREFIX):
            continue
        try:
            with open(os.path.join(path, "owner.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, ValueError):
            pass  # not ours to judge (no pid file yet, or another user's)


class Unavailable(Exception):
    """The control plane or the tools cannot be had on this machine (a skip, or a failure in CI)."""


def wait_established(kubectl, *targets, timeout=60):
    """`kubectl wait --for=condition=Established` on CRDs, through `kubectl` (a call that raises
    with kubectl's stderr in its message). kubectl v1.35 fails at once, with ".status.conditions
    accessor error: <nil>", when it reads a CRD before the API server gave it any condition: that
    failure is retried until `timeout`; any other is raised."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(1, int(deadline - time.monotonic()))
        try:
            return kubectl("wait", "--for=condition=Established", f"--timeout={left}s", *targets)
        except AssertionError as e:
            if "accessor error" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _script_paths(script, env_vars, timeout):
    """Runs a scripts/lib/*.sh in its 'print KEY=path' mode and returns the paths it printed."""
    proc = subprocess.run(["bash", script], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise Unavailable(f"bash {os.path.relpath(script, ROOT)} failed ({proc.returncode}):\n{proc.stderr.strip()[-4000:]}")
    lines = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return {var: lines.get(var) for var in env_vars}


def control_plane_binaries(timeout=3600):
    """{'etcd': path, 'kube-apiserver': path, ...} from RINGLB_* variables (scripts/test exports
    them via ensure_kube_control_plane), else from `bash scripts/lib/kube-control-plane.sh`, which
    builds them once into the cache (a cold build takes tens of minutes on 2 cores)."""
    found = {name: os.environ.get(var) for name, var in BINARY_VARS.items()}
    if not all(found.values()):
        printed = _script_paths(CONTROL_PLANE_SCRIPT, BINARY_VARS.values(), timeout)
        found = {name: printed.get(var) for name, var in BINARY_VARS.items()}
    missing = [name for name, path in found.items() if not path or not os.access(path, os.X_OK)]
    if missing:
        raise Unavailable(f"control-plane binaries missing: {missing}")
    return found


def kubectl_binary(timeout=900):
    """The pinned real kubectl (v1.35.2) from RINGLB_KUBECTL or scripts/lib/kube-tools.sh."""
    path = os.environ.get("RINGLB_KUBECTL")
    if not path:
        path = _script_paths(KUBE_TOOLS_SCRIPT, ["RINGLB_KUBECTL"], timeout)["RINGLB_KUBECTL"]
    if not path or not os.access(path, os.X_OK):
        raise Unavailable(f"kubectl missing ({path!r})")
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: SIGKILL this child when the process that started it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _openssl(*args, cwd):
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


class Pki:
    """A throwaway CA, the API server's serving certificate, client certificates and the
    ServiceAccount signing key pair, all with the openssl CLI (ECDSA P-256 for TLS, RSA for SA)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_crt = self.path("ca.crt")
        self.ca_key = self.path("ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=ringlb-test-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=directory)
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
        self.sa_key = self.path("sa.key")
        self.sa_pub = self.path("sa.pub")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, subject, server_sans=None):
        """Signs name.crt/name.key: a server certificate with SANs, or a client certificate."""
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
            if server_sans:
                f.write("extendedKeyUsage=serverAuth\nsubjectAltName=" + ",".join(server_sans) + "\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=self.dir)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=self.dir)
        return self.path(f"{name}.crt"), self.path(f"{name}.key")


def write_kubeconfig(path, server, ca, cert, key, user):
    """A kubeconfig with file references (kubectl, helm and client-go all read these)."""
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "ringlb-test", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": user, "user": {"client-certificate": cert, "client-key": key}}],
        "contexts": [{"name": "ringlb-test", "context": {"cluster": "ringlb-test", "user": user}}],
        "current-context": "ringlb-test",
    }
    with open(path, "w") as f:
        json.dump(config, f, indent=2)  # JSON is YAML
    return path


class Component:
    """One control-plane process in its own process group, with its log file."""

    def __init__(self, name, args, log_path, env=None):
        self.name = name
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent, env=env)

    def running(self):
        return self.proc.poll() is None

    def tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        # (A component that already exited was reaped: its group id may belong to someone else
        # now, so it is not signalled. None of the four starts children.)
        self.log.close()


class KubeCluster:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler on 127.0.0.1."""

    # How long a Node may go without a heartbeat before the node lifecycle controller marks it
    # Ready=Unknown and taints it unreachable (a kubelet's default is 50 s). The node agent renews
    # every 5 s, so 20 s is four missed renewals: a lost node is seen in about 20-25 s.
    NODE_MONITOR_GRACE_SECONDS = 20
    NODE_MONITOR_PERIOD_SECONDS = 2

    def __init__(self, binaries, keep_dir=None, apiserver_args=()):
        """`apiserver_args`: extra kube-apiserver flags (e.g. `--watch-cache=false`, so that watches
        are served by etcd and an etcd compaction makes an older resourceVersion 410)."""
        self.bin = binaries
        self.apiserver_args = list(apiserver_args)
        self.keep_dir = keep_dir if keep_dir is not None else bool(os.environ.get("RINGLB_KUBE_KEEP_DIR"))
        _remove_stale_dirs()
        self.dir = self._new_dir()
        self.components = []
        self.nodes = []
        self.started_seconds = None

    # ---- lifecycle ----

    @staticmethod
    def _new_dir():
        d = tempfile.mkdtemp(prefix=DIR_PREFIX)
        with open(os.path.join(d, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        return d

    def start(self, timeout=180, attempts=3):
        """Starts everything and waits until it serves. A free port can be taken by someone else
        between picking and binding it: that start is retried with new ports."""
        t0 = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                self._start(timeout)
                break
            except BaseException as e:
                busy = "address already in use" in str(e)
                self.stop(keep_dir=False if busy and attempt < attempts else None)
                if not busy or attempt == attempts:
                    raise
                self.dir = self._new_dir()
        self.started_seconds = time.monotonic() - t0
        return self

    def _start(self, timeout):
        d = self.dir
        self.pki = Pki(os.path.join(d, "pki"))
        ports = set()
        while len(ports) < 6:
            ports.add(free_port())
        (self.etcd_port, self.etcd_peer_port, self.port,
         self.kcm_port, self.scheduler_port, self.etcd_metrics_port) = list(ports)
        self.server = f"https://127.0.0.1:{self.port}"
        self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"

        serving = self.pki.issue("apiserver", "/CN=kube-apiserver", server_sans=[
            "IP:127.0.0.1", "IP:10.96.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"])
        self.admin_cert, self.admin_key = self.pki.issue("admin", "/O=system:masters/CN=ringlb-test-admin")
        kcm_cert = self.pki.issue("kube-controller-manager", "/CN=system:kube-controller-manager")
        sched_cert = self.pki.issue("kube-scheduler", "/CN=system:kube-scheduler")
        ca = self.pki.ca_crt
        self.kubeconfig = write_kubeconfig(os.path.join(d, "admin.kubeconfig"), self.server, ca,
                                           self.admin_cert, self.admin_key, "admin")
        kcm_kubeconfig = write_kubeconfig(os.path.join(d, "kube-controller-manager.kubeconfig"), self.server, ca,
                                          *kcm_cert, "system:kube-controller-manager")
        sched_kubeconfig = write_kubeconfig(os.path.join(d, "kube-scheduler.kubeconfig"), self.server, ca,
                                            *sched_cert, "system:kube-scheduler")
        deadline = time.monotonic() + timeout

        self._run("etcd", [
            self.bin["etcd"], "--name", "ringlb-test", "--data-dir", os.path.join(d, "etcd"),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-cluster", f"ringlb-test=http://127.0.0.1:{self.etcd_peer_port}",
            "--listen-metrics-urls", f"http://127.0.0.1:{self.etcd_metrics_port}",
            "--initial-cluster-state", "new", "--log-level", "warn",
            # A test cluster: durability across a power cut is worth nothing here, speed is.
            "--unsafe-no-fsync"])
        self._wait_http("etcd", f"{self.etcd_url}/health", deadline, lambda status, body: status == 200 and b'"true"' in body)

        # Audit, one JSON line per answered request at Metadata level, so a test can tell from the
        # server's own record who did what and when: every write of anyone (an operator under its own
        # client certificate, the garbage collector), and every request of a ServiceAccount outside
        # kube-system (the controller-manager's own), to count what the server refused.
        self.audit_log = os.path.join(d, "audit.log")
        audit_policy = os.path.join(d, "audit-policy.json")
        with open(audit_policy, "w") as f:
            json.dump({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
                       "rules": [{"level": "Metadata",
                                  "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
                                 {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
                                 {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
                                 {"level": "None"}]}, f)
        self._run("kube-apiserver", [
            self.bin["kube-apiserver"],
            "--audit-log-path", self.audit_log, "--audit-policy-file", audit_policy,
            "--audit-log-format", "json", "--audit-log-mode", "blocking",
            "--etcd-servers", self.etcd_url,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(self.port),
            "--tls-cert-file", serving[0], "--tls-private-key-file", serving[1],
            "--client-ca-file", ca,
            "--authorization-mode", "Node,RBAC",
            "--service-account-issuer", SERVICE_ACCOUNT_ISSUER,
            "--service-account-key-file", self.pki.sa_pub,
            "--service-account-signing-key-file", self.pki.sa_key,
            "--service-cluster-ip-range", SERVICE_CLUSTER_IP_RANGE,
            # PodSecurity is among the default admission plugins; namespaces opt in by label.
            "--enable-admission-plugins", "NodeRestriction",
            # As kubeadm sets it: Pod Security admission, not this switch, is what refuses
            # privileged Pods in the test namespaces.
            "--allow-privileged=true",
            # The `kubernetes` Service's Endpoints may not hold a loopback address: keep it empty.
            "--endpoint-reconciler-type", "none",
            "--profiling=false",
            "--cert-dir", os.path.join(d, "apiserver-certs"),
            "--v", "1", *self.apiserver_args])
        self._wait_http("kube-apiserver", f"{self.server}/readyz", deadline,
                        lambda status, body: status == 200, context=self._admin_ssl())

        common = ["--bind-address", "127.0.0.1", "--profiling=false", "--v", "1"]
        self._run("kube-controller-manager", [
            self.bin["kube-controller-manager"],
            "--kubeconfig", kcm_kubeconfig,
            "--authentication-kubeconfig", kcm_kubeconfig, "--authorization-kubeconfig", kcm_kubeconfig,
            "--secure-port", str(self.kcm_port), "--cert-dir", os.path.join(d, "kcm-certs"),
            "--controllers", "*",
            "--use-service-account-credentials",
            "--service-account-private-key-file", self.pki.sa_key,
            "--root-ca-file", ca,
            "--cluster-signing-cert-file", ca, "--cluster-signing-key-file", self.pki.ca_key,
            "--service-cluster-ip-range", SERVICE_CLUSTER_IP_RANGE,
            "--node-monitor-grace-period", f"{self.NODE_MONITOR_GRACE_SECONDS}s",
            "--node-monitor-period", f"{self.NODE_MONITOR_PERIOD_SECONDS}s",
            "--leader-elect=false", *common])
        sched_config = os.path.join(d, "kube-scheduler.yaml")
        with open(sched_config, "w") as f:
            json.dump({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                       "clientConnection": {"kubeconfig": sched_kubeconfig},
                       "leaderElection": {"leaderElect": False}}, f)
        self._run("kube-scheduler", [
            self.bin["kube-scheduler"], "--config", sched_config,
            "--authentication-kubeconfig", sched_kubeconfig, "--authorization-kubeconfig", sched_kubeconfig,
            "--secure-port", str(self.scheduler_port), "--cert-dir", os.path.join(d, "scheduler-certs"), *common])
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # their own self-signed serving certs; /healthz only
        self._wait_http("kube-controller-manager", f"https://127.0.0.1:{self.kcm_port}/healthz", deadline,
                        lambda status, body: status == 200, context=insecure)
        self._wait_http("kube-scheduler", f"https://127.0.0.1:{self.scheduler_port}/healthz", deadline,
                        lambda status, body: status == 200, context=insecure)
        # The controller-manager is working once the ServiceAccount controller has made `default`.
        self.wait_for(lambda: self.get(f"/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
                      deadline - time.monotonic(), "the ServiceAccount default/default (kube-controller-manager)")

    def _run(self, name, args):
        component = Component(name, args, os.path.join(self.dir, f"{name}.log"))
        self.components.append(component)
        return component

    def _component(self, name):
        return next(c for c in self.components if c.name == name)

    def _wait_http(self, name, url, deadline, ok, context=None):
        component = self._component(name)
        last = None
        while time.monotonic() < deadline:
            if not component.running():
                raise RuntimeError(f"{name} exited with {component.proc.returncode}; its log ({component.log_path}):\n{component.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as resp:
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            except (urllib.error.URLError, OSError) as e:
                status, body = None, str(e).encode()
            if status is not None and ok(status, body):
                return
            last = (status, body[:500])
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready at {url} (last: {last}); its log:\n{component.tail()}")

    def add_node(self, name=None, **kwargs):
        """Starts a node agent (tests/e2e/node_agent.py, the kubelet's stand-in) that registers
        Node `name` and runs the Pods bound to it; returns it once the Node is Ready."""
        import node_agent  # noqa: PLC0415 -- only the tests that run Pods need it
        index = len(self.nodes) + 1
        agent = node_agent.NodeAgent(self, name or f"node-{index}", index=index, **kwargs).start()
        self.nodes.append(agent)
        return agent

    def stop(self, keep_dir=None):
        """Stops every node agent (and so every Pod's process), then every component (newest
        first) by process group, and removes the temp dir, unless RINGLB_KUBE_KEEP_DIR is set (then
        the dir, with every log, is kept and named)."""
        for agent in reversed(self.nodes):
            if not agent._stop.is_set():
                agent.stop(lost=True)
        self.nodes = []
        for component in reversed(self.components):
            component.stop()
        self.components = []
        if keep_dir if keep_dir is not None else self.keep_dir:
            print(f"kube cluster dir kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self, lines=40):
        parts = [f"--- {c.name} ({c.log_path}) ---\n{c.tail(lines)}" for c in self.components]
        parts += [agent.logs(lines) for agent in self.nodes]
        return "\n".join(parts)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- a small admin client (JSON over HTTPS with the admin client certificate) ----

    def _admin_ssl(self):
        ctx = ssl.create_default_context(cafile=self.pki.ca_crt)
        ctx.load_cert_chain(self.admin_cert, self.admin_key)
        return ctx

    def request(self, method, path, body=None, content_type="application/json", timeout=30):
        """(status, decoded JSON or text) for an admin request."""
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._admin_ssl()) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path):
        return self.request("GET", path)

    def user_kubeconfig(self, user, groups=("system:masters",), server=None):
        """A kubeconfig for a client certificate of its own (CN=user, O=each group), so that the
        audit log tells this client's writes apart; `server` overrides the API server URL (a proxy
        in front of it: its serving certificate names 127.0.0.1)."""
        subject = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        cert, key = self.pki.issue(f"user-{user}", subject)
        name = f"{user}{'-via-' + server.rsplit(':', 1)[-1] if server else ''}.kubeconfig"
        return write_kubeconfig(os.path.join(self.dir, name), server or self.server, self.pki.ca_crt, cert, key, user)

    def audit_events(self, username=None):
        """The requests the API server has audited so far (see the policy in _start), oldest first,
        those of `username` only when given: dicts with verb, user.username, objectRef,
        responseStatus.code, requestReceivedTimestamp."""
        events = []
        with open(self.audit_log) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line being written
                if event.get("stage") != "ResponseComplete":
                    continue
                if username is None or event.get("user", {}).get("username") == username:
                    events.append(event)
        return events

    def ok(self, method, path, body=None, content_type="application/json", expect=(200, 201)):
        status, decoded = self.request(method, path, body, content_type)
        if status not in expect:
            raise AssertionError(f"{method} {path} -> {status}: {decoded}")
        return decoded

    @staticmethod
    def wait_for(predicate, timeout, what, interval=0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def namespace(self, name, enforce="restricted"):
        """Creates a namespace whose Pods Pod Security admission checks at `enforce` (also audit
        and warn), and waits for its default ServiceAccount."""
        labels = {}
        if enforce:
            for mode in ("enforce", "audit", "warn"):
                labels[f"pod-security.kubernetes.io/{mode}"] = enforce
                labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
        self.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": name, "labels": labels}})
        self.wait_for(lambda: self.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")[0] == 200, 60,
                      f"the default ServiceAccount in {name}")
        return name
