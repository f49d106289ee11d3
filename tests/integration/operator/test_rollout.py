"""Paced rollouts against the real ringlb-operator (process runtime), ringlb-proxy and ringlb-apod:
every published ring version moves at most spec.rollout.keyspacePerStep of the keyspace, measured
between consecutive versions with the ring library (ringctl moved) and by X-Served-By through a
proxy; a replica back within the slow-start threshold keeps its keys at once, one absent longer ramps."""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import RING, RingWatcher, Stack, binary, wait_until  # noqa: E402

PACE = 0.10
# The X-Served-By figure samples KEYS dates: a true moved share p ≤ PACE reads as p ± 3σ with
# σ = sqrt(p(1 − p)/KEYS) ≤ 0.0095 at KEYS = 1000, so 0.03 over the pace is the bound that holds.
KEYS = 1000
SERVED_BY_TOLERANCE = 0.03


def rollout_yaml(replicas, apod, step_seconds, slow_start_after, command_dir):
    # A wrapper that refuses to start while <dir>/down-<slot> exists: a slot kept absent on purpose.
    script = (f'if [ -e {command_dir}/down-$(RINGLB_SLOT) ]; then exit 3; fi; '
              f'exec {apod} --port $(PORT) --listen-address 127.0.0.1')
    return f"""apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {{name: {RING}}}
spec:
  replicas: {replicas}
  template:
    command: ["/bin/sh"]
    args: ["-c", {json.dumps(script)}]
  hashing: {{algorithm: ring, key: {{source: query, name: date}}, virtualNodes: 160}}
  healthCheck: {{path: /healthz, intervalSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1}}
  drainSeconds: 1
  rollout: {{keyspacePerStep: {PACE}, stepSeconds: {step_seconds}, slowStartAfterSeconds: {slow_start_after}}}
"""


def dates():
    return [time.strftime("%Y-%m-%d", time.gmtime(946684800 + i * 86400)) for i in range(KEYS)]


def ringctl_moved(before, after, directory):
    paths = []
    for name, ring in (("before", before), ("after", after)):
        path = os.path.join(directory, f"{name}.json")
        with open(path, "w") as f:
            json.dump(ring, f)
        paths.append(path)
    out = subprocess.run([binary("ringctl"), "moved", *paths], check=True, capture_output=True, text=True).stdout
    return float(out)


class RolloutStack(unittest.TestCase):
    """An operator with 3 replicas under a paced spec.rollout (no tests of its own)."""
    step_seconds = 3
    slow_start_after = 4
    initial = 3

    def setUp(self):
        self.stack = Stack(self.initial)
        self.addCleanup(self.stack.close)
        self.write(self.initial)
        self.stack.start_operator()
        self.stack.wait_ready(self.initial)

    def write(self, replicas):
        self.stack.write_resource(replicas, rollout_yaml(replicas, self.stack.apod, self.step_seconds,
                                                         self.slow_start_after, self.stack.dir))

    def show(self, what):
        print(f"\n[{self.id().rsplit('.', 1)[-1]}] {what}", flush=True)

    def served_by(self, proxy):
        """date -> X-Served-By for every sampled date, under one ring version of the proxy (or None)."""
        version = self.stack.proxy_ring_version(proxy)

        def sweep(some):
            connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
            found = {}
            try:
                for date in some:
                    connection.request("GET", f"/planetary/apod?date={date}")
                    response = connection.getresponse()
                    response.read()
                    found[date] = response.getheader("X-Served-By")
            finally:
                connection.close()
            return found

        # Four connections at once: a sweep has to fit within one rollout step (3 s) to count,
        # also on a loaded machine.
        every = dates()
        owners = {}
        with ThreadPoolExecutor(max_workers=4) as pool:
            for found in pool.map(sweep, [every[i::4] for i in range(4)]):
                owners.update(found)
        return (version, owners) if self.stack.proxy_ring_version(proxy) == version else (None, None)



