"""h2c to the members: real grpcio servers (grpc_member.py) speak HTTP/2 with
prior knowledge behind a ring whose `protocol` is h2c, and the proxy reaches
them over multiplexed per-member connections (nghttp2's client session).
Clients are a real grpcio client (over the proxy's h2c listener) and a
plain HTTP/1.1 client.

grpcio comes from PyPI into ~/.cache/ringlb/python/grpcio-<version>
(scripts/lib/h2-tools.sh ensure_grpcio); the suite skips without it, except
under CI=true."""
import os
import socket
import struct
import threading
import time
import unittest

from harness import MemberProcess, ProxyTestCase, owner_chain, ring_json
from test_grpc import GRPCIO_PATH, assert_calls_land_on_their_owners, grpc

KEY = {"source": "header", "name": "x-user-id"}


class GrpcMember(MemberProcess):
    """A grpcio server process (grpc_member.py) on a kernel-chosen loopback port."""

    def __init__(self, workdir, member_id, max_concurrent_streams=0):
        super().__init__(workdir, member_id, "grpc_member.py", ["--max-concurrent-streams", str(max_concurrent_streams)],
                         name="grpc-member", env=dict(os.environ, RINGLB_GRPCIO_PATH=GRPCIO_PATH))


def grpc_frame(message):
    return b"\x00" + struct.pack(">I", len(message)) + message


