"""A node agent for the real-cluster tests: it stands in for the kubelet (there is none on these
machines) and for the Pod network, cluster DNS and kube-proxy that a kubelet's node would have.
tests/e2e/kubernetes-real/README.md says exactly which parts are real and which are not.

    agent = NodeAgent(cluster, "node-1").start()   # registers Node node-1, Ready
    ...                                            # Pods the scheduler binds to node-1 run
    agent.stop()                                   # kills its Pods' processes, Node NotReady
    agent.stop(lost=True)                          # same, but writes nothing more (a lost node)

What it does, as a kubelet would:
- authenticates as the node (client certificate CN=system:node:<name>, O=system:nodes), so the
  real Node authorizer and NodeRestriction admission judge every call it makes;
- registers its Node (Ready condition, capacity/allocatable, InternalIP 127.0.0.1) and renews a
  Lease in kube-node-lease every few seconds, and the Node's Ready condition;
- runs each Pod bound to it (spec.nodeName) as a local process: the container image maps to one of
  our binaries (IMAGE_BINARIES), command/args as the container says (with $(VAR) expanded), env
  from value and the downward API (fieldRef), a ServiceAccount token (TokenRequest bound to the Pod,
  refreshed) and the kube-root-ca.crt CA in files, emptyDir volumes as directories;
- gives each Pod its own address 127.0.<n>.<m> (status.podIP), or <pod_subnet>.<n>.<m> inside a
  network namespace of the test's own (pod_network.py), and a private "loopback" address;
  an LD_PRELOAD shim (node_agent_shim.c) makes bind(0.0.0.0) use the Pod address and 127.0.0.1 the
  private one, and resolves Service names to their virtual IPs, DNATing them to ready endpoints;
- reports status.phase, podIP, containerStatuses (state, restartCount, ready, started) and the
  Initialized/ContainersReady/Ready conditions from the container's real startup, readiness and
  liveness probes (httpGet and tcpSocket, to podIP:port, with their periods and thresholds);
- restarts exited containers per restartPolicy (with a capped exponential back-off), and restarts
  a container whose liveness probe fails;
- on a deletionTimestamp: SIGTERM, the grace period, SIGKILL, then deletes the Pod (grace 0, uid
  precondition), as the kubelet's status manager does; with hang_deletions=True it does none of
  that (a kubelet stuck on deletions, its Node still Ready) until the Pod is force-deleted.
"""

import ctypes
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHIM_SOURCE = os.path.join(HERE, "node_agent_shim.c")

# The image's repository (its last path element, without a tag) names the binary its
# ENTRYPOINT runs (docker/*.Dockerfile: ENTRYPOINT ["/usr/local/bin/<binary>"]).
IMAGE_BINARIES = {
    "ringlb-operator": "ringlb-operator",
    "operator": "ringlb-operator",
    "ringlb-proxy": "ringlb-proxy",
    "proxy": "ringlb-proxy",
    "ringlb-apod": "ringlb-apod",
    "apod": "ringlb-apod",
}
# Images that are not ours: a tool of this machine stands in for the image's program.
HOST_TOOLS = {
    "curl": "/usr/bin/curl",  # curlimages/curl (the chart's helm test)
}
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
AGENT_VERSION = "v1.35.4-ringlb-node-agent"


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def binary_dir():
    """Where our binaries are: RINGLB_BIN_DIR, else build/release/bin of this checkout."""
    return os.environ.get("RINGLB_BIN_DIR") or os.path.join(ROOT, "build", "release", "bin")


def image_binary(image):
    """'ringlb/ringlb-operator:0.1.0' -> 'ringlb-operator' (None when the image is not ours)."""
    name = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    return IMAGE_BINARIES.get(name) or HOST_TOOLS.get(name)


def _die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def build_shim(directory):
    out = os.path.join(directory, "node_agent_shim.so")
    proc = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", out, SHIM_SOURCE, "-ldl"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"building {SHIM_SOURCE} failed:\n{proc.stderr}")
    return out


