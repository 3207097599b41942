"""Interop checks between Scalpel and NumPy's own .npy / .npz readers and writers.

Called by the Swift tests (Tests/CheckpointsTests/NumpyTests.swift).

  numpy_interop.py write DIR     write .npy and .npz files the ways NumPy users do (np.save,
                                 np.savez, np.savez_compressed, header versions 1 to 3, C and
                                 Fortran order, big-endian) and DIR/manifest.json describing
                                 every array as C-order little-endian bytes
  numpy_interop.py check FILE MANIFEST
                                 load FILE (written by Scalpel) with np.load and compare every
                                 array with MANIFEST; exit 1 listing every difference
  numpy_interop.py hostile DIR   write damaged and hostile files (object arrays, a zip bomb,
                                 truncations) for the refusal tests
"""
import io
import json
import os
import sys
import zipfile

import numpy as np
import numpy.lib.format as npformat

DTYPES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
          np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
          np.dtype(np.int8): "I8", np.dtype(np.uint64): "U64", np.dtype(np.uint32): "U32",
          np.dtype(np.uint16): "U16", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


def arrays():
    rng = np.random.default_rng(3)
    nan = np.array([0x7FC00001, 0xFFA00002], dtype=np.uint32).view(np.float32)
    return {
        "f32.special": np.concatenate([np.array([0.0, -0.0, np.inf, -np.inf, 1e-45], np.float32), nan]).reshape(7),
        "f32.matrix": rng.standard_normal((4, 6)).astype(np.float32),
        "f64.cube": rng.standard_normal((2, 3, 4)),
        "f16.values": np.array([0x7E01, 0x8000, 0x0001, 0x7BFF], dtype=np.uint16).view(np.float16),
        "i64.ids": np.array([0, -1, 2**63 - 1, -2**63], dtype=np.int64),
        "i32.values": np.array([[-7, 2**31 - 1]], dtype=np.int32),
        "i16.values": np.array([-1, 0, 32767], dtype=np.int16),
        "i8.values": np.array([-128, 0, 127], dtype=np.int8),
        "u64.values": np.array([2**64 - 1], dtype=np.uint64),
        "u32.values": np.array([2**32 - 1], dtype=np.uint32),
        "u16.values": np.array([0, 65535], dtype=np.uint16),
        "u8.values": np.array([[0], [255]], dtype=np.uint8),
        "bool.mask": np.array([True, False, True]),
        "empty.f32": np.zeros((0, 7), np.float32),
        "scalar.f32": np.array(2.5, np.float32),
        "layer/nested.weight": rng.standard_normal((3, 2)).astype(np.float32),
    }


def describe(named):
    return {"metadata": {}, "tensors": {
        name: {"dtype": DTYPES[a.dtype.newbyteorder("=")], "shape": list(a.shape),
               "hex": np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes().hex()}
        for name, a in named.items()}}


