"""Benchmark for the patch issue, on a synthetic fp32 model of about 1 GB with BERT-base-like
tensor names and an SPU-like update (make_spu_update.py: 10 % of the elements of every first-MLP
weight changed by small steps, everything else untouched). Every figure is printed as a ratio
against its baseline measured in the same run. Build first: `swift build -c release`.

  python Samples/benchmarks/patch_io.py [--gigabytes 1] [--repeats 3] [--work bench-out]

- size: the patch against (a) the tuned model as safetensors, (b) `zstd -19` of the dense XOR
  of base and tuned, (c) the best of `zstd -3` and ZipNN (pip `zipnn`, when installed) on the
  tuned model;
- create: `scalpel create` against reading both files (`cat base tuned > /dev/null`);
- apply: `scalpel apply` to a new file against `cp` of the base (and `cp && sync`, the same
  durability as Scalpel's synced output); `scalpel apply --in-place` against the same `cp`
  (on a copy of the base written once by `scalpel apply`, so its header has room to record
  the patch id);
- peak resident memory of apply against the largest tensor (GNU time, when installed).
"""
import os
import shutil
import statistics
import subprocess
import sys

import numpy as np

from benchlib import HERE, SCALPEL, arguments, bert_like_model, format_runs, header, timed, warm


def seconds(cmd):
    return timed(cmd)[0]


def dense_xor(base, tuned, out):
    """The XOR of the two files' data sections (same layout), written to `out`."""
    _, n = header(base)
    a = np.memmap(base, dtype=np.uint8, mode="r", offset=8 + n)
    b = np.memmap(tuned, dtype=np.uint8, mode="r", offset=8 + n)
    with open(out, "wb") as f:
        step = 64 << 20
        for i in range(0, len(a), step):
            f.write(np.bitwise_xor(a[i:i + step], b[i:i + step]).tobytes())


def zstd_size(path, level):
    out = path + f".zst{level}"
    subprocess.run(["zstd", "-q", "-f", f"-{level}", "-T0", path, "-o", out], check=True)
    size = os.path.getsize(out)
    os.remove(out)
    return size


def zipnn_size(path):
    try:
        from zipnn import ZipNN
    except ImportError:
        return None
    with open(path, "rb") as f:
        data = f.read()
    return len(ZipNN(input_format="byte", bytearray_dtype="float32").compress(data))


