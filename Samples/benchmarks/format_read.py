#!/usr/bin/env python3
"""Benchmark of reading every tensor of a 1 GB checkpoint in each format (issue 5): Scalpel
against the format's Python reference library, in the same run.

The model is the synthetic BERT-like fp32 checkpoint (1 GB), converted by Scalpel to each
format. Scalpel's side is a whole process, start-up included: `scalpel inspect --stats`,
which reads every tensor's values and computes per-tensor statistics (min, max, mean, std,
NaN/inf counts). The reference side is timed inside Python after its imports, and only
loads the tensors into memory (less work than Scalpel's):

    safetensors  safetensors.numpy.load_file
    PyTorch      torch.load(weights_only=True)
    NumPy .npz   np.load, every member read
    GGUF         gguf.GGUFReader, every tensor's data copied out of the memory map
    HDF5         h5py, every dataset read with ds[()]

Medians of --repeats runs, page cache warm. Needs torch, h5py and gguf beside numpy and
safetensors (the reference venv of Tests/Fixtures/make_merge_fixtures.py plus
`pip install h5py gguf`), and a release build:

    /tmp/ref/bin/python Samples/benchmarks/format_read.py [--gigabytes 1] [--repeats 5]
"""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import SCALPEL, arguments, bert_like_model, format_runs, run, timed, warm  # noqa: E402

READERS = {
    "safetensors": ("import safetensors.numpy", "d = safetensors.numpy.load_file(PATH)"),
    "bin": ("import torch", "d = torch.load(PATH, weights_only=True)"),
    "npz": ("import numpy as np", "z = np.load(PATH)\nd = {k: z[k] for k in z.files}"),
    "gguf": ("import gguf, numpy as np", "r = gguf.GGUFReader(PATH)\nd = {t.name: np.array(t.data) for t in r.tensors}"),
    "h5": ("import h5py",
           "d = {}\nwith h5py.File(PATH, 'r') as f:\n    f.visititems(lambda n, o: d.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)"),
}
LIBRARY = {"safetensors": "safetensors", "bin": "torch", "npz": "numpy", "gguf": "gguf", "h5": "h5py"}


def python_seconds(ext, path):
    setup, body = READERS[ext]
    code = f"{setup}\nimport time\nPATH = {path!r}\nstart = time.perf_counter()\n{body}\nprint(time.perf_counter() - start)\n"
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


def main():
    args = arguments(__doc__, gigabytes=1.0, repeats=5)
    base = bert_like_model(args.work, args.gigabytes)
    paths = {"safetensors": base}
    for ext in ("bin", "npz", "gguf", "h5"):
        paths[ext] = os.path.join(args.work, f"bert-like-{args.gigabytes:g}GB.{ext}")
        if not os.path.exists(paths[ext]):
            print(f"writing {paths[ext]} ...", flush=True)
            run([SCALPEL, "convert", base, "-o", paths[ext]])
    runs = {}
    for ext, path in paths.items():
        warm(path)
        runs[f"scalpel {ext}"], runs[f"{LIBRARY[ext]} {ext}"] = [], []
        for _ in range(args.repeats):
            runs[f"scalpel {ext}"].append(timed([SCALPEL, "inspect", "--stats", "--json", path])[0])
            runs[f"{LIBRARY[ext]} {ext}"].append(python_seconds(ext, path))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"model: {base} ({os.path.getsize(base) / 1e9:.2f} GB fp32); {os.cpu_count()} cores; medians of {args.repeats}")
    print("\nformat        file      scalpel inspect --stats   reference load            ratio (goal: 1.00 or less)")
    for ext, path in paths.items():
        library = LIBRARY[ext]
        print(f"{ext:12} {os.path.getsize(path) / 1e9:5.2f} GB   {med[f'scalpel {ext}']:8.3f} s               "
              f"{library:8} {med[f'{library} {ext}']:8.3f} s   {med[f'scalpel {ext}'] / med[f'{library} {ext}']:.2f}x")
    print("\n" + format_runs(runs))


if __name__ == "__main__":
    main()