def write(folder):
    named = arrays()
    manifest = {}
    np.savez(os.path.join(folder, "savez.npz"), **named)
    manifest["savez.npz"] = describe(named)
    np.savez_compressed(os.path.join(folder, "savez_compressed.npz"), **named)
    manifest["savez_compressed.npz"] = describe(named)
    # Fortran order and big-endian arrays, stored and deflated.
    odd = {"fortran.f32": np.asfortranarray(named["f64.cube"].astype(np.float32)),
           "fortran.i16": np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4)),
           "big.f64": named["f64.cube"].astype(">f8"), "big.u32": np.array([1, 2**32 - 2], ">u4"),
           "big.fortran.f32": np.asfortranarray(named["f32.matrix"].astype(">f4"))}
    np.savez(os.path.join(folder, "layouts.npz"), **odd)
    manifest["layouts.npz"] = describe(odd)
    np.savez_compressed(os.path.join(folder, "layouts_compressed.npz"), **odd)
    manifest["layouts_compressed.npz"] = describe(odd)
    # Single arrays, header versions 1.0, 2.0 and 3.0.
    matrix = named["f32.matrix"]
    for version in ((1, 0), (2, 0), (3, 0)):
        name = f"v{version[0]}.npy"
        with open(os.path.join(folder, name), "wb") as f:
            npformat.write_array(f, matrix, version=version)
        manifest[name] = describe({f"v{version[0]}": matrix})
    np.save(os.path.join(folder, "fortran.npy"), odd["fortran.f32"])
    manifest["fortran.npy"] = describe({"fortran": odd["fortran.f32"]})
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def check(path, manifest_path):
    with open(manifest_path) as f:
        expected = json.load(f)["tensors"]
    problems = []
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        loaded = {os.path.basename(path)[:-4]: loaded}
    names = set(loaded.files) if hasattr(loaded, "files") else set(loaded)
    if names != set(expected):
        problems.append(f"names {sorted(names)} != {sorted(expected)}")
    for name, want in expected.items():
        if name not in names:
            continue
        got = loaded[name]
        if DTYPES.get(got.dtype) != want["dtype"] or list(got.shape) != want["shape"]:
            problems.append(f"{name}: {got.dtype} {got.shape} != {want['dtype']} {want['shape']}")
        elif np.ascontiguousarray(got).tobytes().hex() != want["hex"]:
            problems.append(f"{name}: bytes differ")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {len(expected)} arrays")


def hostile(folder):
    np.save(os.path.join(folder, "object.npy"), np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    # A member that claims 4 GiB but deflates from a few bytes: a zip bomb.
    header = io.BytesIO()
    npformat.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 30,)})
    with zipfile.ZipFile(os.path.join(folder, "bomb.npz"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.npy", header.getvalue() + b"\0" * (1 << 24))
    with open(os.path.join(folder, "bomb.npz"), "rb") as f:
        data = bytearray(f.read())
    # Claim 4 GiB uncompressed in the central directory entry (offset 24 of it).
    at = data.rfind(b"PK\x01\x02")
    data[at + 24:at + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    with open(os.path.join(folder, "bomb.npz"), "wb") as f:
        f.write(data)
    # A deflated member that runs past the size its directory entry declares.
    np.savez_compressed(os.path.join(folder, "longer.npz"), a=np.arange(4096, dtype=np.float32))
    with open(os.path.join(folder, "longer.npz"), "rb") as f:
        data = bytearray(f.read())
    at = data.rfind(b"PK\x01\x02")
    declared = int.from_bytes(data[at + 24:at + 28], "little")
    data[at + 24:at + 28] = (declared - 1000).to_bytes(4, "little")
    with open(os.path.join(folder, "longer.npz"), "wb") as f:
        f.write(data)
    np.savez(os.path.join(folder, "good.npz"), a=np.arange(1000, dtype=np.float32), b=np.ones(10))
    with open(os.path.join(folder, "good.npz"), "rb") as f:
        good = f.read()
    with open(os.path.join(folder, "truncated.npz"), "wb") as f:
        f.write(good[: len(good) // 2])
    np.save(os.path.join(folder, "good.npy"), np.arange(100, dtype=np.float64))
    with open(os.path.join(folder, "good.npy"), "rb") as f:
        good = f.read()
    with open(os.path.join(folder, "truncated.npy"), "wb") as f:
        f.write(good[:-8])
    with open(os.path.join(folder, "evil_header.npy"), "wb") as f:
        text = b"{'descr': __import__('os').system('echo pwned'), 'fortran_order': False, 'shape': (1,), }"
        text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
        f.write(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + b"\0" * 8)
    np.savez(os.path.join(folder, "structured.npz"), rec=np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "write":
        write(sys.argv[2])
    elif command == "check":
        check(sys.argv[2], sys.argv[3])
    elif command == "hostile":
        hostile(sys.argv[2])
    else:
        sys.exit(__doc__)
