"""Scalpel's SPU runs against the PyTorch reference's reports (Tests/Fixtures/reference/):
the figures of one evaluation protocol, how many test items both got right or wrong alike in
the final state, the per-task mask sizes and the agreement of task 1's mask, element by
element. Used by side_by_side.py (the main job) and results_page.py."""
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "Formats"))
sys.path.insert(0, os.path.join(here, "..", "reference"))
from spatch_reference import Patch  # noqa: E402  (the format's reference reader)
from protocol_metrics import PROTOCOLS, section  # noqa: E402  (the protocols' definitions)

NAMES = {"class": "class-incremental", "task": "task-incremental"}


def figures(report, protocol, where="report.json"):
    """The figures of `protocol` ("class" or "task") in a continual report; a clear error for
    a report written before continual reported both protocols (its figures were the task
    protocol's, with a mean of per-task accuracies rather than a pooled one: not comparable)."""
    key = section(protocol)
    if key not in report:
        raise SystemExit(f"{where}: no \"{key}\" figures: the report predates the two evaluation protocols; "
                         "run `scalpel continual` (or Samples/reference/make_fixtures.sh) again")
    return report[key]


def headline(report, where="report.json"):
    """The protocol a report is headed by."""
    protocol = report.get("protocol")
    if protocol not in PROTOCOLS:
        raise SystemExit(f"{where}: \"protocol\" is {protocol!r}, not one of {', '.join(PROTOCOLS)}; "
                         "the report predates the two evaluation protocols, run it again")
    return protocol


def mask_sizes(run):
    """Elements in each task's mask (RUN/taskK-mask.spatch), from the headers."""
    sizes, k = [], 1
    while os.path.exists(os.path.join(run, f"task{k}-mask.spatch")):
        sizes.append(sum(entry["nnz"] for entry in Patch(os.path.join(run, f"task{k}-mask.spatch")).header["entries"]))
        k += 1
    return sizes


def first_mask_agreement(run, reference_npz):
    """(positions in both task-1 masks, positions in Scalpel's), tensor by tensor."""
    patch = Patch(os.path.join(run, "task1-mask.spatch"))
    theirs = np.load(reference_npz)
    common = total = 0
    for entry in patch.header["entries"]:
        ours = patch.positions(entry)
        bits = np.unpackbits(theirs[entry["name"]], bitorder="little")
        common += int(bits[ours].sum())
        total += len(ours)
    return common, total


def final_outcomes(report, key):
    """The final state's outcomes under `key` ("class_incremental", "task_incremental" or
    "control") as one string, one character per test item; None without outcomes."""
    states = report.get("outcomes", {}).get(key)
    if not states:
        return None
    last = states[-1]
    return "".join(last) if isinstance(last, list) else last


def outcome_rows(ours, theirs):
    """Rows: per protocol and for the control set, the items both implementations got right,
    or both got wrong, in the final state. Alike outcomes are not necessarily alike predictions:
    two wrong answers count as alike even when they name different classes."""
    out = []
    for key, name in [(section(p), NAMES[p]) for p in PROTOCOLS] + [("control", "control")]:
        a, b = final_outcomes(ours, key), final_outcomes(theirs, key)
        if a is None or b is None:
            continue
        if len(a) != len(b):
            out.append(f"| items right or wrong alike in the final state, {name} | {len(a):,} items | {len(b):,} items | "
                       "| **different test sets**: not compared |")
            continue
        alike = sum(x == y for x, y in zip(a, b))
        out.append(f"| items right or wrong alike in the final state, {name} | {len(a):,} | {alike:,} alike | "
                   f"{len(a) - alike:,} differ | {100 * alike / len(a):.2f} % alike |")
    return out


def lines(ours, theirs, run=None, reference_npz=None, label="seed 0", protocol=None):
    """Markdown rows comparing one Scalpel report with one reference report, under `protocol`
    (default: the Scalpel report's headline protocol)."""
    protocol = protocol or headline(ours, "Scalpel's report")
    mine, reference = figures(ours, protocol, "Scalpel's report"), figures(theirs, protocol, "the reference's report")
    out = [f"| measure ({label}; {NAMES[protocol]}) | Scalpel | PyTorch reference | gap | within 3 points |",
           "| --- | --- | --- | --- | --- |"]

    def figure(name, a, b):
        gap = a - b
        out.append(f"| {name} | {a:.2f} | {b:.2f} | {gap:+.2f} | {'yes' if abs(gap) <= 3 else '**no**'} |")

    for key, name in [("average_accuracy", "final average accuracy"), ("forgetting", "forgetting"),
                      ("learning_accuracy", "learning accuracy")]:
        figure(name, mine[key], reference[key])
    figure("control accuracy", ours["control_accuracy"], theirs["control_accuracy"])
    out += outcome_rows(ours, theirs)
    sizes = mask_sizes(run) if run else []
    if sizes and "mask_sizes" in theirs:
        out.append(f"| mask size per task | {', '.join(f'{s:,}' for s in sizes)} | {', '.join(f'{s:,}' for s in theirs['mask_sizes'])} | "
                   f"| {'identical' if sizes == theirs['mask_sizes'] else '**differ**'} |")
    if sizes and reference_npz and os.path.exists(reference_npz):
        common, total = first_mask_agreement(run, reference_npz)
        out.append(f"| task 1's mask, element by element | {total:,} | {common:,} shared | {total - common:,} differ | "
                   f"{100 * common / max(total, 1):.3f} % shared |")
    for key, name in [("trainable_parameters", "union of the masks"), ("changed_parameters", "changed parameters")]:
        same = ours[key] == theirs[key]
        out.append(f"| {name} | {ours[key]:,} | {theirs[key]:,} | {ours[key] - theirs[key]:+,} | {'identical' if same else 'differ'} |")
    return out
