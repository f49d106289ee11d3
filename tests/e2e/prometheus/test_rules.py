"""deploy/prometheus/rules.yaml: promtool check rules, promtool test rules, and names from METRICS.md."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promlib  # noqa: E402

# Every alert the rules must define (issue 7).
ALERTS = ["ReplicaDown", "RingStale", "HighErrorRate", "LoadImbalance", "CrashLooping"]


def promtool(*args):
    return subprocess.run([promlib.tool("promtool"), *args], capture_output=True, text=True, timeout=120)


def referenced_metrics(text):
    """ringlb_* metric names used in PromQL, with histogram suffixes folded to the family."""
    names = set()
    for name in re.findall(r"(?<![:\w])ringlb_[a-z0-9_]+", text):
        names.add(re.sub(r"_(bucket|sum|count)$", "", name) if name.endswith(("_bucket", "_sum", "_count")) else name)
    return names


class RulesTest(unittest.TestCase):
    def test_promtool_check_rules(self):
        result = promtool("check", "rules", promlib.RULES_FILE)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("SUCCESS", result.stdout)

    def test_promtool_unit_tests(self):
        result = promtool("test", "rules", promlib.RULES_TEST_FILE)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_unit_tests_cover_every_alert_firing_and_not_firing(self):
        with open(promlib.RULES_TEST_FILE) as f:
            text = f.read()
        with open(promlib.RULES_FILE) as f:
            rules = f.read()
        self.assertEqual(sorted(re.findall(r"^\s*- alert: (\w+)", rules, re.M)), sorted(ALERTS))
        # Each alert_rule_test entry: its alertname and whether it expects alerts.
        cases = re.findall(r"alertname: (\w+)\n\s*exp_alerts:(\s*\[\])?", text)
        for alert in ALERTS:
            kinds = {"not firing" if empty else "firing" for name, empty in cases if name == alert}
            self.assertEqual(kinds, {"firing", "not firing"}, f"{alert}: tests cover only {kinds or 'nothing'}")

    def test_unit_tests_catch_a_broken_rule(self):
        # The tests must be able to fail: loosen each alert's threshold and expect promtool to object.
        with open(promlib.RULES_FILE) as f:
            rules = f.read()
        mutations = {
            "RingStale": ("ringlb_proxy_ring_staleness_seconds > 60", "ringlb_proxy_ring_staleness_seconds > 6000"),
            "CrashLooping": ("[15m]) >= 3", "[15m]) >= 1"),
            "HighErrorRate": ("ratio_rate5m > 0.05", "ratio_rate5m > 0.001"),
            "ReplicaDown": ("for: 2m", "for: 0m"),
            "LoadImbalance": ("job:ringlb_proxy_requests:rate5m > 1\n", "job:ringlb_proxy_requests:rate5m > 0\n"),
        }
        for alert, (old, new) in mutations.items():
            with self.subTest(alert=alert):
                self.assertIn(old, rules)
                with tempfile.TemporaryDirectory() as d:
                    with open(os.path.join(d, "rules.yaml"), "w") as f:
                        f.write(rules.replace(old, new, 1))
                    with open(promlib.RULES_TEST_FILE) as src, open(os.path.join(d, "rules.test.yaml"), "w") as dst:
                        dst.write(src.read())
                    result = promtool("test", "rules", os.path.join(d, "rules.test.yaml"))
                    self.assertNotEqual(result.returncode, 0, f"unit tests still pass with {alert} changed to '{new}'")

    def test_rules_use_only_documented_metrics(self):
        documented = promlib.metric_names_in_metrics_md()
        with open(promlib.RULES_FILE) as f:
            used = referenced_metrics(f.read())
        self.assertTrue(used)
        self.assertEqual(sorted(used - set(documented)), [], "rules use metrics missing from deploy/METRICS.md")


if __name__ == "__main__":
    promlib.main()