_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text, env):
    """Kubernetes' $(VAR) expansion: $(VAR) is replaced when VAR is defined, $$ escapes $."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR_REF.sub(sub, text)


class ApiError(Exception):
    def __init__(self, status, body, what):
        super().__init__(f"{what} -> {status}: {body}")
        self.status = status
        self.body = body


class Api:
    """JSON over HTTPS to the API server as the node (its client certificate)."""

    def __init__(self, server, ca, cert, key):
        self.server = server
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)

    def request(self, method, path, body=None, content_type="application/json", timeout=10):
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ctx) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        return status, decoded

    def ok(self, method, path, body=None, content_type="application/json", expect=(200, 201)):
        status, decoded = self.request(method, path, body, content_type)
        if status not in expect:
            raise ApiError(status, decoded, f"{method} {path}")
        return decoded


class Probe:
    """One container probe (startup, readiness or liveness), run against the Pod's address."""

    def __init__(self, spec, container, pod_ip):
        self.spec = spec or {}
        self.period = max(1, int(self.spec.get("periodSeconds", 10)))
        self.timeout = max(1, int(self.spec.get("timeoutSeconds", 1)))
        self.initial_delay = int(self.spec.get("initialDelaySeconds", 0))
        self.failure_threshold = max(1, int(self.spec.get("failureThreshold", 3)))
        self.success_threshold = max(1, int(self.spec.get("successThreshold", 1)))
        self.container = container
        self.pod_ip = pod_ip
        self.successes = 0
        self.failures = 0
        self.next_at = 0.0
        self.last_error = ""

    def _port(self, port):
        if isinstance(port, int):
            return port
        if isinstance(port, str) and port.isdigit():
            return int(port)
        for entry in self.container.get("ports", []):
            if entry.get("name") == port:
                return int(entry["containerPort"])
        raise ValueError(f"no container port named {port!r}")

    def check(self):
        """True when the probe succeeds now."""
        try:
            if "httpGet" in self.spec:
                get = self.spec["httpGet"]
                host = get.get("host") or self.pod_ip
                scheme = get.get("scheme", "HTTP").lower()
                path = get.get("path", "/")
                url = f"{scheme}://{host}:{self._port(get.get('port'))}{path}"
                req = urllib.request.Request(url, headers={h["name"]: h["value"] for h in get.get("httpHeaders", [])})
                req.add_header("User-Agent", "kube-probe/1.35")
                ctx = None
                if scheme == "https":
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    with opener.open(req, timeout=self.timeout) if ctx is None else \
                            urllib.request.urlopen(req, timeout=self.timeout, context=ctx) as resp:
                        code = resp.status
                except urllib.error.HTTPError as e:
                    code = e.code
                ok = 200 <= code < 400
                self.last_error = "" if ok else f"HTTP probe failed with statuscode: {code}"
                return ok
            if "tcpSocket" in self.spec:
                sock = self.spec["tcpSocket"]
                with socket.create_connection((sock.get("host") or self.pod_ip, self._port(sock.get("port"))),
                                              timeout=self.timeout):
                    self.last_error = ""
                    return True
            self.last_error = f"probe handler not supported by the node agent: {sorted(self.spec)}"
            return False
        except Exception as e:  # noqa: BLE001 -- any failure to connect is a failed probe
            self.last_error = f"probe failed: {e}"
            return False

    def due(self, t, started_at):
        return t >= started_at + self.initial_delay and t >= self.next_at

    def run(self, t):
        """Runs the probe; returns 'success', 'failure' or None (threshold not reached yet)."""
        self.next_at = t + self.period
        if self.check():
            self.failures = 0
            self.successes += 1
            return "success" if self.successes >= self.success_threshold else None
        self.successes = 0
        self.failures += 1
        return "failure" if self.failures >= self.failure_threshold else None


