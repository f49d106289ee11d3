"""Network faults around ringlb-operator: a replica partitioned from the operator and the proxy
(iptables in a private network namespace: SYNs and segments to its port are dropped, so its
heartbeat times out rather than being refused), and the proxy's ring watch through a toxiproxy link
that is blackholed and then slowed. The operator's process runtime heartbeats the replica's own
port, so its probes cannot be sent through toxiproxy; the partition covers that link."""
import importlib.util
import os
import signal
import subprocess
import sys
import time
import unittest

from netfaults_support import HERE, PortDrop, require_private_netns, require_toxiproxy

import toxiproxy  # noqa: E402

# The operator's harness, under its own name: the proxy's harness.py is importable as `harness` too.
_spec = importlib.util.spec_from_file_location("operator_harness", os.path.join(HERE, "..", "operator", "harness.py"))
operator_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(operator_harness)
RING, Load, RingWatcher, Stack = operator_harness.RING, operator_harness.Load, operator_harness.RingWatcher, operator_harness.Stack
accepts, binary, free_port, get = operator_harness.accepts, operator_harness.binary, operator_harness.free_port, operator_harness.get
wait_until = operator_harness.wait_until


def start_following_proxy(test, stack, ring_url, *args, run_as=None):
    """A ringlb-proxy following `ring_url` (as uid and gid `run_as` through setpriv, when given),
    stopped at `test`'s cleanup; returned once its data port listens (after its first ring)."""
    port, admin = free_port(), free_port()
    log = open(os.path.join(stack.dir, f"proxy-{port}.log"), "a")
    prefix = ["setpriv", "--reuid", run_as, "--regid", run_as, "--clear-groups"] if run_as else []
    proxy = subprocess.Popen(
        [*prefix, binary("ringlb-proxy"), "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
         "--threads", "1", "--ring-url", ring_url, *args], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    proxy.port, proxy.admin = port, admin

    def stop():
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
    test.addCleanup(stop)
    wait_until(lambda: get(f"http://127.0.0.1:{admin}/healthz", timeout=1)[0] == 200, 10, "the proxy to listen")
    wait_until(lambda: accepts(port), 15, "the proxy's data port to listen (after its first ring)")
    return proxy


class OperatorStackTest(unittest.TestCase):
    def setUp(self):
        self.stack = Stack(replicas=3, interval=1, failure_threshold=3)
        self.addCleanup(self.stack.close)
        self.stack.start_operator()
        self.stack.wait_ready(3, timeout=30)

    def show(self, text):
        print(f"\n{self.id().split('.')[-1]}: {text}", file=sys.stderr)

    def start_proxy(self, ring_url, *args):
        """A proxy following `ring_url`, stopped at cleanup."""
        return start_following_proxy(self, self.stack, ring_url, *args)


@require_private_netns
class PartitionedReplicaTest(OperatorStackTest):

    def test_partitioned_replica_is_marked_not_ready_routed_around_and_back_after_healing(self):
        stack = self.stack
        # Each try is bounded well inside the load's 5 s client timeout, so a GET caught on the
        # partitioned replica moves to the successor before its client gives up.
        proxy = self.start_proxy(stack.url(f"/v1/rings/{RING}"), "--connect-timeout", "1s", "--upstream-timeout", "1500ms")
        watcher = RingWatcher(stack)
        watcher.start()
        self.addCleanup(watcher.stop)
        load = Load(proxy.port, rate=100)
        load.start()
        self.addCleanup(load.stop)
        wait_until(lambda: len(load.served_by) == 3, 15, "load to reach every replica")
        victim = f"{RING}-1"
        member = stack.members()[victim]
        port = int(member["address"].rsplit(":", 1)[1])
        version_before = stack.ring()["version"]

        partition = PortDrop(port)
        partition.__enter__()
        self.addCleanup(partition.lift)
        cut_at = time.monotonic()

        def state_of(ring):
            return next((m["state"] for m in ring["members"] if m["id"] == victim), None)

        # Heartbeats now time out (timeoutSeconds 1) instead of being refused: failureThreshold 3
        # at intervalSeconds 1 is about 6 s; 30 s leaves room for a slow machine.
        wait_until(lambda: any(t >= cut_at and state_of(r) != "Ready" for t, r in watcher.seen), 30,
                   f"{victim} to leave Ready in the ring")
        detected = next(t for t, r in watcher.seen if t >= cut_at and state_of(r) != "Ready") - cut_at
        time.sleep(3)  # load keeps flowing around the partitioned replica
        partition.lift()
        healed_at = time.monotonic()
        wait_until(lambda: state_of(stack.ring()) == "Ready" and
                   stack.proxy_ring_version(proxy) == stack.ring()["version"], 90, f"{victim} Ready again after healing")
        back = time.monotonic() - healed_at
        time.sleep(1.5)
        load.stop()

        versions = watcher.versions()
        self.show(f"left Ready {detected:.1f} s after the partition, Ready {back:.1f} s after healing; "
                  f"ring versions {versions}; {load.ok} GETs ok, {len(load.failures)} failed")
        self.assertEqual(load.failures, [], "no GET fails while a replica is partitioned")
        self.assertGreater(stack.ring()["version"], version_before)
        self.assertEqual(versions, sorted(set(versions)), "ring versions only increase")
        served_late = {m for t, _, m in load.log if t > time.monotonic() - 1.0}
        self.assertIn(victim, served_late, "the healed slot serves its keys again")


@require_toxiproxy
class RingWatchFaultsTest(OperatorStackTest):

    def staleness(self, proxy):
        text = get(f"http://127.0.0.1:{proxy.admin}/metrics")[2]
        line = next(l for l in text.splitlines() if l.startswith("ringlb_proxy_ring_staleness_seconds "))
        return float(line.split()[1])

    def test_blackholed_operator_leaves_the_last_ring_routing_and_the_proxy_catches_up_after(self):
        stack = self.stack
        server = toxiproxy.Toxiproxy(stack.dir)
        self.addCleanup(server.stop)
        link = server.link("operator", f"127.0.0.1:{stack.operator_port}")
        proxy = self.start_proxy(f"http://{link.address}/v1/rings/{RING}", "--ring-watch-timeout", "2s",
                                 "--ring-backoff-max", "1s")
        version = stack.ring()["version"]
        wait_until(lambda: stack.proxy_ring_version(proxy) == version, 15, "the proxy to load the ring")

        link.blackhole()
        stack.write_resource(4)
        stack.wait_ready(4, timeout=30)
        scaled = stack.ring()["version"]
        self.assertGreater(scaled, version)
        load = Load(proxy.port, rate=50)
        load.start()
        self.addCleanup(load.stop)
        time.sleep(6)
        load.stop()
        self.assertEqual(load.failures, [], "the last ring keeps routing while the operator is unreachable")
        self.assertGreater(load.ok, 0)
        self.assertEqual(stack.proxy_ring_version(proxy), version)
        self.assertNotIn(f"{RING}-3", load.served_by, "the new slot is unknown to a proxy that cannot hear")
        self.assertGreaterEqual(self.staleness(proxy), 3.0, "staleness grows while the watch hears nothing")

        # Healed: the watch's connection into the blackhole must not hold the proxy forever.
        link.clear()
        healed_at = time.monotonic()
        wait_until(lambda: stack.proxy_ring_version(proxy) == scaled, 60, "the proxy to catch up after healing")
        caught_up = time.monotonic() - healed_at
        self.assertLess(self.staleness(proxy), 5.0)

        # Slow: 500 ms each way on every byte of the watch; the next ring still arrives.
        link.add("latency", "downstream", latency=500, jitter=100)
        link.add("latency", "upstream", latency=500, jitter=100)
        stack.write_resource(2)
        stack.wait_ready(2, timeout=40)
        shrunk = stack.ring()["version"]
        slow_at = time.monotonic()
        wait_until(lambda: stack.proxy_ring_version(proxy) == shrunk, 60, "the ring through a slow link")
        self.show(f"caught up {caught_up:.1f} s after healing; through 500 ms latency the next ring arrived "
                  f"{time.monotonic() - slow_at:.1f} s after the operator published it")


if __name__ == "__main__":
    unittest.main()
