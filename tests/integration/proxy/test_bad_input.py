"""Bad input: smuggling shapes and malformed requests never reach a member; slowloris
is cut off; 100 MB bodies stream both ways in bounded memory."""
import re
import socket
import threading
import time
import unittest

from harness import ProxyTestCase, raw_exchange

H = b"Host: shop.test\r\n"

# Each is sent alone on a fresh connection. Expected: 400 or 431 (or a close), never the member.
MALFORMED = [
    ("te_and_cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("cl_and_te", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"),
    ("duplicate_cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
    ("conflicting_cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    ("cl_list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3, 3\r\n\r\nabc"),
    ("cl_signed", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc"),
    ("cl_not_a_number", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3x\r\n\r\nabc"),
    ("te_unknown", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc"),
    ("te_chunked_not_last", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("te_padded_name", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("te_twice", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("te_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("chunk_size_not_hex", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
    ("chunk_size_overflow", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\n"),
    ("chunk_size_negative", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"),
    ("chunk_bare_lf", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
    ("chunk_data_too_long", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"),
    ("space_before_colon", b"GET / HTTP/1.1\r\n" + H + b"X-Trace : 1\r\n\r\n"),
    ("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X-Trace: 1\r\n 2\r\n\r\n"),
    ("bare_lf_head", b"GET / HTTP/1.1\n" + b"Host: shop.test\n\n"),
    ("bare_cr_value", b"GET / HTTP/1.1\r\n" + H + b"X-Trace: a\rb\r\n\r\n"),
    ("nul_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-Trace: a\x00b\r\n\r\n"),
    ("missing_host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("bad_request_line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n"),
    ("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n"),
    ("no_colon", b"GET / HTTP/1.1\r\n" + H + b"Just a line\r\n\r\n"),
    ("bad_version", b"GET / HTTP/1.x\r\n" + H + b"\r\n"),
    ("too_many_headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n"),
    ("header_too_large", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n"),
    ("binary_garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n"),
]


class BadInputTest(ProxyTestCase):
    def test_malformed_and_smuggling_requests_never_reach_a_member(self):
        self.assertGreaterEqual(len(MALFORMED), 25)
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        for name, request in MALFORMED:
            reply = raw_exchange(proxy.port, request)
            status = reply[:12]
            self.assertTrue(reply == b"" or status in (b"HTTP/1.1 400", b"HTTP/1.1 431"), f"{name}: {reply[:200]!r}")
            if reply:
                self.assertIn(b"Connection: close", reply, name)
        self.assertEqual(member.events(), [], "a malformed request reached the member")
        self.assertGreaterEqual(proxy.metric("ringlb_proxy_requests_total", {"member": "none", "code_class": "4xx"}),
                                len(MALFORMED) - 2)

        # A bad request followed by a pipelined good one: the connection closes; the good one is not served.
        reply = raw_exchange(proxy.port, b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
                             b"GET /smuggled HTTP/1.1\r\n" + H + b"\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply)
        self.assertEqual(reply.count(b"HTTP/1.1"), 1, reply)
        self.assertEqual(member.events(), [])

        # The member is fine and only ever sees the one good request.
        status, headers, _ = proxy.get("/good")
        self.assertEqual(status, 200)
        requests = member.events("request")
        self.assertEqual([r["path"] for r in requests], ["/good"])

    def test_forwarded_requests_are_clean(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        reply = raw_exchange(proxy.port, b"GET /clean HTTP/1.1\r\nHost: shop.test\r\nConnection: close, X-Hop\r\n"
                             b"X-Hop: secret\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 198.51.100.1\r\n"
                             b"X-Forwarded-Proto: https\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)
        self.assertIn(b"Via: 1.1 ringlb", reply)
        request, = member.events("request")
        headers = {k.lower(): v for k, v in request["headers"].items()}
        for hop in ["x-hop", "keep-alive", "te"]:
            self.assertNotIn(hop, headers)
        self.assertEqual(headers["x-forwarded-for"], "198.51.100.1, 127.0.0.1")
        self.assertEqual(headers["x-forwarded-proto"], "http")
        self.assertEqual(headers["x-forwarded-host"], "shop.test")
        self.assertEqual(headers["via"], "1.1 ringlb")
        self.assertRegex(headers["x-request-id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

    def test_slowloris_is_cut_off_while_others_are_served(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}", "--head-timeout", "1s")
        slow = socket.create_connection(("127.0.0.1", proxy.port))
        slow.settimeout(5)
        closed_at = [None]
        start = time.monotonic()

        def drip():
            try:
                for byte in b"GET /slow HTTP/1.1\r\nHost: shop.test\r\nX-Drip: " + b"d" * 100:
                    slow.send(bytes([byte]))
                    time.sleep(0.1)
            except OSError:
                pass

        def watch():
            data = b""
            try:
                while True:
                    chunk = slow.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            closed_at[0] = (time.monotonic() - start, data)

        threads = [threading.Thread(target=drip), threading.Thread(target=watch)]
        for t in threads:
            t.start()
        latencies = []
        while closed_at[0] is None and time.monotonic() - start < 6:
            t0 = time.monotonic()
            status, _, _ = proxy.get(f"/fast/{len(latencies)}")
            self.assertEqual(status, 200)
            latencies.append(time.monotonic() - t0)
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=15)
        slow.close()
        self.assertIsNotNone(closed_at[0], "the slow client was never cut off")
        elapsed, data = closed_at[0]
        self.assertLess(elapsed, 2.5)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408"), data)
        self.assertGreater(len(latencies), 5)
        self.assertLess(max(latencies), 0.5)
        self.assertNotIn("/slow", [r["path"] for r in member.events("request")])

    def test_a_100mb_request_body_streams_in_bounded_memory(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        proxy.get("/warm")
        size = 100 * 1024 * 1024
        baseline = proxy.rss_kb()
        peak = self.sample_rss(proxy)
        with socket.create_connection(("127.0.0.1", proxy.port)) as s:
            s.sendall(b"PUT /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: %d\r\n\r\n" % size)
            block = b"u" * (1024 * 1024)
            for _ in range(100):
                s.sendall(block)
            reply = b""
            while True:
                head, sep, body = reply.partition(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                if sep and length and len(body) >= int(length.group(1)):
                    break
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        peak.stop()
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply[:200])
        self.assertIn(b"m-0 /upload %d" % size, reply)
        growth_mb = (peak.max - baseline) / 1024
        print(f"\n100 MB request body: proxy RSS {baseline} KB -> peak {peak.max} KB (+{growth_mb:.1f} MB)")
        self.assertLess(growth_mb, 20)

    def test_a_100mb_response_body_streams_in_bounded_memory(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        proxy.get("/warm")
        size = 100 * 1024 * 1024
        baseline = proxy.rss_kb()
        peak = self.sample_rss(proxy)
        conn = proxy.connection(timeout=60)
        conn.request("GET", f"/bytes/{size}")
        response = conn.getresponse()
        received = 0
        while True:
            chunk = response.read(1024 * 1024)
            if not chunk:
                break
            received += len(chunk)
        peak.stop()
        conn.close()
        self.assertEqual(response.status, 200)
        self.assertEqual(received, size)
        growth_mb = (peak.max - baseline) / 1024
        print(f"\n100 MB response body: proxy RSS {baseline} KB -> peak {peak.max} KB (+{growth_mb:.1f} MB)")
        self.assertLess(growth_mb, 20)

    def sample_rss(self, proxy):
        class Sampler:
            def __init__(self):
                self.max = proxy.rss_kb()
                self.done = threading.Event()
                self.thread = threading.Thread(target=self.run)
                self.thread.start()

            def run(self):
                while not self.done.is_set():
                    self.max = max(self.max, proxy.rss_kb())
                    time.sleep(0.02)

            def stop(self):
                self.done.set()
                self.thread.join()
                self.max = max(self.max, proxy.rss_kb())

        sampler = Sampler()
        self.cleanups.append(lambda: sampler.done.set())
        return sampler


if __name__ == "__main__":
    unittest.main()
