#!/usr/bin/env python3
"""The operator with --runtime docker, the proxy and apod containers, against a
real dockerd (label `docker`).

Needs RINGLB_BIN_DIR (ringlb-operator, ringlb-proxy), the image
ringlb/apod:0.1.0 (docker/build-local-images.sh) and a daemon at DOCKER_HOST or
/var/run/docker.sock. All traffic stays on 127.0.0.1: replicas use host
networking. Every process and container a test starts is removed in tearDown.
Fails, never skips, when CI=true and something it needs is missing.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN_DIR = os.environ.get("RINGLB_BIN_DIR", "")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
IMAGE = "ringlb/apod:0.1.0"
IN_CI = os.environ.get("CI") == "true"
# toxiproxy (scripts/lib/toxiproxy.sh) and its client, shared with the network-fault tests.
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "netfaults"))
import toxiproxy  # noqa: E402
APOD_ARGS = '["--port", "$(PORT)", "--listen-address", "127.0.0.1", "--drain-timeout-ms", "500"]'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker(*args, host=None, check=True, timeout=60):
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    result = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def containers(ring, host=None, all_states=False):
    """Containers labelled for `ring`: dicts with id, name, state, labels."""
    args = ["ps", "--no-trunc", "--filter", f"label=ringlb.dev/ring={ring}", "--format", "{{json .}}"]
    if all_states:
        args.insert(1, "-a")
    out = []
    for line in docker(*args, host=host).splitlines():
        row = json.loads(line)
        labels = dict(kv.split("=", 1) for kv in row["Labels"].split(",") if "=" in kv)
        out.append({"id": row["ID"], "name": row["Names"], "state": row["State"], "labels": labels})
    return sorted(out, key=lambda c: c["name"])


def http_get(port, path, timeout=5.0, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        res = conn.getresponse()
        body = res.read()
        return res.status, dict(res.getheaders()), body
    finally:
        conn.close()


def api_paths(count):
    """Distinct APOD queries: with the pathAndQuery key each is its own key."""
    return [f"/planetary/apod?date={2000 + i // 336}-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}" for i in range(count)]


class Proc:
    """A child process whose output goes to a file, stopped in tearDown."""

    def __init__(self, name, args, logdir, env=None):
        self.name = name
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_problem(host=None):
    """None when a daemon answers and has the apod image, else why not."""
    if shutil.which("docker") is None:
        return "the docker CLI is missing (apt-get install docker.io)"
    try:
        docker("version", "--format", "{{.Server.APIVersion}}", host=host, timeout=15)
    except (AssertionError, subprocess.TimeoutExpired) as e:
        return f"no Docker daemon answers ({e}); start one (scripts/lib/dockerd.sh) or run ctest -LE docker"
    if not docker("images", "-q", IMAGE, host=host).strip():
        return f"{IMAGE} is missing: run docker/build-local-images.sh --only apod"
    return None


class DockerStackTest(unittest.TestCase):
    counter = 0

    @classmethod
    def setUpClass(cls):
        for program in ("ringlb-operator", "ringlb-proxy"):
            if not os.access(os.path.join(BIN_DIR, program), os.X_OK):
                raise AssertionError(f"{program} not found in RINGLB_BIN_DIR={BIN_DIR!r}")
        problem = daemon_problem()
        if problem:
            # Outside CI a developer without Docker may leave these out; in CI they must run.
            if IN_CI:
                raise AssertionError(problem)
            raise unittest.SkipTest(problem)

    def setUp(self):
        DockerStackTest.counter += 1
        self.ring = f"e2e{os.getpid()}n{DockerStackTest.counter}"
        self.workdir = tempfile.mkdtemp(prefix="ringlb-docker-e2e-")
        self.resources = os.path.join(self.workdir, "resources")
        os.makedirs(self.resources)
        self.procs = []
        self.docker_host = None
        self.extra_rings = []
        self.operator_port = free_port()

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop(signal.SIGKILL if p.name.startswith("operator") else signal.SIGTERM)
        # ctest shows this only when the test fails.
        for p in self.procs:
            print(f"---- {p.name} log (last 60 lines) ----")
            print("\n".join(p.output().splitlines()[-60:]))
        for ring in [self.ring, *self.extra_rings]:
            try:
                ids = [c["id"] for c in containers(ring, host=self.docker_host, all_states=True)]
                if ids:
                    docker("rm", "-f", *ids, host=self.docker_host, check=False)
            except Exception as e:  # the daemon may be the thing under test
                print(f"cleanup of ring {ring}: {e}")
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- helpers --------------------------------------------------------------------------------

    def write_ring(self, replicas, env_value="one", image=IMAGE, drain=1):
        text = f"""apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {{name: {self.ring}}}
