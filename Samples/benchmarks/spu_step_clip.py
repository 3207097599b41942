#!/usr/bin/env python3
"""Benchmark of SPU's two kernels of work on CLIP (issue 7): one scoring batch (gradients of
the output-norm loss at the learned logit scale for mlp.c_fc of both towers) and one masked
training step (CLIP's symmetric loss, backward to the c_fc weights and biases of both towers,
masked AdamW at 10 % of each weight), CLIP ViT-B/32 (open_clip's random initialisation, as
clip_runtime.py exports it), 32 images at 224 x 224 against 8 class prompts, against open_clip
doing the same work with the same thread count, in the same run.

    swift build -c release --product spu-bench
    /tmp/ref/bin/python Samples/benchmarks/spu_step_clip.py [--repeats 3] [--threads 2]

Needs torch, open_clip_torch and numpy. open_clip pads every prompt to its 77-token context;
Scalpel's text batches are as long as their longest prompt: each tool as its users run it.
"""
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import json_line  # noqa: E402
from clip_runtime import FOLDER, arguments  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, ".build", "release", "spu-bench")
REFERENCE = os.path.join(ROOT, "Samples", "reference")
CLASSES = ["cat", "dog", "car", "tree", "house", "boat", "bird", "plane"]

TORCH = r"""
import sys
sys.path[:0] = [REFERENCE, BENCHMARKS]
from masked_adamw import masked_adamw_step, top_masks
from benchlib import timed_calls, trainable
import json, time
import torch, open_clip
from safetensors.torch import load_file
torch.set_num_threads(THREADS)
model = open_clip.create_model(MODEL_NAME, pretrained=None)
model.load_state_dict(load_file(FOLDER + "/model.safetensors"), strict=False)
images = load_file(FOLDER + "/inputs.safetensors")["images"]
labels = torch.arange(len(images)) % len(CLASSES)
prompts = open_clip.get_tokenizer(MODEL_NAME)(["a photo of a " + c for c in CLASSES])
params = dict(model.named_parameters())
first_mlp = [n for n in params if n.endswith(".mlp.c_fc.weight")]
scale = model.logit_scale.exp().detach()

def embed():
    return (torch.nn.functional.normalize(model.encode_image(images), dim=-1),
            torch.nn.functional.normalize(model.encode_text(prompts), dim=-1))

totals = {n: torch.zeros_like(params[n]) for n in first_mlp}
def score():
    model.eval(); trainable(model, set(first_mlp))
    i, p = embed()
    ((scale * i @ p.T) ** 2).sum(1).mean().backward()
    for n in first_mlp: totals[n] += params[n].grad
    return {n: t.abs() for n, t in totals.items()}
scores = score()
masks = top_masks(scores, params, 0.1)
state = {n: (torch.zeros_like(params[n]), torch.zeros_like(params[n])) for n in masks}

def symmetric(i, p):
    logits = scale * i @ p.T
    columns = torch.log_softmax(logits.T, dim=1)
    back = sum((labels == c).sum() / len(labels) * -torch.logsumexp(columns[c][labels == c], 0) for c in labels.unique())
    return 0.5 * torch.nn.functional.cross_entropy(logits, labels) + 0.5 * back

def masked_step():
    model.train(); trainable(model, set(masks))
    symmetric(*embed()).backward()
    masked_adamw_step(params, masks, state, 1e-9, 1, 0.01)  # the step's cost, not its effect
print(json.dumps({"score": timed_calls(score, REPEATS), "step": timed_calls(masked_step, REPEATS), "masked_elements": sum(int(m.sum()) for m in masks.values())}))
"""


def main():
    args = arguments(__doc__, BENCH, "spu-bench")
    import numpy as np
    from safetensors.numpy import load_file

    images = load_file(os.path.join(FOLDER, "inputs.safetensors"))["images"]
    with tempfile.TemporaryDirectory() as folder:
        task = os.path.join(folder, "task")
        os.makedirs(task)
        np.savez(os.path.join(task, "train.npz"), images=images.astype(np.float32),
                 labels=(np.arange(len(images)) % len(CLASSES)).astype(np.int64))
        with open(os.path.join(task, "classes.txt"), "w") as f:
            f.write("".join(f"{c}\ta photo of a {c}\n" for c in CLASSES))
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
        scalpel = json_line([BENCH, os.path.join(FOLDER, "model.safetensors"), task, "--repeats", str(args.repeats)])
        code = (TORCH.replace("THREADS", str(args.threads)).replace("MODEL_NAME", repr(args.model)).replace("FOLDER", repr(FOLDER))
                .replace("REFERENCE", repr(REFERENCE)).replace("BENCHMARKS", repr(os.path.dirname(os.path.abspath(__file__)))).replace("REPEATS", str(args.repeats)).replace("CLASSES", repr(CLASSES)))
        torch = json_line([sys.executable, "-c", code])
    print(f"CLIP {args.model} (open_clip random init), 32 images 224x224 + {len(CLASSES)} class prompts, "
          f"{args.threads} threads, medians of {args.repeats}")
    print(f"  masked elements: Scalpel {scalpel['masked_elements']:,}, PyTorch {torch['masked_elements']:,}")
    for key, name in [("score", "SPU scoring batch"), ("step", "masked training step")]:
        s, t = statistics.median(scalpel[key]), statistics.median(torch[key])
        print(f"  {name:24s} Scalpel {s:6.3f} s   PyTorch {t:6.3f} s   {s / t:.2f}x PyTorch's time (goal: 1.0x or less)")


if __name__ == "__main__":
    main()
