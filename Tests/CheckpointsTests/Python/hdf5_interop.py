"""Interop checks between Scalpel and h5py, on the layouts Keras writes.

Called by the Swift tests (Tests/CheckpointsTests/HDF5Tests.swift).

  hdf5_interop.py write DIR      write HDF5 files with h5py: a generic tree (chunked, gzip,
                                 big-endian, float16, bool, scalar datasets, a string dataset),
                                 the Keras 3 .weights.h5 layout (layers/<name>/vars/<i>, a
                                 bfloat16 variable stored as Keras stores it) and the Keras 2
                                 .h5 layout (model_weights, layer_names / weight_names, one
                                 split into name0, name1); DIR/manifest.json describes every
                                 tensor as C-order little-endian bytes
  hdf5_interop.py check FILE MANIFEST [BASE]
                                 read FILE (written by Scalpel) with h5py and compare every
                                 tensor with MANIFEST; with BASE, also that every attribute and
                                 non-tensor dataset of BASE is unchanged in FILE
  hdf5_interop.py hostile DIR    write a truncated HDF5 file
  hdf5_interop.py attributes DIR write DIR/attributes.h5, whose root has string attributes of
                                 every kind (fixed or variable length, ASCII or UTF-8, each
                                 padding) beside numbers and lists, and DIR/expected.json: the
                                 single strings in name order, as h5py reads them; beside it
                                 two bfloat16 datasets whose dtype attribute is variable-length
                                 ASCII and fixed-length
  hdf5_interop.py unbacked DIR   write chunked datasets that declare more values than they
                                 store: huge.h5 (2^40 gzip elements, none written),
                                 partial.h5 (2^36 elements, 2 chunks written), many.h5 (20
                                 unwritten 4 MiB datasets), small.h5 (1000 unwritten
                                 elements, fill value 7); DIR/stored.json: partial's stored bytes
  hdf5_interop.py heap DIR       write heap.h5, a variable-length root attribute "backend",
                                 and copies whose global heap collection is damaged:
                                 heap_size.h5 (collection size), heap_object.h5 (object length)
"""
import json
import os
import sys

import h5py
import numpy as np

BF16 = np.dtype("V2")


def kind(array, attrs):
    if array.dtype.kind == "V" and attrs.get("dtype") == "bfloat16":
        return "BF16"
    return {"f8": "F64", "f4": "F32", "f2": "F16", "i8": "I64", "i4": "I32", "i2": "I16", "i1": "I8",
            "u8": "U64", "u4": "U32", "u2": "U16", "u1": "U8", "b1": "BOOL"}[array.dtype.kind + str(array.dtype.itemsize)]