spec:
  replicas: {replicas}
  drainSeconds: {drain}
  template:
    image: {image}
    args: {APOD_ARGS}
    env: [{{name: E2E_VALUE, value: "{env_value}"}}]
  hashing: {{key: {{source: pathAndQuery}}}}
  healthCheck: {{path: /healthz, intervalSeconds: 1, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1}}
"""
        path = os.path.join(self.resources, f"{self.ring}.yaml")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    def start_operator(self, name="operator", extra=(), docker_host=None):
        env = dict(os.environ)
        if docker_host or self.docker_host:
            env["DOCKER_HOST"] = docker_host or self.docker_host
        args = [os.path.join(BIN_DIR, "ringlb-operator"), "--runtime", "docker", "--resources", self.resources,
                "--listen", f"127.0.0.1:{self.operator_port}", "--state-dir", os.path.join(self.workdir, "state"),
                "--stop-grace-seconds", "3", "--resync-seconds", "2", "--poll-ms", "100", *extra]
        p = Proc(name, args, self.workdir, env)
        self.procs.append(p)
        self.wait_for(lambda: self._answers(self.operator_port, "/healthz"), 15, f"{name} never answered /healthz")
        return p

    def start_proxy(self):
        port, admin = free_port(), free_port()
        args = [os.path.join(BIN_DIR, "ringlb-proxy"), "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
                "--threads", "1", "--ring-url", f"http://127.0.0.1:{self.operator_port}/v1/rings/{self.ring}"]
        p = Proc("proxy", args, self.workdir)
        self.procs.append(p)
        self.wait_for(lambda: self._answers(admin, "/readyz"), 15, "proxy never became ready")
        return port

    @staticmethod
    def _answers(port, path):
        try:
            return http_get(port, path, timeout=1)[0] == 200
        except OSError:
            return False

    def wait_for(self, predicate, timeout, message, interval=0.1):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        self.fail(f"{message} (after {timeout} s; last: {last!r})")

    def ring_json(self):
        try:
            status, headers, body = http_get(self.operator_port, f"/v1/rings/{self.ring}", timeout=2)
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def ready_members(self):
        ring = self.ring_json()
        if not ring:
            return []
        return sorted(m["id"] for m in ring["members"] if m["state"] == "Ready")

    def wait_converged(self, replicas, timeout=60):
        """Ring has exactly slots 0..replicas-1, all Ready, and dockerd runs exactly those containers."""
        want = [f"{self.ring}-{i}" for i in range(replicas)]

        def converged():
            ring = self.ring_json()
            if not ring or sorted(m["id"] for m in ring["members"]) != sorted(want):
                return False
            if any(m["state"] != "Ready" for m in ring["members"]):
                return False
            running = containers(self.ring, host=self.docker_host)
            names = sorted(c["name"] for c in running)
            return names == sorted(f"ringlb-{slot}" for slot in want) and ring

        return self.wait_for(converged, timeout, f"ring {self.ring} did not converge on {replicas} replicas", 0.25)

    def status(self):
        status, _, body = http_get(self.operator_port, "/v1/status", timeout=2)
        self.assertEqual(status, 200)
        return json.loads(body)

    def ring_status_text(self):
        return json.dumps(self.status())

    def served_by(self, proxy_port, paths):
        seen = {}
        for path in paths:
            status, headers, _ = http_get(proxy_port, path)
            self.assertEqual(status, 200, f"GET {path} through the proxy")
            seen[path] = headers.get("X-Served-By")
        return seen

    # ---- acceptance -----------------------------------------------------------------------------

    def test_scale_up_and_down_through_the_proxy(self):
        self.write_ring(3)
        self.start_operator()
        ring = self.wait_converged(3)
        running = containers(self.ring)
        self.assertEqual([c["name"] for c in running], [f"ringlb-{self.ring}-{i}" for i in range(3)])
        for c in running:
            slot = c["name"][len("ringlb-"):]
            self.assertEqual(c["labels"]["ringlb.dev/ring"], self.ring)
            self.assertEqual(c["labels"]["ringlb.dev/slot"], slot)
            self.assertEqual(c["labels"]["ringlb.dev/version"], "0.1.0")
            self.assertRegex(c["labels"]["ringlb.dev/spec-hash"], r"^[0-9a-f]+$")
            member = next(m for m in ring["members"] if m["id"] == slot)
            self.assertEqual(c["labels"]["ringlb.dev/address"], member["address"])

        proxy = self.start_proxy()
        paths = api_paths(120)
        self.wait_for(lambda: set(self.served_by(proxy, paths).values()) == {f"{self.ring}-{i}" for i in range(3)},
                      15, "the proxy does not route to all 3 replicas")
        # The same key always goes to the same replica.
        first = self.served_by(proxy, paths)
        self.assertEqual(self.served_by(proxy, paths), first)

        self.write_ring(5)
        self.wait_converged(5)
        self.wait_for(lambda: set(self.served_by(proxy, paths).values()) == {f"{self.ring}-{i}" for i in range(5)},
                      15, "the proxy does not route to all 5 replicas")

        self.write_ring(1)
        self.wait_converged(1, timeout=90)
        self.wait_for(lambda: set(self.served_by(proxy, paths).values()) == {f"{self.ring}-0"}, 15,
                      "after scaling to 1 the proxy still routes elsewhere")
        self.assertEqual(len(containers(self.ring, all_states=True)), 1, "scaled-down containers are removed")

    def test_docker_kill_under_load_loses_no_request(self):
        self.write_ring(3)
        self.start_operator()
        ring = self.wait_converged(3)
        proxy = self.start_proxy()
        paths = api_paths(200)
        owners = self.served_by(proxy, paths)
        victim_slot = f"{self.ring}-1"
        self.assertIn(victim_slot, owners.values())
        victim = next(c for c in containers(self.ring) if c["name"] == f"ringlb-{victim_slot}")

        failures, total = [], [0]
        stop = threading.Event()

        def load(worker):
            conn = None
            i = worker
            deadline = time.monotonic() + 40
            while not stop.is_set() and time.monotonic() < deadline:
                path = paths[i % len(paths)]
                i += 4
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=5)
                    conn.request("GET", path)
                    res = conn.getresponse()
                    res.read()
                    total[0] += 1
                    if res.status != 200:
                        failures.append(f"{path}: HTTP {res.status}")
                    if res.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    failures.append(f"{path}: {type(e).__name__} {e}")
                    conn = None
            if conn:
                conn.close()

        threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)
            version_before = self.ring_json()["version"]
            killed_at = time.monotonic()
            docker("kill", victim["id"])
            # Detection: the ring marks the slot down (or already shows its replacement).
            detected = None
            known = version_before
            while time.monotonic() - killed_at < 10:
                status, headers, body = http_get(
                    self.operator_port, f"/v1/rings/{self.ring}?watch={known}&timeoutSeconds=2", timeout=5)
                if status == 200:
                    ring = json.loads(body)
                    known = ring["version"]
                    member = next(m for m in ring["members"] if m["id"] == victim_slot)
                    if member["state"] != "Ready" or member["address"] != victim["labels"]["ringlb.dev/address"]:
                        detected = time.monotonic() - killed_at
                        break
            self.assertIsNotNone(detected, "the kill was never reflected in the ring")
            print(f"[ figure ] docker kill -> ring shows {victim_slot} down: {detected * 1000:.0f} ms")
            self.assertLess(detected, 1.0, "detection must come from the event stream, faster than heartbeats")

            def replaced_and_ready():
                current = [c for c in containers(self.ring) if c["name"] == f"ringlb-{victim_slot}"]
                return (victim_slot in self.ready_members() and current and current[0]["id"] != victim["id"]
                        and time.monotonic() - killed_at)

            back = self.wait_for(replaced_and_ready, 10, f"{victim_slot} not Ready again within 10 s", 0.05)
            print(f"[ figure ] docker kill -> {victim_slot} Ready again: {back * 1000:.0f} ms")
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join()
        print(f"[ figure ] requests during the kill: {total[0]}, failed: {len(failures)}")
        self.assertGreater(total[0], 100)
        self.assertEqual(failures, [], f"{len(failures)} of {total[0]} requests failed")
        operator_log = self.procs[0].output()
        self.assertRegex(operator_log, rf"{victim_slot} \({victim['id']}\) exited: exit code 137")

    def test_operator_restart_adopts_containers(self):
        self.write_ring(3)
        first = self.start_operator("operator-1")
        before_ring = self.wait_converged(3)
        before = {c["name"]: c["id"] for c in containers(self.ring)}
        started = {name: docker("inspect", "--format", "{{.State.StartedAt}}", cid).strip() for name, cid in before.items()}
        # An orphan: a labelled container of a ring that no longer exists.
        orphan_ring = self.ring + "gone"
        self.extra_rings.append(orphan_ring)
        docker("run", "-d", "--name", f"ringlb-{orphan_ring}-0", "--network", "host",
               "--label", f"ringlb.dev/ring={orphan_ring}", "--label", f"ringlb.dev/slot={orphan_ring}-0",
               "--label", "ringlb.dev/spec-hash=x", "--label", f"ringlb.dev/address=127.0.0.1:{free_port()}",
               IMAGE, "--port", "0", "--listen-address", "127.0.0.1")

        first.stop(signal.SIGKILL)
        self.assertEqual({c["name"]: c["id"] for c in containers(self.ring)}, before, "containers outlive the operator")
        self.start_operator("operator-2")
        after_ring = self.wait_converged(3)
        self.assertGreaterEqual(after_ring["version"], before_ring["version"])
        self.assertEqual({c["name"]: c["id"] for c in containers(self.ring)}, before, "adopted, not replaced")
        for name, cid in before.items():
            self.assertEqual(docker("inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}", cid).strip(),
                             f"{started[name]} 0", f"{name} was restarted")
        self.wait_for(lambda: not containers(orphan_ring, all_states=True), 30, "the orphan was not removed")
        # Versions keep increasing after the restart.
        self.write_ring(4)
        grown = self.wait_converged(4)
        self.assertGreater(grown["version"], after_ring["version"])
        self.assertEqual({c["name"]: c["id"] for c in containers(self.ring) if c["name"] in before}, before)

    def test_template_change_rolls_one_at_a_time(self):
        self.write_ring(3, env_value="one")
        self.start_operator()
        self.wait_converged(3)
        before = {c["name"]: c for c in containers(self.ring)}
        old_hash = next(iter(before.values()))["labels"]["ringlb.dev/spec-hash"]

        # Count the replicas that really serve, not what the ring says: probe
        # every slot's current address every 20 ms while the rollout runs.
        samples = []
        drained = set()  # slots the ring showed Draining: each leaves the proxies before it stops
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                ring = self.ring_json()
                if ring:
                    drained.update(m["id"] for m in ring["members"] if m["state"] == "Draining")
                    serving = 0
                    for m in ring["members"]:
                        try:
                            if http_get(int(m["address"].rsplit(":", 1)[1]), "/healthz", timeout=0.3)[0] == 200:
                                serving += 1
                        except OSError:
                            pass
                    samples.append(serving)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            time.sleep(0.3)
            self.write_ring(3, env_value="two")
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                now = containers(self.ring)
                if (len(now) == 3 and all(c["labels"]["ringlb.dev/spec-hash"] != old_hash for c in now)
                        and len(self.ready_members()) == 3):
                    break
                time.sleep(0.1)
            else:
                self.fail("the rollout did not finish in 90 s")
            time.sleep(0.3)
        finally:
            stop.set()
            sampler.join()
        lowest = min(samples)
        print(f"[ figure ] rollout: {len(samples)} samples, fewest serving replicas {lowest} of 3")
        self.assertGreaterEqual(lowest, 2, "the rollout must never drop below replicas - 1 Ready")
        self.assertEqual(samples[-1], 3)
        self.assertEqual(drained, {f"{self.ring}-0", f"{self.ring}-1", f"{self.ring}-2"},
                         "every replica is Draining in the ring before the rollout replaces it")
        after = {c["name"]: c for c in containers(self.ring)}
        for name, c in after.items():
            self.assertNotEqual(c["id"], before[name]["id"])
            env = json.loads(docker("inspect", "--format", "{{json .Config.Env}}", c["id"]))
            self.assertIn("E2E_VALUE=two", env)

    def test_missing_image_is_a_clear_error_and_recovers(self):
        self.write_ring(2, image="ringlb/does-not-exist:0.0.0")
        operator = self.start_operator()
        text = self.wait_for(lambda: "ImageNotFound" in self.ring_status_text() and self.ring_status_text(), 15,
                             "no ImageNotFound error in /v1/status")
        self.assertIn("ringlb/does-not-exist:0.0.0", text)
        # No busy loop: retries back off, so the operator stays nearly idle.
        cpu0, lines0 = operator.cpu_seconds(), operator.output().count("ImageNotFound")
        time.sleep(6)
        cpu = operator.cpu_seconds() - cpu0
        attempts = operator.output().count("ImageNotFound") - lines0
        print(f"[ figure ] missing image: {cpu:.2f} s CPU and {attempts} failing attempts logged in 6 s")
        self.assertTrue(operator.alive())
        self.assertLess(cpu, 1.0)
        self.assertLess(attempts, 40)
        self.assertEqual(containers(self.ring, all_states=True), [], "nothing is left behind")
        self.write_ring(2)
        self.wait_converged(2)

    def test_stopped_daemon_is_a_clear_error_and_recovers(self):
        if os.geteuid() != 0:
            if IN_CI:
                self.fail("this test starts its own dockerd and needs root")
            self.skipTest("starting a private dockerd needs root")
        daemon = PrivateDockerd(self.workdir)
        self.addCleanup(daemon.destroy)
        daemon.start()
        self.docker_host = daemon.host
        build = subprocess.run([os.path.join(ROOT, "docker", "build-local-images.sh"), "--bin-dir", BIN_DIR,
                                "--only", "apod"], env={**os.environ, "DOCKER_HOST": daemon.host},
                               capture_output=True, text=True, timeout=300)
        self.assertEqual(build.returncode, 0, build.stderr)

        self.write_ring(2)
        operator = self.start_operator()
        self.wait_converged(2)
        daemon.stop()

        text = self.wait_for(lambda: "DaemonUnreachable" in self.ring_status_text() and self.ring_status_text(), 30,
                             "no DaemonUnreachable error in /v1/status")
        self.assertIn(daemon.host, text)
        self.assertTrue(operator.alive())
        # The last ring is still served.
        self.assertIsNotNone(self.ring_json())
        cpu0 = operator.cpu_seconds()
        time.sleep(6)
        cpu = operator.cpu_seconds() - cpu0
        print(f"[ figure ] daemon down: operator used {cpu:.2f} s CPU in 6 s")
        self.assertLess(cpu, 1.0, "busy loop while the daemon is down")
        self.assertTrue(operator.alive())

        daemon.start()
        self.wait_converged(2, timeout=90)

    def test_slow_then_blackholed_dockerd_is_a_clear_error_and_reconciles_after(self):
        """toxiproxy between the operator and dockerd (through a TCP relay to the daemon's unix
        socket): with latency it converges, slower; blackholed, each Engine API call fails after
        --docker-timeout with an error naming the daemon, the last ring stays published, members are
        still probed, nothing loops hot; healed, a replica killed meanwhile is replaced."""
        if toxiproxy.binary() is None:
            if IN_CI:
                self.fail("toxiproxy-server is not built: bash scripts/lib/toxiproxy.sh")
            self.skipTest("toxiproxy is not built: bash scripts/lib/toxiproxy.sh")
        daemon = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if daemon.startswith("unix://"):
            relay = UnixRelay(daemon[len("unix://"):])
            self.addCleanup(relay.close)
            upstream = relay.address
        else:
            upstream = daemon[len("tcp://"):]
        server = toxiproxy.Toxiproxy(self.workdir)
        self.addCleanup(server.stop)
        link = server.link("dockerd", upstream)
        operator_host = f"tcp://{link.address}"
        timeout_s = 3

        # Slow: 300 ± 100 ms each way on every byte to and from the daemon.
        link.add("latency", "downstream", latency=300, jitter=100)
        link.add("latency", "upstream", latency=300, jitter=100)
        self.write_ring(2)
        started = time.monotonic()
        operator = self.start_operator(extra=("--docker-timeout", f"{timeout_s}s"), docker_host=operator_host)
        self.wait_converged(2, timeout=90)
        slow_converge = time.monotonic() - started
        self.write_ring(3)
        started = time.monotonic()
        self.wait_converged(3, timeout=90)
        slow_scale = time.monotonic() - started

        # Blackholed: connected, never answered. A replica dies meanwhile.
        link.clear()
        version = self.ring_json()["version"]
        link.blackhole()
        blackholed_at = time.monotonic()
        cpu_at = operator.cpu_seconds()
        victim_slot = f"{self.ring}-1"
        victim = next(c for c in containers(self.ring) if c["name"] == f"ringlb-{victim_slot}")
        docker("kill", victim["id"])

        def victim_state():
            ring = self.ring_json() or {"members": []}
            return next((m["state"] for m in ring["members"] if m["id"] == victim_slot), None)

        # The heartbeat (not dockerd, whose events are blackholed) finds the dead replica.
        self.wait_for(lambda: victim_state() not in ("Ready", None), 30, f"{victim_slot} not marked down by its heartbeat")
        expected = f"the Docker daemon at {operator_host}: timed out"
        self.wait_for(lambda: expected in operator.output(), 4 * timeout_s + 30,
                      f"no log line naming the daemon and the timeout ({expected!r})")
        status_text = self.wait_for(lambda: expected in self.ring_status_text() and self.ring_status_text(), 30,
                                    "no timeout error naming the daemon in /v1/status")
        self.assertIn("DaemonUnreachable", status_text)
        time.sleep(4)
        window = time.monotonic() - blackholed_at
        cpu = operator.cpu_seconds() - cpu_at
        self.assertTrue(operator.alive(), "the operator survives a blackholed dockerd")
        ring = self.ring_json()
        self.assertIsNotNone(ring, "the last ring is still served")
        self.assertGreater(ring["version"], version, "the dead replica left Ready in the published ring")
        self.assertEqual(sorted(m["id"] for m in ring["members"] if m["state"] == "Ready"),
                         [f"{self.ring}-0", f"{self.ring}-2"], "the live replicas stay Ready: still probed")
        self.assertLess(cpu / window, 0.25, f"the operator used {cpu:.2f} s of CPU in {window:.1f} s")

        link.clear()
        healed_at = time.monotonic()

        def replaced():
            current = [c for c in containers(self.ring) if c["name"] == f"ringlb-{victim_slot}"]
            return current and current[0]["id"] != victim["id"]
        self.wait_converged(3, timeout=60)
        self.assertTrue(replaced(), f"{victim_slot} runs in a new container")
        back = time.monotonic() - healed_at
        self.assertGreater(self.ring_json()["version"], ring["version"], "the replacement is published")
        print(f"[ figure ] dockerd at 300±100 ms each way: 2 replicas converged in {slow_converge:.1f} s, "
              f"scaled to 3 in {slow_scale:.1f} s; blackholed {window:.1f} s: operator CPU {cpu:.2f} s "
              f"({100 * cpu / window:.1f}% of a core); healed: {victim_slot} replaced and all Ready in {back:.1f} s")


class UnixRelay:
    """A TCP listener on 127.0.0.1 whose every connection is relayed to a unix socket: toxiproxy
    proxies TCP only, and the suite's dockerd listens on a unix socket."""

    def __init__(self, path):
        self.path = path
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.closed = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(self.path)
            except OSError:
                client.close()
                upstream.close()
                continue
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock, how in ((sink, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass

    def close(self):
        self.closed.set()
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass


class PrivateDockerd:
    """A dockerd of the test's own (data root, exec root, socket, pidfile), so it
    can be stopped and started without touching the suite's daemon."""

    def __init__(self, workdir):
        # Socket paths must stay under 108 bytes: keep the root short.
        self.root = tempfile.mkdtemp(prefix="rlbd-", dir="/tmp")
        self.host = f"unix://{self.root}/d.sock"
        self.proc = None
        self.log = os.path.join(workdir, "private-dockerd.log")

    def start(self):
        args = ["dockerd", "--data-root", f"{self.root}/data", "--exec-root", f"{self.root}/exec",
                "--pidfile", f"{self.root}/d.pid", "--host", self.host, "--bridge=none", "--iptables=false",
                "--ip-masq=false", "--ip-forward=false", "--userland-proxy=false"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"private dockerd exited: see {self.log}")
            if daemon_problem(self.host) in (None, f"{IMAGE} is missing: run docker/build-local-images.sh --only apod"):
                return
            time.sleep(0.5)
        raise AssertionError("private dockerd did not answer within 60 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def destroy(self):
        if self.proc and self.proc.poll() is None:
            try:
                ids = docker("ps", "-aq", host=self.host, check=False).split()
                if ids:
                    docker("rm", "-f", *ids, host=self.host, check=False)
            except Exception:
                pass
        self.stop()
        # dockerd leaves its default network namespace mounted under exec/netns.
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(self.root + "/")]
        for mountpoint in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mountpoint], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
