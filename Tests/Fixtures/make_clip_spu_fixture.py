#!/usr/bin/env python3
"""SPU on CLIP by PyTorch and open_clip: the reference Scalpel's CLIP masks and training match.

Run once where torch, open_clip_torch (3.3.0) and numpy are installed; CI reads the committed files:

    /tmp/ref/bin/pip install torch open_clip_torch==3.3.0 ftfy numpy safetensors
    /tmp/ref/bin/python Tests/Fixtures/make_clip_spu_fixture.py Tests/Fixtures/clip/spu

Writes, into the folder given:
- model.safetensors + open_clip_config.json: a random open_clip CLIP small enough to commit but
  with the real tokenizer's 49,408-token vocabulary (its token embedding stored as float16, so
  class prompts tokenize as open_clip tokenizes them);
- task/classes.txt + task/train.npz: three classes of 32 x 32 images (a per-class pattern plus
  noise), eight images each;
- expected.safetensors: for every first-MLP linear (mlp.c_fc) of both towers, `mask.NAME` (1
  where the mask keeps: per weight the top 10 % of |the sum over the task's batches of the
  gradient of SPU's output-norm loss at the learned logit scale|, equal scores at lower
  positions first; biases whole) and `trained.NAME` (the tensor after two
  full-batch AdamW steps on the masked positions of CLIP's symmetric cross-entropy, learning
  rate 1e-3 on transformers' cosine schedule, weight decay 0.01 on weights only).
Scalpel's settings for the same: `mask --batch 8 --score-fraction 1` and
`train --epochs 2 --batch 24 --lr 1e-3` (no warmup step at that length; CLIP has no dropout).
"""
import json
import math
import os
import sys

import numpy as np
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from open_clip.tokenizer import SimpleTokenizer
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Samples", "reference"))
from masked_adamw import masked_adamw_step  # noqa: E402

CLASSES = [("stripes", "a photo of stripes"), ("dots", "a photo of many small dots"), ("waves", "waves")]
PER_CLASS, BATCH, RATE, LR, WEIGHT_DECAY, STEPS = 8, 8, 0.1, 1e-3, 0.01, 2


def model():
    torch.manual_seed(0)
    clip = CLIP(embed_dim=16, quick_gelu=True,
                vision_cfg=CLIPVisionCfg(layers=2, width=32, head_width=16, mlp_ratio=2, patch_size=8, image_size=32),
                text_cfg=CLIPTextCfg(context_length=20, vocab_size=49408, width=16, heads=2, layers=2, mlp_ratio=2))
    with torch.no_grad():
        for p in clip.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # break the symmetric initialisation
        # Stored as float16 (the file stays small): compute with exactly those values.
        clip.token_embedding.weight.copy_(clip.token_embedding.weight.half().float())
    return clip.eval()


def task():
    generator = torch.Generator().manual_seed(3)
    patterns = [3 * (torch.rand(3, 32, 32, generator=generator) * 2 - 1) for _ in CLASSES]
    images, labels = [], []
    for _ in range(PER_CLASS):
        for label, pattern in enumerate(patterns):
            images.append(pattern + 0.5 * (torch.rand(3, 32, 32, generator=generator) * 2 - 1))
            labels.append(label)
    return torch.stack(images), torch.tensor(labels)


def first_mlp(clip):
    return {name[:-len(".weight")]: module for name, module in
            [(n, clip.get_submodule(n[:-len(".weight")])) for n, _ in clip.named_parameters() if n.endswith("mlp.c_fc.weight")]}


def embed(clip, images, prompt_ids):
    return (torch.nn.functional.normalize(clip.encode_image(images), dim=-1),
            torch.nn.functional.normalize(clip.encode_text(prompt_ids), dim=-1))


def symmetric_cross_entropy(images, prompts, labels, scale):
    """Images to prompts, and each class prompt of the batch to the images, its class's the positives."""
    logits = scale * images @ prompts.T
    forward = torch.nn.functional.cross_entropy(logits, labels)
    columns = torch.log_softmax(logits.T, dim=1)
    backward = sum((labels == c).sum() / len(labels) * -torch.logsumexp(columns[c][labels == c], 0) for c in labels.unique())
    return 0.5 * forward + 0.5 * backward


def main(folder):
    clip = model()
    images, labels = task()
    prompt_ids = SimpleTokenizer()([prompt for _, prompt in CLASSES], context_length=20)
    scale = clip.logit_scale.exp().detach()
    layers = first_mlp(clip)

    # SPU scores: the batches' gradients summed (every batch, so the order does not matter).
    totals = {name: torch.zeros_like(linear.weight) for name, linear in layers.items()}
    for start in range(0, len(images), BATCH):
        clip.zero_grad()
        image_embeds, prompt_embeds = embed(clip, images[start:start + BATCH], prompt_ids)
        ((scale * image_embeds @ prompt_embeds.T) ** 2).sum(1).mean().backward()
        for name, linear in layers.items():
            totals[name] += linear.weight.grad
    masks, expected = {}, {}
    for name, linear in layers.items():
        scores = totals[name].abs().flatten().numpy()
        k = max(1, int(math.floor(RATE * scores.size + 0.5)))
        keep = np.sort(np.argsort(-scores, kind="stable")[:k])
        weight = torch.zeros(scores.size, dtype=torch.bool)
        weight[torch.from_numpy(keep)] = True
        masks[name + ".weight"] = weight.view_as(linear.weight)
        masks[name + ".bias"] = torch.ones_like(linear.bias, dtype=torch.bool)

    # Two full-batch AdamW steps on the masked positions; rates from transformers' cosine
    # schedule without warmup: lr · ½(1 + cos(π · step / steps)).
    parameters = dict(clip.named_parameters())
    state = {name: (torch.zeros_like(parameters[name]), torch.zeros_like(parameters[name])) for name in masks}
    for step in range(1, STEPS + 1):
        clip.zero_grad()
        image_embeds, prompt_embeds = embed(clip, images, prompt_ids)
        symmetric_cross_entropy(image_embeds, prompt_embeds, labels, scale).backward()
        rate = LR * 0.5 * (1 + math.cos(math.pi * (step - 1) / STEPS))
        masked_adamw_step(parameters, masks, state, rate, step, WEIGHT_DECAY)
    for name, mask in masks.items():
        expected["mask." + name] = mask.to(torch.uint8).contiguous()
        expected["trained." + name] = parameters[name].detach().clone().contiguous()

    os.makedirs(os.path.join(folder, "task"), exist_ok=True)
    base = model()
    state_dict = {k: v.detach().clone().contiguous() for k, v in base.state_dict().items() if k != "attn_mask"}
    state_dict["token_embedding.weight"] = state_dict["token_embedding.weight"].half()
    save_file(state_dict, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": {"embed_dim": 16, "quick_gelu": True, "vision_cfg": {"layers": 2, "width": 32, "head_width": 16},
                                 "text_cfg": {"context_length": 20, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 2}}}, f, indent=1)
    save_file(expected, os.path.join(folder, "expected.safetensors"))
    np.savez(os.path.join(folder, "task", "train.npz"), images=images.numpy().astype(np.float32), labels=labels.numpy().astype(np.int64))
    with open(os.path.join(folder, "task", "classes.txt"), "w") as f:
        f.writelines(f"{label}\t{prompt}\n" for label, prompt in CLASSES)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "clip", "spu"))
