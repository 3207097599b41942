#!/usr/bin/env python3
"""Tests of the results page's statistics (statistics.py) on hand-made outcomes.

    python3 Samples/results/test_statistics.py      (needs numpy; ./test.sh runs it)
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import statistics as st  # noqa: E402  (this folder's statistics.py, not the standard library's)


def report(tasks_final, control_base, control_final):
    """A report with the outcomes the statistics read: one state before, one after."""
    return {"outcomes": {
        "class_incremental": [["0" * len(t) for t in tasks_final], tasks_final],
        "task_incremental": [["0" * len(t) for t in tasks_final], tasks_final],
        "control": [control_base, control_final],
    }}


class Statistics(unittest.TestCase):
    def test_points_are_the_plain_figures(self):
        r = report(["1100", "10"], "1010101010", "1000000000")
        self.assertAlmostEqual(st.point(st.final_accuracy("class"), r, st.task_sizes(r)), 50.0)  # 3 of 6, pooled
        self.assertAlmostEqual(st.point(st.control_drop, r, st.control_size(r)), 40.0)
        self.assertAlmostEqual(st.point(st.control_accuracy, r, st.control_size(r)), 10.0)

    def test_seed_means_and_ranges(self):
        a, b = report(["11", "11"], "1111", "1100"), report(["10", "10"], "1111", "1110")
        mean, interval, spread = st.seeds_mean([a, b], st.control_drop, st.control_size(a))
        self.assertAlmostEqual(mean, 37.5)
        self.assertEqual(spread, (25.0, 50.0))
        self.assertLessEqual(interval[0], interval[1])

    def test_a_run_against_itself_differs_by_nothing(self):
        r = report(["1101", "01"], "1011001110", "1001001100")
        difference, interval, significant = st.paired_difference([r], [r], st.control_accuracy, st.control_size(r))
        self.assertEqual((difference, interval, significant), (0.0, (0.0, 0.0), False))

    def test_pairing_gives_the_sign_of_a_one_sided_change(self):
        # B is right on every item A is right on, and on 20 more of 200: every resample favours B.
        a = report(["1"], "1" * 200, "1" * 100 + "0" * 100)
        b = report(["1"], "1" * 200, "1" * 120 + "0" * 80)
        difference, (low, high), significant = st.paired_difference([a], [b], st.control_accuracy, st.control_size(a))
        self.assertAlmostEqual(difference, -10.0)
        self.assertTrue(high < 0 and significant)

    def test_quantiles_follow_numpy(self):
        low, high = st.interval([0.0, 10.0], level=0.95)  # as Scalpel's Bootstrap.quantile: position q · (N − 1)
        self.assertAlmostEqual(low, 0.25, places=12)
        self.assertAlmostEqual(high, 9.75, places=12)


if __name__ == "__main__":
    unittest.main()
