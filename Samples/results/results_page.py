#!/usr/bin/env python3
"""Writes the Manual's results page from the continual runs of Samples/results/run_all.sh.

    results_page.py RUNS --model MODEL_FILE --reference FIXTURES --markdown OUT.md --svg OUT.svg [--protocol class|task]

RUNS holds one folder per configuration (report.json, task*.spatch); FIXTURES the PyTorch
reference reports (spu-seedN.json). The page gives every run's figures, the trade-off plot of
final accuracy against control drop with its Pareto front, and the fidelity comparison, under
--protocol (default class-incremental, the SPU paper's), with the other protocol's final
accuracy beside it.
"""
import argparse
import glob
import json
import os

import fidelity

# label: (what it is, colour)
DESCRIPTIONS = {
    "spu": ("SPU, first MLP, rate 0.1, lr 5e-4 (the defaults of the demo)", "#1f77b4"),
    "spu-lr2e-5": ("SPU at full fine-tuning's learning rate, 2e-5", "#6baed6"),
    "full-lr1e-5": ("full fine-tuning, lr 1e-5", "#d62728"),
    "full-lr2e-5": ("full fine-tuning, lr 2e-5", "#e6550d"),
    "full-lr5e-5": ("full fine-tuning, lr 5e-5", "#a50f15"),
    "random-mask": ("random mask of the same sizes, lr 5e-4 (ablation)", "#7f7f7f"),
    "spu-attention": ("SPU on the attention projections (query, key, value, output)", "#2ca02c"),
    "spu-second-mlp": ("SPU on the second MLP linear (output.dense)", "#9467bd"),
    "spu-replay": ("SPU with a replay buffer of 100 earlier-task examples", "#17becf"),
}


def load_runs(folder, protocol):
    """label -> report, with the shown protocol's figures under "figures" and the other's
    under "other_figures"."""
    runs = {}
    other = next(p for p in fidelity.PROTOCOLS if p != protocol)
    for label in DESCRIPTIONS:
        path = os.path.join(folder, label, "report.json")
        if os.path.exists(path):
            with open(path) as f:
                report = json.load(f)
            report["figures"] = fidelity.figures(report, protocol, path)
            report["other_figures"] = fidelity.figures(report, other, path)
            patches = [p for p in glob.glob(os.path.join(folder, label, "task*.spatch")) if not p.endswith("-mask.spatch")]
            report["patch_bytes"] = sum(os.path.getsize(p) for p in patches)
            runs[label] = report
    return runs


def pareto(runs):
    """Labels no other run beats on both axes (higher accuracy, lower control drop)."""
    front = []
    accuracy = {label: r["figures"]["average_accuracy"] for label, r in runs.items()}
    for a, ra in runs.items():
        dominated = any(accuracy[b] >= accuracy[a] and rb["control_drop"] <= ra["control_drop"]
                        and (accuracy[b] > accuracy[a] or rb["control_drop"] < ra["control_drop"])
                        for b, rb in runs.items() if b != a)
        if not dominated:
            front.append(a)
    return sorted(front, key=lambda label: runs[label]["control_drop"])


