#!/usr/bin/env python3
"""Reference results for `scalpel merge`, made by the reference implementations.

Run once with torch, mergekit and peft installed (they are heavy, so CI does not install them;
the Swift tests read what this script writes):

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.15.0 mergekit==0.1.5 peft==0.21.2
    /tmp/ref/bin/python Tests/Fixtures/make_merge_fixtures.py Tests/Fixtures/merge

It builds a tiny BERT (Hugging Face naming) as the base and three sparse fine-tunes of it
(each changes a random 30% of every intermediate.dense.weight, plus one bias), then writes:

- task_arithmetic.safetensors, ties.safetensors: mergekit-yaml (the real command line, through
  Samples/benchmarks/mergekit_yaml.py, which works around a mergekit 0.1.5 bug on BERT) on the
  dense checkpoints with the parameters in parameters.json;
- dare_linear.safetensors, dare_ties.safetensors: PEFT's merge_utils.dare_linear / dare_ties on
  the deltas, with torch.bernoulli replaced by Scalpel's documented seeded drop (SeededStream,
  the Manual's merge page), so that both sides drop the same elements.

mergekit's ties keeps equal magnitudes at its trim cut in torch.argsort's order, Scalpel in its
seeded order: the fine-tunes' F32 deltas have no tie at any cut, and MergeParityTests checks
that they stay so.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

MASK64 = (1 << 64) - 1


def mix(x):
    """SplitMix64's finalizer."""
    x &= MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def drop_uniforms(seed, patch, tensor, count):
    """Scalpel's SeededStream: one uniform in [0, 1) per element position (the top 53 bits of
    the rank that orders the ties at a TIES trim cut)."""
    name = 0xCBF29CE484222325
    for byte in tensor.encode("utf-8"):
        name = ((name ^ byte) * 0x00000100000001B3) & MASK64
    key = mix(seed ^ mix(name ^ mix(patch)))
    return np.array([(mix(key + position * 0x9E3779B97F4A7C15) >> 11) * 2.0**-53 for position in range(count)])


