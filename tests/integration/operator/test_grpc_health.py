"""gRPC replicas under the operator: a HashRing with `protocol: h2c` and
`healthCheck.grpc` whose replicas (grpc_health_replica.py, the process runtime)
speak only gRPC. The operator's heartbeats are grpc.health.v1.Health/Check calls
to grpcio's reference health servicer; the replicas become Ready, the proxy routes
real gRPC calls to each key's owner, and a replica that reports NOT_SERVING or is
killed leaves the ring and is replaced in its slot.

grpcio and grpcio-health-checking come from PyPI into ~/.cache/ringlb/python
(scripts/lib/h2-tools.sh ensure_grpcio, ensure_grpcio_health); the suite skips
without them, except under CI=true."""
import http.client
import json
import os
import re
import signal
import sys
import time
import unittest

import harness
from harness import Stack, get, wait_until

RING = "echo"

GRPCIO_VERSION = "1.85.1"
PYTHON_CACHE = os.path.expanduser("~/.cache/ringlb/python")
GRPCIO_PATH = os.pathsep.join([
    os.environ.get("RINGLB_GRPCIO_HEALTH_PATH", f"{PYTHON_CACHE}/grpcio-health-checking-{GRPCIO_VERSION}"),
    os.environ.get("RINGLB_GRPCIO_PATH", f"{PYTHON_CACHE}/grpcio-{GRPCIO_VERSION}"),
])
for entry in reversed(GRPCIO_PATH.split(os.pathsep)):
    sys.path.insert(0, entry)
try:
    import grpc
    from grpc_health.v1 import health  # noqa: F401  (the replicas need it)
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    grpc = None

REPLICA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_health_replica.py")
SERVICE = "ringlb.test.Echo"


EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../examples/grpc.yaml")


def example_resource():
    """examples/grpc.yaml (ring `echo`, 3 replicas, failureThreshold 2), its replica script by absolute path."""
    with open(EXAMPLE) as f:
        text = f.read()
    assert "args: [tests/integration/operator/grpc_health_replica.py," in text, "examples/grpc.yaml changed shape"
    return text.replace("tests/integration/operator/grpc_health_replica.py", REPLICA)


@unittest.skipUnless(grpc, f"grpcio-health-checking is not installed in {GRPCIO_PATH} (./scripts/test installs it)")
class GrpcHealthTest(unittest.TestCase):
    replicas = 3

    def setUp(self):
        # The harness's Stack names its ring after harness.RING; the example's is `echo`.
        self.addCleanup(setattr, harness, "RING", harness.RING)
        harness.RING = RING
        os.environ["RINGLB_GRPCIO_PATH"] = GRPCIO_PATH  # the process runtime passes it on to the replicas
        self.stack = Stack(self.replicas)
        self.addCleanup(self.stack.close)
        self.stack.write_resource(self.replicas, text=example_resource())
        self.stack.start_operator()

    def show(self, what):
        print(f"\n[{self.id().rsplit('.', 1)[-1]}] {what}", flush=True)

    def owner(self, key):
        status, _, body = get(self.stack.url(f"/v1/rings/{RING}/explain?key={key}"))
        self.assertEqual(status, 200, body)
        return json.loads(body)["pick"]

    def call(self, channel, user):
        unary = channel.unary_unary(f"/{SERVICE}/Unary")
        reply, call = unary.with_call(user.encode(), metadata=(("x-user-id", user),), timeout=5)
        served_by = dict(call.initial_metadata())["x-served-by"]
        self.assertEqual(reply.decode(), f"{served_by} {user}")
        return served_by

    def users_by_owner(self):
        users = {}
        for i in range(200):
            users.setdefault(self.owner(f"user-{i}"), f"user-{i}")
            if len(users) == self.replicas:
                return users
        self.fail(f"200 keys did not reach every member: {users}")

    def replaced(self, slot, before):
        member = self.stack.members().get(slot, {})
        return member.get("runtimeId") != before["runtimeId"] and member.get("state") == "Ready" and member

    def test_grpc_replicas_become_ready_take_their_keys_and_unfit_ones_are_replaced(self):
        stack = self.stack
        started = time.monotonic()
        stack.wait_ready(self.replicas, timeout=30)
        self.show(f"{self.replicas} grpcio replicas Ready by gRPC health checks in {time.monotonic() - started:.1f} s")
        members = stack.members()
        # What the HTTP/1.1 heartbeat would have met: no HTTP/1.1 answer at all.
        host, port = members[f"{RING}-0"]["address"].rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=2)
        self.addCleanup(connection.close)
        with self.assertRaises((http.client.HTTPException, OSError)):
            connection.request("GET", "/healthz")
            connection.getresponse()

        proxy = stack.start_proxy()
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}")
        self.addCleanup(channel.close)
        users = self.users_by_owner()
        for slot, user in users.items():
            self.assertEqual(self.call(channel, user), slot, f"{user} lands on its owner")

        # An up replica that reports NOT_SERVING fails failureThreshold (2) heartbeats and is replaced.
        victim = f"{RING}-1"
        before = members[victim]
        with grpc.insecure_channel(before["address"]) as direct:
            self.assertEqual(direct.unary_unary("/ringlb.test.Admin/NotServing")(b"", timeout=5), b"ok")
        marked = time.monotonic()
        wait_until(lambda: stack.members()[victim]["state"] != "Ready", 10, f"{victim} to leave Ready")
        left = time.monotonic() - marked
        after = wait_until(lambda: self.replaced(victim, before), 20, f"{victim} replaced and Ready")
        self.show(f"NOT_SERVING: {victim} left Ready after {left:.1f} s, replaced and Ready "
                  f"{time.monotonic() - marked:.1f} s after the flip")
        self.assertEqual(after["lastFailure"], "heartbeat failed 2 times: gRPC NOT_SERVING")
        self.assertEqual(after["restarts"], 1)
        self.assertEqual(self.call(channel, users[victim]), victim, "the replacement takes its slot's keys")

        # A killed replica is replaced too.
        victim = f"{RING}-2"
        before = stack.members()[victim]
        pid = int(before["runtimeId"].split(":")[0])
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: self.replaced(victim, before), 20, f"{victim} replaced and Ready")
        self.show(f"SIGKILL: {victim} replaced and Ready {time.monotonic() - killed:.1f} s later")
        self.assertEqual(self.call(channel, users[victim]), victim, "the replacement takes its slot's keys")
        metrics = get(stack.url("/metrics"))[2]
        failures = re.search(rf'ringlb_operator_heartbeat_failures_total{{member="{RING}-1",namespace="default",'
                             rf'ring="{RING}"}} (\d+)', metrics)
        self.assertIsNotNone(failures, metrics)
        self.assertGreaterEqual(int(failures.group(1)), 2, "the NOT_SERVING heartbeats are counted")

if __name__ == "__main__":
    unittest.main()
