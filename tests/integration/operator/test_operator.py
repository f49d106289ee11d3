"""Integration tests: the real ringlb-operator, ringlb-proxy and ringlb-apod on 127.0.0.1."""

import json
import os
import signal
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import RING, Load, RingWatcher, Stack, get, process_start_time, wait_until  # noqa: E402


def increasing(values):
    return all(a < b for a, b in zip(values, values[1:]))


class OperatorTest(unittest.TestCase):
    replicas = 3
    resource = {}

    def setUp(self):
        self.stack = Stack(self.replicas, **self.resource)
        self.addCleanup(self.stack.close)
        self.stack.start_operator()
        self.stack.wait_ready(self.replicas)

    def show(self, what):
        print(f"\n[{self.id().rsplit('.', 1)[-1]}] {what}", flush=True)


class ScaleTest(OperatorTest):
    def test_scale_3_to_6_to_2_converges_and_versions_only_increase(self):
        stack = self.stack
        watcher = RingWatcher(stack)
        watcher.start()
        self.addCleanup(watcher.stop)
        proxy = stack.start_proxy()
        load = Load(proxy.port, rate=100)
        load.start()
        self.addCleanup(load.stop)
        first = stack.ring()["version"]

        stack.write_resource(6)
        six = stack.wait_ready(6)
        self.assertGreater(six["version"], first)
        wait_until(lambda: len(load.served_by) == 6, 15, "traffic to all six replicas")
        stack.write_resource(2)
        two = stack.wait_ready(2, timeout=20)
        self.assertGreater(two["version"], six["version"])

        # The replicas of the removed slots are gone, the others untouched.
        slots = stack.recorded_replicas()
        self.assertEqual(sorted(slots), [f"{RING}-0", f"{RING}-1"])
        wait_until(lambda: all(stack.members()[s]["state"] == "Ready" for s in slots), 5, "two Ready members")
        self.assertEqual([m["restarts"] for m in stack.members().values()], [0, 0])

        # Traffic now goes only to the two remaining members.
        wait_until(lambda: stack.proxy_ring_version(proxy) == two["version"], 10, "the proxy to follow the ring")
        load.stop()
        after = [member for t, _, member in load.log if t > time.monotonic() - 0.5]
        watcher.stop()
        versions = watcher.versions()
        self.show(f"versions seen by a watcher: {versions}; served by: {load.served_by}; "
                  f"failed requests: {len(load.failures)}")
        self.assertTrue(increasing(versions), versions)
        self.assertGreaterEqual(len(versions), 3)
        self.assertEqual(versions[-1], two["version"])
        self.assertTrue(set(after) <= {f"{RING}-0", f"{RING}-1"}, set(after))
        self.assertEqual(load.failures, [], "scaling through drains loses no request")


class KillReplicaTest(OperatorTest):
    resource = {"interval": 1, "failure_threshold": 3}

    def test_sigkill_is_detected_and_the_slot_replaced_with_no_failed_request(self):
        stack = self.stack
        proxy = stack.start_proxy()
        watcher = RingWatcher(stack)
        watcher.start()
        self.addCleanup(watcher.stop)
        load = Load(proxy.port, rate=200)
        load.start()
        self.addCleanup(load.stop)
        wait_until(lambda: len(load.served_by) == 3, 10, "load to reach every replica")
        time.sleep(0.5)

        victim = f"{RING}-1"
        before = stack.members()[victim]
        pid = int(before["runtimeId"].split(":")[0])
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        def first_arrival(after, state):
            for arrived, ring in list(watcher.seen):
                member = next((m for m in ring["members"] if m["id"] == victim), None)
                if arrived >= after and member and member["state"] == state:
                    return arrived
            return None

        detected_at = wait_until(lambda: first_arrival(killed_at, "NotReady"), 10, f"{victim} NotReady in the ring")
        ready_at = wait_until(lambda: first_arrival(detected_at, "Ready"), 10, f"{victim} Ready again")
        time.sleep(1.0)  # steady load keeps going on the replacement
        load.stop()

        after = stack.members()[victim]
        detect = detected_at - killed_at
        replace = ready_at - detected_at
        self.show(f"detected in {detect * 1000:.0f} ms, Ready again {replace * 1000:.0f} ms later; "
                  f"{load.ok} requests ok, {len(load.failures)} failed")
        self.assertLessEqual(detect, 1 * 3 + 1, "within intervalSeconds x failureThreshold + 1 s")
        self.assertLessEqual(replace, 5.0)
        self.assertNotEqual(after["runtimeId"], before["runtimeId"])
        self.assertEqual(after["restarts"], 1)
        self.assertIn("SIGKILL", after["lastFailure"])
        self.assertEqual(load.failures, [], "no request fails while the replica is replaced")
        served_after = {member for t, _, member in load.log if t > ready_at + 0.3}
        self.assertIn(victim, served_after, "the replacement takes its keys back")
        metrics = get(stack.url("/metrics"))[2]
        self.assertIn(f'ringlb_operator_restarts_total{{member="{victim}",namespace="default",ring="{RING}"}} 1', metrics)


