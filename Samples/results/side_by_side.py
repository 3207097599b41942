#!/usr/bin/env python3
"""Prints continual runs' reports side by side (the main job: SPU and full fine-tuning), and
how the SPU run compares with the committed PyTorch reference of the same settings.

    side_by_side.py RUN_A RUN_B ... [--reference REPORT.json] [--model MODEL_FILE]
"""
import argparse
import glob
import json
import os


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--reference")
    parser.add_argument("--model")
    args = parser.parse_args()
    reports = []
    for folder in args.runs:
        with open(os.path.join(folder, "report.json")) as f:
            report = json.load(f)
        patches = [p for p in glob.glob(os.path.join(folder, "task*.spatch")) if not p.endswith("-mask.spatch")]
        report["patch_bytes"] = sum(os.path.getsize(p) for p in patches)
        reports.append(report)
    columns = [r["method"] for r in reports]
    reference = None
    if args.reference and os.path.exists(args.reference):
        with open(args.reference) as f:
            reference = json.load(f)
        columns.append("spu, PyTorch reference")
    model_bytes = os.path.getsize(args.model) if args.model else None
    parameters = max(r["trainable_parameters"] for r in reports + ([reference] if reference else []))
    parameters = max(parameters, max(r["changed_parameters"] for r in reports))

    def row(name, value):
        cells = [value(r) for r in reports] + ([value(reference)] if reference else [])
        return f"| {name} | " + " | ".join(cells) + " |"

    lines = ["| measure | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    lines.append(row("average accuracy, base → final (%)", lambda r: f"{r['average_accuracy_base']:.2f} → {r['average_accuracy']:.2f}"))
    lines.append(row("forgetting (points)", lambda r: f"{r['forgetting']:.2f}"))
    lines.append(row("control accuracy, base → final (%)", lambda r: f"{r['control_accuracy_base']:.2f} → {r['control_accuracy']:.2f}"))
    lines.append(row("control drop (points)", lambda r: f"{r['control_drop']:.2f}"))
    lines.append(row("changed parameters (share of the encoder's)", lambda r: f"{r['changed_parameters']:,} ({100 * r['changed_parameters'] / parameters:.2f} %)"))
    if model_bytes:
        lines.append(row("task patches / model file", lambda r: f"1/{model_bytes / r['patch_bytes']:.1f}" if r.get("patch_bytes") else "-"))
    lines.append(row("time (s)", lambda r: f"{r['seconds']:.0f}"))
    print("\n".join(lines))
    spu = next(((r, folder) for r, folder in zip(reports, args.runs) if r["method"] == "spu"), None)
    if spu and reference:
        import fidelity
        npz = args.reference.replace(".json", "-task1-mask.npz")
        print("\nSPU against the PyTorch reference implementation of the same settings (Samples/reference/spu_reference.py; "
              "same seeded batches, different dropout draws):\n")
        print("\n".join(fidelity.lines(spu[0], reference, spu[1], npz)))


if __name__ == "__main__":
    main()
