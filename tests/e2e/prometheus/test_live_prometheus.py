"""A real Prometheus (1 s scrapes, deploy/prometheus/rules.yaml loaded) watching a running operator,
two proxies and the apod replicas, checked against what the test itself sent and saw.

The tests share one stack and run in order (their names are numbered): the counts first, on a
quiet stack, then the scale-up and the replica kill, then the rules and the dashboard's queries,
which by then have traffic, a ring change and a restart to show.
"""

import json
import math
import os
import re
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promlib  # noqa: E402
from test_dashboard import all_panels  # noqa: E402

OPERATOR_JOB, PROXY_JOB, APOD_JOB = "ringlb-operator", "ringlb-proxy", "ringlb-apod"
RING = promlib.RING_NAME
APOD_200 = 'ringlb_apod_requests_total{code="200"}'


class LivePrometheusTest(unittest.TestCase):
    maxDiff = None
    # Every request the test sent, for the latency bound.
    latencies = []
    sent_index = 0

    @classmethod
    def setUpClass(cls):
        promlib.tool("prometheus")
        cls.started = time.time()
        cls.workdir = promlib.make_workdir("ringlb-live-prometheus-")
        cls.processes = promlib.ProcessGroup(cls.workdir)
        try:
            cls.stack = promlib.Stack(cls.workdir, cls.processes, replicas=2, proxies=2).start()
            cls.prom = promlib.Prometheus(cls.workdir, cls.processes, [OPERATOR_JOB, PROXY_JOB, APOD_JOB],
                                          scrape_interval="1s", rule_files=[promlib.RULES_FILE])
            cls.prom.set_targets(OPERATOR_JOB, [cls.stack.operator_target()])
            cls.prom.set_targets(PROXY_JOB, cls.stack.proxy_targets())
            cls.prom.set_targets(APOD_JOB, cls.stack.apod_targets())
            cls.prom.start()
            cls.wait_targets_up()
            cls.warm_up()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.processes.stop_all()
        if os.environ.get("RINGLB_KEEP_TEST_DIR"):
            print(f"kept {cls.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------

    @classmethod
    def wait_targets_up(cls, timeout=30):
        """Waits until Prometheus scrapes exactly the current targets of every job, all healthy."""
        want = {OPERATOR_JOB: {cls.stack.operator_target()}, PROXY_JOB: set(cls.stack.proxy_targets()),
                APOD_JOB: set(cls.stack.apod_targets())}

        def all_up():
            got = {}
            for t in cls.prom.targets():
                if t["health"] == "up":
                    got.setdefault(t["labels"]["job"], set()).add(t["labels"]["instance"])
            return got == want
        promlib.wait_until(f"Prometheus scraping {want}", all_up, timeout)

    @classmethod
    def warm_up(cls):
        """Sends a few requests to every member and waits for a scrape of the proxies.

        A series born in the middle of a burst hides that burst from rate() and increase(). The
        programs are asked to create per-member series at 0 up front (deploy/METRICS.md, checked by
        e2e.prometheus.exposition); this keeps the tests here about their own subject either way."""
        members = set(cls.stack.members())
        for _ in range(5):
            _, per_member, failures = cls.load(30)
            assert not failures, failures[:3]
            if members <= set(per_member):
                break
        cls.prom.wait_scraped_after(PROXY_JOB, cls.stack.proxy_targets(), time.time() + 0.3)

    @classmethod
    def load(cls, count):
        per_proxy, per_member, latencies, failures = promlib.counted_load(
            cls.stack.proxy_ports, count, start_index=cls.sent_index)
        cls.sent_index += count
        cls.latencies += latencies
        return per_proxy, per_member, failures

    def member_totals(self):
        """{(proxy index, member): requests} as Prometheus has them now."""
        instance_to_proxy = {t: i for i, t in enumerate(self.stack.proxy_targets())}
        totals = {}
        for s in self.prom.query(
                f'sum by (instance, member) (ringlb_proxy_requests_total{{job="{PROXY_JOB}"}})'):
            key = (instance_to_proxy[s["metric"]["instance"]], s["metric"]["member"])
            totals[key] = float(s["value"][1])
        return totals

    def settle(self, after):
        """Waits for a scrape of every proxy that started after `after` plus a margin for the
        proxy to count a response the client already has."""
        self.prom.wait_scraped_after(PROXY_JOB, self.stack.proxy_targets(), after + 0.3)

    def ring_versions(self):
        operator = self.prom.values_by(f'ringlb_operator_ring_version{{job="{OPERATOR_JOB}"}}', "ring")
        proxies = self.prom.values_by(f'ringlb_proxy_ring_version{{job="{PROXY_JOB}"}}', "instance")
        return operator, proxies

    def assert_ring_versions_agree(self, timeout=20):
        published = self.stack.ring()["version"]
        want_proxies = {t: float(published) for t in self.stack.proxy_targets()}

        def agree():
            operator, proxies = self.ring_versions()
            return operator == {RING: float(published)} and proxies == want_proxies
        try:
            promlib.wait_until(f"ring version {published} on the operator and both proxies", agree, timeout)
        except AssertionError:
            operator, proxies = self.ring_versions()
            self.fail(f"operator API says v{published}; Prometheus has operator {operator}, proxies {proxies}")
        return published

    # --- tests, in order --------------------------------------------------------------------

    def test_1_member_totals_match_served_by(self):
        quiet = time.time()
        self.settle(quiet)
        before = self.member_totals()

        per_proxy, per_member, failures = self.load(600)
        done = time.time()
        self.assertEqual(failures, [])
        self.assertGreaterEqual(len([m for m in per_member if m != "none"]), 2,
                                f"600 distinct keys should reach more than one member: {per_member}")
        self.assertEqual(set(per_member), set(self.stack.members()), "X-Served-By names the ring's members")

        def deltas():
            after = self.member_totals()
            return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
                    if after.get(k, 0) - before.get(k, 0) != 0}
        expected = {k: float(v) for k, v in per_proxy.items()}
        self.settle(done)
        # Within one scrape: a response the client has is counted by the proxy's next scrape at the latest.
        try:
            promlib.wait_until("Prometheus's per-member totals to match X-Served-By",
                               lambda: deltas() == expected, timeout=5)
        except AssertionError:
            got = deltas()
            self.fail(f"Prometheus (proxy, member) request totals {sorted(got.items())} do not match the "
                      f"test's X-Served-By counts {sorted(expected.items())}")

        # The replicas' own counters saw at least those requests (plus heartbeat probes).
        self.prom.wait_scraped_after(APOD_JOB, self.stack.apod_targets(), done + 0.3)
        apod = self.prom.values_by(f'sum by (slot) (ringlb_apod_requests_total{{job="{APOD_JOB}"}})', "slot")
        for member, count in per_member.items():
            self.assertGreaterEqual(apod.get(member, 0), count, f"ringlb_apod_requests_total of {member}; load ended "
                                    f"at {done:.3f}; samples {self.prom.query(APOD_200)}; "
                                    f"up {self.prom.query('timestamp(up)')}")

    def test_2_latency_quantiles_are_plausible(self):
        self.assertTrue(self.latencies, "test 1 sent requests")
        window = f"{int(time.time() - self.started) + 60}s"  # every request the test sent
        quantiles = {}
        for q in (0.5, 0.99):
            quantiles[q] = self.prom.scalar(
                f'histogram_quantile({q}, sum by (le) '
                f'(increase(ringlb_proxy_request_duration_seconds_bucket{{job="{PROXY_JOB}"}}[{window}])))')
            self.assertIsNotNone(quantiles[q], f"p{int(q * 100)} returned no data")
            self.assertTrue(math.isfinite(quantiles[q]), f"p{int(q * 100)} = {quantiles[q]}")
        self.assertGreater(quantiles[0.5], 0)
        self.assertLessEqual(quantiles[0.5], quantiles[0.99])
        # The proxy's duration is a part of what the client measured, so no observation lies above
        # the slowest response the test saw; the estimate stays within that observation's bucket.
        bounds = sorted(float(b) for b in self.prom.label_values(
            "le", f'ringlb_proxy_request_duration_seconds_bucket{{job="{PROXY_JOB}"}}') if b != "+Inf")
        slowest = max(self.latencies)
        ceiling = next((b for b in bounds if b >= slowest), math.inf)
        self.assertLessEqual(quantiles[0.99], ceiling,
                             f"p99 {quantiles[0.99]} s, yet the slowest response took {slowest:.4f} s (bucket {ceiling})")
        # Requests counted by the histogram are the requests counted by the counter.
        count = self.prom.scalar(f'sum(ringlb_proxy_request_duration_seconds_count{{job="{PROXY_JOB}"}})')
        total = self.prom.scalar(f'sum(ringlb_proxy_requests_total{{job="{PROXY_JOB}"}})')
        self.assertEqual(count, total)

    def test_3_ring_version_agrees(self):
        self.assert_ring_versions_agree()

    def test_4_ready_replicas_follow_scale_up_and_kill(self):
        ready = f'ringlb_operator_ready_replicas{{job="{OPERATOR_JOB}",ring="{RING}"}}'
        desired = f'ringlb_operator_desired_replicas{{job="{OPERATOR_JOB}",ring="{RING}"}}'
        promlib.wait_until("ready = desired = 2", lambda: self.prom.scalar(ready) == 2 == self.prom.scalar(desired), 20)
        version_before = self.stack.ring()["version"]

        # Scale up to 3.
        scaled_at = time.time()
        self.stack.delay_next_replica(2)  # so the version that adds apod-2 lives through a scrape
        self.stack.write_resource(3)
        self.stack.wait_ring_ready(3, timeout=60)
        self.prom.set_targets(APOD_JOB, self.stack.apod_targets())
        promlib.wait_until("Prometheus: desired 3", lambda: self.prom.scalar(desired) == 3, 20)
        promlib.wait_until("Prometheus: ready 3", lambda: self.prom.scalar(ready) == 3, 30)
        self.assertGreater(self.stack.ring()["version"], version_before)
        self.wait_targets_up()
        self.assert_ring_versions_agree()
        # Adding a third member moves about a third of the keyspace to it, in one of the changes the
        # scale-up published (the member may appear NotReady first and turn Ready later).
        # Only samples of versions published after the edit count: the gauge keeps the last value.
        window = f"{int(time.time() - scaled_at) + 2}s"
        moved = self.prom.scalar(
            f'max_over_time((ringlb_operator_ring_moved_keyspace_ratio{{ring="{RING}"}} and on (ring) '
            f'ringlb_operator_ring_version{{ring="{RING}"}} > {version_before})[{window}:1s])')
        self.assertIsNotNone(moved)
        self.assertTrue(0.15 < moved < 0.5, f"moved keyspace ratio {moved} after 2 -> 3 members")

        # Kill one replica; the operator replaces it in the same slot.
        victim = "apod-1"
        old_address = self.stack.members()[victim][0]
        pid = self.stack.replica_pid(victim)
        restarts = f'ringlb_operator_restarts_total{{job="{OPERATOR_JOB}",ring="{RING}",member="{victim}"}}'
        restarts_before = self.prom.scalar(restarts) or 0
        self.stack.delay_next_replica(2)  # the replacement stays Starting for ~2 s: two scrapes see it
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)

        def dipped_and_recovered():
            now = time.time()
            series = self.prom.query_range(ready, killed_at, now, "1")
            values = [float(v) for _, v in series[0]["values"]] if series else []
            low = [i for i, v in enumerate(values) if v < 3]
            return low and values[-1] == 3 and low[-1] < len(values) - 1 and values
        try:
            values = promlib.wait_until("ready replicas to drop below 3 and come back", dipped_and_recovered, 60)
        except AssertionError:
            series = self.prom.query_range(ready, killed_at, time.time(), "1")
            self.fail(f"ringlb_operator_ready_replicas since the kill: {series}")
        self.assertGreaterEqual(min(values), 2, f"only one replica was killed: {values}")
        promlib.wait_until(f"{victim}'s restart counted", lambda: (self.prom.scalar(restarts) or 0) > restarts_before, 20)

        members = self.stack.wait_ring_ready(3, timeout=30)
        self.assertIn(victim, members, "the replacement keeps the slot id")
        self.assertNotEqual(self.stack.replica_pid(victim), pid)
        if members[victim][0] != old_address:
            self.prom.set_targets(APOD_JOB, self.stack.apod_targets())
        self.wait_targets_up()
        self.assert_ring_versions_agree()
        self.warm_up()  # apod-2 is new to the proxies

    def test_5_rules_evaluate_on_live_series(self):
        _, per_member, failures = self.load(300)
        self.assertEqual(failures, [])
        self.assertEqual(set(per_member), set(self.stack.members()), "300 keys reach every member")
        since = time.time()
        self.settle(since)
        # Give the rule group two evaluations on fresh data.
        promlib.wait_until("two rule evaluations on fresh data", lambda: all(
            not r["lastEvaluation"].startswith("0001") and promlib.rfc3339_seconds(r["lastEvaluation"]) > since + 1
            for r in self.prom.rules()), 15)
        for rule in self.prom.rules():
            self.assertEqual(rule["health"], "ok", f"{rule['name']}: {rule.get('lastError')}")
        rates = self.prom.values_by(f'member:ringlb_proxy_requests:rate5m{{job="{PROXY_JOB}"}}', "member")
        self.assertEqual(set(rates), set(self.stack.members()))
        self.assertTrue(all(v > 0 for v in rates.values()), rates)
        imbalance = self.prom.scalar(f'job:ringlb_proxy_load_imbalance:ratio_rate5m{{job="{PROXY_JOB}"}}')
        expected = max(rates.values()) / (sum(rates.values()) / len(rates))
        self.assertAlmostEqual(imbalance, expected, places=6)
        self.assertGreaterEqual(imbalance, 1.0)
        errors = self.prom.scalar(f'job:ringlb_proxy_requests_errors:ratio_rate5m{{job="{PROXY_JOB}"}}')
        self.assertIsNotNone(errors)
        self.assertTrue(0 <= errors <= 1, errors)
        # Nothing has been wrong for long enough to fire.
        firing = [a for a in self.prom._api("/api/v1/alerts", {})["alerts"] if a["state"] == "firing"]
        self.assertEqual(firing, [])

    def test_6_every_dashboard_query_returns_data(self):
        with open(promlib.DASHBOARD_FILE) as f:
            dashboard = json.load(f)
        self.load(200)  # fresh traffic, so rate() windows ending now are not empty
        self.settle(time.time())
        time.sleep(1.5)

        # Resolve the template variables as Grafana does, and check each offers our values.
        substitutions = {}
        expected_values = {"job": PROXY_JOB, "ring": RING}
        for var in dashboard["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"].strip())
            self.assertIsNotNone(m, f"variable {var['name']}: unsupported query {var['query']}")
            values = self.prom.label_values(m.group(2), m.group(1))
            self.assertIn(expected_values[var["name"]], values, f"variable {var['name']} offers {values}")
            substitutions[var["name"]] = var["allValue"] if var.get("includeAll") else values[0]
        now = time.time()
        range_seconds = int(now - self.started) + 30
        substitutions.update({"__rate_interval": "1m", "__interval": "5s", "__range": f"{range_seconds}s"})

        def expand(expr):
            for name in sorted(substitutions, key=len, reverse=True):
                expr = expr.replace("${" + name + "}", substitutions[name]).replace("$" + name, substitutions[name])
            self.assertNotIn("$", expr, f"unresolved variable in {expr}")
            return expr

        checked = 0
        for panel in all_panels(dashboard):
            for target in panel.get("targets", []):
                expr = expand(target["expr"])
                with self.subTest(panel=panel["title"], ref=target["refId"]):
                    if target.get("instant"):
                        result = self.prom.query(expr, at=now)
                        values = [s["value"][1] for s in result]
                    else:
                        result = self.prom.query_range(expr, now - 120, now, "5")
                        values = [v for s in result for _, v in s["values"]]
                    self.assertTrue(result, f"no data: {expr}")
                    self.assertTrue(any(promlib.is_finite_number(v) for v in values), f"only NaN/Inf: {expr}")
                    checked += 1
        self.assertGreaterEqual(checked, 20)



if __name__ == "__main__":
    promlib.main()
