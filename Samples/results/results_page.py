#!/usr/bin/env python3
"""Writes the Manual's results page from the continual runs of Samples/results/run_all.sh.

    results_page.py RUNS --model MODEL_FILE --reference FIXTURES --markdown OUT.md --svg OUT.svg

RUNS holds RUNS/LABEL/seedN/ for each configuration and seed (report.json, task*.spatch); a
label is METHOD-lrRATE. FIXTURES holds the PyTorch reference reports (spu-seedN.json). The page
gives every configuration's means over seeds with 95 % intervals (items resampled, paired
across runs; statistics.py), the trade-off plot of final accuracy against control drop with
each method's learning-rate curve, the paired comparisons with full fine-tuning, the goal's
verdict, and the fidelity comparison. Every sentence of the reading is computed from the
figures, so a regenerated page cannot contradict itself.
"""
import argparse
import glob
import json
import os
import re

import statistics as st

PROTOCOL = "class"

# method: (what it is, colour). Methods absent from RUNS are left out.
METHODS = {
    "full": ("full fine-tuning of every weight", "#d62728"),
    "spu": ("SPU: |Σ gradient| on the task, rate 0.1 of the first MLP linear", "#1f77b4"),
    "spu-mas-ratio": ("SPU relevance divided by MAS importance on generic text (knowledge-aware; see knowledge-aware.md)", "#2ca02c"),
    "spu-mas-exclude": ("SPU with the top 10 % of each tensor by MAS importance on generic text never selected (knowledge-aware)", "#9467bd"),
    "random-mask": ("a random mask of SPU's sizes (ablation)", "#7f7f7f"),
}
# Selections Scalpel ships, for the goal: all but full fine-tuning and the ablation.
SELECTIONS = ["spu", "spu-mas-ratio", "spu-mas-exclude"]


def load(folder):
    """{label: [report per seed]} for the five-task configurations, and {label: [...]} for fidelity runs."""
    configurations, fidelity_runs = {}, {}
    for path in sorted(glob.glob(os.path.join(folder, "*", "seed*", "report.json"))):
        label = os.path.basename(os.path.dirname(os.path.dirname(path)))
        with open(path) as f:
            report = json.load(f)
        report["folder"] = os.path.dirname(path)
        patches = [p for p in glob.glob(os.path.join(report["folder"], "task*.spatch")) if not p.endswith("-mask.spatch")]
        report["patch_bytes"] = sum(os.path.getsize(p) for p in patches)
        (fidelity_runs if label.startswith("fidelity-") else configurations).setdefault(label, []).append(report)
    return configurations, fidelity_runs


def method_and_rate(label):
    match = re.fullmatch(r"(.+)-lr([0-9.e-]+)", label)
    return (match.group(1), float(match.group(2))) if match else (label, None)


def summarise(configurations):
    """Per label: means over seeds, intervals over items, seed ranges."""
    rows = {}
    for label, reports in configurations.items():
        tasks, control = st.task_sizes(reports[0]), st.control_size(reports[0])
        section = lambda r: r[PROTOCOL + "_incremental"]
        mean = lambda values: sum(values) / len(values)
        rows[label] = {
            "seeds": len(reports),
            "accuracy": st.seeds_mean(reports, st.final_accuracy(PROTOCOL), tasks),
            "task_accuracy": mean([r["task_incremental"]["average_accuracy"] for r in reports]),
            "drop": st.seeds_mean(reports, st.control_drop, control),
            "forgetting": mean([section(r)["forgetting"] for r in reports]),
            "learning": mean([section(r)["learning_accuracy"] for r in reports]),
            "changed": mean([r["changed_parameters"] for r in reports]),
            "patch_bytes": mean([r["patch_bytes"] for r in reports]),
            "seconds": mean([r["seconds"] for r in reports]),
            "base_accuracy": section(reports[0])["average_accuracy_base"],
            "base_control": reports[0]["control_accuracy_base"],
            "control_items": control[0],
        }
    return rows


def pareto(rows):
    """Labels no other configuration beats on both means (higher accuracy, lower control drop)."""
    a, d = (lambda l: rows[l]["accuracy"][0]), (lambda l: rows[l]["drop"][0])
    front = [l for l in rows if not any(a(m) >= a(l) and d(m) <= d(l) and (a(m) > a(l) or d(m) < d(l)) for m in rows if m != l)]
    return sorted(front, key=d)


