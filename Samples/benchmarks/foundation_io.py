"""Benchmark for the foundation issue: `scalpel inspect` and `scalpel convert` on a 2 GB
safetensors checkpoint, against `cp` of the same file measured in the same run.

Prints each figure and its ratio to the baseline. Build first: `swift build -c release`.

  python Samples/benchmarks/foundation_io.py [--gigabytes 2] [--repeats 5] [--work bench-out]

What is measured (medians over the repeats, runs interleaved so drift hits all alike):
- inspect: wall time of `scalpel inspect --json` on the 2 GB file with the page cache warm,
  and cold (the file's pages dropped first); the file's resident pages after the cold run
  (fincore) show that only the header was read. The same on a file with the same tensor
  names and count but tiny shapes (the same header, about 1/1000 of the data) shows that the
  time does not scale with the data. Process start-up (`scalpel --help`) is
  given for reference: it is most of the figure.
- convert f32 -> f32: `scalpel convert` against `cp` (page cache warm). Scalpel fsyncs its
  output before renaming it into place, and cp does not, so the fair baseline is
  `cp && sync FILE`; both ratios are printed.
- convert f32 -> bf16 (same baseline) and peak resident memory of each convert.
"""
import os
import statistics
import subprocess
import sys

from benchlib import SCALPEL, arguments, bert_like_model, format_runs, header, run, timed, warm


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def resident_bytes(path):
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         capture_output=True, text=True)
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout.strip() else None


median = statistics.median


def main():
    args = arguments(__doc__, gigabytes=2.0, repeats=5)
    big = bert_like_model(args.work, args.gigabytes)
    maker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_bert_like.py")
    layers = sum(1 for name in header(big)[0] if name.endswith(".intermediate.dense.weight"))
    small = os.path.join(args.work, f"bert-like-{layers}-layers-tiny.safetensors")
    if not os.path.exists(small):
        run([sys.executable, maker, small, "--layers", str(layers), "--hidden", "16", "--ffn", "64", "--vocab", "100"])
    size = os.path.getsize(big)
    print(f"checkpoint: {big} ({size / 1e9:.2f} GB); machine: {os.cpu_count()} cores")

    # --- inspect -----------------------------------------------------------------------
    startup, warm_big, cold_big, warm_small = [], [], [], []
    resident_after_cold = []
    warm(big)
    for _ in range(args.repeats * 2):
        startup.append(timed([SCALPEL, "--help"])[0])
        warm_big.append(timed([SCALPEL, "inspect", "--json", big])[0])
        warm_small.append(timed([SCALPEL, "inspect", "--json", small])[0])
    for _ in range(args.repeats):
        drop_cache(big)
        cold_big.append(timed([SCALPEL, "inspect", "--json", big])[0])
        resident_after_cold.append(resident_bytes(big))
    print("\ninspect (median wall time)")
    print(f"  process start-up (--help)      {median(startup) * 1e3:8.1f} ms")
    print(f"  inspect 2 GB, warm cache       {median(warm_big) * 1e3:8.1f} ms")
    print(f"  inspect 2 GB, cold cache       {median(cold_big) * 1e3:8.1f} ms")
    small_size = os.path.getsize(small)
    print(f"  inspect same header, {small_size / 1e6:.1f} MB   {median(warm_small) * 1e3:8.1f} ms")
    print(f"  ratio 2 GB / small (warm)      {median(warm_big) / median(warm_small):8.2f}x  ({size / small_size:.0f}x the data)")
    if resident_after_cold[-1] is not None:
        print(f"  bytes of the file read (cold)  {resident_after_cold[-1]:8d}    of {size} ({resident_after_cold[-1] / size:.4%})")

    # --- convert -----------------------------------------------------------------------
    out_cp = os.path.join(args.work, "copy.out")
    out_f32 = os.path.join(args.work, "converted-f32.safetensors")
    out_bf16 = os.path.join(args.work, "converted-bf16.safetensors")
    results = {"cp": [], "cp+sync": [], "convert f32": [], "convert bf16": []}
    peak = {"convert f32": [], "convert bf16": []}
    commands = {
        "cp": (["cp", big, out_cp], out_cp),
        "cp+sync": (["sh", "-c", f"cp '{big}' '{out_cp}' && sync '{out_cp}'"], out_cp),
        "convert f32": ([SCALPEL, "convert", big, "-o", out_f32], out_f32),
        "convert bf16": ([SCALPEL, "convert", big, "-o", out_bf16, "--dtype", "bf16"], out_bf16),
    }
    warm(big)
    for _ in range(args.repeats):
        for label, (cmd, out) in commands.items():
            os.sync()  # start each run with no dirty pages from the previous one
            seconds, rss = timed(cmd)
            results[label].append(seconds)
            if label in peak:
                peak[label].append(rss)
            os.remove(out)
    cp, cps = median(results["cp"]), median(results["cp+sync"])
    print("\nconvert (median wall time, page cache warm)")
    print(f"  cp                             {cp:8.2f} s")
    print(f"  cp && sync FILE                {cps:8.2f} s")
    for label in ("convert f32", "convert bf16"):
        t = median(results[label])
        print(f"  scalpel {label:<22} {t:8.2f} s   {t / cps:5.2f}x cp+sync   {t / cp:5.2f}x cp   "
              f"peak RSS {max(peak[label]) / 1024:6.0f} MiB")
    print("\n" + format_runs(results))


if __name__ == "__main__":
    main()
