#!/usr/bin/env python3
"""PyTorch checkpoints for Scalpel's tests, written by torch itself, and hostile ones.

Run once where torch is installed (CI reads the committed files):

    /tmp/ref/bin/pip install torch==2.15.0 safetensors numpy
    /tmp/ref/bin/python Tests/Fixtures/make_pytorch_fixtures.py Tests/Fixtures/pytorch

Writes:
- state_dict.pt: an OrderedDict as module.state_dict() gives it, with F32/F16/BF16/I64/BOOL
  tensors, two names for one tensor (tied weights: one storage), a transposed view (strides
  not C order) and a slice at a storage offset, both sharing their base's storage;
- nested.pt: {"epoch": 3, "state_dict": {...}, "optimizer": {"lr": 0.1}} (the state dict is
  found under "state_dict"); parameters.pt: nn.Parameter values (_rebuild_parameter);
- expected_*.safetensors: every tensor as a contiguous copy, the values Scalpel must read;
- sharded/: pytorch_model-0000K-of-00002.bin and pytorch_model.bin.index.json, as
  transformers' save_pretrained(safe_serialization=False) lays a sharded model out, with
  expected_sharded.safetensors;
- legacy.pt: the pre-1.6 format; hostile pickles in a valid PyTorch zip: os_system.pt
  (GLOBAL posix.system), builtins_eval.pt, huge_memo.pt (a LONG_BINPUT far past any memo),
  deep.pt (tuples nested 100,000 deep).
"""
import collections
import json
import os
import sys
import zipfile

import torch
from safetensors.torch import save_file


def expected(path, tensors):
    save_file({name: t.detach().contiguous().clone() for name, t in tensors.items()}, path)


def zip_with_pickle(path, pickle_bytes):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")


def main(folder):
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    weight = torch.randn(4, 6)
    base = torch.arange(24, dtype=torch.float32).reshape(6, 4)
    state = collections.OrderedDict()
    state["encoder.weight"] = weight
    state["encoder.bias"] = torch.randn(4).half()
    state["bf16.weight"] = torch.randn(3, 2).bfloat16()
    state["embeddings.position_ids"] = torch.arange(8).unsqueeze(0)
    state["mask"] = torch.tensor([True, False, True])
    state["decoder.weight"] = weight              # tied to encoder.weight
    state["transposed"] = base.t()                # strides (1, 4)
    state["slice"] = base[2:5, 1]                 # storage offset 9, stride 4
    state["scalar"] = torch.tensor(2.5)
    torch.save(state, os.path.join(folder, "state_dict.pt"))
    expected(os.path.join(folder, "expected_state_dict.safetensors"), state)

    inner = collections.OrderedDict([("layer.weight", torch.randn(2, 3)), ("layer.bias", torch.zeros(2))])
    torch.save({"epoch": 3, "state_dict": inner, "optimizer": {"lr": 0.1}}, os.path.join(folder, "nested.pt"))
    expected(os.path.join(folder, "expected_nested.safetensors"), inner)

    parameters = {"w": torch.nn.Parameter(torch.randn(3, 3)), "b": torch.nn.Parameter(torch.ones(3), requires_grad=False)}
    torch.save(parameters, os.path.join(folder, "parameters.pt"))
    expected(os.path.join(folder, "expected_parameters.safetensors"), parameters)

    shards = [collections.OrderedDict([("a.weight", torch.randn(3, 4)), ("a.bias", torch.randn(3))]),
              collections.OrderedDict([("b.weight", torch.randn(2, 3).half())])]
    os.makedirs(os.path.join(folder, "sharded"), exist_ok=True)
    weight_map = {}
    for k, shard in enumerate(shards, start=1):
        name = f"pytorch_model-{k:05d}-of-{len(shards):05d}.bin"
        torch.save(shard, os.path.join(folder, "sharded", name))
        weight_map.update({tensor: name for tensor in shard})
    with open(os.path.join(folder, "sharded", "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(t.numel() * t.element_size() for s in shards for t in s.values())},
                   "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    expected(os.path.join(folder, "expected_sharded.safetensors"), {k: v for s in shards for k, v in s.items()})

    torch.save({"w": torch.ones(2)}, os.path.join(folder, "legacy.pt"), _use_new_zipfile_serialization=False)

    # Hostile pickles (protocol 2 opcodes, written by hand: nothing here is ever unpickled).
    zip_with_pickle(os.path.join(folder, "os_system.pt"), b"\x80\x02cposix\nsystem\nX\x0b\x00\x00\x00echo pwned!\x85R.")
    zip_with_pickle(os.path.join(folder, "builtins_eval.pt"), b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1)\x85R.")
    zip_with_pickle(os.path.join(folder, "huge_memo.pt"), b"\x80\x02}r\xff\xff\xff\x7f.")
    zip_with_pickle(os.path.join(folder, "deep.pt"), b"\x80\x02)" + b"\x85" * 100_000 + b".")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch"))
