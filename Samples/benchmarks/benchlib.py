"""Helpers shared by the benchmark programs: locating the release build, timing commands,
reading safetensors headers, warming the page cache, and the common command line."""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
SCALPEL = os.path.join(ROOT, ".build", "release", "scalpel")


def arguments(description, gigabytes, repeats):
    """Parses --gigabytes, --repeats and --work, and checks the release build exists."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gigabytes", type=float, default=gigabytes)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--work", default=os.path.join(ROOT, "bench-out"))
    args = parser.parse_args()
    if not os.access(SCALPEL, os.X_OK):
        sys.exit(f"{SCALPEL} not found: run `swift build -c release` first")
    os.makedirs(args.work, exist_ok=True)
    return args


def bert_like_model(work, gigabytes):
    """The synthetic BERT-like checkpoint of `gigabytes`, generated on first use."""
    path = os.path.join(work, f"bert-like-{gigabytes:g}GB.safetensors")
    if not os.path.exists(path):
        print(f"generating {path} ...", flush=True)
        run([sys.executable, os.path.join(HERE, "make_bert_like.py"), path, "--gigabytes", str(gigabytes)])
    return path


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def json_line(cmd):
    """The last stdout line of a command that prints its measurements as JSON."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd[:2])}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_kib(cmd):
    """Peak resident memory (KiB) of a second run of a command, by /usr/bin/time."""
    result = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(result.stderr.strip().splitlines()[-1])


def timed(cmd):
    """Wall seconds and peak RSS (KiB) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"command failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def header(path):
    """The parsed JSON header of a safetensors file and its length."""
    with open(path, "rb") as f:
        length = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(length)), length


def warm(*paths):
    """Reads files once so that timings start with the page cache warm."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(64 << 20):
                pass


def format_runs(runs):
    return "all runs (s): " + "; ".join(f"{k}: {', '.join(f'{v:.2f}' for v in vs)}" for k, vs in runs.items())


def timed_calls(body, repeats):
    """Seconds of each of `repeats` calls of `body`, after one that warms up (in-process)."""
    seconds = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        body()
        seconds.append(time.perf_counter() - start)
    return seconds[1:]


def trainable(model, names):
    """Gradients for the PyTorch parameters `names` only; every gradient cleared."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in names)
        parameter.grad = None
