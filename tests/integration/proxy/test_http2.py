"""HTTP/2 with prior knowledge (h2c) on the proxy's data listener: nghttp2's
own client (nghttp) through the proxy to HTTP/1.1 members, each stream routed
by its own key, gRPC-shaped calls with their trailers, the proxy's own gRPC
errors, grpc-timeout, and the limits (concurrent streams, header list size,
flow control, rapid reset, CONTINUATION flood) while other clients go on
being served."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

import h2_raw
from h2_raw import RawClient, frame
from harness import ProxyTestCase, owner_chain, ring_json

NGHTTP = shutil.which("nghttp")


def p99(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def grpc_message(payload):
    return b"\0" + len(payload).to_bytes(4, "big") + payload


class NghttpResult:
    """nghttp -v output, split per stream: the request path, the response's
    header blocks (the first is the head, a later one the trailers) and the
    DATA bytes received."""

    def __init__(self, completed):
        self.returncode = completed.returncode
        self.output = completed.stdout
        self.paths = {}
        self.blocks = {}
        self.resets = {}
        self.goaway = False
        current_send = None
        current = {}
        for line in self.output.splitlines():
            sent = re.search(r"send HEADERS frame <.*stream_id=(\d+)>", line)
            if sent:
                current_send = int(sent.group(1))
                continue
            path = re.match(r"\s+:path: (.*)$", line)
            if path and current_send is not None:
                self.paths[current_send] = path.group(1)
                continue
            field = re.search(r"recv \(stream_id=(\d+)\) ([^:\s][^:]*|:[a-z]+): (.*)$", line)
            if field:
                current.setdefault(int(field.group(1)), {})[field.group(2)] = field.group(3)
                continue
            block = re.search(r"recv HEADERS frame <.*stream_id=(\d+)>", line)
            if block:
                stream = int(block.group(1))
                self.blocks.setdefault(stream, []).append(current.pop(stream, {}))
                continue
            reset = re.search(r"recv RST_STREAM frame <.*stream_id=(\d+)>", line)
            if reset:
                self.resets[int(reset.group(1))] = True
            if "recv GOAWAY frame" in line:
                self.goaway = True

    def head(self, stream):
        return self.blocks.get(stream, [{}])[0]

    def trailers(self, stream):
        blocks = self.blocks.get(stream, [])
        return blocks[1] if len(blocks) > 1 else {}


@unittest.skipUnless(NGHTTP, "nghttp (Debian nghttp2-client) is not installed")
class Http2Test(ProxyTestCase):
    def nghttp(self, port, paths, *args, timeout=30):
        uris = [f"http://127.0.0.1:{port}{p}" for p in paths]
        completed = subprocess.run([NGHTTP, "-v", "-n", *args, *uris], capture_output=True, text=True,
                                   timeout=timeout)
        return NghttpResult(completed)

    def data_file(self, content):
        path = os.path.join(self.workdir, f"body-{len(os.listdir(self.workdir))}")
        with open(path, "wb") as f:
            f.write(content)
        return path

    def grpc_proxy(self, members, *args):
        backends = ",".join(f"{m.id}={m.address}" for m in members)
        return self.start_proxy("--backends", backends, "--key", "header:x-user-id", *args)

    def test_streams_of_one_connection_route_by_their_own_key(self):
        members = self.start_members(3)
        ring = ring_json("static", 1, members)
        proxy = self.start_proxy("--backends", ",".join(f"{m.id}={m.address}" for m in members))
        paths = [f"/stream/{i}" for i in range(12)]
        result = self.nghttp(proxy.port, paths)
        self.assertEqual(result.returncode, 0, result.output)
        by_path = {result.paths[s]: s for s in result.paths}
        served = set()
        for path in paths:
            head = result.head(by_path[path])
            self.assertEqual(head.get(":status"), "200", path)
            self.assertEqual(head.get("x-served-by"), owner_chain(ring, path, self.workdir)[0], path)
            served.add(head["x-served-by"])
        self.assertGreaterEqual(len(served), 2, "12 keys on one connection all landed on one member")
        # One connection carried them all, and the members saw HTTP/1.1 with Host from :authority.
        self.assertEqual(len(re.findall(r"recv SETTINGS frame <length=\d+, flags=0x00", result.output)), 1)
        requests = [e for m in members for e in m.events("request")]
        self.assertEqual(len(requests), 12)
        self.assertTrue(all(e["version"] == "HTTP/1.1" and e["headers"].get("Host", "").startswith("127.0.0.1")
                            for e in requests))
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_requests_total", {"protocol": "h2c", "code_class": "2xx"}, 12), 12)

    def test_http1_and_h2c_share_the_listener_unless_told_otherwise(self):
        members = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{members[0].id}={members[0].address}")
        self.assertEqual(proxy.get("/plain")[0], 200)
        self.assertEqual(self.nghttp(proxy.port, ["/h2"]).head(13).get(":status"), "200")
        http1_only = self.start_proxy("--backends", f"{members[0].id}={members[0].address}",
                                      "--listen-protocol", "http1")
        self.assertNotEqual(self.nghttp(http1_only.port, ["/h2"]).head(13).get(":status"), "200")
        self.assertEqual(http1_only.get("/plain")[0], 200)

    def test_a_members_early_hints_reach_the_client_as_an_interim_header_block(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        result = self.nghttp(proxy.port, ["/early-hints/page"])
        self.assertEqual(result.returncode, 0, result.output)
        blocks = result.blocks.get(13, [])
        self.assertGreaterEqual(len(blocks), 2, result.output)
        self.assertEqual(blocks[0].get(":status"), "103", result.output)
        self.assertEqual(blocks[0].get("link"), "</style.css>; rel=preload")
        self.assertEqual(blocks[1].get(":status"), "200", result.output)
        self.assertEqual(blocks[1].get("x-served-by"), member.id)

    def test_a_body_trickled_in_small_data_frames_is_cut_off_by_the_minimum_body_rate(self):
        # 10 bytes every 0.3 s (about 33 B/s): no gap reaches --idle-timeout, so only
        # --min-body-rate (100 B/s) ends it, once the 2 s its bytes earned are used up.
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}", "--idle-timeout", "2s",
                                 "--min-body-rate", "100")
        client = RawClient(proxy.port)
        self.addCleanup(client.close)
        client.handshake()
        post = b"\x83\x86" + h2_raw.literal(":path", "/upload") + h2_raw.literal(":authority", "127.0.0.1")
        client.send(frame(h2_raw.HEADERS, h2_raw.END_HEADERS, 1, post))
        client.sock.settimeout(0.3)
        started = time.monotonic()
        answer = None
        while answer is None and time.monotonic() - started < 20:
            try:
                client.send(frame(h2_raw.DATA, 0, 1, b"x" * 10))
            except OSError:
                break
            try:
                while answer is None:
                    got = client.read_frame()
                    if got is None:
                        answer = "closed"
                    elif got[2] == 1 and got[0] in (h2_raw.HEADERS, h2_raw.RST_STREAM):
                        answer = got[0]
            except socket.timeout:
                pass
        took = time.monotonic() - started
        self.assertEqual(answer, h2_raw.HEADERS, "the stream was answered (408), not left open or reset")
        self.assertGreater(took, 1.5, "cut before the time its bytes earned")
        self.assertLess(took, 15, "the trickle outlived the minimum body rate")
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_requests_total", {"protocol": "h2c", "code_class": "4xx"}, 1), 1)

    def test_grpc_call_keeps_its_trailers_and_lands_on_the_key_owner(self):
        members = self.start_members(3)
        ring = ring_json("static", 1, members, key={"source": "header", "name": "x-user-id"})
        proxy = self.grpc_proxy(members)
        body = self.data_file(grpc_message(b"hello"))
        for user in ("alice", "bob", "carol", "dave"):
            owner = owner_chain(ring, user, self.workdir)[0]
            result = self.nghttp(proxy.port, ["/ringlb.test.Echo/Stream"], "-d", body, "-H", "content-type: application/grpc",
                                 "-H", "te: trailers", "-H", f"x-user-id: {user}")
            self.assertEqual(result.returncode, 0, result.output)
            head, trailers = result.head(13), result.trailers(13)
            self.assertEqual(head.get(":status"), "200", result.output)
            self.assertEqual(head.get("content-type"), "application/grpc")
            self.assertEqual(head.get("x-served-by"), owner, user)
            self.assertEqual(trailers, {"grpc-status": "0", "grpc-message": "ok", "x-served-by-trailer": owner},
                             result.output)
            self.assertRegex(result.output, r"recv HEADERS frame <length=\d+, flags=0x05, stream_id=13>")
            self.assertNotIn("transfer-encoding", result.output.lower().split("send headers")[-1])
        # The member got the message whole: with a Content-Length when the body had ended by the time
        # the exchange began, chunked when DATA was still to come.
        for request in [e for m in members for e in m.events("request")]:
            self.assertEqual(request["body"], 5)
            headers = {k.lower(): v for k, v in request["headers"].items()}
            self.assertTrue(headers.get("content-length") == "10" or headers.get("transfer-encoding") == "chunked",
                            headers)

    def test_grpc_failure_status_from_the_member_arrives_in_trailers(self):
        members = self.start_members(1)
        proxy = self.grpc_proxy(members)
        result = self.nghttp(proxy.port, ["/ringlb.test.Echo/Fail"], "-d", self.data_file(grpc_message(b"x")),
                             "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "x-user-id: u")
        self.assertEqual(result.trailers(13).get("grpc-status"), "5", result.output)
        self.assertEqual(result.trailers(13).get("grpc-message"), "nothing here")

    def test_no_ready_member_is_unavailable_for_grpc_and_503_otherwise(self):
        members = self.start_members(2)
        operator = self.start_operator()
        operator.publish(ring_json("apod", 1, members, states={m.id: "NotReady" for m in members}))
        proxy = self.start_proxy("--ring-url", operator.url())
        proxy.wait_for_metric("ringlb_proxy_ring_version", None, 1)
        result = self.nghttp(proxy.port, ["/ringlb.test.Echo/Unary"], "-d", self.data_file(grpc_message(b"x")),
                             "-H", "content-type: application/grpc", "-H", "te: trailers")
        head = result.head(13)
        self.assertEqual(head.get(":status"), "200", result.output)
        self.assertEqual(head.get("grpc-status"), "14", result.output)  # UNAVAILABLE, Trailers-Only
        self.assertIn("Ready", head.get("grpc-message", ""))
        self.assertRegex(result.output, r"recv HEADERS frame <length=\d+, flags=0x05, stream_id=13>")
        plain = self.nghttp(proxy.port, ["/plain"])
        self.assertEqual(plain.head(13).get(":status"), "503", plain.output)
        self.assertEqual([e for m in members for e in m.events("request")], [])

    def test_grpc_timeout_ends_the_call_with_deadline_exceeded(self):
        members = self.start_members(1)
        proxy = self.grpc_proxy(members, "--upstream-timeout", "60s")
        started = time.monotonic()
        result = self.nghttp(proxy.port, ["/slow/20000"], "-d", self.data_file(grpc_message(b"x")),
                             "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "grpc-timeout: 300m")
        elapsed = time.monotonic() - started
        self.assertEqual(result.head(13).get("grpc-status"), "4", result.output)  # DEADLINE_EXCEEDED
        self.assertLess(elapsed, 15, "the member's 20 s answer was awaited: grpc-timeout was ignored")

    def test_header_list_past_the_limit_gets_431(self):
        members = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{members[0].id}={members[0].address}", "--max-header-bytes", "2k")
        result = self.nghttp(proxy.port, ["/big"], "-H", "x-big: " + "b" * 3000)
        self.assertEqual(result.head(13).get(":status"), "431", result.output)
        self.assertEqual(members[0].events("request"), [])
        self.assertEqual(self.nghttp(proxy.port, ["/small"]).head(13).get(":status"), "200")

    def test_request_body_larger_than_the_windows_streams_through(self):
        members = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{members[0].id}={members[0].address}", "--h2-stream-window", "16k",
                                 "--h2-connection-window", "64k")
        body = self.data_file(os.urandom(1 << 20))
        result = self.nghttp(proxy.port, ["/upload"], "-d", body)
        self.assertEqual(result.head(13).get(":status"), "200", result.output[-2000:])
        self.assertEqual(members[0].events("request")[0]["body"], 1 << 20)

    def test_streams_past_the_limit_are_refused_while_their_exchanges_run(self):
        members = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{members[0].id}={members[0].address}",
                                 "--h2-max-concurrent-streams", "3")
        client = RawClient(proxy.port)
        self.addCleanup(client.close)
        settings = client.handshake()
        self.assertIn(bytes([0, 3, 0, 0, 0, 3]), [settings[i:i + 6] for i in range(0, len(settings), 6)])
        # Three slow requests, each reset by the client at once: nghttp2 forgets
        # the streams, but their exchanges still run and still count.
        for stream in (1, 3, 5):
            client.send(frame(h2_raw.HEADERS, h2_raw.END_HEADERS | h2_raw.END_STREAM, stream,
                              h2_raw.get_block("/slow/1500")))
            client.send(frame(h2_raw.RST_STREAM, 0, stream, h2_raw.CANCEL.to_bytes(4, "big")))
        client.send(frame(h2_raw.HEADERS, h2_raw.END_HEADERS | h2_raw.END_STREAM, 7, h2_raw.get_block("/refused")))
        refused = None
        while refused is None:
            kind, _, stream, payload = client.read_frame()
            if kind == h2_raw.RST_STREAM and stream == 7:
                refused = int.from_bytes(payload, "big")
        self.assertEqual(refused, h2_raw.REFUSED_STREAM)
        # Once they ended, the connection serves again (polled: no fixed wait).
        deadline = time.monotonic() + 30
        served = False
        stream = 9
        while not served and time.monotonic() < deadline:
            client.send(frame(h2_raw.HEADERS, h2_raw.END_HEADERS | h2_raw.END_STREAM, stream, h2_raw.get_block("/after")))
            while True:
                kind, flags, got, payload = client.read_frame()
                if got == stream and kind == h2_raw.RST_STREAM:
                    time.sleep(0.2)
                    break
                if got == stream and kind == h2_raw.HEADERS:
                    served = True
                    break
            stream += 2
        self.assertTrue(served)
        self.assertEqual(len([e for e in members[0].events("request") if e["path"] == "/refused"]), 0)

    def test_a_header_block_never_ended_is_closed_at_the_idle_timeout(self):
        members = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{members[0].id}={members[0].address}", "--idle-timeout", "1s")
        client = RawClient(proxy.port, timeout=30)
        self.addCleanup(client.close)
        client.handshake()
        client.send(frame(h2_raw.HEADERS, 0, 1, h2_raw.get_block("/never-ends")))  # no END_HEADERS, ever
        frames = client.frames_until_close()  # bounded by the socket timeout if the proxy never closed
        goaway = [payload for kind, _, _, payload in frames if kind == h2_raw.GOAWAY]
        self.assertTrue(goaway, frames)
        self.assertEqual(int.from_bytes(goaway[0][4:8], "big"), 0)  # NO_ERROR
        self.assertEqual(members[0].events("request"), [])

    @staticmethod
    def flood(port, data):
        """Sends `data` after the handshake on a new connection (the proxy may close it midway);
        returns the frames it got until the close."""
        client = RawClient(port)
        try:
            client.handshake()
            try:
                client.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return client.frames_until_close()
        finally:
            client.close()

    def attack_beside_a_normal_client(self, proxy, attack):
        """Runs `attack` while a normal HTTP/2 client and an HTTP/1.1 client
        keep asking. Returns the attack's result and every normal answer."""
        answers = []
        stop = threading.Event()
        baseline = []
        for _ in range(20):
            started = time.monotonic()
            self.assertEqual(self.nghttp(proxy.port, ["/normal"]).head(13).get(":status"), "200")
            baseline.append(time.monotonic() - started)

        def normal():
            while not stop.is_set():
                started = time.monotonic()
                status = self.nghttp(proxy.port, ["/normal"]).head(13).get(":status")
                answers.append((status, time.monotonic() - started))
                answers.append((str(proxy.get("/normal-http1")[0]), 0.0))

        thread = threading.Thread(target=normal)
        thread.start()
        try:
            result = attack()
        finally:
            time.sleep(0.5)
            stop.set()
            thread.join(timeout=60)
        during = [seconds for status, seconds in answers if seconds]
        # Reported, not asserted: a shared machine's timing proves nothing either way.
        print(f"\n{self.id()}: normal client p99 {p99(baseline) * 1000:.1f} ms before the attack, "
              f"{p99(during) * 1000:.1f} ms during it ({len(during)} requests)", flush=True)
        return result, answers

    def test_rapid_reset_closes_the_attacker_and_others_are_served(self):
        members = self.start_members(2)
        proxy = self.start_proxy("--backends", ",".join(f"{m.id}={m.address}" for m in members),
                                 "--h2-reset-burst", "100", "--h2-reset-rate", "10")

        burst = b"".join(frame(h2_raw.HEADERS, h2_raw.END_HEADERS | h2_raw.END_STREAM, stream,
                               h2_raw.get_block(f"/reset/{stream}")) +
                         frame(h2_raw.RST_STREAM, 0, stream, h2_raw.CANCEL.to_bytes(4, "big"))
                         for stream in range(1, 2 * 2000, 2))
        frames, answers = self.attack_beside_a_normal_client(proxy, lambda: self.flood(proxy.port, burst))
        goaways = [payload for kind, _, _, payload in frames if kind == h2_raw.GOAWAY]
        self.assertTrue(goaways, "the attacker's connection was closed without a GOAWAY")
        self.assertTrue(answers)
        self.assertTrue(all(status == "200" for status, _ in answers), answers)
        # At most the stream limit's worth of its requests ever reached the members.
        reached = sum(1 for m in members for e in m.events("request") if e["path"].startswith("/reset/"))
        self.assertLess(reached, 2000)
        self.assertEqual(self.nghttp(proxy.port, ["/after"]).head(13).get(":status"), "200")

    def test_continuation_flood_closes_the_attacker_and_others_are_served(self):
        members = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{members[0].id}={members[0].address}")

        flood = frame(h2_raw.HEADERS, 0, 1, h2_raw.get_block("/flood"))
        flood += b"".join(frame(h2_raw.CONTINUATION, 0, 1, h2_raw.literal(f"x-f{i}", "v" * 50)) for i in range(10000))
        frames, answers = self.attack_beside_a_normal_client(proxy, lambda: self.flood(proxy.port, flood))
        self.assertTrue([f for f in frames if f[0] == h2_raw.GOAWAY], "no GOAWAY before the close")
        self.assertTrue(answers)
        self.assertTrue(all(status == "200" for status, _ in answers), answers)
        self.assertEqual([e for e in members[0].events("request") if e["path"] == "/flood"], [])


if __name__ == "__main__":
    unittest.main()