def tiny_bert(rng):
    hidden, intermediate, layers, vocab, positions = 16, 48, 2, 40, 16
    tensors = {
        "embeddings.word_embeddings.weight": (vocab, hidden),
        "embeddings.position_embeddings.weight": (positions, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            tensors[p + f"attention.self.{name}.weight"] = (hidden, hidden)
            tensors[p + f"attention.self.{name}.bias"] = (hidden,)
        tensors[p + "attention.output.dense.weight"] = (hidden, hidden)
        tensors[p + "attention.output.dense.bias"] = (hidden,)
        tensors[p + "attention.output.LayerNorm.weight"] = (hidden,)
        tensors[p + "attention.output.LayerNorm.bias"] = (hidden,)
        tensors[p + "intermediate.dense.weight"] = (intermediate, hidden)
        tensors[p + "intermediate.dense.bias"] = (intermediate,)
        tensors[p + "output.dense.weight"] = (hidden, intermediate)
        tensors[p + "output.dense.bias"] = (hidden,)
        tensors[p + "output.LayerNorm.weight"] = (hidden,)
        tensors[p + "output.LayerNorm.bias"] = (hidden,)
    tensors["pooler.dense.weight"] = (hidden, hidden)
    tensors["pooler.dense.bias"] = (hidden,)
    model = {name: torch.from_numpy(rng.normal(0, 0.05, shape).astype(np.float32)) for name, shape in tensors.items()}
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": hidden, "intermediate_size": intermediate,
        "num_hidden_layers": layers, "num_attention_heads": 2, "vocab_size": vocab, "max_position_embeddings": positions,
        "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "torch_dtype": "float32",
    }
    return model, config


def fine_tune(base, rng, task):
    """30% of each intermediate.dense.weight moved by N(0, 0.01), and one bias densely."""
    tuned = {name: tensor.clone() for name, tensor in base.items()}
    for name, tensor in tuned.items():
        if name.endswith("intermediate.dense.weight"):
            flat = tensor.view(-1)
            chosen = rng.choice(flat.numel(), size=int(0.3 * flat.numel()), replace=False)
            flat[chosen] += torch.from_numpy(rng.normal(0, 0.01, chosen.size).astype(np.float32))
    bias = f"encoder.layer.{task % 2}.intermediate.dense.bias"
    tuned[bias] += torch.from_numpy(rng.normal(0, 0.01, tuned[bias].shape).astype(np.float32))
    return tuned


def save_model(folder, model, config):
    os.makedirs(folder, exist_ok=True)
    save_file(model, os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)


def mergekit(work, method, parameters, tuned_folders, base_folder):
    models = [{"model": folder, "parameters": {"weight": w, **({"density": parameters["density"]} if "density" in parameters else {})}}
              for folder, w in zip(tuned_folders, parameters["weights"])]
    config = {"merge_method": method, "base_model": base_folder, "models": models, "dtype": "float32",
              "parameters": {"lambda": parameters["lambda"]}}
    config_path = os.path.join(work, f"{method}.yml")
    with open(config_path, "w") as f:
        json.dump(config, f)  # JSON is YAML
    out = os.path.join(work, f"{method}-out")
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Samples", "benchmarks", "mergekit_yaml.py")
    subprocess.run([sys.executable, runner, config_path, out], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    merged = {}
    for name in sorted(os.listdir(out)):
        if name.endswith(".safetensors"):
            merged.update(load_file(os.path.join(out, name)))
    return merged


def peft_dare(method, base, tuned, parameters):
    from peft.utils import merge_utils

    drop, seed = parameters["drop"], parameters["seed"]
    merged = {}
    real_bernoulli = torch.bernoulli
    for name, tensor in base.items():
        deltas = [t[name] - tensor for t in tuned]
        if all(bool((d == 0).all()) for d in deltas):
            merged[name] = tensor
            continue
        masks = iter([torch.from_numpy((drop_uniforms(seed, i, name, tensor.numel()) >= drop).astype(np.float32)).view(tensor.shape)
                      for i in range(len(tuned))])
        torch.bernoulli = lambda probabilities: next(masks)
        try:
            weights = torch.tensor(parameters["weights"], dtype=torch.float32)
            if method == "dare_linear":
                delta = merge_utils.dare_linear(deltas, weights, 1 - drop)
            else:
                delta = merge_utils.dare_ties(deltas, weights, 1 - drop)
        finally:
            torch.bernoulli = real_bernoulli
        merged[name] = (tensor + delta * parameters["lambda"]).to(torch.float32)
    return merged


def main(out_folder):
    os.makedirs(out_folder, exist_ok=True)
    rng = np.random.default_rng(20261127)
    base, config = tiny_bert(rng)
    tuned = [fine_tune(base, rng, task) for task in range(3)]
    parameters = {
        "task_arithmetic": {"weights": [1.0, 0.5, 0.75], "lambda": 0.8},
        "ties": {"weights": [1.0, 0.5, 0.75], "lambda": 1.25, "density": 0.2},
        # PEFT's dare_ties divides by the count of agreeing patches, Scalpel's by their summed
        # weight: with unit weights the two are the same definition.
        "dare_linear": {"weights": [1.0, 0.5, 0.75], "lambda": 1.0, "drop": 0.3, "seed": 42},
        "dare_ties": {"weights": [1.0, 1.0, 1.0], "lambda": 1.0, "drop": 0.3, "seed": 7},
    }
    with tempfile.TemporaryDirectory() as work:
        base_folder = os.path.join(work, "base")
        save_model(base_folder, base, config)
        tuned_folders = []
        for i, model in enumerate(tuned):
            tuned_folders.append(os.path.join(work, f"t{i + 1}"))
            save_model(tuned_folders[-1], model, config)
        expected = {
            "task_arithmetic": mergekit(work, "task_arithmetic", parameters["task_arithmetic"], tuned_folders, base_folder),
            "ties": mergekit(work, "ties", parameters["ties"], tuned_folders, base_folder),
            "dare_linear": peft_dare("dare_linear", base, tuned, parameters["dare_linear"]),
            "dare_ties": peft_dare("dare_ties", base, tuned, parameters["dare_ties"]),
        }
    save_file(base, os.path.join(out_folder, "base.safetensors"))
    for i, model in enumerate(tuned):
        save_file(model, os.path.join(out_folder, f"t{i + 1}.safetensors"))
    for method, merged in expected.items():
        missing = sorted(set(base) - set(merged))
        assert not missing, f"{method} left out {missing}"
        save_file({name: merged[name].contiguous() for name in base}, os.path.join(out_folder, f"{method}.safetensors"))
    versions = {"torch": torch.__version__}
    for package in ("mergekit", "peft"):
        from importlib.metadata import version
        versions[package] = version(package)
    with open(os.path.join(out_folder, "parameters.json"), "w") as f:
        json.dump({"versions": versions, "methods": parameters}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "merge"))
