"""Checks that a PyTorch checkpoint written by Scalpel has the structure torch.load expects.

Called by the Swift tests (Tests/CheckpointsTests/PyTorchTests.swift).

  pytorch_interop.py check FILE MANIFEST
      1. the zip layout torch.save produces: one top folder with data.pkl, byteorder
         ("little"), version, and data/<key> members, stored, each storage 64-byte aligned;
      2. data.pkl unpickled by Python's own pickle machine with torch's loading semantics
         (persistent ids ('storage', torch.<T>Storage, key, 'cpu', numel) resolved to the
         member's bytes, _rebuild_tensor_v2 applied with numpy strides), compared with
         MANIFEST (names, dtypes, shapes, bytes), and the tied groups sharing one storage;
      3. where torch is importable, torch.load(FILE, weights_only=True) too; otherwise it says
         so ("torch.load: skipped").
"""
import collections
import json
import pickle
import sys
import zipfile

import numpy as np

DTYPES = {"FloatStorage": ("F32", np.float32), "DoubleStorage": ("F64", np.float64), "HalfStorage": ("F16", np.float16),
          "BFloat16Storage": ("BF16", np.uint16), "LongStorage": ("I64", np.int64), "IntStorage": ("I32", np.int32),
          "ShortStorage": ("I16", np.int16), "CharStorage": ("I8", np.int8), "ByteStorage": ("U8", np.uint8),
          "BoolStorage": ("BOOL", np.bool_)}


class StorageType:
    def __init__(self, name):
        self.name = name


class Tensor:
    def __init__(self, storage, offset, size, stride):
        key, type_name, data = storage
        kind, dtype = DTYPES[type_name]
        flat = np.frombuffer(data, dtype=dtype)
        self.key, self.dtype = key, kind
        itemsize = flat.itemsize
        self.array = np.lib.stride_tricks.as_strided(flat[offset:], shape=tuple(size),
                                                     strides=tuple(s * itemsize for s in stride)) if flat.size else flat.reshape(size)


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    return Tensor(storage, offset, size, stride)


class TorchLikeUnpickler(pickle.Unpickler):
    def __init__(self, data, archive, prefix):
        super().__init__(data)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor_v2
        if module == "torch" and name in DTYPES:
            return StorageType(name)
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, location, numel = pid
        assert kind == "storage" and location == "cpu", pid
        data = self.archive.read(f"{self.prefix}data/{key}")
        assert len(data) == numel * np.dtype(DTYPES[storage_type.name][1]).itemsize, (key, len(data), numel)
        return (key, storage_type.name, data)


def check(path, manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    problems = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        prefix = names[0].split("/")[0] + "/"
        if any(not n.startswith(prefix) for n in names):
            problems.append(f"members are not all under one folder: {names}")
        for required in ("data.pkl", "byteorder", "version"):
            if prefix + required not in names:
                problems.append(f"missing {prefix}{required}")
        if archive.read(prefix + "byteorder") != b"little":
            problems.append("byteorder is not little")
        with open(path, "rb") as raw:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    problems.append(f"{info.filename} is compressed")
                if info.filename.startswith(prefix + "data/"):
                    raw.seek(info.header_offset + 26)
                    name_length, extra_length = int.from_bytes(raw.read(2), "little"), int.from_bytes(raw.read(2), "little")
                    start = info.header_offset + 30 + name_length + extra_length
                    if start % 64:
                        problems.append(f"{info.filename} data at {start}, not 64-byte aligned")
        state = TorchLikeUnpickler(archive.open(prefix + "data.pkl"), archive, prefix).load()
    if not isinstance(state, collections.OrderedDict):
        problems.append(f"data.pkl holds {type(state)}, not an OrderedDict")
    expected = manifest["tensors"]
    if list(state) != list(expected):
        problems.append(f"names {list(state)} != {list(expected)}")
    for name, want in expected.items():
        if name not in state:
            continue
        tensor = state[name]
        if tensor.dtype != want["dtype"] or list(tensor.array.shape) != want["shape"]:
            problems.append(f"{name}: {tensor.dtype} {list(tensor.array.shape)} != {want['dtype']} {want['shape']}")
        elif np.ascontiguousarray(tensor.array).tobytes().hex() != want["hex"]:
            problems.append(f"{name}: bytes differ")
    for group in manifest.get("tied", []):
        keys = {state[name].key for name in group if name in state}
        if len(keys) != 1:
            problems.append(f"tied tensors {group} are in storages {sorted(keys)}, not one")
    try:
        import torch
    except ImportError:
        print("torch.load: skipped (torch is not installed)")
    else:
        loaded = torch.load(path, weights_only=True)
        for name, want in expected.items():
            value = loaded[name].contiguous()
            raw = value.view(torch.uint16) if value.dtype == torch.bfloat16 else value
            if raw.numpy().tobytes().hex() != want["hex"]:
                problems.append(f"torch.load: {name} differs")
        for group in manifest.get("tied", []):
            if len({loaded[name].untyped_storage().data_ptr() for name in group}) != 1:
                problems.append(f"torch.load: {group} not tied")
        print("torch.load: checked")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {len(expected)} tensors")


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
