#!/usr/bin/env python3
"""Integration tests of ringlb-apod: the real binary on 127.0.0.1, standard library only.

RINGLB_BIN_DIR names the directory holding ringlb-apod. Every process a test starts is stopped in
cleanup, also on failure.
"""
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN_DIR = os.environ.get("RINGLB_BIN_DIR", "")
APOD = os.path.join(BIN_DIR, "ringlb-apod")
START_TIMEOUT = 10.0
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
RANGE_ERROR = "Date must be between Jun 16, 1995 and Nov 23, 2026."
COMBINATION_PREFIX = "Bad Request: invalid field combination passed."


class ApodProcess:
    """A running ringlb-apod; its stderr is collected in `lines`."""

    def __init__(self, *args, env=None, port=0):
        self.lines = []
        self._lock = threading.Lock()
        full_env = dict(os.environ)
        for name in ("PORT", "RINGLB_SLOT", "NASA_API_KEY"):
            full_env.pop(name, None)
        full_env.update(env or {})
        argv = [APOD, "--listen-address", "127.0.0.1", "--threads", "2"]
        if port is not None:
            argv += ["--port", str(port)]
        self.proc = subprocess.Popen(argv + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=full_env, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = self._wait_listening()

    def _read(self):
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self):
        with self._lock:
            return "\n".join(self.lines)

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = LISTEN_RE.search(self.log())
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"ringlb-apod exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise AssertionError(f"ringlb-apod did not start listening:\n{self.log()}")

    def request(self, method, target, headers=None, body=None, timeout=10.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def get_json(self, target):
        status, headers, data = self.request("GET", target)
        return status, headers, json.loads(data)

    def wait_exit(self, timeout=10.0):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ringlb-apod did not exit within {timeout} s:\n{self.log()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self.proc.stderr.close()


def start(test, *args, **kwargs):
    process = ApodProcess(*args, **kwargs)
    test.addCleanup(process.stop)
    return process


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_exchange(port, payload, timeout=5.0):
    """Sends raw bytes and returns everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def check_binary():
    if not os.access(APOD, os.X_OK):
        raise SystemExit(f"ringlb-apod not found at {APOD!r}: set RINGLB_BIN_DIR to the built programs")


class OfflineApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.apod = ApodProcess("--slot", "apod-0")

    @classmethod
    def tearDownClass(cls):
        cls.apod.stop()

    def test_single_date_has_the_apis_fields_and_headers(self):
        status, headers, body = self.apod.get_json("/planetary/apod?date=2020-02-29&api_key=DEMO_KEY")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-served-by"], "apod-0")
        self.assertEqual(headers["x-apod-source"], "offline")
        self.assertTrue(headers["content-type"].startswith("application/json"))
        self.assertEqual(body["date"], "2020-02-29")
        self.assertEqual(body["service_version"], "v1")
        for field in ("title", "explanation", "url", "media_type"):
            self.assertTrue(body[field], field)
        self.assertIn(body["media_type"], ("image", "video"))
        self.assertEqual("hdurl" in body, body["media_type"] == "image")

    def test_same_date_same_entry(self):
        first = self.apod.get_json("/planetary/apod?date=2011-11-11")[2]
        second = self.apod.get_json("/planetary/apod?date=2011-11-11")[2]
        self.assertEqual(first, second)
        other = self.apod.get_json("/planetary/apod?date=2011-11-12")[2]
        self.assertNotEqual(first, other)

    def test_no_parameters_gives_the_latest_date(self):
        status, _, body = self.apod.get_json("/planetary/apod")
        self.assertEqual(status, 200)
        self.assertEqual(body["date"], "2026-11-23")

    def test_range_gives_an_array(self):
        status, _, body = self.apod.get_json("/planetary/apod?start_date=2024-02-27&end_date=2024-03-02")
        self.assertEqual(status, 200)
        self.assertEqual([e["date"] for e in body],
                         ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"])

    def test_open_range_ends_at_the_last_date(self):
        _, _, body = self.apod.get_json("/planetary/apod?start_date=2026-11-01")
        self.assertEqual(len(body), 23)
        self.assertEqual(body[-1]["date"], "2026-11-23")

    def test_count_gives_distinct_random_dates_with_fixed_entries(self):
        status, _, body = self.apod.get_json("/planetary/apod?count=20")
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 20)
        self.assertEqual(len({e["date"] for e in body}), 20)
        for entry in body[:5]:
            single = self.apod.get_json("/planetary/apod?date=" + entry["date"])[2]
            self.assertEqual(single, entry)
        again = self.apod.get_json("/planetary/apod?count=20")[2]
        self.assertNotEqual([e["date"] for e in body], [e["date"] for e in again],
                            "two random draws of 20 out of 11484 days should differ")

    def test_bad_requests_get_400_in_the_apis_shape(self):
        cases = {
            "date=1995-06-15": RANGE_ERROR,
            "date=2026-11-24": RANGE_ERROR,
            "date=x": "time data 'x' does not match format '%Y-%m-%d'",
            "date=2021-02-29": "day is out of range for month",
            "start_date=2020-01-02&end_date=2020-01-01": "start_date cannot be after end_date",
            "count=0": "Count must be positive and cannot exceed 100",
            "count=101": "Count must be positive and cannot exceed 100",
            "count=ten": "invalid literal for int() with base 10: 'ten'",
        }
        for query, message in cases.items():
            with self.subTest(query=query):
                status, headers, body = self.apod.get_json("/planetary/apod?" + query)
                self.assertEqual(status, 400)
                self.assertEqual(headers["x-served-by"], "apod-0")
                self.assertEqual(body, {"code": 400, "msg": message, "service_version": "v1"})
        for query in ("count=3&date=2020-01-01", "end_date=2020-01-01", "count=2&start_date=2020-01-01"):
            with self.subTest(query=query):
                status, _, body = self.apod.get_json("/planetary/apod?" + query)
                self.assertEqual(status, 400)
                self.assertTrue(body["msg"].startswith(COMBINATION_PREFIX), body)

    def test_unknown_parameters_are_ignored(self):
        status, _, body = self.apod.get_json("/planetary/apod?date=2001-01-01&hd=true&foo=bar&api_key=k")
        self.assertEqual(status, 200)
        self.assertEqual(body["date"], "2001-01-01")

    def test_unknown_path_is_404_json(self):
        status, headers, body = self.apod.get_json("/planetary/earth")
        self.assertEqual(status, 404)
        self.assertEqual(headers["x-served-by"], "apod-0")
        self.assertEqual(body["code"], 404)

    def test_other_methods_are_405(self):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            with self.subTest(method=method):
                status, headers, data = self.apod.request(method, "/planetary/apod")
                self.assertEqual(status, 405)
                self.assertEqual(headers["allow"], "GET, HEAD")
                self.assertEqual(headers["x-served-by"], "apod-0")
                self.assertEqual(json.loads(data)["code"], 405)

    def test_head_has_no_body(self):
        _, get_headers, get_body = self.apod.request("GET", "/planetary/apod?date=2003-03-03")
        status, headers, body = self.apod.request("HEAD", "/planetary/apod?date=2003-03-03")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual(int(headers["content-length"]), len(get_body))
        self.assertEqual(headers["x-served-by"], "apod-0")

    def test_healthz_and_admin_endpoints_without_faults(self):
        status, headers, body = self.apod.request("GET", "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertEqual(headers["x-served-by"], "apod-0")
        for action in ("fail", "recover", "crash", "slow?ms=100"):
            with self.subTest(action=action):
                status, _, _ = self.apod.request("POST", "/admin/" + action)
                self.assertEqual(status, 404)
        self.assertEqual(self.apod.request("GET", "/healthz")[0], 200)
        self.assertIsNone(self.apod.proc.poll(), "the process must still run")

    def test_metrics(self):
        self.apod.request("GET", "/planetary/apod?date=2001-01-01")
        self.apod.request("GET", "/planetary/apod?date=bad")
        status, headers, data = self.apod.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain"))
        text = data.decode()
        ok = re.search(r'^ringlb_apod_requests_total\{code="200",slot="apod-0"\} (\d+)', text, re.M)
        bad = re.search(r'^ringlb_apod_requests_total\{code="400",slot="apod-0"\} (\d+)', text, re.M)
        self.assertTrue(ok and int(ok.group(1)) >= 1, text)
        self.assertTrue(bad and int(bad.group(1)) >= 1, text)
        self.assertIn("# TYPE ringlb_apod_request_duration_seconds histogram", text)
        self.assertRegex(text, r'ringlb_apod_request_duration_seconds_bucket\{slot="apod-0",le="\+Inf"\} \d+')
        before = int(ok.group(1))
        self.apod.request("GET", "/planetary/apod")
        text = self.apod.request("GET", "/metrics")[2].decode()
        after = re.search(r'^ringlb_apod_requests_total\{code="200",slot="apod-0"\} (\d+)', text, re.M)
        # The /metrics call itself was answered 200 too.
        self.assertGreaterEqual(int(after.group(1)), before + 2)


class HttpServerTest(unittest.TestCase):
    def setUp(self):
        self.apod = start(self, "--slot", "apod-1")

    def test_keep_alive_reuses_the_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.apod.port, timeout=5)
        self.addCleanup(conn.close)
        sockets = set()
        for day in range(1, 6):
            conn.request("GET", f"/planetary/apod?date=2010-01-0{day}")
            response = conn.getresponse()
            self.assertEqual(json.loads(response.read())["date"], f"2010-01-0{day}")
            self.assertNotEqual(response.getheader("connection", ""), "close")
            sockets.add(id(conn.sock))
        self.assertEqual(len(sockets), 1)

    def test_pipelined_requests_are_answered_in_order(self):
        payload = (b"GET /planetary/apod?date=2010-01-01 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /planetary/apod?date=2010-01-02 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = raw_exchange(self.apod.port, payload)
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 3, data[:500])
        self.assertLess(data.index(b'"date":"2010-01-01"'), data.index(b'"date":"2010-01-02"'))
        self.assertTrue(data.endswith(b"ok\n"))

    def test_http_1_0_closes_after_the_response(self):
        data = raw_exchange(self.apod.port, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.0 200 OK"), data)
        self.assertTrue(data.endswith(b"ok\n"))

    def test_malformed_request_gets_400_and_close(self):
        data = raw_exchange(self.apod.port, b"THIS IS NOT HTTP\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)
        self.assertIn(b"X-Served-By: apod-1", data)

    def test_oversized_header_gets_431(self):
        payload = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        data = raw_exchange(self.apod.port, payload)
        self.assertTrue(data.startswith(b"HTTP/1.1 431"), data[:200])
        self.assertIn(b"X-Served-By: apod-1", data)

    def test_oversized_body_gets_413(self):
        payload = (b"POST /planetary/apod HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + b"x" * 200000)
        data = raw_exchange(self.apod.port, payload)
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])

    def test_idle_connections_do_not_block_others(self):
        idle = [socket.create_connection(("127.0.0.1", self.apod.port)) for _ in range(20)]
        for s in idle:
            self.addCleanup(s.close)
        self.assertEqual(self.apod.request("GET", "/healthz", timeout=3)[0], 200)

    def test_large_range_is_served_in_full(self):
        status, _, body = self.apod.get_json("/planetary/apod?start_date=1995-06-16")
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 11484)
        self.assertEqual(body[0]["date"], "1995-06-16")


class FaultInjectionTest(unittest.TestCase):
    def setUp(self):
        self.apod = start(self, "--enable-faults", "--slot", "apod-2")

    def test_fail_and_recover_switch_health(self):
        self.assertEqual(self.apod.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.apod.request("POST", "/admin/fail")[0], 200)
        status, headers, body = self.apod.request("GET", "/healthz")
        self.assertEqual((status, body), (503, b"failing\n"))
        self.assertEqual(headers["x-served-by"], "apod-2")
        # The API itself keeps answering: only health is failing.
        self.assertEqual(self.apod.request("GET", "/planetary/apod")[0], 200)
        self.assertEqual(self.apod.request("POST", "/admin/recover")[0], 200)
        self.assertEqual(self.apod.request("GET", "/healthz")[0], 200)

    def test_admin_needs_post(self):
        status, headers, _ = self.apod.request("GET", "/admin/fail")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "POST")
        self.assertEqual(self.apod.request("GET", "/healthz")[0], 200)

    def test_slow_adds_latency_to_the_api_only(self):
        self.assertEqual(self.apod.request("POST", "/admin/slow?ms=400")[0], 200)
        started = time.monotonic()
        self.assertEqual(self.apod.request("GET", "/planetary/apod?date=2001-01-01")[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        started = time.monotonic()
        self.assertEqual(self.apod.request("GET", "/healthz")[0], 200)
        self.assertLess(time.monotonic() - started, 0.4)
        self.assertEqual(self.apod.request("POST", "/admin/slow?ms=0")[0], 200)
        started = time.monotonic()
        self.apod.request("GET", "/planetary/apod?date=2001-01-01")
        self.assertLess(time.monotonic() - started, 0.4)

    def test_slow_rejects_bad_values(self):
        for query in ("", "?ms=abc", "?ms=-5", "?ms=999999999"):
            with self.subTest(query=query):
                status, _, data = self.apod.request("POST", "/admin/slow" + query)
                self.assertEqual(status, 400)
                self.assertIn("'ms'", json.loads(data)["msg"])

    def test_crash_exits_immediately_with_non_zero_status(self):
        try:
            self.apod.request("POST", "/admin/crash", timeout=5)
        except (http.client.HTTPException, ConnectionError):
            pass  # the process may die before it answers: that is the point
        code = self.apod.wait_exit(timeout=5)
        self.assertNotEqual(code, 0)
        self.assertEqual(code, 70)


class LifecycleTest(unittest.TestCase):
    def test_sigterm_finishes_in_flight_requests_and_exits_zero(self):
        apod = start(self, "--enable-faults", "--slot", "apod-3")
        self.assertEqual(apod.request("POST", "/admin/slow?ms=800")[0], 200)
        result = {}

        def slow_request():
            try:
                result["response"] = apod.request("GET", "/planetary/apod?date=2002-02-02", timeout=10)
            except Exception as error:  # noqa: BLE001 - reported below
                result["error"] = error

        worker = threading.Thread(target=slow_request)
        worker.start()
        idle = socket.create_connection(("127.0.0.1", apod.port))
        self.addCleanup(idle.close)
        time.sleep(0.3)
        apod.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        # Stopped accepting: a new connection is refused while the slow request still runs.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", apod.port), timeout=1).close()
        worker.join(timeout=10)
        self.assertNotIn("error", result)
        status, headers, body = result["response"]
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(json.loads(body)["date"], "2002-02-02")
        # The idle keep-alive connection was closed by the server.
        idle.settimeout(2)
        self.assertEqual(idle.recv(1), b"")
        self.assertEqual(apod.wait_exit(timeout=5), 0, apod.log())
        self.assertIn("stopping gracefully", apod.log())

    def test_port_and_slot_from_the_environment(self):
        port = free_port()
        apod = start(self, env={"PORT": str(port), "RINGLB_SLOT": "env-slot"}, port=None)
        self.assertEqual(apod.port, port)
        self.assertEqual(apod.request("GET", "/healthz")[1]["x-served-by"], "env-slot")

    def test_slot_defaults_to_the_host_name(self):
        apod = start(self)
        self.assertEqual(apod.request("GET", "/healthz")[1]["x-served-by"], socket.gethostname())

    def test_json_logs(self):
        apod = start(self, "--log-json", "--log-level", "debug", "--slot", 'quote"slot')
        apod.request("GET", "/planetary/apod?date=2001-01-01")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "2001-01-01" not in apod.log():
            time.sleep(0.05)
        records = [json.loads(line) for line in apod.log().splitlines()]
        self.assertTrue(any("listening on" in r["msg"] and 'quote"slot' in r["msg"] for r in records), records)
        self.assertTrue(any("2001-01-01" in r["msg"] for r in records), records)
        self.assertTrue(all({"time", "level", "msg"} <= r.keys() for r in records))

    def test_busy_port_fails_with_a_clear_error(self):
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            proc = subprocess.run([APOD, "--listen-address", "127.0.0.1", "--port", str(port)],
                                  capture_output=True, text=True, timeout=10)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", proc.stderr)


class CliTest(unittest.TestCase):
    def run_apod(self, *args, env=None):
        full_env = {k: v for k, v in os.environ.items() if k not in ("PORT", "RINGLB_SLOT", "NASA_API_KEY")}
        full_env.update(env or {})
        return subprocess.run([APOD, *args], capture_output=True, text=True, timeout=10, env=full_env)

    def test_help_documents_every_option(self):
        proc = self.run_apod("--help")
        self.assertEqual(proc.returncode, 0)
        for option in ("--port", "--listen-address", "--slot", "--enable-faults", "--threads", "--upstream",
                       "--api-key", "--log-json", "PORT", "RINGLB_SLOT", "/planetary/apod"):
            self.assertIn(option, proc.stdout)

    def test_bad_input_names_what_is_wrong(self):
        cases = [
            (["--port", "70000"], {}, "--port"),
            (["--port", "http"], {}, "--port"),
            ([], {"PORT": "eighty"}, "PORT='eighty'"),
            (["--listen-address", "somewhere"], {}, "--listen-address 'somewhere'"),
            (["--threads", "0"], {}, "--threads"),
            (["--upstream", "ftp://api.nasa.gov", "--api-key", "k"], {}, "http:// or https://"),
            (["--upstream", "https://api.nasa.gov"], {}, "--api-key"),
            (["--slot", "a b"], {}, "--slot"),
            (["--log-level", "chatty"], {}, "--log-level"),
            (["--no-such-flag"], {}, "--no-such-flag"),
        ]
        for args, env, needle in cases:
            with self.subTest(args=args, env=env):
                proc = self.run_apod(*args, env=env)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(needle, proc.stderr + proc.stdout)


class StandIn:
    """A local HTTP(S) server playing api.nasa.gov: records requests, answers from `reply`."""

    def __init__(self, tls_context=None):
        self.requests = []
        self.status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's naming
                outer.requests.append(self.path)
                if outer.status != 200:
                    body = json.dumps({"error": "stand-in failure"}).encode()
                else:
                    body = json.dumps({"date": "2031-01-01", "title": "from the stand-in", "media_type": "image",
                                       "explanation": "x", "url": "https://example.invalid/a.jpg",
                                       "service_version": "v1"}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=5)
        self.server.server_close()


class UpstreamTest(unittest.TestCase):
    def start_stand_in(self, tls_context=None):
        stand_in = StandIn(tls_context)
        self.addCleanup(stand_in.stop)
        return stand_in

    def test_forwards_with_key_caches_and_falls_back(self):
        stand_in = self.start_stand_in()
        apod = start(self, "--slot", "apod-4", "--upstream", f"http://127.0.0.1:{stand_in.port}",
                     "--api-key", "TEST_KEY", "--upstream-timeout-ms", "2000")

        status, headers, body = apod.get_json("/planetary/apod?date=2031-01-01&api_key=client&junk=1")
        self.assertEqual(status, 200)
        self.assertEqual(body["title"], "from the stand-in")
        self.assertEqual(headers["x-apod-source"], "upstream")
        self.assertEqual(headers["x-served-by"], "apod-4")
        self.assertEqual(stand_in.requests, ["/planetary/apod?date=2031-01-01&api_key=TEST_KEY"])

        status, headers, again = apod.get_json("/planetary/apod?date=2031-01-01")
        self.assertEqual((status, again), (200, body))
        self.assertEqual(headers["x-apod-source"], "upstream-cache")
        self.assertEqual(len(stand_in.requests), 1, "the second identical request must not reach the upstream")

        # Syntax errors are answered locally, as the upstream would.
        status, _, error = apod.get_json("/planetary/apod?date=not-a-date")
        self.assertEqual(status, 400)
        self.assertEqual(error["msg"], "time data 'not-a-date' does not match format '%Y-%m-%d'")
        self.assertEqual(len(stand_in.requests), 1)

        # Upstream errors: fall back to the offline dataset and say so.
        stand_in.status = 503
        status, headers, body = apod.get_json("/planetary/apod?date=2001-01-01")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-apod-source"], "offline-fallback")
        self.assertIn("503", headers["x-apod-upstream-error"])
        self.assertEqual(body["date"], "2001-01-01")
        self.assertEqual(len(stand_in.requests), 2)

        # Upstream down: fall back; the cached answer is still served from the cache.
        stand_in.stop()
        status, headers, body = apod.get_json("/planetary/apod?date=2002-02-02")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-apod-source"], "offline-fallback")
        self.assertIn("connect", headers["x-apod-upstream-error"])
        self.assertEqual(body["date"], "2002-02-02")
        self.assertEqual(apod.get_json("/planetary/apod?date=2031-01-01")[1]["x-apod-source"], "upstream-cache")

        metrics = apod.request("GET", "/metrics")[2].decode()
        self.assertRegex(metrics, r'ringlb_apod_upstream_requests_total\{result="ok",slot="apod-4"\} 1')
        self.assertRegex(metrics, r'ringlb_apod_upstream_requests_total\{result="failed",slot="apod-4"\} 1')
        self.assertRegex(metrics, r'ringlb_apod_upstream_cache_lookups_total\{result="hit",slot="apod-4"\} 2')

    def test_count_requests_are_not_cached(self):
        stand_in = self.start_stand_in()
        apod = start(self, "--upstream", f"http://127.0.0.1:{stand_in.port}", "--api-key", "K")
        apod.request("GET", "/planetary/apod?count=2")
        apod.request("GET", "/planetary/apod?count=2")
        self.assertEqual(stand_in.requests, ["/planetary/apod?count=2&api_key=K"] * 2)

    def test_timeout_falls_back(self):
        # A listener that never answers: the connect succeeds, the read times out.
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        apod = start(self, "--upstream", f"http://127.0.0.1:{silent.getsockname()[1]}", "--api-key", "K",
                     "--upstream-timeout-ms", "300")
        started = time.monotonic()
        status, headers, body = apod.get_json("/planetary/apod?date=2003-03-03")
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-apod-source"], "offline-fallback")
        self.assertIn("timed out", headers["x-apod-upstream-error"])

    def test_https_upstream_is_verified(self):
        openssl = shutil.which("openssl")
        self.assertIsNotNone(openssl, "the openssl command is needed to make a test certificate")
        workdir = tempfile.mkdtemp(prefix="apod-tls-")
        self.addCleanup(shutil.rmtree, workdir, True)
        cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        stand_in = self.start_stand_in(context)
        url = f"https://127.0.0.1:{stand_in.port}"

        trusted = start(self, "--upstream", url, "--api-key", "TLS_KEY", "--upstream-ca-file", cert)
        status, headers, body = trusted.get_json("/planetary/apod?date=2031-01-01")
        self.assertEqual(status, 200, trusted.log())
        self.assertEqual(headers["x-apod-source"], "upstream", headers.get("x-apod-upstream-error"))
        self.assertEqual(body["title"], "from the stand-in")
        self.assertEqual(stand_in.requests, ["/planetary/apod?date=2031-01-01&api_key=TLS_KEY"])

        # Without the CA the self-signed certificate is rejected and nothing reaches the stand-in.
        untrusted = start(self, "--upstream", url, "--api-key", "TLS_KEY")
        status, headers, _ = untrusted.get_json("/planetary/apod?date=2001-01-01")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-apod-source"], "offline-fallback")
        self.assertIn("tls handshake", headers["x-apod-upstream-error"])
        self.assertEqual(len(stand_in.requests), 1)


if __name__ == "__main__":
    check_binary()
    unittest.main()
