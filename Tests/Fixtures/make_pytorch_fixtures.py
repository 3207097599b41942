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
  deep.pt (tuples nested 100,000 deep);
- new_dtypes.pt: contiguous U16, U32, U64, F8_E4M3 and F8_E5M2 tensors (and one F32), which
  torch.save (2.1 and later) writes through _rebuild_tensor_v3 and an UntypedStorage; also the
  reference for the pickle Scalpel writes; new_dtypes_views.pt: strided views of such tensors
  (a transpose, a slice at a storage offset); with expected_new_dtypes*.safetensors.

`make_pytorch_fixtures.py FOLDER new_dtypes` writes only the new_dtypes files (they were made
with torch 2.13.0, the CPU wheel at hand; the others with 2.15.0).
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


def new_dtypes(folder):
    os.makedirs(folder, exist_ok=True)
    state = collections.OrderedDict()
    state["u16"] = torch.tensor([[0, 1], [65535, 4660]], dtype=torch.uint16)
    state["u32"] = torch.tensor([0, 1, 2**32 - 1], dtype=torch.uint32)
    state["u64"] = torch.tensor([0, 1, -1], dtype=torch.int64).view(torch.uint64)
    state["f8_e4m3"] = torch.tensor([-448.0, -1.5, -0.0, 0.015625, 448.0, float("nan")]).to(torch.float8_e4m3fn)
    state["f8_e5m2"] = torch.tensor([-57344.0, -0.0, 1.0, float("inf"), float("nan")]).to(torch.float8_e5m2)
    state["f32"] = torch.arange(3, dtype=torch.float32)
    torch.save(state, os.path.join(folder, "new_dtypes.pt"))
    expected(os.path.join(folder, "expected_new_dtypes.safetensors"), state)

    u16 = torch.arange(12, dtype=torch.int32).to(torch.uint16).reshape(3, 4)
    f8 = torch.linspace(-2, 2, 9).to(torch.float8_e4m3fn)
    u64 = torch.arange(5, dtype=torch.int64).view(torch.uint64)
    views = collections.OrderedDict([("u16.transposed", u16.t()), ("f8.odd", f8[1::2]), ("u64.element", u64[3])])
    torch.save(views, os.path.join(folder, "new_dtypes_views.pt"))
    expected(os.path.join(folder, "expected_new_dtypes_views.safetensors"), views)


def main(folder):
    os.makedirs(folder, exist_ok=True)
    new_dtypes(folder)
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
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch")
    (new_dtypes if sys.argv[2:] == ["new_dtypes"] else main)(target)
