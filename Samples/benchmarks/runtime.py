#!/usr/bin/env python3
"""Benchmark of Scalpel's BERT runtime (issue 6): forward + backward with weight gradients
for every first-MLP weight (intermediate.dense.weight) only, all-MiniLM-L6-v2, a batch of 32
sequences of 32 tokens, against PyTorch on the CPU with the same thread count, same batch,
same loss, in the same run. Prints the medians, the ratio, peak memory, and both losses
(they must agree: the same computation).

    swift build -c release --product runtime-bench
    /tmp/ref/bin/python Samples/benchmarks/runtime.py [--repeats 5] [--threads 2]

Needs torch and transformers (the reference venv of Tests/Fixtures/make_text_fixtures.py).
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import json_line, peak_kib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2")
BENCH = os.path.join(ROOT, ".build", "release", "runtime-bench")

TORCH = r"""
import json, resource, statistics, sys, time
import torch
from transformers import AutoModel
torch.set_num_threads(THREADS)
model = AutoModel.from_pretrained(MODEL).eval()
for name, p in model.named_parameters():
    p.requires_grad_(name.endswith("intermediate.dense.weight"))
vocabulary = model.config.vocab_size
ids = torch.tensor([[101] + [1000 + (7 * b + 13 * t) % min(20000, vocabulary - 1000) for t in range(1, TOKENS - 1)] + [102]
                    for b in range(BATCH)])
mask = torch.ones_like(ids)
seconds = []
for _ in range(REPEATS + 1):
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    embeddings = torch.nn.functional.normalize(pooled, dim=-1)
    loss = (embeddings.sum(-1) ** 2).sum()
    loss.backward()
    seconds.append(time.perf_counter() - start)
print(json.dumps({"seconds": seconds[1:], "loss": loss.item()}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternate the two programs this many times (PyTorch's speed drifts between runs here)")
    args = parser.parse_args()
    if not os.access(BENCH, os.X_OK):
        sys.exit(f"{BENCH} not found: run `swift build -c release --product runtime-bench` first")
    code = (TORCH.replace("THREADS", str(args.threads)).replace("MODEL", repr(MODEL)).replace("TOKENS", str(args.tokens))
            .replace("BATCH", str(args.batch)).replace("REPEATS", str(args.repeats)))
    scalpel_cmd = [BENCH, MODEL, "--batch", str(args.batch), "--tokens", str(args.tokens), "--repeats", str(args.repeats)]
    torch_cmd = [sys.executable, "-c", code]
    env_threads = {"OPENBLAS_NUM_THREADS": str(args.threads)}
    os.environ.update(env_threads)
    scalpel, torch = {"seconds": []}, {"seconds": []}
    for _ in range(max(1, args.rounds)):
        for result, cmd in [(scalpel, scalpel_cmd), (torch, torch_cmd)]:
            run = json_line(cmd)
            result["seconds"] += run["seconds"]
            result["loss"] = run["loss"]
            result.setdefault("rounds", []).append(statistics.median(run["seconds"]))
    peaks = {"scalpel": peak_kib(scalpel_cmd), "torch": peak_kib(torch_cmd)} if os.path.exists("/usr/bin/time") else None
    s, t = statistics.median(scalpel["seconds"]), statistics.median(torch["seconds"])
    print(f"all-MiniLM-L6-v2, batch {args.batch} x {args.tokens} tokens, forward + backward (first-MLP weight gradients only), "
          f"{args.threads} threads, medians of {args.rounds} rounds x {args.repeats}, the two programs alternating")
    print(f"  PyTorch (transformers)   {t:7.3f} s   loss {torch['loss']:.6f}")
    print(f"  Scalpel                  {s:7.3f} s   loss {scalpel['loss']:.6f}   {s / t:.2f}x PyTorch's time (goal: 1.0x or less)")
    if peaks:
        print(f"  peak memory: Scalpel {peaks['scalpel'] / 1024:.0f} MiB, PyTorch {peaks['torch'] / 1024:.0f} MiB "
              f"({peaks['scalpel'] / peaks['torch']:.2f}x)")
    rounds = ", ".join(f"{a:.3f} / {b:.3f} ({a / b:.2f}x)" for a, b in zip(scalpel["rounds"], torch["rounds"]))
    print(f"  each round, Scalpel / PyTorch: {rounds}")


if __name__ == "__main__":
    main()
