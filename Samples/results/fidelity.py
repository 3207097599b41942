"""Scalpel's SPU runs against the PyTorch reference's reports (Tests/Fixtures/reference/):
the figures, the per-task mask sizes and the agreement of task 1's mask, element by element.
Used by side_by_side.py (the main job) and results_page.py."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Formats"))
from spatch_reference import Patch  # noqa: E402  (the format's reference reader)


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


def lines(ours, theirs, run=None, reference_npz=None, label="seed 0"):
    """Markdown rows comparing one Scalpel report with one reference report."""
    out = [f"| measure ({label}) | Scalpel | PyTorch reference | gap | within 3 points |", "| --- | --- | --- | --- | --- |"]
    for key, name in [("average_accuracy", "final average accuracy"), ("forgetting", "forgetting"), ("control_accuracy", "control accuracy")]:
        gap = ours[key] - theirs[key]
        out.append(f"| {name} | {ours[key]:.2f} | {theirs[key]:.2f} | {gap:+.2f} | {'yes' if abs(gap) <= 3 else '**no**'} |")
    if run and "mask_sizes" in theirs:
        sizes = mask_sizes(run)
        out.append(f"| mask size per task | {', '.join(f'{s:,}' for s in sizes)} | {', '.join(f'{s:,}' for s in theirs['mask_sizes'])} | "
                   f"| {'identical' if sizes == theirs['mask_sizes'] else '**differ**'} |")
    if run and reference_npz and os.path.exists(reference_npz):
        common, total = first_mask_agreement(run, reference_npz)
        out.append(f"| task 1's mask, element by element | {total:,} | {common:,} shared | {total - common:,} differ | "
                   f"{100 * common / max(total, 1):.3f} % shared |")
    for key, name in [("trainable_parameters", "union of the masks"), ("changed_parameters", "changed parameters")]:
        same = ours[key] == theirs[key]
        out.append(f"| {name} | {ours[key]:,} | {theirs[key]:,} | {ours[key] - theirs[key]:+,} | {'identical' if same else 'differ'} |")
    return out
