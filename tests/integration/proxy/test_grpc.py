"""A real gRPC client (grpcio, from PyPI) through the proxy's h2c listener to
HTTP/1.1 members that answer gRPC-shaped calls (member.py's
/ringlb.test.Echo/*: length-prefixed messages in a chunked body, the status
in chunked trailers). Calls are routed by their x-user-id metadata.

grpcio is not a Debian package: scripts/test installs it into
~/.cache/ringlb/python/grpcio-<version> (RINGLB_GRPCIO_PATH overrides). The
suite skips without it, except under CI=true, where a skip would hide a gap."""
import os
import sys
import threading
import unittest

from harness import ProxyTestCase, owner_chain, ring_json

GRPCIO_VERSION = "1.85.1"
GRPCIO_PATH = os.environ.get("RINGLB_GRPCIO_PATH",
                             os.path.expanduser(f"~/.cache/ringlb/python/grpcio-{GRPCIO_VERSION}"))
sys.path.insert(0, GRPCIO_PATH)
try:
    import grpc
except ImportError:
    grpc = None
    if os.environ.get("CI") == "true":
        raise

KEY = {"source": "header", "name": "x-user-id"}


@unittest.skipUnless(grpc, f"grpcio is not installed in {GRPCIO_PATH} (./scripts/test installs it)")
def assert_calls_land_on_their_owners(test, channel, ring):
    """Unary and server-streaming calls for six users: each answered by its key's owner, which
    the reply, the initial metadata and the trailers all name."""
    unary = channel.unary_unary("/ringlb.test.Echo/Unary")
    stream = channel.unary_stream("/ringlb.test.Echo/Stream")
    owners = set()
    for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
        owner = owner_chain(ring, user, test.workdir)[0]
        owners.add(owner)
        reply, call = unary.with_call(b"hi " + user.encode(), metadata=[("x-user-id", user)], timeout=10)
        test.assertEqual(reply, f"{owner} hi {user} 0".encode())
        test.assertEqual(call.code(), grpc.StatusCode.OK)
        test.assertIn(("x-served-by", owner), call.initial_metadata())
        test.assertIn(("x-served-by-trailer", owner), call.trailing_metadata())
        streamed = stream(b"s", metadata=[("x-user-id", user)], timeout=10)
        test.assertEqual(list(streamed), [f"{owner} s {i}".encode() for i in range(3)])
        test.assertEqual(streamed.code(), grpc.StatusCode.OK)
        test.assertIn(("x-served-by-trailer", owner), streamed.trailing_metadata())
    test.assertGreaterEqual(len(owners), 2)


class GrpcTest(ProxyTestCase):
    def channel(self, proxy):
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}")
        self.addCleanup(channel.close)
        return channel

    def start(self, count):
        members = self.start_members(count)
        proxy = self.start_proxy("--backends", ",".join(f"{m.id}={m.address}" for m in members),
                                 "--key", "header:x-user-id")
        return members, ring_json("static", 1, members, key=KEY), proxy

    def test_unary_and_server_streaming_calls_land_on_the_key_owner_with_trailers(self):
        members, ring, proxy = self.start(3)
        channel = self.channel(proxy)
        assert_calls_land_on_their_owners(self, channel, ring)
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_requests_total", {"protocol": "h2c", "code_class": "2xx"}, 12),
                         12)

    def test_member_status_reaches_the_client(self):
        _, _, proxy = self.start(1)
        with self.assertRaises(grpc.RpcError) as raised:
            self.channel(proxy).unary_unary("/ringlb.test.Echo/Fail")(b"x", metadata=[("x-user-id", "u")], timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(raised.exception.details(), "nothing here")

    def test_no_ready_member_is_unavailable(self):
        members = self.start_members(2)
        operator = self.start_operator()
        operator.publish(ring_json("apod", 1, members, key=KEY, states={m.id: "NotReady" for m in members}))
        proxy = self.start_proxy("--ring-url", operator.url())
        proxy.wait_for_metric("ringlb_proxy_ring_version", None, 1)
        with self.assertRaises(grpc.RpcError) as raised:
            self.channel(proxy).unary_unary("/ringlb.test.Echo/Unary")(b"x", metadata=[("x-user-id", "u")], timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn("Ready", raised.exception.details())

    def test_killing_a_member_mid_stream_fails_only_its_calls_and_new_calls_go_to_the_successor(self):
        members, ring, proxy = self.start(3)
        by_id = {m.id: m for m in members}
        users = {}
        for i in range(200):
            users.setdefault(owner_chain(ring, f"user-{i}", self.workdir)[0], f"user-{i}")
            if len(users) == 3:
                break
        victim_id, survivor_id = sorted(users)[0], sorted(users)[1]
        channel = self.channel(proxy)
        slow = channel.unary_stream("/ringlb.test.Echo/SlowStream")
        doomed = slow(b"d", metadata=[("x-user-id", users[victim_id])], timeout=60)
        survivor = channel.unary_stream("/ringlb.test.Echo/Stream")
        self.assertEqual(next(doomed), f"{victim_id} d 0".encode())
        by_id[victim_id].kill()
        with self.assertRaises(grpc.RpcError) as raised:
            next(doomed)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE)
        # The other member's calls on the same connection are untouched.
        self.assertEqual(len(list(survivor(b"s", metadata=[("x-user-id", users[survivor_id])], timeout=10))), 3)
        # A new call for the killed member's key goes to its successor (the connect fails, nothing was sent).
        successor = owner_chain(ring, users[victim_id], self.workdir)[1]
        reply = channel.unary_unary("/ringlb.test.Echo/Unary")(b"again", metadata=[("x-user-id", users[victim_id])],
                                                               timeout=10)
        self.assertEqual(reply, f"{successor} again 0".encode())


if __name__ == "__main__":
    unittest.main()
