"""Interop checks between Scalpel and the reference Python readers and writers.

Called by the Swift tests (Tests/CheckpointsTests/InteropTests.swift). Uses only the real
`safetensors` and `numpy` packages, so a disagreement is a bug in Scalpel, not in a
re-implementation.

  interop.py write DIR         write reference files and DIR/manifest.json describing them
  interop.py check FILE MANIFEST
                               load FILE (written by Scalpel) with safetensors and numpy and
                               compare every tensor's dtype, shape, bytes and the metadata
                               with MANIFEST; exit 1 listing every difference
"""
import json
import struct
import sys

import numpy as np
import safetensors
import safetensors.numpy

# safetensors header dtype → TensorSpec dtype name, numpy dtype (None: numpy has none).
DTYPES = {
    "F64": ("float64", np.float64), "F32": ("float32", np.float32), "F16": ("float16", np.float16),
    "BF16": ("bfloat16", None), "I64": ("int64", np.int64), "I32": ("int32", np.int32),
    "I16": ("int16", np.int16), "I8": ("int8", np.int8), "U64": ("uint64", np.uint64),
    "U32": ("uint32", np.uint32), "U16": ("uint16", np.uint16), "U8": ("uint8", np.uint8),
    "BOOL": ("bool", np.bool_), "F8_E4M3": ("float8_e4m3fn", None), "F8_E5M2": ("float8_e5m2", None),
}
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8,
         "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def reference_tensors():
    """Tensors of every dtype with the awkward values: NaN payloads, -0.0, inf, subnormals,
    extremes, empty and rank-0 shapes. Raw bytes per tensor, little-endian."""
    rng = np.random.default_rng(7)
    out = {}
    special32 = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, -3.4e38], dtype=np.float32)
    nan32 = np.array([0x7FC00001, 0xFFA00002, 0x7F800003], dtype=np.uint32).view(np.float32)
    out["f32.special"] = ("F32", [3, 3], np.concatenate([special32, nan32]).tobytes())
    out["f32.matrix"] = ("F32", [4, 5], rng.standard_normal((4, 5)).astype(np.float32).tobytes())
    out["f64.values"] = ("F64", [2, 2], np.array([np.pi, -0.0, np.nan, 5e-324]).tobytes())
    out["f16.values"] = ("F16", [5], np.array([0x7E01, 0x8000, 0x0001, 0x7BFF, 0xFC00], dtype=np.uint16).tobytes())
    out["bf16.values"] = ("BF16", [2, 2], np.array([0x3F80, 0x7FC1, 0x8000, 0xFF81], dtype=np.uint16).tobytes())
    out["i64.ids"] = ("I64", [4], np.array([0, -1, 2**63 - 1, -2**63], dtype=np.int64).tobytes())
    out["i32.values"] = ("I32", [2], np.array([-7, 2**31 - 1], dtype=np.int32).tobytes())
    out["i16.values"] = ("I16", [3], np.array([-1, 0, 32767], dtype=np.int16).tobytes())
    out["i8.values"] = ("I8", [3], np.array([-128, 0, 127], dtype=np.int8).tobytes())
    out["u64.values"] = ("U64", [1], np.array([2**64 - 1], dtype=np.uint64).tobytes())
    out["u32.values"] = ("U32", [1], np.array([2**32 - 1], dtype=np.uint32).tobytes())
    out["u16.values"] = ("U16", [2], np.array([0, 65535], dtype=np.uint16).tobytes())
    out["u8.values"] = ("U8", [2, 1], bytes([0, 255]))
    out["bool.mask"] = ("BOOL", [3], bytes([1, 0, 1]))
    out["f8e4m3.values"] = ("F8_E4M3", [4], bytes([0x00, 0x7F, 0x80, 0x38]))
    out["f8e5m2.values"] = ("F8_E5M2", [2], bytes([0x7C, 0x3C]))
    out["empty.f32"] = ("F32", [0, 7], b"")
    out["scalar.f32"] = ("F32", [], np.array(2.5, dtype=np.float32).tobytes())
    out["scalar.i64"] = ("I64", [], np.array(-3, dtype=np.int64).tobytes())
    return out


def write(folder):
    tensors = reference_tensors()
    buffers = {name: np.frombuffer(data, dtype=np.uint8).copy() for name, (_, _, data) in tensors.items()}
    specs = {
        name: safetensors.TensorSpec(
            dtype=DTYPES[dtype][0], shape=shape,
            data_ptr=buffers[name].ctypes.data if len(data) else 0, data_len=len(data))
        for name, (dtype, shape, data) in tensors.items()
    }
    metadata = {"format": "pt", "note": "written by safetensors.serialize", "unicode": "naïve ✓"}
    with open(f"{folder}/python_all_dtypes.safetensors", "wb") as f:
        f.write(safetensors.serialize(specs, metadata))
    # The numpy front end, the way most Python users write files.
    arrays = {name: np.frombuffer(data, dtype=DTYPES[dtype][1]).reshape(shape)
              for name, (dtype, shape, data) in tensors.items() if DTYPES[dtype][1] is not None}
    safetensors.numpy.save_file(arrays, f"{folder}/python_numpy.safetensors", metadata={"format": "np"})
    manifest = {
        "python_all_dtypes.safetensors": describe(tensors, metadata),
        "python_numpy.safetensors": describe({n: tensors[n] for n in arrays}, {"format": "np"}),
    }
    with open(f"{folder}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)


def describe(tensors, metadata):
    return {"metadata": metadata,
            "tensors": {name: {"dtype": d, "shape": s, "hex": data.hex()} for name, (d, s, data) in tensors.items()}}


def check(path, manifest_path):
    with open(manifest_path) as f:
        expected = json.load(f)
    problems = []
    with open(path, "rb") as f:
        raw = f.read()
    # The reference parser (Rust, through Python) validates the whole file as it loads it.
    loaded = dict(safetensors.deserialize(raw))
    header_length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_length])
    if (8 + header_length) % 8:
        problems.append(f"data section starts at {8 + header_length}, not on an 8-byte boundary")
    with safetensors.safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
    if metadata != expected["metadata"]:
        problems.append(f"metadata {metadata} != {expected['metadata']}")
    if set(loaded) != set(expected["tensors"]):
        problems.append(f"tensor names {sorted(loaded)} != {sorted(expected['tensors'])}")
    for name, want in expected["tensors"].items():
        if name not in loaded:
            continue
        got = loaded[name]
        if got["dtype"] != want["dtype"] or list(got["shape"]) != want["shape"]:
            problems.append(f"{name}: {got['dtype']} {got['shape']} != {want['dtype']} {want['shape']}")
        if bytes(got["data"]).hex() != want["hex"]:
            problems.append(f"{name}: bytes differ")
        start = header[name]["data_offsets"][0]
        if start % SIZES[want["dtype"]]:
            problems.append(f"{name}: data offset {start} not aligned to its element size")
        numpy_dtype = DTYPES[want["dtype"]][1]
        if numpy_dtype is not None:
            with safetensors.safe_open(path, framework="numpy") as f:
                array = f.get_tensor(name)
            if array.dtype != numpy_dtype or array.tobytes().hex() != want["hex"]:
                problems.append(f"{name}: numpy sees {array.dtype} with other bytes")
    for p in problems:
        print(p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