def main():
    args = arguments(__doc__, gigabytes=1.0, repeats=3)
    base = bert_like_model(args.work, args.gigabytes)
    tuned = os.path.join(args.work, f"bert-like-{args.gigabytes:g}GB-spu-tuned.safetensors")
    if not os.path.exists(tuned):
        print(f"generating {tuned} ...", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "make_spu_update.py"), base, tuned], check=True)
    patch = os.path.join(args.work, "spu.spatch")
    applied = os.path.join(args.work, "applied.safetensors")
    copy = os.path.join(args.work, "copy.out")
    h, _ = header(base)
    largest = max(v["data_offsets"][1] - v["data_offsets"][0] for k, v in h.items() if k != "__metadata__")

    # --- create and apply, interleaved with their baselines ----------------------------
    warm(base, tuned)
    runs = {"cat": [], "create": [], "cp": [], "cp+sync": [], "apply": [], "in-place": []}
    roomy = os.path.join(args.work, "roomy-base.safetensors")
    empty = os.path.join(args.work, "empty.spatch")
    subprocess.run([SCALPEL, "create", base, base, "-o", empty], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([SCALPEL, "apply", base, empty, "-o", roomy], check=True, stdout=subprocess.DEVNULL)
    target = os.path.join(args.work, "in-place.safetensors")
    for _ in range(args.repeats):
        runs["cat"].append(seconds(["sh", "-c", f"cat '{base}' '{tuned}' > /dev/null"]))
        runs["create"].append(seconds([SCALPEL, "create", base, tuned, "-o", patch]))
        os.sync()
        runs["cp"].append(seconds(["cp", base, copy]))
        os.remove(copy)
        os.sync()
        runs["cp+sync"].append(seconds(["sh", "-c", f"cp '{base}' '{copy}' && sync '{copy}'"]))
        os.remove(copy)
        os.sync()
        runs["apply"].append(seconds([SCALPEL, "apply", base, patch, "-o", applied]))
        os.remove(applied)
        shutil.copyfile(roomy, target)
        warm(target)
        os.sync()
        runs["in-place"].append(seconds([SCALPEL, "apply", target, patch, "--in-place"]))
        os.remove(target)
    med = {k: statistics.median(v) for k, v in runs.items()}

    peak = None
    if shutil.which("time") or os.path.exists("/usr/bin/time"):
        result = subprocess.run(["/usr/bin/time", "-f", "%M", SCALPEL, "apply", base, patch, "-o", applied],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = int(result.stderr.strip().splitlines()[-1]) * 1024 if result.returncode == 0 else None
        os.remove(applied)

    # --- sizes -------------------------------------------------------------------------
    patch_size = os.path.getsize(patch)
    tuned_size = os.path.getsize(tuned)
    xor_path = os.path.join(args.work, "dense.xor")
    dense_xor(base, tuned, xor_path)
    xor_zstd19 = zstd_size(xor_path, 19)
    os.remove(xor_path)
    tuned_zstd3 = zstd_size(tuned, 3)
    tuned_zipnn = zipnn_size(tuned)
    best_model = min(s for s in (tuned_zstd3, tuned_zipnn) if s is not None)

    print(f"model: {base} ({os.path.getsize(base) / 1e9:.2f} GB, largest tensor {largest / 1e6:.1f} MB); machine: {os.cpu_count()} cores")
    print("\npatch size")
    print(f"  scalpel patch                      {patch_size / 1e6:10.2f} MB")
    print(f"  (a) tuned model, safetensors       {tuned_size / 1e6:10.2f} MB   patch = 1/{tuned_size / patch_size:.1f} of it (goal: 1/40 or less)")
    print(f"  (b) zstd -19 of the dense XOR      {xor_zstd19 / 1e6:10.2f} MB   patch = {patch_size / xor_zstd19:.3f}x (goal: < 1)")
    print(f"  (c) zstd -3 of the tuned model     {tuned_zstd3 / 1e6:10.2f} MB")
    if tuned_zipnn is not None:
        print(f"      ZipNN of the tuned model       {tuned_zipnn / 1e6:10.2f} MB")
    else:
        print("      ZipNN of the tuned model           (zipnn not installed: pip install zipnn)")
    print(f"      best of (c)                    {best_model / 1e6:10.2f} MB   patch = {patch_size / best_model:.4f}x (goal: < 1)")
    print("\ntime (median)")
    print(f"  cat base tuned > /dev/null         {med['cat']:8.2f} s")
    print(f"  scalpel create                     {med['create']:8.2f} s   {med['create'] / med['cat']:.2f}x cat (goal: 1.5x or less)")
    print(f"  cp base                            {med['cp']:8.2f} s")
    print(f"  cp base && sync                    {med['cp+sync']:8.2f} s")
    print(f"  scalpel apply (new file)           {med['apply']:8.2f} s   {med['apply'] / med['cp']:.2f}x cp, {med['apply'] / med['cp+sync']:.2f}x cp+sync (goal: 1.2x or less)")
    print(f"  scalpel apply --in-place           {med['in-place']:8.2f} s   {med['in-place'] / med['cp']:.1%} of cp, {med['in-place'] / med['cp+sync']:.1%} of cp+sync (goal: under 5 %)")
    if peak is not None:
        print(f"\npeak memory of apply                 {peak / 2**20:8.1f} MiB   largest tensor + 64 MiB = {(largest + (64 << 20)) / 2**20:.1f} MiB")
    print("\n" + format_runs(runs))


if __name__ == "__main__":
    main()
