#!/usr/bin/env python3
"""Benchmark of SPU's two kernels of work (issue 7): one scoring batch (gradients of the
output-norm loss for every first-MLP weight, no dropout) and one masked training step
(forward with dropout, backward to the first-MLP weights and biases, masked AdamW), on
all-MiniLM-L6-v2 with a batch of 32 WordNet glosses and the task's 5 class prompts, against
PyTorch doing the same work on the same batch with the same thread count, in the same run.
One full fine-tuning step (every tensor, AdamW) is timed too, for scale.

    swift build -c release --product spu-bench
    /tmp/ref/bin/python Samples/benchmarks/spu_step.py [--repeats 5] [--threads 2] [--rounds 3]

Needs torch and transformers, the default model and the WordNet tasks (./setup.sh).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import json_line  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2")
TASK = os.path.join(ROOT, ".cache", "tasks", "wordnet", "verbs-1")
BENCH = os.path.join(ROOT, ".build", "release", "spu-bench")
REFERENCE = os.path.join(ROOT, "Samples", "reference")

TORCH = r"""
import sys
sys.path[:0] = [REFERENCE, BENCHMARKS]
from masked_adamw import masked_adamw_step, top_masks
from benchlib import timed_calls, trainable
import json, sys, time
import torch
from transformers import AutoModel, AutoTokenizer
torch.set_num_threads(THREADS)
tokenizer = AutoTokenizer.from_pretrained(MODEL)
model = AutoModel.from_pretrained(MODEL)
texts, prompts = json.load(open(INPUTS))
first_mlp = [n for n, _ in model.named_parameters() if n.endswith("intermediate.dense.weight")]
params = dict(model.named_parameters())

def embed(strings):
    batch = tokenizer(strings, padding=True, truncation=True, max_length=256, return_tensors="pt")
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

totals = {n: torch.zeros_like(params[n]) for n in first_mlp}
def score():
    model.eval(); trainable(model, set(first_mlp))
    e = embed(texts + prompts)
    logits = 20 * e[:len(texts)] @ e[len(texts):].T
    (logits ** 2).sum(1).mean().backward()
    for n in first_mlp: totals[n] += params[n].grad
    return {n: t.abs() for n, t in totals.items()}
scores = score()
masks = top_masks(scores, params, 0.1)
labels = torch.tensor(LABELS)
state = {n: (torch.zeros_like(params[n]), torch.zeros_like(params[n])) for n in masks}
def masked_step():
    model.train(); trainable(model, set(masks))
    e = embed(texts + prompts)
    loss = torch.nn.functional.cross_entropy(20 * e[:len(texts)] @ e[len(texts):].T, labels)
    loss.backward()
    masked_adamw_step(params, masks, state, 1e-9, 1, 0.01)  # the step's cost, not its effect
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-9, weight_decay=0.01)
def full_step():
    model.train(); trainable(model, set(params))
    e = embed(texts + prompts)
    torch.nn.functional.cross_entropy(20 * e[:len(texts)] @ e[len(texts):].T, labels).backward()
    optimizer.step()
print(json.dumps({"score": timed_calls(score, REPEATS), "step": timed_calls(masked_step, REPEATS), "full_step": timed_calls(full_step, REPEATS),
                  "masked_elements": sum(int(m.sum()) for m in masks.values())}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate the two programs this many times (PyTorch's speed drifts between runs here)")
    args = parser.parse_args()
    if not os.access(BENCH, os.X_OK):
        sys.exit(f"{BENCH} not found: run `swift build -c release --product spu-bench` first")
    classes = [line.rstrip("\n").split("\t", 1) for line in open(os.path.join(TASK, "classes.txt")) if line.strip()]
    rows = [json.loads(line) for line in open(os.path.join(TASK, "train.jsonl")) if line.strip()][:32]
    with tempfile.TemporaryDirectory() as folder:
        task = os.path.join(folder, "task")
        os.makedirs(task)
        with open(os.path.join(task, "classes.txt"), "w") as f:
            f.write("".join(f"{label}\t{prompt}\n" for label, prompt in classes))
        with open(os.path.join(task, "train.jsonl"), "w") as f:
            f.write("".join(json.dumps(row) + "\n" for row in rows))
        inputs = os.path.join(folder, "inputs.json")
        with open(inputs, "w") as f:
            json.dump([[row["text"] for row in rows], [prompt for _, prompt in classes]], f)
        labels = [[label for label, _ in classes].index(row["label"]) for row in rows]
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
        code = (TORCH.replace("THREADS", str(args.threads)).replace("MODEL", repr(MODEL)).replace("INPUTS", repr(inputs))
                .replace("REFERENCE", repr(REFERENCE)).replace("BENCHMARKS", repr(os.path.dirname(os.path.abspath(__file__)))).replace("REPEATS", str(args.repeats)).replace("LABELS", repr(labels)))
        rounds = []
        for _ in range(max(1, args.rounds)):
            rounds.append((json_line([BENCH, MODEL, task, "--repeats", str(args.repeats)]), json_line([sys.executable, "-c", code])))
    scalpel, torch = rounds[-1]
    print(f"all-MiniLM-L6-v2, batch of 32 WordNet glosses + 5 class prompts, {args.threads} threads, "
          f"medians of {len(rounds)} rounds x {args.repeats}, the two programs alternating")
    print(f"  masked elements: Scalpel {scalpel['masked_elements']:,}, PyTorch {torch['masked_elements']:,}")
    for key, name in [("score", "SPU scoring batch"), ("step", "masked training step"), ("full_step", "full fine-tuning step")]:
        s = statistics.median(v for mine, _ in rounds for v in mine[key])
        t = statistics.median(v for _, theirs in rounds for v in theirs[key])
        each = ", ".join(f"{statistics.median(mine[key]) / statistics.median(theirs[key]):.2f}x" for mine, theirs in rounds)
        goal = " (goal: 1.0x or less)" if key != "full_step" else ""
        print(f"  {name:24s} Scalpel {s:6.3f} s   PyTorch {t:6.3f} s   {s / t:.2f}x PyTorch's time{goal}; rounds {each}")


if __name__ == "__main__":
    main()