def tensors_of(path):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiubV":
            value = obj[()]
            array = np.asarray(value)
            out[name] = {"dtype": kind(array, dict(obj.attrs)), "shape": list(array.shape),
                         "hex": np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes().hex()}
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def write(folder):
    rng = np.random.default_rng(5)
    with h5py.File(os.path.join(folder, "generic.h5"), "w") as f:
        f["w"] = rng.standard_normal((3, 4)).astype(np.float32)
        f.create_dataset("g/chunked", data=rng.standard_normal(100).astype(">f8"), chunks=(10,), compression="gzip")
        f["g/h/half"] = np.array([1, -2, 65504], np.float16)
        f["flags"] = np.array([True, False, True])
        f["scalar"] = np.int64(-5)
        f["ids"] = np.arange(6, dtype=np.uint16).reshape(2, 3)
        f["note"] = "a string dataset, not a tensor"
        f.attrs["creator"] = "hdf5_interop.py"
    # Keras 3: what keras.saving.saving_lib's H5IOStore writes for save_weights.
    with h5py.File(os.path.join(folder, "keras3.weights.h5"), "w") as f:
        f.create_group("layers/dense/vars")["0"] = rng.standard_normal((4, 3)).astype(np.float32)
        f["layers/dense/vars/1"] = np.zeros(3, np.float32)
        bf16 = (rng.standard_normal((3, 2)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(BF16)
        ds = f.create_dataset("layers/dense_1/vars/0", data=bf16)
        ds.attrs["dtype"] = "bfloat16"
        f.create_group("optimizer/vars")
        f.attrs["keras_version"] = "3.15.1"
    # Keras 2 (legacy .h5): model_weights/<layer>/<layer>/<weight>:0, with the name lists as
    # attributes; a long weight_names list is split into weight_names0, weight_names1.
    with h5py.File(os.path.join(folder, "keras2.h5"), "w") as f:
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense", b"dense_1"])
        weights.attrs["backend"] = "tensorflow"
        weights.attrs["keras_version"] = "2.15.0"
        for layer, shape in (("dense", (4, 8)), ("dense_1", (8, 2))):
            group = weights.create_group(layer)
            names = [f"{layer}/kernel:0".encode(), f"{layer}/bias:0".encode()]
            if layer == "dense_1":
                group.attrs["weight_names0"] = np.array(names[:1])
                group.attrs["weight_names1"] = np.array(names[1:])
            else:
                group.attrs["weight_names"] = np.array(names)
            group[f"{layer}/kernel:0"] = rng.standard_normal(shape).astype(np.float32)
            group[f"{layer}/bias:0"] = rng.standard_normal(shape[1]).astype(np.float32)
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential"})
    manifest = {name: {"tensors": tensors_of(os.path.join(folder, name))} for name in ("generic.h5", "keras3.weights.h5", "keras2.h5")}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def everything_but_tensors(path):
    """Attributes of every object, and non-tensor datasets, as comparable values."""
    out = {}

    def record(name, obj):
        for key, value in obj.attrs.items():
            out[f"{name}@{key}"] = repr(value.tolist() if hasattr(value, "tolist") else value)
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind not in "fiubV":
            out[name] = repr(obj[()])
        if isinstance(obj, h5py.Dataset):
            out[f"{name}#layout"] = repr((obj.chunks, obj.compression, obj.dtype.byteorder if obj.dtype.kind != "V" else ""))
    with h5py.File(path, "r") as f:
        record("/", f)
        f.visititems(record)
    return out


def check(path, manifest_path, base=None):
    with open(manifest_path) as f:
        expected = json.load(f)["tensors"]
    problems = []
    got = tensors_of(path)
    if set(got) != set(expected):
        problems.append(f"tensors {sorted(got)} != {sorted(expected)}")
    for name, want in expected.items():
        if name in got and got[name] != want:
            problems.append(f"{name}: {got[name]['dtype']} {got[name]['shape']} differs from {want['dtype']} {want['shape']}")
    if base:
        before, after = everything_but_tensors(base), everything_but_tensors(path)
        for key in sorted(set(before) | set(after)):
            if key.startswith("/@scalpel."):
                continue
            if before.get(key) != after.get(key):
                problems.append(f"{key}: {before.get(key)} -> {after.get(key)}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {len(expected)} tensors")


def hostile(folder):
    write(folder)
    with open(os.path.join(folder, "generic.h5"), "rb") as f:
        data = f.read()
    with open(os.path.join(folder, "truncated.h5"), "wb") as f:
        f.write(data[: len(data) // 3])


def attributes(folder):
    path = os.path.join(folder, "attributes.h5")
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(2, np.float32)
        bf16 = np.array([0x3F80, 0xC000], np.uint16)
        f["bf16_vlen_ascii"] = bf16
        f["bf16_vlen_ascii"].attrs["dtype"] = np.array(b"bfloat16", dtype=h5py.string_dtype("ascii"))
        f["bf16_fixed"] = bf16
        f["bf16_fixed"].attrs.create("dtype", b"bfloat16", dtype=h5py.string_dtype("ascii", 8))
        f.attrs["m_vlen_utf8"] = "ünïcode ✓"
        f.attrs["c_vlen_ascii"] = np.array(b"bytes value", dtype=h5py.string_dtype("ascii"))
        f.attrs.create("k_fixed_utf8", "grüße".encode(), dtype=h5py.string_dtype("utf-8", 12))
        f.attrs.create("e_fixed_ascii_nullpad", b"padded", dtype=h5py.string_dtype("ascii", 10))
        f.attrs["b_one_element_list"] = ["only"]
        f.attrs["n_number"] = 3
        f.attrs["l_two_strings"] = ["a", "b"]
        f.attrs["a_empty_vlen"] = ""
        for name, pad in ((b"g_fixed_nullterm", h5py.h5t.STR_NULLTERM), (b"h_fixed_spacepad", h5py.h5t.STR_SPACEPAD)):
            tid = h5py.h5t.C_S1.copy()
            tid.set_size(12)
            tid.set_strpad(pad)
            attr = h5py.h5a.create(f.id, name, tid, h5py.h5s.create(h5py.h5s.SCALAR))
            attr.write(np.array(b"text" + (b"   " if pad == h5py.h5t.STR_SPACEPAD else b""), dtype="S12"))
        f.attrs["z_vlen_utf8_last"] = "last"
    expected = []
    with h5py.File(path, "r") as f:
        for name in sorted(f.attrs):
            value = f.attrs[name]
            if isinstance(value, np.ndarray):
                if value.shape != (1,) or value.dtype.kind not in "OS":
                    continue
                value = value[0]
            if isinstance(value, (bytes, np.bytes_)):
                value = bytes(value).decode()
            if isinstance(value, str):
                expected.append([name, value])
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f)


def unbacked(folder):
    with h5py.File(os.path.join(folder, "huge.h5"), "w") as f:
        f.create_dataset("huge", shape=(2**40,), dtype=np.float32, chunks=(4096,), compression="gzip")
    with h5py.File(os.path.join(folder, "partial.h5"), "w") as f:
        d = f.create_dataset("partial", shape=(2**36,), dtype=np.float32, chunks=(1024,), compression="gzip")
        d[:2048] = np.arange(2048, dtype=np.float32)
        stored = d.id.get_storage_size()
    with h5py.File(os.path.join(folder, "many.h5"), "w") as f:
        for i in range(20):
            f.create_dataset(f"d{i:02d}", shape=(1 << 20,), dtype=np.float32, chunks=(1 << 16,))
    with h5py.File(os.path.join(folder, "small.h5"), "w") as f:
        f.create_dataset("small", shape=(1000,), dtype=np.int16, chunks=(100,), fillvalue=7)
    with open(os.path.join(folder, "stored.json"), "w") as f:
        json.dump({"partial": stored}, f)


def heap(folder):
    path = os.path.join(folder, "heap.h5")
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(2, np.float32)
        f.attrs["backend"] = "tensorflow"
    with open(path, "rb") as f:
        good = bytearray(f.read())
    at = good.find(b"GCOL")
    # Collection: "GCOL", version, 3 reserved bytes, 8-byte collection size; then objects:
    # 2-byte index, 2-byte reference count, 4 reserved, 8-byte size, the data.
    bad = bytearray(good)
    bad[at + 8:at + 16] = (2**62).to_bytes(8, "little")
    with open(os.path.join(folder, "heap_size.h5"), "wb") as f:
        f.write(bad)
    bad = bytearray(good)
    bad[at + 16 + 8:at + 16 + 16] = (2**40).to_bytes(8, "little")
    with open(os.path.join(folder, "heap_object.h5"), "wb") as f:
        f.write(bad)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "write":
        write(sys.argv[2])
    elif command == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif command == "hostile":
        hostile(sys.argv[2])
    elif command == "attributes":
        attributes(sys.argv[2])
    elif command == "unbacked":
        unbacked(sys.argv[2])
    elif command == "heap":
        heap(sys.argv[2])
    else:
        sys.exit(__doc__)