def fmt(value, interval=None, digits=2):
    text = f"{value:.{digits}f}"
    return text + (f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else "")


def comparisons(configurations, rows):
    """For each selection configuration against each full fine-tuning one: paired differences
    of final accuracy and of control accuracy (= minus the difference of control drop)."""
    out = {}
    fulls = [l for l in rows if method_and_rate(l)[0] == "full"]
    for label in rows:
        if method_and_rate(label)[0] == "full":
            continue
        for full in fulls:
            a, b = configurations[label], configurations[full]
            accuracy = st.paired_difference(a, b, st.final_accuracy(PROTOCOL), st.task_sizes(a[0]))
            control = st.paired_difference(a, b, st.control_accuracy, st.control_size(a[0]))
            out[(label, full)] = (accuracy, control)
    return out


def goal(rows, paired):
    """For each shipped selection method: for every full fine-tuning learning rate, a
    configuration with at least its mean final accuracy and a smaller control drop whose paired
    interval of the control difference excludes zero. Returns {method: [(full, winner or None)]}."""
    fulls = sorted((l for l in rows if method_and_rate(l)[0] == "full"), key=lambda l: method_and_rate(l)[1])
    verdict = {}
    for method in SELECTIONS:
        mine = [l for l in rows if method_and_rate(l)[0] == method]
        if not mine:
            continue
        verdict[method] = []
        for full in fulls:
            winners = [l for l in mine if rows[l]["accuracy"][0] >= rows[full]["accuracy"][0] and paired[(l, full)][1][0] > 0
                       and paired[(l, full)][1][2]]
            verdict[method].append((full, max(winners, key=lambda l: rows[l]["accuracy"][0]) if winners else None))
    return verdict


def plot(rows, front, path):
    """Final accuracy against control drop, intervals as error bars, each method's learning
    rates joined in order (matplotlib)."""
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "scalpel"  # the same file for the same figures
    figure, axes = plt.subplots(figsize=(8, 5.5))
    base = next(iter(rows.values()))
    axes.axhline(base["base_accuracy"], color="#999", linestyle="--", linewidth=1)
    axes.text(axes.get_xlim()[0], base["base_accuracy"], " zero-shot base", color="#666", va="bottom", fontsize=8)
    axes.axvline(0, color="#ccc", linewidth=1)
    for method, (what, colour) in METHODS.items():
        labels = sorted((l for l in rows if method_and_rate(l)[0] == method), key=lambda l: method_and_rate(l)[1])
        if not labels:
            continue
        xs = [rows[l]["drop"][0] for l in labels]
        ys = [rows[l]["accuracy"][0] for l in labels]
        xerr = [[x - rows[l]["drop"][1][0] for x, l in zip(xs, labels)], [rows[l]["drop"][1][1] - x for x, l in zip(xs, labels)]]
        yerr = [[y - rows[l]["accuracy"][1][0] for y, l in zip(ys, labels)], [rows[l]["accuracy"][1][1] - y for y, l in zip(ys, labels)]]
        axes.errorbar(xs, ys, xerr=xerr, yerr=yerr, color=colour, marker="o", markersize=5, linewidth=1.5, capsize=2,
                      elinewidth=0.8, label=method)
        for x, y, l in zip(xs, ys, labels):
            axes.annotate(f"lr {method_and_rate(l)[1]:g}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7, color=colour)
    for l in front:
        axes.plot(rows[l]["drop"][0], rows[l]["accuracy"][0], "o", markersize=11, markerfacecolor="none", markeredgecolor="black")
    axes.set_xlabel("control drop (points; left is better)")
    axes.set_ylabel(f"final average accuracy, {PROTOCOL}-incremental (%; up is better)")
    axes.set_title("means over seeds; bars: 95 % intervals over test items; rings: Pareto front", fontsize=9)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})


