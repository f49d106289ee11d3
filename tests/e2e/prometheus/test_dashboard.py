"""deploy/grafana/ringlb.json: structure, the datasource variable, no external assets, documented metrics."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promlib  # noqa: E402
from test_rules import referenced_metrics  # noqa: E402


def all_panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def load():
    with open(promlib.DASHBOARD_FILE) as f:
        return json.load(f)


class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.dashboard = load()
        self.panels = [p for p in all_panels(self.dashboard) if p["type"] != "row"]

    def test_schema_and_datasource_variable(self):
        d = self.dashboard
        self.assertGreaterEqual(d["schemaVersion"], 36)
        self.assertLessEqual(d["schemaVersion"], 41)
        self.assertTrue(d.get("uid"))
        variables = {v["name"]: v for v in d["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        for name, v in variables.items():
            if v["type"] == "query":
                self.assertEqual(v["datasource"], {"type": "prometheus", "uid": "${datasource}"}, name)
        self.assertNotIn("__inputs", d, "use the ${datasource} variable, not an import-time input")

    def test_every_panel_and_target_uses_the_datasource_variable(self):
        for p in self.panels:
            self.assertEqual(p.get("datasource"), {"type": "prometheus", "uid": "${datasource}"}, p["title"])
            self.assertTrue(p.get("targets"), f"{p['title']} has no queries")
            for t in p["targets"]:
                self.assertEqual(t.get("datasource"), {"type": "prometheus", "uid": "${datasource}"}, p["title"])
                self.assertTrue(t.get("expr"), p["title"])
            refs = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refs), len(set(refs)), f"{p['title']}: duplicate refIds")

    def test_ids_unique_and_layout_does_not_overlap(self):
        ids = [p["id"] for p in all_panels(self.dashboard)]
        self.assertEqual(len(ids), len(set(ids)))
        cells = {}
        for p in all_panels(self.dashboard):
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, f"{p['title']} overlaps {cells.get((x, y))}")
                    cells[(x, y)] = p["title"]

    def test_no_external_assets(self):
        text = json.dumps(self.dashboard)
        self.assertIsNone(re.search(r"https?://", text), "the dashboard must not load anything from outside")
        for p in self.panels:
            self.assertIn(p["type"], {"timeseries", "stat", "bargauge", "gauge", "table", "piechart"},
                          f"{p['title']}: use core panel types, not plugins")

    def test_required_panels(self):
        # Issue 7's list, each as a metric that some panel must query.
        required = {
            "requests per member": "ringlb_proxy_requests_total",
            "keyspace share per member": "ringlb_operator_member_keyspace_share",
            "error rate": 'code_class="5xx"',
            "p50 latency": "histogram_quantile(0.5,",
            "p99 latency": "histogram_quantile(0.99,",
            "ready replicas": "ringlb_operator_ready_replicas",
            "desired replicas": "ringlb_operator_desired_replicas",
            "restarts": "ringlb_operator_restarts_total",
            "ring version": "ringlb_operator_ring_version",
            "moved keyspace per change": "ringlb_operator_ring_moved_keyspace_ratio",
        }
        exprs = [t["expr"] for p in self.panels for t in p["targets"]]
        for what, needle in required.items():
            self.assertTrue(any(needle in e for e in exprs), f"no panel shows {what} ({needle})")

    def test_queries_use_only_documented_metrics(self):
        documented = promlib.metric_names_in_metrics_md()
        used = set()
        for p in self.panels:
            for t in p["targets"]:
                used |= referenced_metrics(t["expr"])
        self.assertEqual(sorted(used - set(documented)), [], "dashboard uses metrics missing from deploy/METRICS.md")


if __name__ == "__main__":
    promlib.main()