def fidelity_section(runs_folder, reference_folder, protocol):
    """Scalpel's SPU runs against the committed PyTorch reference reports."""
    def report(path):
        with open(path) as f:
            return json.load(f)

    def ours(label):
        path = os.path.join(runs_folder, label, "report.json")
        return report(path) if os.path.exists(path) else None

    out = ["## Fidelity: Scalpel against a PyTorch implementation of the same method", "",
           "`Samples/reference/spu_reference.py` implements SPU with torch and transformers alone: the same score, top-k,",
           "loss, dropout, optimizer, schedule and replay, and the same seeded shuffles (Scalpel's generator is documented",
           "and re-implemented there), so both see the same batches; dropout draws different random numbers. Its reports",
           "are committed in `Tests/Fixtures/reference/` (made by `Samples/reference/make_fixtures.sh`), with every test",
           "item's outcome in every state, so the two are compared item by item as well as by their figures.", ""]
    nodropout = os.path.join(reference_folder, "spu-nodropout-seed0.json")
    if os.path.exists(nodropout) and ours("spu-nodropout"):
        out += ["Without dropout both are deterministic, so this is the closest comparison:", ""]
        out += fidelity.lines(ours("spu-nodropout"), report(nodropout), os.path.join(runs_folder, "spu-nodropout"), label="no dropout",
                              protocol=protocol)
        out.append("")
    seed0 = os.path.join(reference_folder, "spu-seed0.json")
    if os.path.exists(seed0) and ours("spu"):
        out += ["With dropout (the defaults), seed 0:", ""]
        out += fidelity.lines(ours("spu"), report(seed0), os.path.join(runs_folder, "spu"),
                              seed0.replace(".json", "-task1-mask.npz"), label="dropout, seed 0", protocol=protocol)
        out.append("")
    theirs = [report(p) for p in sorted(glob.glob(os.path.join(reference_folder, "spu-seed*.json")))]
    mine = [r for r in [ours("spu"), ours("spu-seed1"), ours("spu-seed2")] if r]
    if len(theirs) > 1 and len(mine) > 1:
        def mean(rows, key):
            # the control accuracy is the same in both protocols, at the report's top level
            return sum(r[key] if key == "control_accuracy" else fidelity.figures(r, protocol)[key] for r in rows) / len(rows)

        out += [f"Means over seeds (Scalpel {len(mine)}, PyTorch {len(theirs)}), with dropout, {fidelity.NAMES[protocol]}:", "",
                "| measure | Scalpel mean | PyTorch mean | gap | within 3 points |", "| --- | --- | --- | --- | --- |"]
        for key, name in [("average_accuracy", "final average accuracy"), ("forgetting", "forgetting"),
                          ("learning_accuracy", "learning accuracy"), ("control_accuracy", "control accuracy")]:
            gap = mean(mine, key) - mean(theirs, key)
            out.append(f"| {name} | {mean(mine, key):.2f} | {mean(theirs, key):.2f} | {gap:+.2f} | {'yes' if abs(gap) <= 3 else '**no**'} |")
        out.append("")
    out += ["Task 1's masks are computed from the same model and the same batches, so they can differ only where float",
            "rounding orders two scores differently at the cut. The later tasks' masks are computed on models that dropout",
            "has trained differently, so with dropout on their union, and the count of changed parameters, differ by a",
            "little; without dropout nothing differs.", ""]
    return out


def item_counts(report):
    """(test items over the tasks, control items), from the report's outcomes; None where the
    report has none."""
    outcomes = report.get("outcomes", {})
    control = len(outcomes["control"][0]) if outcomes.get("control") else None
    return sum(report["test_items"]) if report.get("test_items") else None, control