def reading(rows, front, paired, verdict):
    """The plain reading: the front, which differences are inside the noise, the goal."""
    out = ["- The Pareto front of the means, from the gentlest on the control set to the most accurate: "
           + ", ".join(f"`{l}` ({rows[l]['accuracy'][0]:.2f} %, drop {rows[l]['drop'][0]:.2f})" for l in front) + "."]
    inside = [(l, f) for (l, f), (acc, ctl) in paired.items() if not acc[2] and not ctl[2]]
    if inside:
        out.append("- Inside the noise on both axes (both paired intervals contain zero): "
                   + ", ".join(f"`{l}` against `{f}`" for l, f in inside) + ".")
    for method, results in verdict.items():
        met = all(winner for _, winner in results)
        mine = [l for l in rows if method_and_rate(l)[0] == method]

        def closest(full):
            """The winner, or else the configuration nearest to winning: the gentlest of those at
            least as accurate, or the most accurate when none is."""
            accurate = [l for l in mine if rows[l]["accuracy"][0] >= rows[full]["accuracy"][0]]
            return min(accurate, key=lambda l: rows[l]["drop"][0]) if accurate else max(mine, key=lambda l: rows[l]["accuracy"][0])

        def describe(full, winner):
            label = winner or closest(full)
            accuracy, control = paired[(label, full)]
            return (f"`{full}`: {'' if winner else 'closest '}`{label}` (accuracy {accuracy[0]:+.2f} {fmt(0, accuracy[1])[5:]}, "
                    f"control {control[0]:+.2f} {fmt(0, control[1])[5:]})")
        out.append(f"- Goal for `{method}` (above full fine-tuning's curve: at every learning rate a configuration at least as accurate "
                   f"with a smaller control drop, the paired control interval excluding zero): **{'met' if met else 'not met'}**. "
                   + "; ".join(describe(full, winner) for full, winner in results) + ".")
    return out


