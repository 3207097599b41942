#!/usr/bin/env python3
"""Prints continual runs' reports side by side (the main job: SPU and full fine-tuning), and
how the SPU run compares with the committed PyTorch reference of the same settings. Both
evaluation protocols are shown, the headline one (--protocol, else the first run's) first.

    side_by_side.py RUN_A RUN_B ... [--reference REPORT.json] [--model MODEL_FILE] [--protocol class|task]
"""
import argparse
import glob
import json
import os

import fidelity


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--reference")
    parser.add_argument("--model")
    parser.add_argument("--protocol", choices=fidelity.PROTOCOLS,
                        help="the protocol shown first and compared with the reference (default: the first run's headline)")
    args = parser.parse_args()
    reports = []
    for folder in args.runs:
        path = os.path.join(folder, "report.json")
        with open(path) as f:
            report = json.load(f)
        for protocol in fidelity.PROTOCOLS:
            fidelity.figures(report, protocol, path)
        patches = [p for p in glob.glob(os.path.join(folder, "task*.spatch")) if not p.endswith("-mask.spatch")]
        report["patch_bytes"] = sum(os.path.getsize(p) for p in patches)
        reports.append(report)
    columns = [r["method"] for r in reports]
    reference = None
    if args.reference and os.path.exists(args.reference):
        with open(args.reference) as f:
            reference = json.load(f)
        for protocol in fidelity.PROTOCOLS:
            fidelity.figures(reference, protocol, args.reference)
        columns.append("spu, PyTorch reference")
    first = args.protocol or fidelity.headline(reports[0], os.path.join(args.runs[0], "report.json"))
    protocols = [first] + [p for p in fidelity.PROTOCOLS if p != first]
    model_bytes = os.path.getsize(args.model) if args.model else None
    parameters = max(r["trainable_parameters"] for r in reports + ([reference] if reference else []))
    parameters = max(parameters, max(r["changed_parameters"] for r in reports))

    def row(name, value):
        cells = [value(r) for r in reports] + ([value(reference)] if reference else [])
        return f"| {name} | " + " | ".join(cells) + " |"

    lines = ["| measure | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for protocol in protocols:
        name, key = fidelity.NAMES[protocol], fidelity.section(protocol)
        lines.append(row(f"{name}: average accuracy, base → final (%)",
                         lambda r: f"{r[key]['average_accuracy_base']:.2f} → {r[key]['average_accuracy']:.2f}"))
        lines.append(row(f"{name}: forgetting (points)", lambda r: f"{r[key]['forgetting']:.2f}"))
        lines.append(row(f"{name}: learning accuracy (%)", lambda r: f"{r[key]['learning_accuracy']:.2f}"))
        # None for a single task: no state after a task leaves another one unseen
        lines.append(row(f"{name}: unseen accuracy (%)",
                         lambda r: "-" if r[key]["unseen_accuracy"] is None else f"{r[key]['unseen_accuracy']:.2f}"))
    lines.append(row("control accuracy, base → final (%)", lambda r: f"{r['control_accuracy_base']:.2f} → {r['control_accuracy']:.2f}"))
    lines.append(row("control drop (points)", lambda r: f"{r['control_drop']:.2f}"))
    lines.append(row("changed parameters (share of the encoder's)", lambda r: f"{r['changed_parameters']:,} ({100 * r['changed_parameters'] / parameters:.2f} %)"))
    if model_bytes:
        lines.append(row("task patches / model file", lambda r: f"1/{model_bytes / r['patch_bytes']:.1f}" if r.get("patch_bytes") else "-"))
    lines.append(row("time (s)", lambda r: f"{r['seconds']:.0f}"))
    print("\n".join(lines))
    print("\nclass-incremental: each test item among the classes of every task learned so far (an unseen task's among the "
          "unseen tasks'), as the SPU paper evaluates; task-incremental: among its own task's classes only. Average accuracy "
          "is pooled over the items of the tasks seen; unseen accuracy is on the tasks not yet learned, after each task but the last.")
    spu = next(((r, folder) for r, folder in zip(reports, args.runs) if r["method"] == "spu"), None)
    if spu and reference:
        npz = args.reference.replace(".json", "-task1-mask.npz")
        print("\nSPU against the PyTorch reference implementation of the same settings (Samples/reference/spu_reference.py; "
              "same seeded batches, different dropout draws):\n")
        print("\n".join(fidelity.lines(spu[0], reference, spu[1], npz, protocol=first)))


if __name__ == "__main__":
    main()