def reading(runs, front):
    """What the table says, computed from it, so a regenerated page cannot contradict itself."""
    spu = runs["spu"]
    out = []
    beaten_by = [l for l, r in runs.items() if l != "spu" and r["figures"]["average_accuracy"] >= spu["figures"]["average_accuracy"]
                 and r["control_drop"] <= spu["control_drop"]]
    ordered = sorted(front, key=lambda l: runs[l]["control_drop"])
    out.append("- The Pareto front, from the gentlest on the control set to the most accurate: "
               + ", ".join(f"`{l}` ({runs[l]['figures']['average_accuracy']:.2f} %, drop {runs[l]['control_drop']:.2f})" for l in ordered) + ".")
    if "spu" in front:
        others = [l for l in ordered if l != "spu" and runs[l]["control_drop"] < spu["control_drop"]]
        line = (f"- SPU at its defaults is on the front: no other run reaches its final accuracy ({spu['figures']['average_accuracy']:.2f} %) "
                f"with a smaller control drop ({spu['control_drop']:.2f} points).")
        if others:
            best = max(others, key=lambda l: runs[l]["figures"]["average_accuracy"])
            line += (f" It is there by its accuracy alone: `{best}` is {spu['figures']['average_accuracy'] - runs[best]['figures']['average_accuracy']:.2f} "
                     f"points less accurate and {spu['control_drop'] - runs[best]['control_drop']:.2f} points gentler on the control set, "
                     "so on this data SPU's defaults trade generic knowledge for task accuracy rather than keep both.")
        out.append(line)
    else:
        out.append("- SPU at its defaults **is not on the Pareto front** of this data: "
                   + ", ".join(f"`{l}`" for l in beaten_by) + " match or beat it on both axes.")
    fulls = {l: r for l, r in runs.items() if l.startswith("full")}
    if fulls:
        best = max(fulls, key=lambda l: fulls[l]["figures"]["average_accuracy"])
        gentle = min(fulls, key=lambda l: fulls[l]["control_drop"])
        out.append(f"- Full fine-tuning: the most accurate, `{best}`, ends at {fulls[best]['figures']['average_accuracy']:.2f} % with a control "
                   f"drop of {fulls[best]['control_drop']:.2f}; the gentlest, `{gentle}`, at {fulls[gentle]['figures']['average_accuracy']:.2f} % "
                   f"with a drop of {fulls[gentle]['control_drop']:.2f}. It changes every parameter "
                   f"({fulls[best]['changed_parameters']:,}), SPU {spu['changed_parameters']:,}.")
    if "random-mask" in runs:
        r = runs["random-mask"]
        out.append(f"- A random mask of the same sizes (a fresh one per task) reaches {r['figures']['average_accuracy']:.2f} % with a control drop of "
                   f"{r['control_drop']:.2f}; SPU's relevance scores add {spu['figures']['average_accuracy'] - r['figures']['average_accuracy']:+.2f} points of "
                   f"accuracy and {spu['control_drop'] - r['control_drop']:+.2f} points of control drop (a plausible reading, which these runs "
                   "do not test: the scores put the update where the task's gradient is largest, where it also moves most of what the "
                   "control set relies on).")
    if "spu-lr2e-5" in runs:
        r = runs["spu-lr2e-5"]
        out.append(f"- At full fine-tuning's learning rate SPU reaches {r['figures']['average_accuracy']:.2f} % (drop {r['control_drop']:.2f})"
                   + (": a sparse update needs a larger step than a dense one for the same effect."
                      if r["figures"]["average_accuracy"] < spu["figures"]["average_accuracy"] - 5 else "."))
    tasks, control = item_counts(spu)
    sizes = []
    if tasks:
        sizes.append(f"{tasks} test items over the tasks (one item is {100 / tasks:.2f} points of the average accuracy)")
    if control:
        sizes.append(f"a noun-retrieval control of {control} items ({100 / control:.2f} points each)")
    out.append("- The paper measured SPU's claim on CLIP with ImageNet as the control set; this is a small text encoder"
               + (f" with {' and '.join(sizes)}" if sizes else "")
               + ", and every run is a single seed, so differences under a point or two are within its noise.")
    return out


