"""Checks that a PyTorch checkpoint written by Scalpel has the structure torch.load expects.

Called by the Swift tests (Tests/CheckpointsTests/PyTorchTests.swift).

  pytorch_interop.py check FILE MANIFEST
      1. the zip layout torch.save produces: one top folder with data.pkl, byteorder
         ("little"), version, and data/<key> members, stored, each storage 64-byte aligned;
      2. data.pkl unpickled by Python's own pickle machine with torch's loading semantics
         (persistent ids ('storage', torch.<T>Storage, key, 'cpu', numel), or
         ('storage', torch.storage.UntypedStorage, key, 'cpu', nbytes) for the dtypes
         without a legacy storage class, resolved to the member's bytes; _rebuild_tensor_v2,
         and _rebuild_tensor_v3 with its dtype argument, applied with numpy strides),
         compared with MANIFEST (names, dtypes, shapes, bytes), and the tied groups sharing
         one storage;
      3. where torch is importable, torch.load(FILE, weights_only=True) too; otherwise it says
         so ("torch.load: skipped").

  pytorch_interop.py same-pickle FILE REFERENCE
      The object data.pkl describes in FILE (written by Scalpel) is the one in REFERENCE
      (written by torch.save): both unpickled into trees of (global, arguments) calls and
      persistent ids, which must be equal. Memo use and opcode choice may differ.
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


# torch dtypes without a legacy storage class (saved through _rebuild_tensor_v3); float8 as raw bytes.
V3_DTYPES = {"uint16": ("U16", np.uint16), "uint32": ("U32", np.uint32), "uint64": ("U64", np.uint64),
             "float8_e4m3fn": ("F8_E4M3", np.uint8), "float8_e5m2": ("F8_E5M2", np.uint8)}


TORCH_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
               "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
               "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


class StorageType:
    def __init__(self, name):
        self.name = name


class DType:
    def __init__(self, name):
        self.name = name


class Tensor:
    def __init__(self, storage, offset, size, stride, kind=None):
        key, type_name, data = storage
        kind, dtype = kind or DTYPES[type_name]
        flat = np.frombuffer(data, dtype=dtype)
        self.key, self.dtype = key, kind
        itemsize = flat.itemsize
        self.array = np.lib.stride_tricks.as_strided(flat[offset:], shape=tuple(size),
                                                     strides=tuple(s * itemsize for s in stride)) if flat.size else flat.reshape(size)


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    return Tensor(storage, offset, size, stride)


def rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    assert storage[1] == "UntypedStorage", f"_rebuild_tensor_v3 on a {storage[1]}"
    return Tensor(storage, offset, size, stride, V3_DTYPES[dtype.name])


class TorchLikeUnpickler(pickle.Unpickler):
    def __init__(self, data, archive, prefix):
        super().__init__(data)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_tensor_v3"):
            return rebuild_tensor_v3
        if module == "torch" and name in DTYPES:
            return StorageType(name)
        if (module, name) == ("torch.storage", "UntypedStorage"):
            return StorageType(name)
        if module == "torch" and name in V3_DTYPES:
            return DType(name)
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, location, numel = pid
        assert kind == "storage" and location == "cpu", pid
        data = self.archive.read(f"{self.prefix}data/{key}")
        # An untyped storage counts bytes, a typed one elements.
        unit = 1 if storage_type.name == "UntypedStorage" else np.dtype(DTYPES[storage_type.name][1]).itemsize
        assert len(data) == numel * unit, (key, len(data), numel)
        return (key, storage_type.name, data)


class Call:
    """A call the pickle makes, recorded rather than run; a dict it fills is recorded too."""

    def __init__(self, function, arguments):
        self.function, self.arguments, self.items = function, arguments, []

    def __setitem__(self, key, value):
        self.items.append((key, value))

    def __eq__(self, other):
        return isinstance(other, Call) and (self.function, self.arguments, self.items) == (other.function, other.arguments, other.items)

    def __repr__(self):
        return f"{self.function}{self.arguments}" + (f"{self.items}" if self.items else "")


class Global:
    def __init__(self, name):
        self.name = name

    def __call__(self, *arguments):
        return Call(self.name, arguments)

    def __eq__(self, other):
        return isinstance(other, Global) and self.name == other.name

    def __repr__(self):
        return self.name


class RecordingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return Global(f"{module}.{name}")

    def persistent_load(self, pid):
        return ("persistent",) + tuple(pid)


def same_pickle(path, reference):
    trees = []
    for file in (path, reference):
        with zipfile.ZipFile(file) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            trees.append(RecordingUnpickler(archive.open(name)).load())
    if trees[0] != trees[1]:
        print(f"{path}:\n{trees[0]}\n{reference}:\n{trees[1]}")
        sys.exit(1)
    print(f"same pickled object: {trees[0].function} with {len(trees[0].items)} entries")


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
            raw = value.view(torch.uint8) if value.dim() > 0 else value.reshape(1).view(torch.uint8)
            if loaded[name].dtype != getattr(torch, TORCH_NAMES[want["dtype"]]) or raw.numpy().tobytes().hex() != want["hex"]:
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
    elif sys.argv[1] == "same-pickle":
        same_pickle(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
