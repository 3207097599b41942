#!/usr/bin/env python3
"""SPU in PyTorch: the reference that `scalpel continual` is checked against.

The same method and settings as Scalpel's defaults, written with torch and transformers
only, so the comparison tests the method and not a shared implementation:

- score: |sum over the first ceil(fraction * batches) shuffled training batches of the
  gradient| of the output-norm loss (mean over the texts of the squared L2 norm of their
  logits 20 * e.p against the class prompts), model in eval mode (no dropout);
- top-k per tensor: k = max(1, round(rate * n)) highest scores, equal scores at the lower
  positions; the eligible layers' biases whole;
- training: AdamW (0.9, 0.999, 1e-8; decoupled decay on weights, not biases or LayerNorm) on
  the masked positions only, transformers' cosine schedule with warmup, cross-entropy over
  20 * e.p against the task's prompts (texts and prompts in one batch, as Scalpel runs them),
  dropout as config.json says (train mode);
- optional replay: a buffer of N earlier-task training examples, each scored against its
  own task's prompts;
- evaluation: zero-shot, cosine between the test texts and the class prompts, in the base
  state and after each task, under both protocols of protocol_metrics.py: task-incremental
  (an item among its own task's classes) and class-incremental (among the union of the seen
  tasks' classes, as the SPU paper evaluates; an unseen task's items among the union of the
  unseen tasks'); the control set among its own classes.

The shuffles use Scalpel's documented generator (SplitMix64, Fisher-Yates), so both see the
same batches in the same order; dropout draws different random numbers in the two. Writes a
report.json with the keys of `scalpel continual`'s, with every test item's outcome in every
state (so that two runs can be compared item by item), headed by --protocol's figures.

    python Samples/reference/spu_reference.py MODEL_FOLDER --tasks T1 T2 T3 --control C -o report.json [--protocol class|task]
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, get_cosine_schedule_with_warmup

from masked_adamw import masked_adamw_step
from protocol_metrics import PROTOCOLS, candidate_tasks, control_figures, protocol_figures, round2, section, union_classes

MASK64 = (1 << 64) - 1


class SplitMix64:
    """Scalpel's SeededGenerator."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def shuffled(items, seed):
    generator = SplitMix64(seed)
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = generator.next() % (i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def fnv1a(text):
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def schoolbook_round(x):
    return int(math.floor(x + 0.5))


class Task:
    def __init__(self, folder):
        self.folder = folder.rstrip("/")
        self.name = os.path.basename(self.folder)
        self.labels, self.prompts = [], []
        with open(os.path.join(folder, "classes.txt"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    label, prompt = line.rstrip("\n").split("\t", 1)
                    # A label names one class within a task (Scalpel's TaskFolder refuses it the same way).
                    if label in self.labels:
                        raise SystemExit(f"{folder}/classes.txt: class {label!r} appears twice")
                    self.labels.append(label)
                    self.prompts.append(prompt.strip())

    def examples(self, split):
        out = []
        with open(os.path.join(self.folder, split + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    label = row["label"]
                    out.append((row["text"], label if isinstance(label, int) else self.labels.index(label)))
        return out


class Encoder:
    def __init__(self, folder):
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder)

    def embed(self, texts):
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1, eps=1e-12)

    def first_mlp(self):
        return {f"encoder.layer.{i}.intermediate.dense": layer.intermediate.dense
                for i, layer in enumerate(self.model.encoder.layer)}


@torch.no_grad()
def embed_once(encoder, texts, batch=64):
    """text -> its embedding (numpy float32), each distinct text embedded once. Batches of
    texts of similar length, so that little is padding (the attention mask keeps padding out
    of the pooled embedding either way)."""
    encoder.model.eval()
    unique = sorted(set(texts), key=lambda text: (len(text), text))  # the same batches in every run
    out = {}
    for start in range(0, len(unique), batch):
        chunk = unique[start:start + batch]
        for text, vector in zip(chunk, encoder.embed(chunk).numpy()):
            out[text] = vector
    return out


def outcome(vectors, items, candidates):
    """One '0'/'1' per item (text, its class (label, prompt)): whether the candidate class with
    the largest dot product is the item's; np.argmax takes the first of equal scores, so ties
    go to the earliest candidate."""
    texts = np.stack([vectors[text] for text, _ in items])
    prompts = np.stack([vectors[prompt] for _, prompt in candidates])
    predicted = (texts @ prompts.T).argmax(1)
    return "".join("1" if candidates[p] == cls else "0" for p, (_, cls) in zip(predicted.tolist(), items))


def evaluate_state(encoder, tasks, control, state):
    """Every outcome of one state (0 = base, k = after task k): per protocol a string per
    task, and the control's string. One embedding pass over every test text and prompt."""
    def labelled(task):
        return [(text, (task.labels[label], task.prompts[label])) for text, label in task.examples("test")]

    items = [labelled(t) for t in tasks]
    classes = [list(zip(t.labels, t.prompts)) for t in tasks]
    control_items, control_classes = labelled(control), list(zip(control.labels, control.prompts))
    vectors = embed_once(encoder, [text for its in items + [control_items] for text, _ in its]
                         + [prompt for cs in classes + [control_classes] for _, prompt in cs])
    n = len(tasks)
    result = {protocol: [outcome(vectors, items[i], union_classes([classes[t] for t in candidate_tasks(protocol, state, i, n)]))
                         for i in range(n)] for protocol in PROTOCOLS}
    result["control"] = outcome(vectors, control_items, control_classes)
    return result


def percent(string):
    return 100.0 * string.count("1") / len(string)


def spu_mask(encoder, task, args):
    """The mask: per first-MLP weight its top rate of |sum of gradients|, and the biases."""
    encoder.model.eval()
    layers = encoder.first_mlp()
    totals = {name: torch.zeros_like(linear.weight) for name, linear in layers.items()}
    examples = task.examples("train")
    order = shuffled(range(len(examples)), args.seed)
    batches = [order[i:i + args.batch] for i in range(0, len(order), args.batch)]
    used = max(1, math.ceil(len(batches) * args.score_fraction))
    for batch in batches[:used]:
        encoder.model.zero_grad()
        embeddings = encoder.embed([examples[i][0] for i in batch] + task.prompts)
        texts, prompts = embeddings[:len(batch)], embeddings[len(batch):]
        logits = args.scale * texts @ prompts.T
        (logits ** 2).sum(1).mean().backward()
        for name, linear in layers.items():
            totals[name] += linear.weight.grad
    masks = {}
    for name, linear in layers.items():
        scores = totals[name].abs().flatten().numpy()
        k = min(scores.size, max(1, schoolbook_round(args.rate * scores.size)))
        keep = np.argsort(-scores, kind="stable")[:k]  # equal scores: lower positions first
        weight = torch.zeros(scores.size, dtype=torch.bool)
        weight[torch.from_numpy(np.sort(keep))] = True
        masks[name + ".weight"] = weight.view_as(linear.weight)
        masks[name + ".bias"] = torch.ones_like(linear.bias, dtype=torch.bool)
    encoder.model.zero_grad()
    return masks


def train(encoder, task, replay, masks, args):
    """AdamW on the masked positions; nothing else moves."""
    data = [(text, label, 0) for text, label in task.examples("train")]
    tasks = [task] + replay
    if replay and args.buffer > 0:
        for k, earlier in enumerate(replay):
            share = args.buffer // len(replay) + (1 if k < args.buffer % len(replay) else 0)
            pool = earlier.examples("train")
            for i in shuffled(range(len(pool)), args.seed ^ fnv1a(earlier.name))[:share]:
                data.append((pool[i][0], pool[i][1], k + 1))
    prompts = [p for t in tasks for p in t.prompts]
    offsets = np.cumsum([0] + [len(t.prompts) for t in tasks]).tolist()
    parameters = dict(encoder.model.named_parameters())
    state = {name: (torch.zeros_like(parameters[name]), torch.zeros_like(parameters[name])) for name in masks}
    steps_per_epoch = math.ceil(len(data) / args.batch)
    total = max(1, args.epochs * steps_per_epoch)
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=args.lr)
    schedule = get_cosine_schedule_with_warmup(dummy, schoolbook_round(args.warmup * total), total)
    encoder.model.train(args.dropout)
    step = 0
    for epoch in range(args.epochs):
        order = shuffled(range(len(data)), args.seed + epoch)
        for start in range(0, len(order), args.batch):
            batch = [data[i] for i in order[start:start + args.batch]]
            encoder.model.zero_grad()
            embeddings = encoder.embed([text for text, _, _ in batch] + prompts)
            texts, prompt_embeddings = embeddings[:len(batch)], embeddings[len(batch):]
            loss = 0
            for i, (_, label, k) in enumerate(batch):
                logits = args.scale * texts[i] @ prompt_embeddings[offsets[k]:offsets[k + 1]].T
                loss = loss + torch.nn.functional.cross_entropy(logits.unsqueeze(0), torch.tensor([label]))
            (loss / len(batch)).backward()
            rate = schedule.get_last_lr()[0]
            step += 1
            masked_adamw_step(parameters, masks, state, rate, step, args.weight_decay)
            dummy.step()
            schedule.step()
    encoder.model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--score-fraction", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--buffer", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--protocol", choices=PROTOCOLS, default="class",
                        help="the protocol whose figures head the report and the summary (both are computed)")
    parser.add_argument("--no-dropout", dest="dropout", action="store_false", help="train in eval mode (as scalpel --no-dropout)")
    parser.add_argument("--save-first-mask", help="write task 1's mask here (.npz: each tensor's bits, np.packbits little-endian)")
    args = parser.parse_args()
    args.scale = 20.0
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    start = time.time()
    encoder = Encoder(args.model)
    base = {name: p.detach().clone() for name, p in encoder.model.named_parameters()}
    tasks = [Task(folder) for folder in args.tasks]
    control = Task(args.control)
    outcomes = {key: [] for key in PROTOCOLS + ("control",)}

    def evaluate(state):
        for key, value in evaluate_state(encoder, tasks, control, state).items():
            outcomes[key].append(value)
        shown = slice(0, state) if state else slice(None)  # the seen tasks; in the base, every task
        figures = ", ".join(f"{p}-incremental {[round(percent(o), 1) for o in outcomes[p][-1][shown]]} %" for p in PROTOCOLS)
        print(f"{f'task {state}' if state else 'base'}: {figures}, control {percent(outcomes['control'][-1]):.2f} %", flush=True)

    evaluate(0)
    trainable, mask_sizes = {}, []
    for k, task in enumerate(tasks):
        masks = spu_mask(encoder, task, args)
        mask_sizes.append(int(sum(int(m.sum()) for m in masks.values())))
        if k == 0 and args.save_first_mask:
            np.savez_compressed(args.save_first_mask, **{name: np.packbits(m.flatten().numpy(), bitorder="little")
                                                         for name, m in masks.items()})
        for name, mask in masks.items():
            trainable[name] = trainable.get(name, torch.zeros_like(mask)) | mask
        train(encoder, task, tasks[:k] if args.buffer > 0 else [], masks, args)
        evaluate(k + 1)
    changed = sum(int((p.detach() != base[name]).sum()) for name, p in encoder.model.named_parameters())
    report = {
        "method": "spu", "implementation": f"PyTorch {torch.__version__} reference (Samples/reference/spu_reference.py)",
        "protocol": args.protocol,
        "tasks": [t.name for t in tasks], "test_items": [len(o) for o in outcomes["task"][0]],
        **{section(p): {key: round2(value) for key, value in protocol_figures(outcomes[p]).items()} for p in PROTOCOLS},
        **{key: round2(value) for key, value in control_figures(outcomes["control"]).items()},
        "trainable_parameters": int(sum(int(m.sum()) for m in trainable.values())), "changed_parameters": changed,
        "mask_sizes": mask_sizes,
        "seconds": round2(time.time() - start),
        "settings": {key: getattr(args, key) for key in ["rate", "score_fraction", "epochs", "lr", "batch", "weight_decay", "warmup", "buffer", "seed", "dropout"]},
        "outcomes": {**{section(p): outcomes[p] for p in PROTOCOLS}, "control": outcomes["control"]},
    }
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    headline = report[section(args.protocol)]
    print(json.dumps({"protocol": args.protocol, **{k: headline[k] for k in ["average_accuracy", "forgetting", "learning_accuracy", "unseen_accuracy"]},
                      **{k: report[k] for k in ["control_accuracy", "control_drop", "changed_parameters"]}}))


if __name__ == "__main__":
    main()
