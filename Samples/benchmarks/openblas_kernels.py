#!/usr/bin/env python3
"""Benchmark of OpenBLAS's kernel choice: `scalpel eval` of the WordNet control set (2000 noun
glosses against their 2000 lemmas, all-MiniLM-L6-v2) with the kernels Scalpel runs by default
on this CPU, against OpenBLAS's own fallback, the generic SSE3 "Prescott" kernels
(OPENBLAS_CORETYPE=Prescott), in the same run, alternating, medians of --repeats.

OpenBLAS 0.3.21 (Debian 12) takes recent Intel server CPUs for unknown ones and falls back to
Prescott; `scalpel` then starts itself again with the kernels the CPU runs (see
Sources/Tensors/OpenBLASKernels.swift). On a CPU OpenBLAS knows, both sides run the same.

    .venv/bin/python Samples/benchmarks/openblas_kernels.py [--repeats 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT, SCALPEL  # noqa: E402


def core(environment):
    """The kernel family `scalpel --version` reports under `environment`."""
    text = subprocess.run([SCALPEL, "--version"], env=environment, stdout=subprocess.PIPE, text=True, check=True).stdout
    config = text.split("(OpenBLAS ", 1)[1].split(";")[0].split()
    return next((word for word in config if word not in {"OpenBLAS", "NO_LAPACKE", "DYNAMIC_ARCH", "NO_AFFINITY"}
                 and not word[0].isdigit() and "=" not in word), "?")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2", "model.safetensors")
    task = os.path.join(ROOT, ".cache", "tasks", "wordnet", "control-nouns")
    for path in (SCALPEL, model, task):
        if not os.path.exists(path):
            sys.exit(f"{path} not found: run ./setup.sh first")
    default = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    generic = dict(default, OPENBLAS_CORETYPE="Prescott")
    sides = {"default": default, "Prescott": generic}
    times = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, environment in sides.items():
            start = time.perf_counter()
            subprocess.run([SCALPEL, "eval", model, "--task", task], env=environment, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"kernels by default: {core(default)}; OpenBLAS's fallback: {core(generic)}")
    for name in sides:
        print(f"{name:>9}: {median[name]:7.2f} s (runs {', '.join(f'{t:.2f}' for t in times[name])})")
    print(f"ratio (default / Prescott): {median['default'] / median['Prescott']:.2f}x")


if __name__ == "__main__":
    main()