class RolloutTest(RolloutStack):
    def test_scale_3_to_6_moves_at_most_the_pace_per_version(self):
        stack = self.stack
        watcher = RingWatcher(stack)
        watcher.start()
        self.addCleanup(watcher.stop)
        proxy = stack.start_proxy()
        samples = {}  # proxy ring version -> date -> member
        version, owners = self.served_by(proxy)
        samples[version] = owners

        self.write(6)
        deadline = time.monotonic() + 120

        def settled():
            ring = stack.ring()
            return (len(ring["members"]) == 6 and all(m["state"] == "Ready" and "rampPermille" not in m
                                                        for m in ring["members"])) and ring
        final = None
        while time.monotonic() < deadline:
            version, owners = self.served_by(proxy)
            if version is not None and version not in samples:
                samples[version] = owners
            final = settled()
            if final and stack.proxy_ring_version(proxy) == final["version"] and final["version"] in samples:
                break
            time.sleep(0.05)
        self.assertTrue(final, "the rollout did not settle in 120 s")
        watcher.stop()

        rings = [ring for _, ring in watcher.seen]
        versions = [ring["version"] for ring in rings]
        self.assertEqual(versions, sorted(set(versions)), "versions only increase")
        self.assertEqual(versions[-1], final["version"])
        # A watch answers with the newest ring, so a burst of versions can reach the watcher as one:
        # only pairs of consecutive versions are compared.
        pairs = [(a, b) for a, b in zip(rings, rings[1:]) if b["version"] == a["version"] + 1]
        with tempfile.TemporaryDirectory() as directory:
            moved = [ringctl_moved(a, b, directory) for a, b in pairs]
        history = {change["version"]: change["movedKeyspace"] for change in stack.status()["history"]}
        paced = [v for v in history if v > versions[0]]
        ramp_steps = sum(1 for ring in rings if any(0 < m.get("rampPermille", 1000) < 1000 for m in ring["members"]))

        served_moves = []
        for before, after in zip(versions, versions[1:]):
            if after == before + 1 and before in samples and after in samples:
                changed = sum(samples[before][d] != samples[after][d] for d in samples[before])
                served_moves.append((after, changed / KEYS))
        self.show(f"{len(rings)} versions seen, {ramp_steps} with a member part-ramped; operator's moved per version: "
                  f"{[(v, round(history[v], 4)) for v in paced]}, total {sum(history[v] for v in paced):.3f}; "
                  f"ringctl moved per consecutive pair seen: {[round(m, 4) for m in moved]}; X-Served-By moved per "
                  f"sampled consecutive pair: {[(v, round(m, 3)) for v, m in served_moves]}")

        for version in paced:
            self.assertLessEqual(history[version], PACE + 1e-9, f"the operator's figure for v{version}")
        for (a, b), m in zip(pairs, moved):
            self.assertLessEqual(m, PACE + 1e-9, f"v{b['version']} moved {m:.4f} of the keyspace (ringctl)")
            if b["version"] in history:
                self.assertAlmostEqual(history[b["version"]], m, places=6, msg=f"the operator's figure for v{b['version']}")
        self.assertGreaterEqual(len(pairs), 4, "consecutive versions to compare")
        self.assertGreater(sum(history[v] for v in paced), 0.35, "3 → 6 moves about half of the keyspace in all")
        self.assertGreaterEqual(ramp_steps, 4, "the ramp took several published steps")
        self.assertGreaterEqual(len(served_moves), 3, f"sampled versions {sorted(samples)} of {versions}")
        for after, share in served_moves:
            self.assertLessEqual(share, PACE + SERVED_BY_TOLERANCE, f"X-Served-By moved {share:.3f} at v{after}")
        # Traffic reached every new member by the end.
        self.assertEqual(set(samples[final["version"]].values()), {f"{RING}-{i}" for i in range(6)})


