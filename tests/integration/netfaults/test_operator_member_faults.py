"""Faults on the operator's heartbeat path to one member, and nowhere else.

The process runtime probes each replica on its own port (127.0.0.1:PORT), which toxiproxy cannot
sit in front of without a runtime change, and this kernel has no netem. So, inside the test's
private network namespace, an iptables `nat OUTPUT` rule DNATs new connections to the victim's
127.0.0.1:PORT that come from uid 0 (the operator) to a toxiproxy link, whose upstream reaches the
replica at 127.0.0.2:PORT (the rule does not match that address; replicas listen on 0.0.0.0, which
is safe in the private namespace). The proxy runs as uid 65534, so the data path stays clean: only
the heartbeats cross the fault. The rule's packet counter proves they did."""
import http.client
import os
import sys
import threading
import time
import unittest

from netfaults_support import iptables, require_private_netns, require_toxiproxy
from test_operator_faults import RING, RingWatcher, Stack, get, operator_harness, start_following_proxy, wait_until

import toxiproxy  # noqa: E402

# The HashRing's healthCheck (operator_harness.resource_yaml): every 1 s, 1 s timeout, 3 failures.
INTERVAL_S, TIMEOUT_S, FAILURE_THRESHOLD = 1, 1, 3
# The operator probes a Starting replica every 250 ms (operator/README.md, Heartbeats).
FASTEST_PROBE_S = 0.25
VICTIM = f"{RING}-1"
DATES = [time.strftime("%Y-%m-%d", time.gmtime(946684800 + i * 37 * 86400)) for i in range(120)]
NOBODY = "65534"