def fidelity_section(fidelity_runs, reference_folder):
    """Scalpel's SPU runs on the three-task sequence against the committed PyTorch reference reports."""
    import fidelity

    def report(path):
        with open(path) as f:
            return json.load(f)

    out = ["## Fidelity: Scalpel against a PyTorch implementation of the same method", "",
           "`Samples/reference/spu_reference.py` implements SPU with torch and transformers alone: the same score, top-k,",
           "loss, dropout, optimizer, schedule and replay, the same seeded shuffles (Scalpel's generator is documented and",
           "re-implemented there) and the same evaluation under both protocols, so both see the same batches; dropout draws",
           "different random numbers. Its reports are committed in `Tests/Fixtures/reference/` (made by",
           "`Samples/reference/make_fixtures.sh`); the runs here are on the three-task sequence, as the reference's.", ""]
    nodropout = os.path.join(reference_folder, "spu-nodropout-seed0.json")
    mine = fidelity_runs.get("fidelity-spu-nodropout", [])
    if os.path.exists(nodropout) and mine:
        out += ["Without dropout both are deterministic, so this is the closest comparison:", ""]
        out += fidelity.lines(mine[0], report(nodropout), mine[0]["folder"], label="no dropout")
        out.append("")
    seeds = {os.path.basename(r["folder"]): r for r in fidelity_runs.get("fidelity-spu", [])}
    seed0 = os.path.join(reference_folder, "spu-seed0.json")
    if os.path.exists(seed0) and "seed0" in seeds:
        out += ["With dropout (the defaults), seed 0:", ""]
        out += fidelity.lines(seeds["seed0"], report(seed0), seeds["seed0"]["folder"], seed0.replace(".json", "-task1-mask.npz"),
                              label="dropout, seed 0")
        out.append("")
    theirs = [report(p) for p in sorted(glob.glob(os.path.join(reference_folder, "spu-seed*.json")))]
    mine = list(seeds.values())
    if len(theirs) > 1 and len(mine) > 1:
        section = PROTOCOL + "_incremental"
        mean = lambda reports, get: sum(get(r) for r in reports) / len(reports)
        out += [f"Means over seeds (Scalpel {len(mine)}, PyTorch {len(theirs)}), with dropout, {PROTOCOL}-incremental:", "",
                "| measure | Scalpel mean | PyTorch mean | gap | within 3 points |", "| --- | --- | --- | --- | --- |"]
        for name, get in [("final average accuracy", lambda r: r[section]["average_accuracy"]), ("forgetting", lambda r: r[section]["forgetting"]),
                          ("learning accuracy", lambda r: r[section]["learning_accuracy"]), ("control accuracy", lambda r: r["control_accuracy"])]:
            gap = mean(mine, get) - mean(theirs, get)
            out.append(f"| {name} | {mean(mine, get):.2f} | {mean(theirs, get):.2f} | {gap:+.2f} | {'yes' if abs(gap) <= 3 else '**no**'} |")
        out.append("")
    out += ["Task 1's masks are computed from the same model and the same batches, so they can differ only where float rounding",
            "orders two scores differently at the cut. The later tasks' masks are computed on models that dropout has trained",
            "differently, so with dropout their union, the count of changed parameters and some items' outcomes differ a little;",
            "without dropout nothing differs.", ""]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs")
    parser.add_argument("--model", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--svg", required=True)
    args = parser.parse_args()
    configurations, fidelity_runs = load(args.runs)
    if not configurations:
        raise SystemExit(f"{args.runs}: no LABEL/seedN/report.json; run Samples/results/run_all.sh first")
    rows = summarise(configurations)
    front = pareto(rows)
    paired = comparisons(configurations, rows)
    verdict = goal(rows, paired)
    plot(rows, front, args.svg)
    model_bytes = os.path.getsize(args.model)
    base = next(iter(rows.values()))
    seeds = sorted({r["seeds"] for r in rows.values()})
    lines = ["# Results: continual learning on the WordNet demo", "",
             "Generated by `Samples/results/run_all.sh` (not the main job: it runs every configuration with several seeds, hours",
             "on 2 cores). Model: all-MiniLM-L6-v2; tasks: five WordNet verb-category tasks of three categories each, learned",
             f"in sequence; evaluation: {PROTOCOL}-incremental (after each task, every seen task's test items among the classes of",
             f"all seen tasks; see [continual](continual.md)); control: noun retrieval among {base['control_items']:,} held-out synsets.",
             "Every run: 3 epochs per task, batch 32, AdamW (weight decay 0.01), cosine schedule with 10 % warmup, dropout 0.1.",
             f"Seeds per configuration: {', '.join(map(str, seeds))}. Accuracies in percent; the zero-shot base reaches "
             f"{base['base_accuracy']:.2f} % on the tasks and {base['base_control']:.2f} % on the control.", "",
             "Figures are means over seeds; [low, high] are 95 % percentile-bootstrap intervals over the test items (the items",
             "resampled, the same draws for every seed and every run; `Samples/results/statistics.py`), and the seed range",
             "shows the spread between seeds, which the item intervals do not include.", "",
             "| configuration | final average accuracy | seed range | task-incremental | forgetting | learning accuracy | control drop | seed range | changed parameters | patches / model | time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    order = sorted(rows, key=lambda l: (list(METHODS).index(method_and_rate(l)[0]) if method_and_rate(l)[0] in METHODS else 99, method_and_rate(l)[1] or 0))
    for label in order:
        r = rows[label]
        lines.append(f"| `{label}`{' ★' if label in front else ''} | {fmt(*r['accuracy'][:2])} | {r['accuracy'][2][0]:.2f}–{r['accuracy'][2][1]:.2f} | "
                     f"{r['task_accuracy']:.2f} | {r['forgetting']:.2f} | {r['learning']:.2f} | {fmt(*r['drop'][:2])} | "
                     f"{r['drop'][2][0]:.2f}–{r['drop'][2][1]:.2f} | {r['changed']:,.0f} | 1/{model_bytes / max(r['patch_bytes'], 1):.1f} | {r['seconds']:.0f} s |")
    lines += ["", "★: on the Pareto front of the means (no other configuration is at least as good on both and better on one).", "",
              "![final accuracy against control drop](results.svg)", "", "Methods:", ""]
    lines += [f"- `{m}`: {what}" for m, (what, _) in METHODS.items() if any(method_and_rate(l)[0] == m for l in rows)]
    lines += ["", "## Paired comparisons with full fine-tuning", "",
              "Each configuration minus each full fine-tuning one, over the same items (paired), means over seeds: a difference",
              "whose interval contains zero is inside the noise of these test sets.", "",
              "| configuration | against | final accuracy difference | control accuracy difference (= smaller control drop) |",
              "| --- | --- | --- | --- |"]
    for (label, full), (accuracy, control) in paired.items():
        mark = lambda d: fmt(d[0], d[1]) + ("" if d[2] else " (noise)")
        lines.append(f"| `{label}` | `{full}` | {mark(accuracy)} | {mark(control)} |")
    lines += ["", "## Reading it", ""] + reading(rows, front, paired, verdict) + [""]
    lines += fidelity_section(fidelity_runs, args.reference)
    with open(args.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
