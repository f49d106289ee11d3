"""./scripts/demo end to end: it completes, prints the four tables and the PNG path, and exits 0.
With Prometheus installed (always under CI=true), tables 1 and 2 carry Prometheus's per-replica
counts, which must equal the client's own."""

import json
import os
import re
import shutil
import subprocess
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


class DemoTest(unittest.TestCase):
    def test_demo_completes_with_three_tables_and_a_chart(self):
        env = dict(os.environ)
        env["RINGLB_DEMO_PRESET"] = os.environ.get("RINGLB_DEMO_PRESET", "release")
        result = subprocess.run([os.path.join(ROOT, "scripts", "demo"), "--requests", "1000"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=600)
        print(result.stdout)
        self.assertEqual(result.returncode, 0, result.stderr[-4000:])
        out = result.stdout
        for title in ("Table 1: 1000 requests (distinct dates) over 3 replicas",
                      "Table 2: the same 1000 dates over 6 replicas", "Table 3: SIGKILL of apod-1"):
            self.assertIn(title, out)
        table1 = out[out.index("Table 1"):out.index("Table 2")]
        self.assertEqual(len(re.findall(r"^  apod-\d ", table1, re.M)), 3)
        table2 = out[out.index("Table 2"):out.index("Table 3")]
        self.assertEqual(len(re.findall(r"^  apod-\d ", table2, re.M)), 6)
        moved = float(re.search(r"keys that moved: \d+/\d+ = ([\d.]+)%", out).group(1))
        self.assertTrue(35 <= moved <= 65, f"about half the keys move from 3 to 6 replicas, got {moved}%")
        self.assertRegex(out, r"time to detect \(kill -> NotReady in the ring\)\s+\d+ ms")
        self.assertRegex(out, r"time to replace \(NotReady -> Ready again\)\s+\d+ ms")
        self.assertRegex(out, r"failed requests\s+\d+")
        # Table 4: the paced scale-up moves at most 10% of the keyspace per version by the operator's
        # figure, and by X-Served-By over 1,000 sampled dates within 10% + 3 points (3σ of sampling).
        self.assertIn("Table 4: paced scale-up 3 -> 6, spec.rollout.keyspacePerStep 0.1", out)
        paced = re.search(r"(\d+) versions after the edit; most moved in one: ([\d.]+)% of the keyspace \(operator\), "
                          r"([\d.]+)% of the sampled dates", out)
        self.assertIsNotNone(paced, out[out.index("Table 4"):])
        self.assertGreaterEqual(int(paced.group(1)), 5, "several ramp steps")
        self.assertLessEqual(float(paced.group(2)), 10.0)
        self.assertLessEqual(float(paced.group(3)), 13.0)
        if shutil.which("prometheus") or os.environ.get("CI") == "true":
            self.assert_prometheus_agrees(table1, 3)
            self.assert_prometheus_agrees(table2, 6)
            self.assertRegex(out, r"Prometheus \(http://127\.0\.0\.1:\d+\): 6 Ready replicas, 6 replica targets up, "
                                  r"ring version (\d+) on the operator and \1 on the proxy")
        png = re.search(r"chart \(requests per replica over time\): (\S+\.png)", out).group(1)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # The pauses between phases are gaps in the data (blank lines break gnuplot's lines), and
        # the event labels as laid out do not overlap.
        with open(png[:-len(".png")] + ".dat") as f:
            lines = f.read().split("\n")[1:]
        self.assertGreaterEqual(sum(1 for line in lines[:-1] if line == ""), 2, "a gap around each table")
        with open(png[:-len(".png")] + ".labels.json") as f:
            labels = json.load(f)
        self.assertGreaterEqual(len(labels), 4)
        for i, a in enumerate(labels):
            for b in labels[i + 1:]:
                same_row = a["row"] == b["row"]
                self.assertFalse(same_row and a["extent"][0] < b["extent"][1] and b["extent"][0] < a["extent"][1],
                                 f"labels overlap: {a} and {b}")
        # Everything it started is gone.
        work = os.path.join(ROOT, "build", "demo-" + env["RINGLB_DEMO_PRESET"])
        self.assertEqual(subprocess.run(["pgrep", "-f", work], capture_output=True).stdout, b"")
        replicas = os.path.join(work, "state", "replicas")
        self.assertEqual([f for f in os.listdir(replicas) if f.endswith(".json")] if os.path.isdir(replicas) else [], [])

    def assert_prometheus_agrees(self, table, replicas):
        """Every replica row reads: name, the client's count, share, Prometheus's count; they match."""
        rows = re.findall(r"^  (apod-\d)\s+(\d+)\s+[\d.]+%\s+(\d+)$", table, re.M)
        self.assertEqual(len(rows), replicas, f"a Prometheus column for every replica:\n{table}")
        for member, client, prometheus in rows:
            self.assertEqual(client, prometheus, f"{member}: client counted {client}, Prometheus {prometheus}")
        self.assertIn("matches the client's X-Served-By counts", table)


if __name__ == "__main__":
    unittest.main(verbosity=2)