class HeartbeatFailureTest(OperatorTest):
    resource = {"interval": 1, "failure_threshold": 3, "extra_args": ("--enable-faults",)}

    def test_failing_health_check_is_detected_by_threshold_and_replaced(self):
        stack = self.stack
        watcher = RingWatcher(stack)
        watcher.start()
        self.addCleanup(watcher.stop)
        victim = f"{RING}-2"
        before = stack.members()[victim]
        request = urllib.request.Request(f"http://{before['address']}/admin/fail", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            self.assertEqual(response.status, 200)
        failed_at = time.monotonic()

        def first(state, after):
            for arrived, ring in list(watcher.seen):
                if arrived >= after and any(m["id"] == victim and m["state"] == state for m in ring["members"]):
                    return arrived
            return None

        detected_at = wait_until(lambda: first("NotReady", failed_at), 10, f"{victim} NotReady")
        ready_at = wait_until(lambda: first("Ready", detected_at), 10, f"{victim} Ready again")
        after = stack.members()[victim]
        self.show(f"/healthz failing: NotReady after {(detected_at - failed_at) * 1000:.0f} ms, "
                  f"replaced and Ready {(ready_at - detected_at) * 1000:.0f} ms later")
        self.assertLessEqual(detected_at - failed_at, 1 * 3 + 1, "intervalSeconds x failureThreshold + 1 s")
        self.assertGreaterEqual(detected_at - failed_at, 1.5, "not before the threshold of failures")
        self.assertLessEqual(ready_at - detected_at, 5.0)
        self.assertNotEqual(after["runtimeId"], before["runtimeId"], "replaced in the same slot")
        self.assertEqual(after["restarts"], 1)
        self.assertEqual(after["lastFailure"], "heartbeat failed 3 times: HTTP 503")
        metrics = get(stack.url("/metrics"))[2]
        self.assertRegex(metrics, rf'ringlb_operator_heartbeat_failures_total{{member="{victim}",namespace="default",ring="{RING}"}} [3-9]')


class InvalidEditTest(OperatorTest):
    def test_invalid_spec_leaves_replicas_running_and_is_reported(self):
        stack = self.stack
        before = stack.recorded_replicas()
        version = stack.ring()["version"]
        stack.write_resource(0, text=stack.resource_text().replace("replicas: 3", "replicas: -1"))

        status, _, body = wait_until(lambda: (lambda r: r[0] == 503 and r)(get(stack.url("/readyz"))), 10,
                                     "/readyz to report the bad resource")
        expected = f"{stack.resource_path}: spec.replicas: must be >= 0, got -1"
        self.assertIn(expected, body)
        self.assertIn(expected, stack.operator_log_text())
        ring_status = stack.status()
        self.assertEqual(ring_status["error"], expected)
        degraded = next(c for c in ring_status["conditions"] if c["type"] == "Degraded")
        self.assertEqual((degraded["status"], degraded["reason"]), ("True", "InvalidSpec"))
        metrics = get(stack.url("/metrics"))[2]
        self.assertIn(f'ringlb_operator_resource_errors_total{{namespace="default",ring="{RING}"}} 1', metrics)

        time.sleep(2)  # a few reconcile and heartbeat rounds
        self.assertEqual(stack.recorded_replicas(), before)
        for slot, (pid, start) in before.items():
            self.assertEqual(process_start_time(pid), start, f"{slot} still runs the same process")
        ring = stack.ring()
        self.assertEqual(ring["version"], version)
        self.assertEqual([m["state"] for m in ring["members"]], ["Ready"] * 3)

        # An unknown field is as bad; then fixing the file clears everything.
        stack.write_resource(0, text=stack.resource_text().replace("replicas: -1", "replicas: 3\n  replica: 4"))
        wait_until(lambda: "spec.replica: unknown field" in get(stack.url("/readyz"))[2], 10, "the unknown field error")
        stack.write_resource(4)
        wait_until(lambda: get(stack.url("/readyz"))[0] == 200, 10, "/readyz to recover")
        stack.wait_ready(4)
        self.assertIsNone(stack.status()["error"])


class ProtocolTest(OperatorTest):
    replicas = 1

    def test_protocol_reaches_the_ring_and_a_bad_one_is_refused(self):
        stack = self.stack
        before = stack.ring()
        self.assertNotIn("protocol", before, "an http1 ring leaves the field out")
        stack.write_resource(0, text=stack.resource_text().replace("  drainSeconds:", "  protocol: h2c\n  drainSeconds:"))
        h2c = wait_until(lambda: (lambda r: r.get("protocol") == "h2c" and r)(stack.ring()), 10, "the h2c ring")
        self.assertGreater(h2c["version"], before["version"])
        stack.write_resource(0, text=stack.resource_text().replace("protocol: h2c", "protocol: grpc"))
        status, _, body = wait_until(lambda: (lambda r: r[0] == 503 and r)(get(stack.url("/readyz"))), 10,
                                     "/readyz to report the bad protocol")
        expected = f"{stack.resource_path}: spec.protocol: must be one of http1, h2c, got 'grpc'"
        self.assertIn(expected, body)
        self.assertEqual(stack.status()["error"], expected)
        self.assertEqual(stack.ring(), h2c, "the last good ring stays published")


class OperatorCrashTest(OperatorTest):
    def test_sigkilled_operator_restarts_and_adopts_its_replicas(self):
        stack = self.stack
        proxy = stack.start_proxy()
        load = Load(proxy.port, rate=150)
        load.start()
        self.addCleanup(load.stop)
        wait_until(lambda: len(load.served_by) == 3, 10, "load to reach every replica")
        members = stack.members()
        version = stack.ring()["version"]
        wait_until(lambda: stack.proxy_ring_version(proxy) == version, 10, "the proxy to follow")

        stack.kill_operator()
        time.sleep(1.5)  # proxies keep routing on their last ring
        for slot, member in members.items():
            pid, start = (int(x) for x in member["runtimeId"].split(":"))
            self.assertEqual(process_start_time(pid), start, f"{slot} survives the operator")

        stack.start_operator()
        wait_until(lambda: get(stack.url("/readyz"))[0] == 200, 10, "the restarted operator to be ready")
        time.sleep(2.5)  # a couple of heartbeat rounds and a resync on the adopted replicas
        adopted = stack.members()
        self.assertEqual({s: m["runtimeId"] for s, m in adopted.items()},
                         {s: m["runtimeId"] for s, m in members.items()}, "the same processes, adopted")
        self.assertEqual([m["restarts"] for m in adopted.values()], [0, 0, 0])
        self.assertEqual([m["state"] for m in adopted.values()], ["Ready"] * 3)
        self.assertGreaterEqual(stack.ring()["version"], version, "the version never goes back")
        self.assertIn("Adopt", stack.operator_log_text())

        # And it keeps increasing through the next change, which the proxy follows.
        stack.write_resource(4)
        four = stack.wait_ready(4)
        self.assertGreater(four["version"], version)
        wait_until(lambda: stack.proxy_ring_version(proxy) == four["version"], 15, "the proxy to follow the new ring")
        wait_until(lambda: f"{RING}-3" in load.served_by, 10, "traffic to the new replica")
        load.stop()
        self.show(f"ring v{version} -> v{four['version']} across the operator restart; {load.ok} requests ok, "
                  f"{len(load.failures)} failed; served by {load.served_by}")
        self.assertEqual(load.failures, [], "the proxies keep routing throughout")


class CleanShutdownTest(OperatorTest):
    def test_sigterm_stops_the_replicas(self):
        stack = self.stack
        replicas = stack.recorded_replicas()
        self.assertEqual(len(replicas), 3)
        stack.operator.send_signal(signal.SIGTERM)
        self.assertEqual(stack.operator.wait(15), 0)
        for slot, (pid, start) in replicas.items():
            self.assertNotEqual(process_start_time(pid), start, f"{slot} was stopped")
        self.assertEqual(stack.recorded_replicas(), {})
        with open(os.path.join(stack.state_dir, "rings", f"default_{RING}.json")) as f:
            persisted = json.load(f)["ring"]
        self.assertEqual({m["state"] for m in persisted["members"]}, {"NotReady"},
                         "the ring served at the next start does not claim stopped replicas Ready")

    def test_leave_running_keeps_the_replicas_for_the_next_operator(self):
        stack = self.stack
        stack.operator.send_signal(signal.SIGTERM)
        stack.operator.wait(15)
        stack.start_operator("--leave-running")
        stack.wait_ready(3)
        replicas = stack.recorded_replicas()
        stack.operator.send_signal(signal.SIGTERM)
        self.assertEqual(stack.operator.wait(15), 0)
        for slot, (pid, start) in replicas.items():
            self.assertEqual(process_start_time(pid), start, f"{slot} left running")
        stack.start_operator()
        stack.wait_ready(3)
        self.assertEqual(stack.recorded_replicas(), replicas, "adopted by the next operator")


if __name__ == "__main__":
    unittest.main(verbosity=2)
