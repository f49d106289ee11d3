"""scripts/lib/demo_chart.py, the demo's chart: pauses in the steady load are gaps (never drops to
zero), and event labels never overlap, however close the events are."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import demo_chart  # noqa: E402


def steady(start, end, rate, members):
    """Records of a steady load from start to end at `rate`, round-robin over members."""
    out, t, i = [], start, 0
    while t < end:
        out.append((t, members[i % len(members)], True, True))
        t += 1 / rate
        i += 1
    return out


class BinRatesTest(unittest.TestCase):
    def test_a_pause_is_a_gap_not_a_drop(self):
        records = steady(0.0, 4.0, 100, ["apod-0", "apod-1"]) + steady(6.2, 9.0, 100, ["apod-0", "apod-1"])
        # Unsteady (table) requests during the pause are not part of the chart.
        records += [(5.0, "apod-0", True, False)] * 50
        columns, rows = demo_chart.bin_rates(records, [(0.0, 4.0), (6.2, 9.0)], 0.5)
        self.assertEqual(columns, ["apod-0", "apod-1", "failed"])
        drawn = [r for r in rows if r]
        gaps = [i for i, r in enumerate(rows) if r is None]
        self.assertTrue(gaps, "the pause leaves a gap")
        # Every bin drawn lies wholly inside a run of the load, so none is a partial drop.
        for centre, values in drawn:
            self.assertTrue(0.25 <= centre <= 3.75 or 6.75 <= centre <= 8.75, centre)
            self.assertAlmostEqual(values[0] + values[1], 100, delta=4)
            self.assertEqual(values[2], 0)
        # The bins 4.0-6.5 (partly or wholly paused) are gaps.
        self.assertEqual([rows[i] for i in range(8, 13)], [None] * 5)

    def test_a_member_added_mid_run_has_no_values_before_it_joined(self):
        records = steady(0.0, 2.0, 100, ["apod-0"]) + steady(2.0, 4.0, 100, ["apod-0", "apod-1"])
        columns, rows = demo_chart.bin_rates(records, [(0.0, 4.0)], 0.5)
        self.assertEqual(columns, ["apod-0", "apod-1", "failed"])
        self.assertEqual([r[1][1] for r in rows[:8]], [None, None, None, None, 50, 50, 50, 50])
        self.assertIsNone(rows[8], "the bin from 4.0 s is past the end of the load")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.dat")
            demo_chart.write_data(path, columns, rows[:1])
            with open(path) as f:
                self.assertEqual(f.read().split("\n")[1], "0.25 100 NaN 0")

    def test_the_data_file_breaks_lines_at_gaps(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.dat")
            demo_chart.write_data(path, ["a", "failed"], [(0.25, [10, 0]), None, (1.25, [12, 0])])
            with open(path) as f:
                self.assertEqual(f.read(), "# seconds a failed\n0.25 10 0\n\n1.25 12 0\n")


class LabelLayoutTest(unittest.TestCase):
    EVENTS = [(10.0, "table 1"), (10.4, "edit: 6 replicas"), (10.9, "table 2"),
              (11.0, "SIGKILL apod-1, Ready again 312 ms later"), (40.0, "late event"), (40.1, "another")]

    def test_close_events_get_separate_rows(self):
        placed = demo_chart.layout_labels(self.EVENTS, 0, 60)
        self.assertEqual(demo_chart.overlapping(placed), [])
        self.assertEqual(len(placed), len(self.EVENTS))
        self.assertEqual(len({p[2] for p in placed[:4]}), 4, "four labels within a second need four rows")
        self.assertEqual(placed[4][2], 0, "a label clear of the others returns to the first row")

    def test_a_label_near_the_right_edge_goes_left_of_its_line(self):
        placed = demo_chart.layout_labels([(5.0, "early"), (58.0, "SIGKILL apod-1, Ready again 59 ms later")], 0, 60)
        (_, _, _, (left, right)) = placed[1]
        self.assertLessEqual(right, 58.0)
        self.assertGreaterEqual(left, 0)
        self.assertLess(placed[0][3][0], placed[0][3][1])
        self.assertGreater(placed[0][3][0], 5.0)
        self.assertEqual(demo_chart.overlapping(placed), [])

    def test_overlap_detection_can_fail(self):
        # The check the layout is held to finds overlaps when they exist.
        self.assertEqual(demo_chart.overlapping([(0, "a", 0, (0, 5)), (1, "b", 0, (4, 9))]), [("a", "b")])
        self.assertEqual(demo_chart.overlapping([(0, "a", 0, (0, 5)), (1, "b", 1, (4, 9))]), [])

    @unittest.skipUnless(shutil.which("gnuplot"), "gnuplot is not installed")
    def test_gnuplot_draws_the_chart(self):
        with tempfile.TemporaryDirectory() as d:
            data, png = os.path.join(d, "x.dat"), os.path.join(d, "x.png")
            columns, rows = demo_chart.bin_rates(steady(0, 3, 50, ["apod-0"]) + steady(5, 8, 50, ["apod-0"]),
                                                 [(0, 3), (5, 8)], 0.5)
            demo_chart.write_data(data, columns, rows)
            script, placed = demo_chart.gnuplot_script(data, png, "t", columns, self.EVENTS[:4], 0, 9)
            subprocess.run(["gnuplot"], input=script, text=True, check=True, timeout=60)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertEqual(demo_chart.overlapping(placed), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
