#!/usr/bin/env python3
"""How many elements of a bf16 delta sit exactly at the TIES trim cut (issue 14, point 9).

A bf16 weight matrix (default 4096 x 4096, weights N(0, 0.02)) in which a random 10 % of the
elements take a step N(0, step²) and are rounded back to bf16 (round to nearest even): the
deltas are then whole bf16 ulps, a handful of distinct magnitudes per binade, so many elements
share the magnitude at which TIES' trim cuts. For each density this prints the trim's keep
count k = max(1, floor(density · n)), the cut magnitude, how many changed elements have exactly
that magnitude, and how many of those the trim keeps (k minus the elements above the cut).
The last column is the share of the kept tied elements that lie in the first quarter of the
matrix's rows when ties keep the lower positions (Scalpel before issue 14: 1.0 means they all
pile up there; a position-blind rule gives about 0.25).

    python Samples/benchmarks/trim_ties_bf16.py [--rows 4096] [--cols 4096] [--rate 0.1] [--step 3e-4] [--seed 0]

numpy only; it computes the deltas as Scalpel does (each value widened exactly, then subtracted
in double precision).
"""
import argparse

import numpy as np


def to_bf16(values):
    """float32 values rounded to nearest even into bf16, returned as float32 (exact)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--rate", type=float, default=0.1, help="fraction of the elements stepped")
    parser.add_argument("--step", type=float, default=3e-4, help="standard deviation of the step (bf16's ulp at 0.02 is 1.2e-4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--densities", default="0.2,0.1,0.05,0.02,0.01")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.rows * args.cols
    base = to_bf16(rng.normal(0, 0.02, n).astype(np.float32))
    tuned = base.copy()
    chosen = rng.choice(n, int(args.rate * n), replace=False)
    tuned[chosen] = to_bf16(base[chosen] + rng.normal(0, args.step, chosen.size).astype(np.float32))
    magnitude = np.abs(tuned.astype(np.float64) - base.astype(np.float64))
    changed = np.flatnonzero(magnitude)
    values = magnitude[changed]
    ulps = values / np.ldexp(1.0, np.frexp(base[changed].astype(np.float64))[1] - 8)
    print(f"{args.rows} x {args.cols} bf16, {changed.size:,} elements changed ({changed.size / n:.2%}; "
          f"{args.rate:.0%} stepped by N(0, {args.step:g}²), the rest rounded back), "
          f"{np.unique(values).size:,} distinct |delta|, median {np.median(ulps):.0f} ulp of the old value")
    print(f"\n{'density':>8} {'k':>12} {'cut |delta|':>12} {'at the cut':>12} {'kept at cut':>12} {'lower-rule share, 1st quarter':>30}")
    for density in (float(d) for d in args.densities.split(",")):
        keep = max(1, int(density * n))
        if changed.size <= keep:
            print(f"{density:>8g} {keep:>12,} {'no trim: fewer changed elements than k':>44}")
            continue
        cut = np.partition(values, values.size - keep)[values.size - keep]
        tied = changed[values == cut]
        allowed = keep - int(np.count_nonzero(values > cut))
        first_quarter = np.count_nonzero(tied[:allowed] < n // 4) / allowed
        print(f"{density:>8g} {keep:>12,} {cut:>12.4g} {tied.size:>12,} {allowed:>12,} {first_quarter:>30.3f}")


if __name__ == "__main__":
    main()