@unittest.skipUnless(grpc, f"grpcio is not installed in {GRPCIO_PATH} (./scripts/test installs it)")
class GrpcUpstreamTest(ProxyTestCase):
    def start(self, count, max_concurrent_streams=0):
        members = []
        for i in range(count):
            member = GrpcMember(self.workdir, f"g-{i}", max_concurrent_streams)
            self.cleanups.append(member.stop)
            members.append(member)
        ring = ring_json("grpc", 1, members, key=KEY)
        ring["protocol"] = "h2c"
        operator = self.start_operator("grpc")
        operator.publish(ring)
        proxy = self.start_proxy("--ring-url", operator.url())
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_ring_version", None, 1), 1)
        return members, ring, proxy, operator

    def channel(self, proxy):
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}")
        self.addCleanup(channel.close)
        return channel

    def users_by_owner(self, ring, count):
        users = {}
        for i in range(500):
            users.setdefault(owner_chain(ring, f"user-{i}", self.workdir)[0], f"user-{i}")
            if len(users) == count:
                break
        return users

    def test_unary_and_server_streaming_calls_land_on_the_key_owner_with_trailers(self):
        members, ring, proxy, _ = self.start(3)
        channel = self.channel(proxy)
        assert_calls_land_on_their_owners(self, channel, ring)
        with self.assertRaises(grpc.RpcError) as raised:
            channel.unary_unary("/ringlb.test.Echo/Fail")(b"x", metadata=[("x-user-id", "u")], timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(raised.exception.details(), "nothing here")
        self.assertEqual(proxy.admin_json("/ring")[1]["protocol"], "h2c")

    def test_request_and_response_bodies_stream(self):
        members, ring, proxy, _ = self.start(2)
        owner = owner_chain(ring, "paula", self.workdir)[0]
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}", options=[("grpc.max_receive_message_length", 64 << 20)])
        self.addCleanup(channel.close)

        def messages():
            for part in (b"a", b"b" * 100000, b"c"):
                yield part
                time.sleep(0.1)  # the body is still arriving when the stream to the member has begun
        reply = channel.stream_unary("/ringlb.test.Echo/Collect")(messages(), metadata=[("x-user-id", "paula")],
                                                                 timeout=20)
        self.assertEqual(reply, f"{owner} ".encode() + b"|".join((b"a", b"b" * 100000, b"c")))
        # 8 MB back: far past the proxy's buffer and the member stream's flow-control window.
        size = 8 << 20
        reply = channel.unary_unary("/ringlb.test.Echo/Big")(str(size).encode(), metadata=[("x-user-id", "paula")],
                                                             timeout=30)
        self.assertEqual(len(reply), size)
        self.assertEqual(reply.count(b"b"), size)

    def concurrent_calls(self, channel, user, count):
        slow = channel.unary_unary("/ringlb.test.Echo/SlowUnary")
        results = [None] * count

        def call(i):
            try:
                reply, outcome = slow.with_call(b"c%d" % i, metadata=[("x-user-id", user)], timeout=20)
                results[i] = (reply, dict(outcome.trailing_metadata())["x-peer"])
            except grpc.RpcError as error:
                results[i] = error
        threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return results

    def test_many_concurrent_calls_share_one_member_connection(self):
        members, ring, proxy, _ = self.start(1)
        channel = self.channel(proxy)
        results = self.concurrent_calls(channel, "alice", 40)
        self.assertTrue(all(isinstance(r, tuple) for r in results), results)
        self.assertEqual(sorted(r[0] for r in results), sorted(f"g-0 c{i} 0".encode() for i in range(40)))
        peers = {r[1] for r in results}
        self.assertEqual(len(peers), 1, f"40 overlapping calls came on {len(peers)} member connections: {peers}")

    def test_a_member_stream_limit_opens_another_connection_when_full(self):
        members, ring, proxy, _ = self.start(1, max_concurrent_streams=4)
        channel = self.channel(proxy)
        # One call first, so the member's SETTINGS (4 streams) are known.
        channel.unary_unary("/ringlb.test.Echo/Unary")(b"warm", metadata=[("x-user-id", "a")], timeout=10)
        # 8 calls at once fill two connections without queueing any: a call queued for a slot that
        # a finished call just freed can meet grpc-core's lagging count of open streams and be
        # reset with ENHANCE_YOUR_CALM, which is not retried (see proxy/README.md, h2c to the members).
        results = self.concurrent_calls(channel, "alice", 8)
        self.assertTrue(all(isinstance(r, tuple) for r in results), results)
        peers = {r[1] for r in results}
        self.assertGreaterEqual(len(peers), 2, f"8 calls at 4 streams per connection came on {peers}")
        self.assertLessEqual(len(peers), 3, peers)

    def test_killing_a_member_mid_stream_fails_only_its_calls_and_new_calls_go_to_the_successor(self):
        members, ring, proxy, _ = self.start(3)
        by_id = {m.id: m for m in members}
        users = self.users_by_owner(ring, 3)
        victim_id, survivor_id = sorted(users)[0], sorted(users)[1]
        channel = self.channel(proxy)
        slow = channel.unary_stream("/ringlb.test.Echo/SlowStream")
        doomed = slow(b"d", metadata=[("x-user-id", users[victim_id])], timeout=60)
        lasting = slow(b"l", metadata=[("x-user-id", users[survivor_id])], timeout=60)
        self.assertEqual(next(doomed), f"{victim_id} d 0".encode())
        self.assertEqual(next(lasting), f"{survivor_id} l 0".encode())
        by_id[victim_id].kill()
        with self.assertRaises(grpc.RpcError) as raised:
            for _ in doomed:
                pass
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE)
        # The other member's call, on the same client connection, goes on.
        self.assertEqual(next(lasting), f"{survivor_id} l 1".encode())
        lasting.cancel()
        # A new call for the killed member's key goes to its successor (the connect fails, nothing was sent).
        successor = owner_chain(ring, users[victim_id], self.workdir)[1]
        reply = channel.unary_unary("/ringlb.test.Echo/Unary")(b"again", metadata=[("x-user-id", users[victim_id])],
                                                               timeout=10)
        self.assertEqual(reply, f"{successor} again 0".encode())

    def test_an_http1_client_reaches_an_h2c_member(self):
        members, ring, proxy, _ = self.start(1)
        body = grpc_frame(b"plain")
        request = (b"POST /ringlb.test.Echo/Unary HTTP/1.1\r\nHost: svc\r\nContent-Type: application/grpc\r\n"
                   b"TE: trailers\r\nX-User-Id: zed\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(request)
            received = b""
            while not received.endswith(b"\r\n\r\n") or b"\r\n0\r\n" not in received:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), received)
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        self.assertIn(b"x-served-by: g-0", head.lower())
        self.assertIn(grpc_frame(b"g-0 plain 0"), rest)
        # The member's trailers arrive as the chunked trailer section.
        self.assertIn(b"grpc-status: 0\r\n", rest)
        self.assertIn(b"x-served-by-trailer: g-0\r\n", rest)
        # Keep-alive: the client connection carries further requests, with the body as it came.
        connection = proxy.connection()
        self.addCleanup(connection.close)
        for text in (b"one", b"two"):
            connection.request("POST", "/ringlb.test.Echo/Unary", body=grpc_frame(text),
                               headers={"Content-Type": "application/grpc", "X-User-Id": "zed"})
            response = connection.getresponse()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.read(), grpc_frame(b"g-0 " + text + b" 0"))

    def test_an_http1_client_that_expects_100_continue_is_told_to_send_its_body(self):
        members, ring, proxy, _ = self.start(1)
        body = grpc_frame(b"later")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"POST /ringlb.test.Echo/Unary HTTP/1.1\r\nHost: svc\r\nContent-Type: application/grpc\r\n"
                      b"X-User-Id: zed\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                interim += s.recv(1)
            self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(body)
            received = b""
            while b"\r\n0\r\n" not in received:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
        self.assertTrue(received.startswith(b"HTTP/1.1 200"), received)
        self.assertIn(grpc_frame(b"g-0 later 0"), received)

    def test_a_ring_with_an_unknown_protocol_is_refused_and_the_last_good_one_keeps_routing(self):
        members, ring, proxy, operator = self.start(1)
        bad = dict(ring, version=2, protocol="h3")
        operator.publish(bad)
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_ring_updates_total", {"result": "rejected"}, 1), 1)
        self.assertIn("protocol: 'h3' is not one of http1, h2c", proxy.log())
        self.assertEqual(proxy.metric("ringlb_proxy_ring_version"), 1)
        reply = self.channel(proxy).unary_unary("/ringlb.test.Echo/Unary")(b"still", metadata=[("x-user-id", "a")],
                                                                           timeout=10)
        self.assertEqual(reply, b"g-0 still 0")


if __name__ == "__main__":
    unittest.main()