class ScaleDownTest(RolloutStack):
    step_seconds = 1
    initial = 6

    def test_scale_6_to_3_ramps_the_leaving_members_down_before_they_stop(self):
        stack = self.stack
        watcher = RingWatcher(stack)
        watcher.start()
        self.addCleanup(watcher.stop)
        time.sleep(0.3)
        first = stack.ring()["version"]
        self.assertTrue(all("rampPermille" not in m for m in stack.ring()["members"]), "a new ring enters at once")
        self.write(3)
        ramping_with_replicas = []  # while a leaving member holds part of its weight, its replica still runs

        def done():
            ring = stack.ring()
            partial = [m["id"] for m in ring["members"] if 0 < m.get("rampPermille", 1000) < 1000]
            if partial:
                ramping_with_replicas.append(set(partial) <= set(stack.recorded_replicas()))
            return len(ring["members"]) == 3 and len(stack.recorded_replicas()) == 3 and ring
        final = wait_until(done, 90, "the ring and the replicas to shrink to 3")
        time.sleep(0.3)
        watcher.stop()
        rings = [ring for _, ring in watcher.seen if ring["version"] > first]
        ramps = [[m.get("rampPermille", 1000) for m in ring["members"] if m["id"] == f"{RING}-5"] for ring in rings]
        ramps = [r[0] for r in ramps if r]
        history = {c["version"]: c["movedKeyspace"] for c in stack.status()["history"] if c["version"] > first}
        self.show(f"{RING}-5's ramp per version: {ramps}; operator's moved per version: "
                  f"{[(v, round(m, 4)) for v, m in sorted(history.items())]}")
        self.assertEqual(ramps, sorted(ramps, reverse=True), "the ramp only falls")
        self.assertGreaterEqual(len([r for r in ramps if 0 < r < 1000]), 2, "it ramped down in several steps")
        self.assertEqual(ramps[-1], 0, "it held no keys when it left the ring")
        self.assertTrue(ramping_with_replicas and all(ramping_with_replicas), "replicas stop only after their ramp")
        for version, moved in history.items():
            self.assertLessEqual(moved, PACE + 1e-9, f"v{version}")
        self.assertEqual({m["id"] for m in final["members"]}, {f"{RING}-{i}" for i in range(3)})


class SlowStartTest(RolloutStack):
    step_seconds = 1
    slow_start_after = 4

    def ramps_of(self, rings, slot):
        return [next((m.get("rampPermille", 1000) for m in ring["members"] if m["id"] == slot), None) for ring in rings]

    def test_a_replica_back_within_the_threshold_keeps_its_keys_and_one_absent_longer_ramps(self):
        stack = self.stack
        slot = f"{RING}-1"
        watcher = RingWatcher(stack)
        watcher.start()
        self.addCleanup(watcher.stop)
        time.sleep(0.5)

        # SIGKILL: replaced in its slot at once, well within the threshold.
        pid, _ = stack.recorded_replicas()[slot]
        os.kill(pid, 9)
        wait_until(lambda: stack.recorded_replicas().get(slot, (pid,))[0] != pid, 10, "a replacement process")
        stack.wait_ready(3)
        time.sleep(0.5)
        quick = [ring for _, ring in watcher.seen]
        self.assertTrue(all(r == 1000 for r in self.ramps_of(quick, slot)),
                        f"replaced within seconds: no ramp ({self.ramps_of(quick, slot)})")
        summaries = [change["summary"] for change in stack.status()["history"]]
        self.assertTrue(any(f"{slot} Ready→" in summary for summary in summaries), summaries)
        self.assertFalse(any(f"{slot} ramp" in summary for summary in summaries), summaries)

        # Kept down past the threshold: it comes back at ramp 0 and ramps in steps.
        seen_before = len(watcher.seen)
        down = os.path.join(stack.dir, f"down-{slot}")
        open(down, "w").close()
        pid, _ = stack.recorded_replicas()[slot]
        os.kill(pid, 9)
        time.sleep(self.slow_start_after + 2)
        os.remove(down)

        def ramped_back():
            ring = stack.ring()
            member = next(m for m in ring["members"] if m["id"] == slot)
            return member["state"] == "Ready" and "rampPermille" not in member
        wait_until(ramped_back, 60, f"{slot} to ramp back to its full weight")
        time.sleep(0.3)
        watcher.stop()
        later = [ring for _, ring in watcher.seen[seen_before:]]
        ramps = self.ramps_of(later, slot)
        partial = [r for r in ramps if r is not None and 0 < r < 1000]
        self.show(f"{slot}'s ramp per version after a long absence: {ramps}")
        self.assertIn(0, ramps, "it lost its weight while absent")
        self.assertGreaterEqual(len(partial), 2, "it ramped back in several steps")
        after_zero = ramps[ramps.index(0):]
        self.assertEqual(after_zero, sorted(after_zero), "the ramp only rises once it is back")
        with tempfile.TemporaryDirectory() as directory:
            for a, b in zip(later[ramps.index(0):], later[ramps.index(0) + 1:]):
                self.assertLessEqual(ringctl_moved(a, b, directory), PACE + 1e-9)


if __name__ == "__main__":
    unittest.main()