def svg(runs, front, base_accuracy, protocol):
    width, height, left, right, top, bottom = 640, 400, 60, 200, 20, 50
    drops = [r["control_drop"] for r in runs.values()] + [0]
    accuracies = [r["figures"]["average_accuracy"] for r in runs.values()] + [base_accuracy]
    x0, x1 = min(drops) - 1, max(drops) + 1
    y0, y1 = min(accuracies) - 2, max(accuracies) + 2
    x = lambda v: left + (width - left - right) * (v - x0) / (x1 - x0)
    y = lambda v: height - bottom - (height - top - bottom) * (v - y0) / (y1 - y0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>']
    for i in range(6):
        vx = x0 + (x1 - x0) * i / 5
        vy = y0 + (y1 - y0) * i / 5
        out.append(f'<line x1="{x(vx):.1f}" x2="{x(vx):.1f}" y1="{top}" y2="{height - bottom}" stroke="#eee"/>'
                   f'<text x="{x(vx):.1f}" y="{height - bottom + 14}" text-anchor="middle">{vx:.1f}</text>')
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(vy):.1f}" y2="{y(vy):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 6}" y="{y(vy) + 4:.1f}" text-anchor="end">{vy:.1f}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">control drop (points; left is better)</text>')
    out.append(f'<text transform="translate(16,{(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">final average accuracy, {fidelity.NAMES[protocol]} (%; up is better)</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(base_accuracy):.1f}" y2="{y(base_accuracy):.1f}" stroke="#999" stroke-dasharray="4 3"/>'
               f'<text x="{width - right - 4}" y="{y(base_accuracy) - 4:.1f}" text-anchor="end" fill="#666">zero-shot base</text>')
    points = " ".join(f"{x(runs[l]['control_drop']):.1f},{y(runs[l]['figures']['average_accuracy']):.1f}" for l in front)
    out.append(f'<polyline fill="none" stroke="#444" stroke-width="1" stroke-dasharray="2 2" points="{points}"/>')
    for k, (label, r) in enumerate(runs.items()):
        colour = DESCRIPTIONS[label][1]
        px, py = x(r["control_drop"]), y(r["figures"]["average_accuracy"])
        marker = 5 if label in front else 4
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{marker}" fill="{colour}" stroke="{"black" if label in front else "none"}"/>')
        out.append(f'<circle cx="{width - right + 14}" cy="{top + 8 + 16 * k}" r="4" fill="{colour}"/>'
                   f'<text x="{width - right + 22}" y="{top + 12 + 16 * k}">{label}</text>')
    out.append(f'<text x="{width - right + 10}" y="{top + 12 + 16 * len(runs) + 8}" fill="#444">black ring: Pareto front</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs")
    parser.add_argument("--model", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--svg", required=True)
    parser.add_argument("--protocol", choices=fidelity.PROTOCOLS, default="class",
                        help="the protocol of the table's main figures, the plot and the fidelity comparison")
    args = parser.parse_args()
    runs = load_runs(args.runs, args.protocol)
    if "spu" not in runs:
        raise SystemExit(f"{args.runs}: no spu/report.json; run Samples/results/run_all.sh first")
    model_bytes = os.path.getsize(args.model)
    base = runs["spu"]
    front = pareto(runs)
    parameters = max(r["trainable_parameters"] for r in runs.values())  # full fine-tuning trains them all
    with open(args.svg, "w") as f:
        f.write(svg(runs, front, base["figures"]["average_accuracy_base"], args.protocol))
    name = fidelity.NAMES[args.protocol]
    other = fidelity.NAMES[next(p for p in fidelity.PROTOCOLS if p != args.protocol)]
    _, control_items = item_counts(base)

    lines = ["# Results: SPU on the WordNet demo", "",
             "Generated by `Samples/results/run_all.sh` (not the main job: it runs twelve continual sequences).",
             "Model: all-MiniLM-L6-v2; tasks: three WordNet verb-category tasks learned in sequence; control: noun",
             f"retrieval among {control_items or 'the'} held-out synsets (see [continual](continual.md)). Every run: 3 epochs per task,",
             "batch 32, AdamW (weight decay 0.01), cosine schedule with 10 % warmup, dropout 0.1 in training, seed 0.",
             f"Accuracies in percent, {name} unless said otherwise: each test item is classified among the classes",
             "of every task learned so far (as the SPU paper evaluates; in the base, among all tasks' classes), and",
             f"averages are pooled over the items; {other}, each item among its own task's classes only, is given",
             "beside it. The control set is classified among its own classes. The zero-shot base averages",
             f"{base['figures']['average_accuracy_base']:.2f} % on the tasks ({base['other_figures']['average_accuracy_base']:.2f} % {other}) "
             f"and {base['control_accuracy_base']:.2f} % on the control.", "",
             f"| run | what | final average accuracy | forgetting | learning accuracy | final average accuracy, {other} | "
             "control accuracy | control drop | changed parameters (share of the encoder's) | patches / model | time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in runs.items():
        lines.append(f"| `{label}`{' ★' if label in front else ''} | {DESCRIPTIONS[label][0]} | {r['figures']['average_accuracy']:.2f} | "
                     f"{r['figures']['forgetting']:.2f} | {r['figures']['learning_accuracy']:.2f} | {r['other_figures']['average_accuracy']:.2f} | "
                     f"{r['control_accuracy']:.2f} | {r['control_drop']:.2f} | "
                     f"{r['changed_parameters']:,} ({100 * r['changed_parameters'] / parameters:.2f} %) | "
                     f"1/{model_bytes / max(r['patch_bytes'], 1):.1f} | {r['seconds']:.0f} s |")
    lines += ["", "★: on the Pareto front of final accuracy against control drop (no other run is at least as good on both",
              "and better on one).", "", "![final accuracy against control drop](results.svg)", ""]
    lines += ["## Reading it", ""] + reading(runs, front) + [""]

    lines += fidelity_section(args.runs, args.reference, args.protocol)
    with open(args.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
