"""Operations: SIGTERM drains, config files mirror the flags, bad config fails naming the field, --help."""
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import PROXY, ProxyTestCase, ring_json


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


class FirstRingTest(ProxyTestCase):
    """A ring-following proxy listens for clients once it has a ring: a restarted proxy behind a
    load balancer refuses connects (tried elsewhere) rather than answering 503."""

    def start_raw(self, *args):
        port, admin = free_port(), free_port()
        log = open(os.path.join(self.workdir, f"raw-proxy-{port}.log"), "w")
        proc = subprocess.Popen([PROXY, "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}", "--threads", "2",
                                 *args], stdout=log, stderr=subprocess.STDOUT)

        def stop():
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
            log.close()
        self.cleanups.append(stop)
        return proc, port, admin

    def admin_status(self, admin):
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=2)
                conn.request("GET", "/readyz")
                response = conn.getresponse()
                return response.status, response.read().decode()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                conn.close()

    def test_data_port_refuses_connects_until_the_first_ring_then_serves(self):
        members = self.start_members(2)
        operator = self.start_operator()  # 404 "no ring yet" until publish
        proc, port, admin = self.start_raw("--ring-url", operator.url(), "--ring-backoff-max", "200ms")
        self.assertEqual(self.admin_status(admin), (503, "no ring loaded\n"))
        for _ in range(5):
            self.assertTrue(refused(port), "no client is accepted before the first ring")
            time.sleep(0.1)
        operator.publish(ring_json("apod", 1, members))
        deadline = time.monotonic() + 15
        while refused(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        status, headers, _ = self.proxy_get(port, "/first")
        self.assertEqual(status, 200, "the first client after the ring arrived is served")
        self.assertIsNone(proc.poll())

    def test_without_a_ring_it_listens_after_the_initial_wait_and_answers_503(self):
        operator = self.start_operator()
        started = time.monotonic()
        proc, port, admin = self.start_raw("--ring-url", operator.url(), "--initial-ring-wait", "1s")
        self.admin_status(admin)
        deadline = time.monotonic() + 20
        while refused(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(time.monotonic() - started, 1.0, "it waited for a ring first")
        self.assertEqual(self.proxy_get(port, "/none")[0], 503)

    def test_sigterm_while_waiting_for_the_first_ring_exits_cleanly(self):
        operator = self.start_operator()
        proc, port, admin = self.start_raw("--ring-url", operator.url(), "--initial-ring-wait", "60s")
        self.assertEqual(self.admin_status(admin), (503, "no ring loaded\n"))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=20), 0, "a SIGTERM before the first ring is a clean exit")
        self.assertTrue(refused(port))

    def test_a_static_ring_listens_at_once(self):
        member, = self.start_members(1)
        proc, port, admin = self.start_raw("--backends", f"{member.id}={member.address}", "--initial-ring-wait", "60s")
        self.assertEqual(self.admin_status(admin)[0], 200)
        self.assertEqual(self.proxy_get(port, "/static")[0], 200)

    @staticmethod
    def proxy_get(port, path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


class LifecycleTest(ProxyTestCase):
    def test_sigterm_fails_readiness_stops_accepting_and_drains_in_flight_requests(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}", "--drain-timeout", "10s")
        self.assertEqual(proxy.admin("/readyz")[0], 200)
        idle = proxy.connection()
        self.assertEqual(proxy.get("/warm", connection=idle)[0], 200)  # an idle keep-alive connection
        result = {}

        def slow():
            result["response"] = proxy.get("/slow/1500")

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.4)
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertEqual(proxy.admin("/readyz"), (503, "draining\n"))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=1).recv(1)  # refused, or closed at once
        thread.join()
        status, headers, body = result["response"]
        self.assertEqual(status, 200, "the in-flight request completes")
        self.assertEqual(headers.get("Connection"), "close")
        self.assertEqual(proxy.proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 5)

    def test_drain_timeout_bounds_the_exit(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}", "--drain-timeout", "500ms")
        thread = threading.Thread(target=lambda: self.swallow(lambda: proxy.get("/slow/5000")))
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)
        self.assertEqual(proxy.proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 2)
        thread.join()

    def test_yaml_config_mirrors_the_flags(self):
        member, = self.start_members(1)
        path = os.path.join(self.workdir, "proxy.yaml")
        with open(path, "w") as f:
            f.write(f"backends: [{member.id}={member.address}]\nretries: 1\nkey: header:X-User\n"
                    "timeouts: {requestHead: 3s, idle: 20s}\nlog: {json: true}\n")
        proxy = self.start_proxy("--config", path)
        self.assertEqual(proxy.get("/cfg")[0], 200)
        self.assertIn('"level":"info"', proxy.log(), "JSON logs from the config file")
        _, ring = proxy.admin_json("/ring")
        self.assertEqual(ring["key"], {"source": "header", "name": "X-User"})

    def test_a_bad_config_fails_at_start_naming_the_field(self):
        cases = [
            ("timeouts:\n  idle: forever\n", "timeouts.idle"),
            ("limits: {maxHeaders: 0}\nbackends: a=127.0.0.1:1\n", "limits.maxHeaders"),
            ("listen: nowhere\nbackends: a=127.0.0.1:1\n", "listen"),
            ("bogus: 1\n", "bogus: unknown field"),
            ("backends: a=127.0.0.1:1\nringFile: r.json\n", "only one ring source"),
        ]
        for text, expected in cases:
            path = os.path.join(self.workdir, "bad.yaml")
            with open(path, "w") as f:
                f.write(text)
            done = subprocess.run([PROXY, "--config", path], capture_output=True, text=True, timeout=10)
            self.assertEqual(done.returncode, 2, text)
            self.assertIn(expected, done.stderr, text)
            if "unknown" in expected or "timeouts" in expected:
                self.assertIn("bad.yaml", done.stderr)
        done = subprocess.run([PROXY, "--backends", "a=127.0.0.1:1", "--idle-timeout", "soon"], capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(done.returncode, 2)
        self.assertIn("--idle-timeout", done.stderr)
        done = subprocess.run([PROXY], capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 2)
        self.assertIn("--backends, --ring-url or --ring-file", done.stderr)

    def test_help_documents_every_option(self):
        done = subprocess.run([PROXY, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 0)
        for flag in ["--listen", "--admin", "--threads", "--backends", "--ring-url", "--ring-file", "--key", "--config",
                     "--retries", "--max-header-bytes", "--max-headers", "--max-body-bytes", "--max-connections",
                     "--head-timeout", "--idle-timeout", "--connect-timeout", "--upstream-timeout", "--drain-timeout", "--initial-ring-wait",
                     "--eject-after", "--log-json", "--access-log"]:
            self.assertIn(flag, done.stdout)
        self.assertIn("falls back to the path", done.stdout)

    def test_bad_listen_address_fails_fast(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        done = subprocess.run([PROXY, "--backends", "a=127.0.0.1:1", "--listen", f"127.0.0.1:{port}", "--admin",
                               "127.0.0.1:0"], capture_output=True, text=True, timeout=10)
        blocker.close()
        self.assertEqual(done.returncode, 2)
        self.assertIn(f"127.0.0.1:{port}", done.stderr)

    def test_access_log_is_off_by_default_and_on_with_the_flag(self):
        member, = self.start_members(1)
        quiet = self.start_proxy("--backends", f"{member.id}={member.address}")
        quiet.get("/nolog")
        self.assertNotIn("/nolog", quiet.log() + quiet.stdout())
        loud = self.start_proxy("--backends", f"{member.id}={member.address}", "--access-log", "--log-json")
        loud.get("/logged?x=1")
        time.sleep(0.2)
        self.assertIn('"target":"/logged?x=1","status":200,"member":"m-0"', loud.stdout())

    @staticmethod
    def swallow(call):
        try:
            call()
        except Exception:
            pass


if __name__ == "__main__":
    unittest.main()