def metric(text, name, **labels):
    """The sum of `name` over the series whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HeartbeatDnat:
    """New TCP connections from uid 0 to 127.0.0.1:`port` go to 127.0.0.1:`to_port` instead."""

    def __init__(self, port, to_port):
        self.rule = ["OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", str(port), "-m", "owner", "--uid-owner", "0",
                     "-j", "DNAT", "--to-destination", f"127.0.0.1:{to_port}"]
        iptables("-t", "nat", "-A", *self.rule)

    def connections(self):
        """New connections the rule redirected so far (nat rules see only a connection's first packet)."""
        for line in iptables("-t", "nat", "-L", "OUTPUT", "-v", "-n", "-x").splitlines()[2:]:
            if "DNAT" in line:
                return int(line.split()[0])
        return 0

    def remove(self):
        if self.rule:
            iptables("-t", "nat", "-D", *self.rule)
            self.rule = None


class ReadyzSampler(threading.Thread):
    """GETs the operator's /readyz every 200 ms and keeps every answer that was not a 200."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack, self.samples, self.bad = stack, 0, []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.2):
            try:
                status = get(self.stack.url("/readyz"), timeout=2)[0]
            except OSError as error:
                status = repr(error)
            self.samples += 1
            if status != 200:
                self.bad.append(status)

    def stop(self):
        self.stopped.set()
        self.join(5)


@require_private_netns
@require_toxiproxy
class HeartbeatPathFaultsTest(unittest.TestCase):

    def setUp(self):
        self.stack = Stack(replicas=3, interval=INTERVAL_S, failure_threshold=FAILURE_THRESHOLD)
        self.addCleanup(self.stack.close)
        # Replicas listen on every loopback address so toxiproxy reaches them at 127.0.0.2.
        text = operator_harness.resource_yaml(3, self.stack.apod, interval=INTERVAL_S,
                                              failure_threshold=FAILURE_THRESHOLD)
        assert f"timeoutSeconds: {TIMEOUT_S}," in text
        self.stack.write_resource(3, text.replace('"--listen-address", "127.0.0.1"', '"--listen-address", "0.0.0.0"'))
        self.operator = self.stack.start_operator()
        self.stack.wait_ready(3, timeout=30)
        self.proxy = self.start_proxy_as_nobody()

        port = int(self.stack.members()[VICTIM]["address"].rsplit(":", 1)[1])
        server = toxiproxy.Toxiproxy(self.stack.dir)
        self.addCleanup(server.stop)
        self.link = server.link("heartbeat", f"127.0.0.2:{port}")
        self.dnat = HeartbeatDnat(port, self.link.port)
        self.addCleanup(self.dnat.remove)
        self.watcher = RingWatcher(self.stack)
        self.watcher.start()
        self.addCleanup(self.watcher.stop)
        self.readyz = ReadyzSampler(self.stack)
        self.readyz.start()
        self.addCleanup(self.readyz.stop)
        self.baseline = self.owners()
        self.assertIn(VICTIM, self.baseline.values())
        self.assertEqual(len(set(self.baseline.values())), 3, "every member owns some of the swept keys")

    def show(self, text):
        print(f"\n{self.id().split('.')[-1]}: {text}", file=sys.stderr)

    def start_proxy_as_nobody(self):
        """A proxy following the ring as uid 65534, so the DNAT rule leaves its connections alone."""
        return start_following_proxy(self, self.stack, self.stack.url(f"/v1/rings/{RING}"), run_as=NOBODY)

    def owners(self):
        """date -> the member that served it, once the proxy routes by the operator's current ring."""
        wait_until(lambda: self.stack.proxy_ring_version(self.proxy) == self.stack.ring()["version"], 15,
                   "the proxy to follow the operator's ring")
        served = {}
        connection = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=10)
        try:
            for date in DATES:
                connection.request("GET", f"/planetary/apod?date={date}")
                response = connection.getresponse()
                response.read()
                self.assertEqual(response.status, 200, f"GET date={date}")
                served[date] = response.getheader("X-Served-By")
        finally:
            connection.close()
        return served

    def assert_only_the_victims_keys_moved(self, now):
        moved_elsewhere = 0
        for date, owner in self.baseline.items():
            if owner == VICTIM:
                self.assertNotEqual(now[date], VICTIM, f"date={date} still routed to the failed {VICTIM}")
                moved_elsewhere += 1
            else:
                self.assertEqual(now[date], owner, f"date={date} moved from {owner}, which did not fail")
        return moved_elsewhere

    def state_of_victim(self, ring):
        return next(m["state"] for m in ring["members"] if m["id"] == VICTIM)

    def failures_metric(self):
        return metric(get(self.stack.url("/metrics"))[2], "ringlb_operator_heartbeat_failures_total", member=VICTIM)

    def wait_victim_out(self, since, what):
        # failureThreshold probes of at most timeoutSeconds each, intervalSeconds apart: about 6 s
        # here; 30 s leaves room for a slow machine.
        wait_until(lambda: any(t >= since and self.state_of_victim(r) != "Ready" for t, r in self.watcher.seen), 30,
                   f"{VICTIM} to leave Ready ({what})")
        return next(t for t, r in self.watcher.seen if t >= since and self.state_of_victim(r) != "Ready") - since

    def heal_and_check(self):
        self.link.clear()
        healed_at = time.monotonic()
        wait_until(lambda: self.state_of_victim(self.stack.ring()) == "Ready", 60, f"{VICTIM} Ready after healing")
        back = time.monotonic() - healed_at
        self.assertEqual(self.owners(), self.baseline, "healed, every key is back with its owner")
        return back

    def assert_operator_healthy(self):
        self.assertIsNone(self.operator.poll(), "the operator is still running")
        self.assertEqual(self.readyz.bad, [], "the operator's /readyz answered 200 throughout")
        self.assertGreater(self.readyz.samples, 10)
        versions = self.watcher.versions()
        self.assertEqual(versions, sorted(set(versions)), "ring versions only increase")

    def test_latency_below_the_timeout_changes_nothing_above_it_fails_the_member_only(self):
        # 300 ± 100 ms on each answer and 100 ± 50 ms on each request: at most 550 ms per probe,
        # under timeoutSeconds (1 s).
        self.link.add("latency", "downstream", latency=300, jitter=100)
        self.link.add("latency", "upstream", latency=100, jitter=50)
        version = self.stack.ring()["version"]
        redirected = self.dnat.connections()
        failures = self.failures_metric()
        slow_from = time.monotonic()
        time.sleep(2 * FAILURE_THRESHOLD * INTERVAL_S + 2)
        probes_through_the_link = self.dnat.connections() - redirected
        self.assertGreaterEqual(probes_through_the_link, FAILURE_THRESHOLD,
                                "the operator's heartbeats went through the slow link")
        self.assertTrue(all(self.state_of_victim(r) == "Ready" for t, r in self.watcher.seen if t >= slow_from))
        self.assertEqual(self.stack.ring()["version"], version, "latency under the timeout publishes no new ring")
        self.assertEqual(self.owners(), self.baseline, "latency under the timeout moves no key")
        slow_failures = self.failures_metric() - failures

        # 2 s on each answer: every probe times out.
        self.link.clear()
        restarts = self.stack.members()[VICTIM]["restarts"]
        self.link.add("latency", "downstream", latency=2000, jitter=100)
        cut_at = time.monotonic()
        detected = self.wait_victim_out(cut_at, "latency above the timeout")
        self.assertGreaterEqual(detected, (FAILURE_THRESHOLD - 1) * INTERVAL_S,
                                "not marked failed before failureThreshold probes could fail")
        moved = self.assert_only_the_victims_keys_moved(self.owners())
        wait_until(lambda: self.stack.members()[VICTIM]["restarts"] > restarts, 30,
                   f"the process runtime to replace {VICTIM} in its slot")
        back = self.heal_and_check()
        self.assert_operator_healthy()
        self.show(f"{probes_through_the_link} probes through 300±100/100±50 ms latency, {slow_failures:.0f} failed, "
                  f"ring unchanged; at 2 s latency {VICTIM} left Ready {detected:.1f} s after, its {moved} of "
                  f"{len(DATES)} swept keys moved (no other key), replaced in its slot; Ready {back:.1f} s after healing")

    def test_blackholed_heartbeats_fail_the_member_and_the_operator_stays_calm(self):
        failures = self.failures_metric()
        reconciles = metric(get(self.stack.url("/metrics"))[2], "ringlb_operator_reconciles_total")
        self.link.blackhole()
        cut_at = time.monotonic()
        cpu_at_cut = cpu_seconds(self.operator.pid)
        detected = self.wait_victim_out(cut_at, "blackholed heartbeats")
        moved = self.assert_only_the_victims_keys_moved(self.owners())
        # Stay blackholed a while: the slot crash-loops (backoff) behind the fault.
        time.sleep(8)
        window = time.monotonic() - cut_at
        cpu = cpu_seconds(self.operator.pid) - cpu_at_cut
        text = get(self.stack.url("/metrics"))[2]
        probe_failures = metric(text, "ringlb_operator_heartbeat_failures_total", member=VICTIM) - failures
        reconciles = metric(text, "ringlb_operator_reconciles_total") - reconciles
        self.assertGreaterEqual(probe_failures, FAILURE_THRESHOLD)
        # Not a hot loop: a probe at most every 250 ms (the Starting pace), and a small share of a core.
        self.assertLessEqual(probe_failures, window / FASTEST_PROBE_S + 2, "probes no faster than every 250 ms")
        self.assertLess(cpu / window, 0.25, f"the operator used {cpu:.2f} s of CPU in {window:.1f} s")
        self.assertTrue(self.stack.members()[VICTIM].get("lastFailure"), "the status names the last failure")
        back = self.heal_and_check()
        self.assert_operator_healthy()
        self.show(f"{VICTIM} left Ready {detected:.1f} s after the blackhole; {moved} of {len(DATES)} swept keys moved "
                  f"(no other key); over {window:.1f} s blackholed: {probe_failures:.0f} failed probes, "
                  f"{reconciles:.0f} reconciles, operator CPU {cpu:.2f} s ({100 * cpu / window:.1f}% of a core); "
                  f"Ready {back:.1f} s after healing; /readyz 200 in all {self.readyz.samples} samples")


if __name__ == "__main__":
    unittest.main()