class PodRun:
    """One Pod on this node: its process, probes and status. Runs in its own thread."""

    def __init__(self, agent, pod, pod_ip, loopback):
        self.agent = agent
        self.pod = pod
        meta = pod["metadata"]
        self.uid = meta["uid"]
        self.ns = meta["namespace"]
        self.name = meta["name"]
        self.key = f"{self.ns}/{self.name}"
        self.pod_ip = pod_ip
        self.loopback = loopback
        self.dir = os.path.join(agent.dir, "pods", f"{self.ns}_{self.name}_{self.uid[:8]}")
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "container.log")
        self.proc = None
        self.restart_count = 0
        self.start_time = now()
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state = {}
        self.ready = False
        self.started = False
        self.phase = "Pending"
        self.transitions = {}
        self.sent = None
        self.delete_grace = None  # seconds, once the Pod has a deletionTimestamp
        self.stop_event = threading.Event()  # the agent stops (node going away)
        self.finished = False
        self.lock = threading.Lock()
        self.token_expiry = 0
        self.thread = threading.Thread(target=self._main, name=f"pod {self.key}", daemon=True)

    # ---- called by the agent's sync loop ----

    def start(self):
        self.thread.start()
        return self

    def update(self, pod):
        with self.lock:
            self.pod = pod
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") and self.delete_grace is None and not self.agent.hang_deletions:
                self.delete_grace = int(meta.get("deletionGracePeriodSeconds") or 30)

    def vanish(self):
        """The Pod is gone from the API (force-deleted): stop the process, write nothing."""
        with self.lock:
            self.delete_grace = 0
            self.vanished = True

    # ---- the Pod's life ----

    def _container(self):
        containers = self.pod["spec"].get("containers", [])
        return containers[0] if containers else {}

    def _field(self, path):
        meta, spec = self.pod["metadata"], self.pod["spec"]
        m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if m:
            return meta.get(m.group(1), {}).get(m.group(2), "")
        return {
            "metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta["uid"],
            "spec.nodeName": spec.get("nodeName", ""), "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.podIP": self.pod_ip, "status.podIPs": self.pod_ip, "status.hostIP": "127.0.0.1",
            "status.hostIPs": "127.0.0.1",
        }.get(path)

    def _volumes(self, container):
        """Makes each mounted volume a directory; returns {mountPath: directory}."""
        mounts = {}
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                raise ValueError(f"volumeMount {mount['name']!r} names no volume")
            path = os.path.join(self.dir, "volumes", mount["name"])
            os.makedirs(path, exist_ok=True)
            if "emptyDir" in volume:
                pass
            elif "projected" in volume:
                self._project(volume["projected"], path)
            else:
                raise ValueError(f"volume {mount['name']!r}: only emptyDir and projected (ServiceAccount token) "
                                 f"volumes are supported by the node agent, not {sorted(set(volume) - {'name'})}")
            mounts[mount["mountPath"]] = path
        return mounts

    def _project(self, projected, path):
        for source in projected.get("sources", []):
            if "serviceAccountToken" in source:
                sat = source["serviceAccountToken"]
                seconds = int(sat.get("expirationSeconds", 3607))
                spec = {"expirationSeconds": seconds,
                        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}}
                if sat.get("audience"):
                    spec["audiences"] = [sat["audience"]]
                sa = self.pod["spec"].get("serviceAccountName") or "default"
                token = self.agent.api.ok(
                    "POST", f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token",
                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
                self._write(os.path.join(path, sat.get("path", "token")), token["status"]["token"])
                # The kubelet refreshes at 80% of the lifetime; so does this.
                self.token_expiry = time.monotonic() + 0.8 * seconds
                self.token_source = (projected, path)
            elif "configMap" in source:
                cm_ref = source["configMap"]
                cm = self.agent.api.ok("GET", f"/api/v1/namespaces/{self.ns}/configmaps/{cm_ref['name']}")
                data = cm.get("data", {})
                items = cm_ref.get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    self._write(os.path.join(path, item["path"]), data[item["key"]])
            elif "downwardAPI" in source:
                for item in source["downwardAPI"].get("items", []):
                    value = self._field(item["fieldRef"]["fieldPath"]) if "fieldRef" in item else None
                    if value is None:
                        raise ValueError(f"downwardAPI item {item} is not supported by the node agent")
                    self._write(os.path.join(path, item["path"]), value)
            else:
                raise ValueError(f"projected source {sorted(source)} is not supported by the node agent")

    @staticmethod
    def _write(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    def _prepare(self):
        """(argv, env) for the container, from the Pod spec."""
        container = self._container()
        if len(self.pod["spec"].get("containers", [])) != 1 or self.pod["spec"].get("initContainers"):
            raise ValueError("the node agent runs Pods with exactly one container and no init containers")
        binary = image_binary(container.get("image", ""))
        if binary is None:
            raise ValueError(f"image {container.get('image')!r} maps to none of our binaries "
                             f"(known repositories: {sorted(IMAGE_BINARIES)})")
        env = {}
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = expand(var["value"], env)
            elif "valueFrom" in var and "fieldRef" in var["valueFrom"]:
                value = self._field(var["valueFrom"]["fieldRef"]["fieldPath"])
                if value is None:
                    raise ValueError(f"env {var['name']}: fieldRef {var['valueFrom']['fieldRef']} not supported")
                env[var["name"]] = value
            elif "valueFrom" in var:
                raise ValueError(f"env {var['name']}: only value and fieldRef are supported by the node agent")
            else:
                env[var["name"]] = ""
        mounts = self._volumes(container)
        run_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOSTNAME": self.name, "HOME": self.dir}
        if "/tmp" in mounts:
            run_env["TMPDIR"] = mounts["/tmp"]
        else:
            tmp = os.path.join(self.dir, "rootfs-tmp")
            os.makedirs(tmp, exist_ok=True)
            run_env["TMPDIR"] = tmp
        if SA_MOUNT in mounts:
            # The programs would read $KUBERNETES_SERVICE_HOST and the files under SA_MOUNT. The
            # Service IP is not routed here and SA_MOUNT cannot be mounted, so the same token and
            # CA files are handed over in a kubeconfig (tokenFile: re-read as the token rotates).
            sa = mounts[SA_MOUNT]
            ns_file = os.path.join(sa, "namespace")
            kubeconfig = os.path.join(self.dir, "kubeconfig")
            self._write(kubeconfig, json.dumps({
                "apiVersion": "v1", "kind": "Config", "current-context": "in-cluster",
                "clusters": [{"name": "in-cluster", "cluster": {
                    # What KUBERNETES_SERVICE_HOST names: the `kubernetes` Service (the shim
                    # resolves and forwards it to the API server; its certificate names it).
                    "server": "https://kubernetes.default.svc:443", "certificate-authority": os.path.join(sa, "ca.crt")}}],
                "users": [{"name": "sa", "user": {"tokenFile": os.path.join(sa, "token")}}],
                "contexts": [{"name": "in-cluster", "context": {
                    "cluster": "in-cluster", "user": "sa",
                    "namespace": open(ns_file).read() if os.path.exists(ns_file) else self.ns}}],
            }, indent=1))
            run_env["KUBECONFIG"] = kubeconfig
        run_env.update(env)
        run_env.update({
            "LD_PRELOAD": self.agent.shim,
            "RINGLB_POD_IP": self.pod_ip,
            "RINGLB_POD_LOOPBACK": self.loopback,
            "RINGLB_SERVICES_FILE": self.agent.services_file,
        })
        bin_dir = binary_dir()
        if os.path.isabs(binary):
            bin_dir, binary = os.path.dirname(binary), os.path.basename(binary)
        command = [expand(c, env) for c in container.get("command", [])]
        args = [expand(a, env) for a in container.get("args", [])]
        if command:
            program = command[0]
            if os.path.basename(program) != binary:
                raise ValueError(f"command {program!r} is not the image's binary {binary!r}")
            argv = [os.path.join(bin_dir, binary), *command[1:], *args]
        else:
            argv = [os.path.join(bin_dir, binary), *args]
        if not os.access(argv[0], os.X_OK):
            raise ValueError(f"{argv[0]} is missing (build it: cmake --build --preset release)")
        return argv, run_env

    def _transition(self, kind, status):
        previous = self.transitions.get(kind)
        if previous is None or previous[0] != status:
            self.transitions[kind] = (status, now())
        return self.transitions[kind][1]

    def _status(self):
        container = self._container()
        running = "running" in self.state
        ready = running and self.ready
        conditions = []
        for kind, status in (("PodReadyToStartContainers", self.phase != "Pending" or running),
                             ("Initialized", True),
                             ("ContainersReady", ready),
                             ("Ready", ready)):
            text = "True" if status else "False"
            cond = {"type": kind, "status": text, "lastProbeTime": None,
                    "lastTransitionTime": self._transition(kind, text)}
            if kind in ("ContainersReady", "Ready") and not status:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{container.get('name')}]"
            conditions.append(cond)
        for cond in self.pod.get("status", {}).get("conditions", []):
            if cond["type"] not in {c["type"] for c in conditions}:
                conditions.append(cond)  # PodScheduled (the scheduler's) and others
        cstatus = {"name": container.get("name"), "image": container.get("image"),
                   "imageID": f"ringlb-node-agent://{image_binary(container.get('image', '')) or ''}",
                   "ready": ready, "started": self.started, "restartCount": self.restart_count,
                   "state": self.state, "lastState": self.last_state}
        if self.proc is not None:
            cstatus["containerID"] = f"ringlb-node-agent://{self.agent.name}/{self.proc.pid}"
        return {"phase": self.phase, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
                "podIP": self.pod_ip, "podIPs": [{"ip": self.pod_ip}], "startTime": self.start_time,
                "conditions": conditions, "containerStatuses": [cstatus]}

    def _report(self, force=False):
        status = self._status()
        if status == self.sent and not force:
            return
        if getattr(self, "vanished", False) or self.agent.silent:
            return
        try:
            self.agent.api.ok("PATCH", f"/api/v1/namespaces/{self.ns}/pods/{self.name}/status",
                              {"metadata": {"uid": self.uid}, "status": status},
                              content_type="application/merge-patch+json")
            self.sent = status
        except (ApiError, OSError) as e:
            self.agent.log(f"{self.key}: status not written: {e}")

    def _spawn(self, argv, env):
        log = open(self.log_path, "ab")
        log.write(f"--- {now()} start #{self.restart_count}: {' '.join(argv)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(argv, cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        self.started_at = time.monotonic()
        self.state = {"running": {"startedAt": now()}}
        self.phase = "Running"
        container = self._container()
        self.startup = Probe(container.get("startupProbe"), container, self.pod_ip) \
            if container.get("startupProbe") else None
        self.readiness = Probe(container.get("readinessProbe"), container, self.pod_ip) \
            if container.get("readinessProbe") else None
        self.liveness = Probe(container.get("livenessProbe"), container, self.pod_ip) \
            if container.get("livenessProbe") else None
        self.started = self.startup is None
        self.ready = self.readiness is None and self.started

    def _kill(self, grace):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=max(0, grace))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def _exited(self, code, reason=None):
        finished = now()
        started = self.state.get("running", {}).get("startedAt", finished)
        self.state = {"terminated": {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error"),
                                     "startedAt": started, "finishedAt": finished,
                                     "containerID": f"ringlb-node-agent://{self.agent.name}/{self.proc.pid}"}}
        self.ready = False

    def _main(self):
        try:
            self._life()
        except Exception as e:  # noqa: BLE001 -- the agent must keep running the other Pods
            self.agent.log(f"{self.key}: pod worker failed: {e!r}")
        finally:
            self.finished = True

    def _life(self):
        backoff = 1.0
        prepared = None
        while True:
            if self.stop_event.is_set():
                self._kill(2)
                return
            with self.lock:
                deleting = self.delete_grace
            if deleting is not None:
                self._kill(deleting)
                if self.proc is not None and "running" in self.state:
                    self._exited(self.proc.returncode if self.proc.returncode is not None else 137)
                if not getattr(self, "vanished", False) and not self.agent.silent:
                    self._report()
                    status, body = self.agent.api.request(
                        "DELETE", f"/api/v1/namespaces/{self.ns}/pods/{self.name}",
                        {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                         "preconditions": {"uid": self.uid}})
                    if status not in (200, 202, 404, 409):
                        self.agent.log(f"{self.key}: delete failed {status}: {body}")
                return
            if prepared is None:
                try:
                    prepared = self._prepare()
                except (ValueError, ApiError, OSError) as e:
                    self.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)[:1000]}}
                    self._report()
                    self.stop_event.wait(2)
                    continue
            if self.proc is None or ("running" not in self.state and self.phase == "Running" and self._restart_due):
                if self.proc is not None:
                    self.restart_count += 1
                self._spawn(*prepared)
                self._report()
            if "running" in self.state:
                self._tick()
            elif self.phase in ("Succeeded", "Failed"):
                self.stop_event.wait(0.5)
                continue
            code = self.proc.poll()
            if code is not None and "running" in self.state:
                self._exited(code)
                policy = self.pod["spec"].get("restartPolicy", "Always")
                if policy == "Always" or (policy == "OnFailure" and code != 0):
                    self.last_state = self.state
                    self.state = {"waiting": {"reason": "CrashLoopBackOff",
                                              "message": f"back-off {backoff:.0f}s restarting failed container"}}
                    self._restart_at = time.monotonic() + backoff
                    # Shorter than the kubelet's 10 s..5 min: a test should not wait minutes.
                    backoff = min(backoff * 2, 30.0) if time.monotonic() - self.started_at < 10 else 1.0
                else:
                    self.phase = "Succeeded" if code == 0 else "Failed"
                self._report()
            self.stop_event.wait(0.1)

    @property
    def _restart_due(self):
        return time.monotonic() >= getattr(self, "_restart_at", 0)

    def _tick(self):
        t = time.monotonic()
        if self.token_expiry and t >= self.token_expiry:
            try:
                self._project(*self.token_source)
            except (ApiError, OSError) as e:
                self.agent.log(f"{self.key}: token refresh failed: {e}")
                self.token_expiry = t + 10
        if not self.started:
            if self.startup.due(t, self.started_at):
                result = self.startup.run(t)
                if result == "success":
                    self.started = True
                    self.ready = self.readiness is None
                elif result == "failure":
                    self._restart_for_probe("startup")
                    return
        else:
            if self.readiness is not None and self.readiness.due(t, self.started_at):
                result = self.readiness.run(t)
                if result == "success":
                    self.ready = True
                elif result == "failure":
                    self.ready = False
            if self.liveness is not None and self.liveness.due(t, self.started_at):
                if self.liveness.run(t) == "failure":
                    self._restart_for_probe("liveness")
                    return
        self._report()

    def _restart_for_probe(self, which):
        self.agent.log(f"{self.key}: {which} probe failed; restarting the container")
        grace = int(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        self._kill(grace)
        self._exited(self.proc.returncode if self.proc.returncode is not None else 137, reason="Error")
        self.last_state = self.state
        self.state = {"waiting": {"reason": "CrashLoopBackOff", "message": f"{which} probe failed"}}
        self._restart_at = time.monotonic()
        self._report()


class NodeAgent:
    """A Node and the Pods bound to it (see the module docstring)."""

    LEASE_SECONDS = 40      # the kubelet's default nodeLeaseDurationSeconds
    RENEW_SECONDS = 5       # the kubelet renews at 1/4 of the duration (10 s); faster here
    SYNC_SECONDS = 0.3      # how often the Pods bound here are listed (a kubelet watches)

    def __init__(self, cluster, name="node-1", index=1, bin_dir=None, log=None, hang_deletions=False,
                 pod_subnet=None):
        self.cluster = cluster
        self.name = name
        self.index = index
        self.dir = os.path.join(cluster.dir, f"node-{name}")
        os.makedirs(os.path.join(self.dir, "pods"), exist_ok=True)
        self.log_path = os.path.join(self.dir, "agent.log")
        self._log_file = open(self.log_path, "a")
        self.services_file = os.path.join(self.dir, "services")
        open(self.services_file, "w").close()
        cert, key = cluster.pki.issue(f"node-{name}", f"/O=system:nodes/CN=system:node:{name}")
        self.api = Api(cluster.server, cluster.pki.ca_crt, cert, key)
        self.shim = build_shim(self.dir)
        self.runs = {}           # uid -> PodRun
        # Pod addresses: loopback by default. The real EndpointSlice controller refuses loopback
        # addresses ("may not be in the loopback range"), so a test that needs EndpointSlices
        # passes pod_subnet="10.244" and runs inside a network namespace (netns) of its own where
        # 10.244.0.0/16 is local (tests/e2e/pod_network.py); no such address exists outside it.
        prefix = f"{pod_subnet}.{index}" if pod_subnet else f"127.0.{10 + index}"
        self.free_ips = [f"{prefix}.{n}" for n in range(2, 255)]
        self.silent = False      # a lost node writes nothing
        # A kubelet stuck on deletions (a hung container runtime or volume unmount): the Node stays
        # Ready, but a Pod with a deletionTimestamp keeps running and is never deleted by this agent.
        self.hang_deletions = hang_deletions
        self._stop = threading.Event()
        self._threads = []
        self.lease_renewals = 0

    def log(self, line):
        self._log_file.write(f"{now_micro()} {line}\n")
        self._log_file.flush()

    # ---- lifecycle ----

    def start(self, timeout=60):
        self._register()
        for target, name in ((self._heartbeat_loop, "heartbeat"), (self._sync_loop, "sync"),
                             (self._services_loop, "services")):
            thread = threading.Thread(target=target, name=f"{self.name} {name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.cluster.wait_for(self._schedulable, timeout, f"Node {self.name} Ready and without taints")
        return self

    def stop(self, lost=False):
        """Kills every Pod's process. lost=False marks the Node NotReady (a kubelet shut down);
        lost=True writes nothing more, as a node that lost power or its network."""
        self.silent = lost
        self._stop.set()
        for run in list(self.runs.values()):
            run.stop_event.set()
        for run in list(self.runs.values()):
            run.thread.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)
        if not lost:
            try:
                self._set_ready(False, "KubeletNotReady", "ringlb node agent stopped")
            except (ApiError, OSError) as e:
                self.log(f"NotReady not written: {e}")
        self._log_file.close()

    # ---- the Node and its Lease ----

    def _node_status(self, ready, reason, message):
        t = now()
        if getattr(self, "_ready", None) != ready:
            self._ready, self._ready_since = ready, t
        return {
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "20Gi"},
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "20Gi"},
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.name}],
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "reason": reason, "message": message,
                 "lastHeartbeatTime": t, "lastTransitionTime": self._ready_since},
                *[{"type": kind, "status": "False", "reason": f"KubeletHas{ok}", "message": "node agent",
                   "lastHeartbeatTime": t, "lastTransitionTime": self._registered_at}
                  for kind, ok in (("MemoryPressure", "SufficientMemory"), ("DiskPressure", "NoDiskPressure"),
                                   ("PIDPressure", "SufficientPID"))],
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": os.uname().release,
                         "osImage": "ringlb node agent", "containerRuntimeVersion": "ringlb-node-agent://1",
                         "kubeletVersion": AGENT_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64"},
        }

    def _register(self):
        self._registered_at = now()
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {
                    "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "ringlb.dev/node-agent": "true"}},
                "spec": {}}
        status, body = self.api.request("POST", "/api/v1/nodes", node)
        if status not in (200, 201, 409):
            raise ApiError(status, body, "POST /api/v1/nodes")
        self._set_ready(True, "KubeletReady", "ringlb node agent is posting ready status")
        self.api.ok("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": self.LEASE_SECONDS,
                     "renewTime": now_micro()}}, expect=(200, 201, 409))

    def _set_ready(self, ready, reason, message):
        self.api.ok("PATCH", f"/api/v1/nodes/{self.name}/status", {"status": self._node_status(ready, reason, message)},
                    content_type="application/merge-patch+json")

    def _schedulable(self):
        status, node = self.cluster.get(f"/api/v1/nodes/{self.name}")
        if status != 200:
            return False
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
        return ready and not node.get("spec", {}).get("taints")

    def _heartbeat_loop(self):
        while not self._stop.wait(self.RENEW_SECONDS):
            try:
                lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
                self.api.ok("PATCH", lease_path, {"spec": {"renewTime": now_micro(), "holderIdentity": self.name,
                                                           "leaseDurationSeconds": self.LEASE_SECONDS}},
                            content_type="application/merge-patch+json")
                self.lease_renewals += 1
                self._set_ready(True, "KubeletReady", "ringlb node agent is posting ready status")
            except (ApiError, OSError) as e:
                self.log(f"heartbeat failed: {e}")

    # ---- Pods ----

    def _sync_loop(self):
        while not self._stop.is_set():
            try:
                self._sync()
            except (ApiError, OSError, ValueError) as e:
                self.log(f"sync failed: {e}")
            self._stop.wait(self.SYNC_SECONDS)

    def _sync(self):
        selector = urllib.parse.quote(f"spec.nodeName={self.name}")
        pods = self.api.ok("GET", f"/api/v1/pods?fieldSelector={selector}")["items"]
        seen = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            run = self.runs.get(uid)
            if run is None:
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    continue  # finished before this agent started (or by an earlier agent)
                if not self.free_ips:
                    self.log(f"no Pod address left for {pod['metadata']['name']}")
                    continue
                ip = self.free_ips.pop(0)
                loopback = f"127.1.{10 + self.index}.{ip.split('.')[3]}"
                run = PodRun(self, pod, ip, loopback)
                self.runs[uid] = run
                self.log(f"{run.key}: runs at {ip}")
                run.update(pod)
                run.start()
            else:
                run.update(pod)
        for uid, run in list(self.runs.items()):
            if uid not in seen and not run.finished:
                run.vanish()
            if run.finished and uid not in seen:
                del self.runs[uid]
                self.free_ips.append(run.pod_ip)

    # ---- Services (the kube-proxy and DNS stand-in, through the shim) ----

    @staticmethod
    def service_vip(cluster_ip):
        """ClusterIP 10.96.x.y is reached at 127.96.x.y."""
        parts = cluster_ip.split(".")
        return f"127.{parts[1]}.{parts[2]}.{parts[3]}"

    def _services_loop(self):
        while not self._stop.is_set():
            try:
                self._write_services()
            except (ApiError, OSError, ValueError) as e:
                self.log(f"services not written: {e}")
            self._stop.wait(0.5)

    def _write_services(self):
        # As the admin: a node may list only its own Pods, and the EndpointSlices kube-proxy would
        # read stay empty here (the real EndpointSlice controller refuses loopback addresses:
        # "may not be in the loopback range"), so endpoints come from Services and Pods directly.
        services = self.cluster.ok("GET", "/api/v1/services")["items"]
        pods = self.cluster.ok("GET", "/api/v1/pods")["items"]
        lines = []
        api_port = urllib.parse.urlsplit(self.cluster.server).port
        for svc in services:
            meta, spec = svc["metadata"], svc["spec"]
            if (meta["namespace"], meta["name"]) == ("default", "kubernetes") and spec.get("clusterIP"):
                # The API server, as Pods reach it in a cluster: the `kubernetes` Service (its
                # Endpoints are empty here; the API server listens on 127.0.0.1 only).
                vip = self.service_vip(spec["clusterIP"])
                for alias in ("kubernetes.default.svc.cluster.local", "kubernetes.default.svc", "kubernetes.default"):
                    lines.append(f"H {alias} {vip}")
                lines.append(f"S {vip} 443 127.0.0.1:{api_port}")
            meta, spec = svc["metadata"], svc["spec"]
            ip = spec.get("clusterIP")
            if not ip or ip == "None" or not spec.get("selector"):
                continue
            vip = self.service_vip(ip)
            name, ns = meta["name"], meta["namespace"]
            for alias in (f"{name}.{ns}.svc.cluster.local", f"{name}.{ns}.svc", f"{name}.{ns}"):
                lines.append(f"H {alias} {vip}")
            selector = spec["selector"]
            members = [p for p in pods if p["metadata"]["namespace"] == ns
                       and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
                       and not p["metadata"].get("deletionTimestamp") and p.get("status", {}).get("podIP")
                       and any(c["type"] == "Ready" and c["status"] == "True"
                               for c in p.get("status", {}).get("conditions", []))]
            for port in spec.get("ports", []):
                if port.get("protocol", "TCP") != "TCP":
                    continue
                endpoints = []
                for pod in members:
                    target = port.get("targetPort", port["port"])
                    if isinstance(target, str) and not target.isdigit():
                        numbers = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
                                   if p.get("name") == target]
                        if not numbers:
                            continue
                        target = numbers[0]
                    endpoints.append(f"{pod['status']['podIP']}:{int(target)}")
                lines.append(f"S {vip} {port['port']} {' '.join(sorted(endpoints))}".rstrip())
        text = "\n".join(lines) + "\n"
        tmp = self.services_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.services_file)

    def service_address(self, namespace, name, port):
        """(ip, port) of one ready endpoint of a Service port, for the tests (which run outside the
        shim), or None."""
        with open(self.services_file) as f:
            lines = f.read().splitlines()
        vip = next((line.split()[2] for line in lines if line.startswith(f"H {name}.{namespace}.svc ")), None)
        if vip is None:
            return None
        for line in lines:
            parts = line.split()
            if parts[:3] == ["S", vip, str(port)] and len(parts) > 3:
                ip, p = random.choice(parts[3:]).rsplit(":", 1)
                return ip, int(p)
        return None

    def pod_log(self, namespace, name):
        for run in self.runs.values():
            if run.ns == namespace and run.name == name:
                with open(run.log_path, errors="replace") as f:
                    return f.read()
        return ""

    def logs(self, lines=40):
        out = []
        try:
            with open(self.log_path, errors="replace") as f:
                out.append(f"--- node agent {self.name} ---\n" + "\n".join(f.read().splitlines()[-lines:]))
        except OSError:
            pass
        for run in list(self.runs.values()):
            try:
                with open(run.log_path, errors="replace") as f:
                    out.append(f"--- pod {run.key} ({run.pod_ip}) ---\n" + "\n".join(f.read().splitlines()[-lines:]))
            except OSError:
                pass
        return "\n".join(out)
