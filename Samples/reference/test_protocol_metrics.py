#!/usr/bin/env python3
"""Pins down the continual protocols' definitions (protocol_metrics.py) on a hand-computed
example, without torch: `python3 Samples/reference/test_protocol_metrics.py`.

The example: three tasks of 4, 2 and 4 test items; outcomes per state ("1" = correct):

    state        T1      T2    T3
    0 (base)     1000    10    0000     25 %   50 %    0 %
    1            1100    00    1000     50 %    0 %   25 %
    2            1110    11    1100     75 %  100 %   50 %
    3            1000    10    1111     25 %   50 %  100 %

chosen so that each figure differs from its plausible misreadings: pooled accuracy (6/10 = 60)
is not the mean of the per-task accuracies (58.33); task 1's best accuracy before the end is in
state 2 (75), not right after it was learned (50); the unseen accuracy leaves out state 0.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_metrics import (candidate_tasks, control_figures, protocol_figures, round2,  # noqa: E402
                              section, union_classes)

OUTCOMES = [
    ["1000", "10", "0000"],
    ["1100", "00", "1000"],
    ["1110", "11", "1100"],
    ["1000", "10", "1111"],
]


class ProtocolFigures(unittest.TestCase):
    def setUp(self):
        self.figures = {key: round2(value) for key, value in protocol_figures(OUTCOMES).items()}

    def test_accuracy_matrix_lists_the_seen_tasks_after_each_task(self):
        self.assertEqual(self.figures["accuracy_matrix"], [[50.0], [75.0, 100.0], [25.0, 50.0, 100.0]])

    def test_average_accuracy_is_pooled_over_items(self):
        # (1 + 1 + 4) correct of 10 items, not (25 + 50 + 100) / 3 = 58.33
        self.assertEqual(self.figures["average_accuracy"], 60.0)
        # state 1: T1 2/4; state 2: T1, T2 (3 + 2)/6; state 3: 6/10
        self.assertEqual(self.figures["average_accuracy_after_each_task"], [50.0, 83.33, 60.0])

    def test_base_figures_come_from_state_0(self):
        self.assertEqual(self.figures["average_accuracy_base"], 20.0)  # 2 of 10
        self.assertEqual(self.figures["task_accuracy_base"], [25.0, 50.0, 0.0])

    def test_forgetting_takes_the_best_accuracy_before_the_last_state(self):
        # T1: max(50, 75) - 25 = 50; T2: 100 - 50 = 50; T3 (the last) is left out
        self.assertEqual(self.figures["forgetting"], 50.0)

    def test_learning_accuracy_is_each_task_right_after_it_was_learned(self):
        self.assertEqual(self.figures["learning_accuracy"], 83.33)  # (50 + 100 + 100) / 3

    def test_unseen_accuracy(self):
        # state 0: all 10 items, 2 right; state 1: T2, T3 (0 + 1)/6; state 2: T3 2/4
        self.assertEqual(self.figures["unseen_accuracy_after_each_task"], [20.0, 16.67, 50.0])
        # the mean over states 1..n-1: (16.67 + 50) / 2, from the unrounded values
        self.assertEqual(self.figures["unseen_accuracy"], 33.33)

    def test_keys_in_report_order(self):
        self.assertEqual(list(self.figures), [
            "accuracy_matrix", "average_accuracy", "average_accuracy_after_each_task", "average_accuracy_base",
            "task_accuracy_base", "forgetting", "learning_accuracy", "unseen_accuracy_after_each_task", "unseen_accuracy"])

    def test_one_task(self):
        figures = protocol_figures([["0110"], ["1110"]])
        self.assertEqual(figures["forgetting"], 0.0)
        self.assertIsNone(figures["unseen_accuracy"])
        self.assertEqual(figures["unseen_accuracy_after_each_task"], [50.0])
        self.assertEqual(figures["learning_accuracy"], 75.0)

    def test_malformed_outcomes_are_refused(self):
        with self.assertRaisesRegex(ValueError, "state 3 has outcomes for 2 tasks, not 3"):
            protocol_figures(OUTCOMES[:3] + [OUTCOMES[3][:2]])
        with self.assertRaisesRegex(ValueError, "task 1 has 3 outcomes in state 1 but 2"):
            protocol_figures([["10"], ["101"]])
        with self.assertRaisesRegex(ValueError, "non-empty string of '0' and '1'"):
            protocol_figures([["1x"], ["10"]])


class Control(unittest.TestCase):
    def test_control_figures(self):
        figures = control_figures(["1010", "1110", "0010"])
        self.assertEqual(figures, {"control_accuracy_base": 50.0, "control_accuracy": 25.0,
                                   "control_accuracy_after_each_task": [75.0, 25.0], "control_drop": 25.0})


class Candidates(unittest.TestCase):
    def test_task_protocol_is_the_items_own_task_in_every_state(self):
        for state in range(4):
            self.assertEqual([candidate_tasks("task", state, i, 3) for i in range(3)], [[0], [1], [2]])

    def test_class_protocol(self):
        table = {state: [candidate_tasks("class", state, i, 3) for i in range(3)] for state in range(4)}
        self.assertEqual(table[0], [[0, 1, 2]] * 3)                      # base: every task unseen
        self.assertEqual(table[1], [[0], [1, 2], [1, 2]])                # T1 seen; T2, T3 unseen
        self.assertEqual(table[2], [[0, 1], [0, 1], [2]])
        self.assertEqual(table[3], [[0, 1, 2]] * 3)                      # all seen

    def test_unknown_protocol(self):
        with self.assertRaisesRegex(ValueError, "unknown protocol 'domain'"):
            candidate_tasks("domain", 1, 0, 3)
        self.assertEqual(section("class"), "class_incremental")


class Union(unittest.TestCase):
    def test_a_shared_label_is_one_class_at_its_first_position(self):
        classes = [[("a", "A"), ("b", "B")], [("c", "C"), ("a", "A")]]
        self.assertEqual(union_classes(classes), [("a", "A"), ("b", "B"), ("c", "C")])
        # the union of a later subset orders by that subset's own first positions
        self.assertEqual(union_classes(classes[1:]), [("c", "C"), ("a", "A")])

    def test_labels_compare_as_bytes(self):
        composed, decomposed = "caf\u00e9", "cafe\u0301"
        self.assertEqual(len(union_classes([[(composed, "x")], [(decomposed, "y")]])), 2)

    def test_one_label_with_two_prompts_is_two_classes(self):
        self.assertEqual(union_classes([[("a", "A")], [("a", "other")], [("a", "A")]]), [("a", "A"), ("a", "other")])


class Rounding(unittest.TestCase):
    def test_halves_away_from_zero_like_swift(self):
        self.assertEqual(round2(0.125), 0.13)   # Python's round(0.125, 2) is 0.12
        self.assertEqual(round2(-0.125), -0.13)
        self.assertEqual(round2(200 / 3), 66.67)
        self.assertEqual(str(round2(-0.001)), "0.0")
        self.assertEqual(round2([1.004, None]), [1.0, None])


if __name__ == "__main__":
    unittest.main()
