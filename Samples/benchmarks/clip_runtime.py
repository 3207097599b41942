#!/usr/bin/env python3
"""Benchmark of Scalpel's CLIP runtime (issue 6): forward + backward with weight gradients
for every first-MLP weight (mlp.c_fc of both towers) only, CLIP ViT-B/32 (open_clip's random
initialisation, exported to safetensors here), a batch of 32 images at 224 x 224 and 32
captions, against open_clip on the CPU with the same thread count, same inputs, same loss, in
the same run. Prints the medians, the ratio, peak memory, and both losses.

    swift build -c release --product clip-bench
    /tmp/ref/bin/python Samples/benchmarks/clip_runtime.py [--repeats 3] [--threads 2]

Needs torch and open_clip_torch.
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import json_line, peak_kib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.path.join(ROOT, ".cache", "benchmarks", "vit-b-32")
BENCH = os.path.join(ROOT, ".build", "release", "clip-bench")

TORCH = r"""
import json, sys, time
import torch, open_clip
from safetensors.torch import load_file
torch.set_num_threads(THREADS)
model = open_clip.create_model(MODEL_NAME, pretrained=None)
model.load_state_dict(load_file(FOLDER + "/model.safetensors"), strict=False)
model.eval()
for name, p in model.named_parameters():
    p.requires_grad_(".mlp.c_fc.weight" in name and (name.startswith("visual.") or not IMAGES_ONLY))
inputs = load_file(FOLDER + "/inputs.safetensors")
seconds = []
for _ in range(REPEATS + 1):
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    images = torch.nn.functional.normalize(model.encode_image(inputs["images"]), dim=-1)
    if IMAGES_ONLY:
        loss = (images.sum(-1) ** 2).sum()
    else:
        texts = torch.nn.functional.normalize(model.encode_text(inputs["texts"]), dim=-1)
        loss = ((images @ texts.T) ** 2).sum()
    loss.backward()
    seconds.append(time.perf_counter() - start)
print(json.dumps({"seconds": seconds[1:], "loss": loss.item()}))
"""


def export(name):
    """open_clip's random initialisation of `name` and the inputs, as safetensors."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    os.makedirs(FOLDER, exist_ok=True)
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None)
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "attn_mask"}
    save_file(state, os.path.join(FOLDER, "model.safetensors"))
    config = open_clip.get_model_config(name)
    with open(os.path.join(FOLDER, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": {**config, "quick_gelu": bool(config.get("quick_gelu", False))}}, f)
    tokenizer = open_clip.get_tokenizer(name)
    captions = [f"a photo of a {w}, a kind of object number {i}" for i, w in
                enumerate(["cat", "dog", "car", "tree", "house", "boat", "bird", "plane"] * 4)]
    save_file({"images": torch.randn(32, 3, 224, 224), "texts": tokenizer(captions).to(torch.int64)}, os.path.join(FOLDER, "inputs.safetensors"))


def arguments(description, bench, product):
    """The options the CLIP benchmarks share; checks the release build of `product` exists at
    `bench` and exports the model on first run."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="ViT-B-32")
    args = parser.parse_args()
    if not os.access(bench, os.X_OK):
        sys.exit(f"{bench} not found: run `swift build -c release --product {product}` first")
    if not os.path.exists(os.path.join(FOLDER, "inputs.safetensors")):
        export(args.model)
    return args


def main():
    args = arguments(__doc__, BENCH, "clip-bench")
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    print(f"CLIP {args.model} (open_clip random init), forward + backward with weight gradients for mlp.c_fc only, "
          f"{args.threads} threads, medians of {args.repeats}")
    for images_only, what in [(True, "32 images 224x224, image tower (the figure FACTS.md quotes)"),
                              (False, "32 images + 32 captions, both towers, loss over image-text similarities")]:
        scalpel_cmd = [BENCH, FOLDER, os.path.join(FOLDER, "inputs.safetensors"), "--repeats", str(args.repeats)] + (["--images-only"] if images_only else [])
        code = (TORCH.replace("THREADS", str(args.threads)).replace("MODEL_NAME", repr(args.model)).replace("FOLDER", repr(FOLDER))
                .replace("REPEATS", str(args.repeats)).replace("IMAGES_ONLY", str(images_only)))
        torch_cmd = [sys.executable, "-c", code]
        scalpel, torch = json_line(scalpel_cmd), json_line(torch_cmd)
        peaks = {"scalpel": peak_kib(scalpel_cmd), "torch": peak_kib(torch_cmd)} if os.path.exists("/usr/bin/time") else None
        s, t = statistics.median(scalpel["seconds"]), statistics.median(torch["seconds"])
        print(f"- {what}")
        print(f"  PyTorch (open_clip)  {t:7.3f} s   loss {torch['loss']:.6f}")
        print(f"  Scalpel              {s:7.3f} s   loss {scalpel['loss']:.6f}   {s / t:.2f}x PyTorch's time (goal: 1.0x or less)")
        if peaks:
            print(f"  peak memory: Scalpel {peaks['scalpel'] / 1024:.0f} MiB, PyTorch {peaks['torch'] / 1024:.0f} MiB "
                  f"({peaks['scalpel'] / peaks['torch']:.2f}x)")


if __name__ == "__main__":
    main()
