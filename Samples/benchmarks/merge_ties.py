#!/usr/bin/env python3
"""Benchmark of `scalpel merge --method ties` against mergekit's `ties` (issue 4).

Five SPU-like updates of one BERT-base-sized fp32 model (12 layers, 438 MB; each update moves
a random 10 % of every intermediate.dense.weight, seeds 1 to 5). Scalpel merges the five
patches; mergekit merges the five equivalent dense checkpoints, with the same density,
weights and lambda. Both are timed in the same run (medians), with peak memory, and their
results are compared element by element.

Needs mergekit (heavy: it pulls torch), so it runs with the Python of a separate venv:

    python -m venv /tmp/ref && /tmp/ref/bin/pip install mergekit==0.1.5
    swift build -c release
    /tmp/ref/bin/python Samples/benchmarks/merge_ties.py [--repeats 3] [--density 0.05]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import HERE, ROOT, SCALPEL, format_runs, timed, warm  # noqa: E402

BERT_BASE = {
    "architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768, "intermediate_size": 3072,
    "num_hidden_layers": 12, "num_attention_heads": 12, "vocab_size": 30522, "max_position_embeddings": 512,
    "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
}


def model_folder(work, name, make):
    """A folder with model.safetensors and config.json (mergekit's input layout)."""
    folder = os.path.join(work, name)
    path = os.path.join(folder, "model.safetensors")
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        print(f"generating {path} ...", flush=True)
        make(path)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(BERT_BASE, f)
    return folder, path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--patches", type=int, default=5)
    parser.add_argument("--work", default=os.path.join(ROOT, "bench-out", "merge"))
    args = parser.parse_args()
    if not os.access(SCALPEL, os.X_OK):
        sys.exit(f"{SCALPEL} not found: run `swift build -c release` first")
    os.makedirs(args.work, exist_ok=True)
    python = sys.executable

    base_folder, base = model_folder(args.work, "base", lambda path: subprocess.run(
        [python, os.path.join(HERE, "make_bert_like.py"), path, "--layers", "12"], check=True))
    tuned_folders, patches = [], []
    for seed in range(1, args.patches + 1):
        folder, tuned = model_folder(args.work, f"task{seed}", lambda path: subprocess.run(
            [python, os.path.join(HERE, "make_spu_update.py"), base, path, "--seed", str(seed)], check=True))
        tuned_folders.append(folder)
        patch = os.path.join(args.work, f"task{seed}.spatch")
        if not os.path.exists(patch):
            subprocess.run([SCALPEL, "create", base, tuned, "-o", patch, "--task", f"task{seed}"], check=True, stdout=subprocess.DEVNULL)
        patches.append(patch)

    config = os.path.join(args.work, "ties.yml")
    with open(config, "w") as f:  # JSON is YAML
        json.dump({"merge_method": "ties", "base_model": base_folder, "dtype": "float32",
                   "models": [{"model": folder, "parameters": {"weight": 1.0, "density": args.density}} for folder in tuned_folders]}, f)

    merged_patch = os.path.join(args.work, "merged.spatch")
    merged_model = os.path.join(args.work, "merged.safetensors")
    mergekit_out = os.path.join(args.work, "mergekit-out")
    scalpel_merge = [SCALPEL, "merge", *patches, "--base", base, "--method", "ties", "--density", str(args.density), "-o", merged_patch]
    scalpel_apply = [SCALPEL, "apply", base, merged_patch, "-o", merged_model]
    mergekit = [python, os.path.join(HERE, "mergekit_yaml.py"), config, mergekit_out]
    os.environ["HF_HUB_OFFLINE"] = "1"

    runs = {"scalpel merge": [], "scalpel apply": [], "mergekit": []}
    peaks = {"scalpel merge": 0, "scalpel apply": 0, "mergekit": 0}
    for _ in range(args.repeats):
        warm(base, *patches)
        for name, cmd in (("scalpel merge", scalpel_merge), ("scalpel apply", scalpel_apply)):
            seconds, peak = timed(cmd)
            runs[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
        warm(base, *(os.path.join(f, "model.safetensors") for f in tuned_folders))
        seconds, peak = timed(mergekit)
        runs["mergekit"].append(seconds)
        peaks["mergekit"] = max(peaks["mergekit"], peak)
    med = {k: statistics.median(v) for k, v in runs.items()}

    # The two results, element by element.
    ours = load_file(merged_model)
    theirs = {}
    for name in os.listdir(mergekit_out):
        if name.endswith(".safetensors"):
            theirs.update(load_file(os.path.join(mergekit_out, name)))
    worst, changed, beyond, at_cut = 0.0, 0, 0, 0
    base_arrays = load_file(base)
    tuned_arrays = [load_file(os.path.join(f, "model.safetensors")) for f in tuned_folders]
    for name, array in theirs.items():
        key = name if name in ours else "bert." + name
        difference = np.abs(ours[key].astype(np.float64) - array.astype(np.float64)).ravel()
        worst = max(worst, float(difference.max()))
        positions = np.nonzero(difference > 1e-6)[0]
        beyond += positions.size
        if positions.size:
            # Elements whose delta sits exactly at a patch's trim cut: equal magnitudes there are
            # kept in argsort's order by mergekit and in a seeded order by Scalpel.
            ties = np.zeros(difference.size, dtype=bool)
            for tuned in tuned_arrays:
                delta = np.abs((tuned[key] - base_arrays[key]).ravel())
                keep = max(1, int(args.density * delta.size))
                cut = np.partition(delta, delta.size - keep)[delta.size - keep]
                ties |= delta == cut
            at_cut += int(np.count_nonzero(ties[positions]))
    for name, array in ours.items():
        changed += int(np.count_nonzero(array != base_arrays[name]))

    total = med["scalpel merge"] + med["scalpel apply"]
    print(f"model: BERT-base shape, 12 layers, {os.path.getsize(base) / 1e6:.0f} MB fp32; {args.patches} SPU-like updates "
          f"(10 % of each intermediate.dense.weight); ties, density {args.density}; {os.cpu_count()} cores")
    print(f"patches: {', '.join(f'{os.path.getsize(p) / 1e6:.1f}' for p in patches)} MB; merged patch {os.path.getsize(merged_patch) / 1e6:.1f} MB, "
          f"{changed:,} elements changed")
    print("\ntime (median)                      seconds   peak memory")
    print(f"  mergekit ties (5 dense models)   {med['mergekit']:8.2f}   {peaks['mergekit'] / 1024:8.0f} MiB")
    print(f"  scalpel merge (5 patches)        {med['scalpel merge']:8.2f}   {peaks['scalpel merge'] / 1024:8.0f} MiB   "
          f"{med['mergekit'] / med['scalpel merge']:.1f}x faster (goal: 10x or more, memory below mergekit's)")
    print(f"  scalpel apply (dense result)     {med['scalpel apply']:8.2f}   {peaks['scalpel apply'] / 1024:8.0f} MiB")
    print(f"  scalpel merge + apply            {total:8.2f}              {med['mergekit'] / total:.1f}x faster")
    print(f"\nthe two merged models: largest difference {worst:.3g}; {beyond} elements differ by more than 1e-6, "
          f"{at_cut} of them where a patch's delta magnitude equals its trim cut (equal magnitudes: mergekit keeps "
          f"argsort's order, Scalpel a seeded one); every other element agrees within F32 rounding")
    print("\n" + format_runs(runs))


if __name__ == "__main__":
    main()
