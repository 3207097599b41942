"""Interop checks between Scalpel and gguf-py (llama.cpp's reference Python reader/writer).

Called by the Swift tests (Tests/CheckpointsTests/GGUFTests.swift).

  gguf_interop.py write DIR      write GGUF files with gguf.GGUFWriter (metadata of every
                                 value type, F32/F16/BF16/F64/I32 tensors, and one with a
                                 quantized Q8_0 tensor; tiny_be.gguf is tiny.gguf big-endian)
                                 and DIR/manifest.json describing the plain tensors as
                                 row-major little-endian bytes
  gguf_interop.py check FILE MANIFEST
                                 read FILE (written by Scalpel) with gguf.GGUFReader and compare
                                 tensors, metadata and (optional "types") metadata value types
                                 with MANIFEST; exit 1 listing differences
  gguf_interop.py hostile DIR    write damaged GGUF files for the refusal tests
"""
import json
import os
import sys

import gguf
import numpy as np

CODES = {"F32": gguf.GGMLQuantizationType.F32, "F16": gguf.GGMLQuantizationType.F16,
         "BF16": gguf.GGMLQuantizationType.BF16, "F64": gguf.GGMLQuantizationType.F64,
         "I32": gguf.GGMLQuantizationType.I32, "I8": gguf.GGMLQuantizationType.I8}


def tensors():
    rng = np.random.default_rng(11)
    bf16 = (rng.standard_normal((3, 8)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return {
        "token_embd.weight": ("F32", rng.standard_normal((10, 8)).astype(np.float32)),
        "blk.0.attn_q.weight": ("F16", rng.standard_normal((8, 8)).astype(np.float16)),
        "blk.0.ffn_up.weight": ("BF16", bf16),
        "blk.0.attn_norm.weight": ("F64", rng.standard_normal(8)),
        "blk.0.ids": ("I32", np.arange(-3, 5, dtype=np.int32).reshape(2, 2, 2)),
        "output_norm.weight": ("F32", np.array([1.5, -0.0, np.inf, 2.0], np.float32)),
    }


def add_metadata(writer):
    writer.add_string("general.name", "tiny test model ✓")
    writer.add_uint32("tiny.context_length", 128)
    writer.add_float32("tiny.rope.freq_base", 10000.0)
    writer.add_bool("tiny.use_parallel_residual", True)
    writer.add_int64("tiny.big", -2**40)
    writer.add_float64("tiny.eps", 1e-12)
    writer.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(20)])
    writer.add_array("tokenizer.ggml.scores", [float(i) / 2 for i in range(20)])


def write_file(path, named, quantized=False, endian=gguf.GGUFEndian.LITTLE):
    writer = gguf.GGUFWriter(path, "tiny", endianess=endian)
    add_metadata(writer)
    for name, (dtype, array) in named.items():
        writer.add_tensor(name, array, raw_dtype=CODES[dtype])
    if quantized:
        data = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
        writer.add_tensor("blk.0.ffn_down.weight", gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0),
                          raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write(folder):
    named = tensors()
    write_file(os.path.join(folder, "tiny.gguf"), named)
    write_file(os.path.join(folder, "quantized.gguf"), named, quantized=True)
    write_file(os.path.join(folder, "tiny_be.gguf"), named, endian=gguf.GGUFEndian.BIG)
    manifest = {"tensors": {name: {"dtype": dtype, "shape": list(array.shape), "hex": np.ascontiguousarray(array).tobytes().hex()}
                            for name, (dtype, array) in named.items()}}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def field_value(field):
    kind = field.types[0]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode()
    if kind == gguf.GGUFValueType.ARRAY:
        return [bytes(field.parts[i]).decode() if field.types[1] == gguf.GGUFValueType.STRING else field.parts[i].tolist()[0]
                for i in field.data]
    return field.parts[field.data[0]].tolist()[0]


def check(path, manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    reader = gguf.GGUFReader(path)
    problems = []
    got = {t.name: t for t in reader.tensors}
    if set(got) != set(manifest["tensors"]):
        problems.append(f"tensors {sorted(got)} != {sorted(manifest['tensors'])}")
    for name, want in manifest["tensors"].items():
        if name not in got:
            continue
        tensor = got[name]
        if tensor.tensor_type.name != want["dtype"]:
            problems.append(f"{name}: type {tensor.tensor_type.name} != {want['dtype']}")
        if list(reversed(tensor.shape.tolist())) != want["shape"]:
            problems.append(f"{name}: shape {list(reversed(tensor.shape.tolist()))} != {want['shape']}")
        data = np.ascontiguousarray(tensor.data)
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        if data.tobytes().hex() != want["hex"]:
            problems.append(f"{name}: bytes differ")
        if tensor.data_offset % reader.alignment:
            problems.append(f"{name}: data at {tensor.data_offset} not aligned to {reader.alignment}")
    for key, want in manifest.get("metadata", {}).items():
        field = reader.get_field(key)
        value = None if field is None else field_value(field)
        if value != want:
            problems.append(f"metadata {key}: {value!r} != {want!r}")
    for key, want in manifest.get("types", {}).items():
        field = reader.get_field(key)
        got = None if field is None else [t.name for t in field.types]
        if got != want:
            problems.append(f"metadata {key}: types {got} != {want}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"ok: {len(manifest['tensors'])} tensors")


def hostile(folder):
    named = tensors()
    path = os.path.join(folder, "good.gguf")
    write_file(path, named)
    with open(path, "rb") as f:
        good = bytearray(f.read())
    with open(os.path.join(folder, "truncated.gguf"), "wb") as f:
        f.write(good[: len(good) - 100])
    # The last tensor's offset pushed far past the end of the file.
    reader = gguf.GGUFReader(path)
    last = reader.tensors[-1]
    info = good.rfind(last.name.encode())
    offset_at = info + len(last.name) + 4 + 8 * len(last.shape) + 4
    bad = bytearray(good)
    bad[offset_at:offset_at + 8] = (1 << 40).to_bytes(8, "little")
    with open(os.path.join(folder, "out_of_bounds.gguf"), "wb") as f:
        f.write(bad)
    # A metadata array claiming 2^40 elements.
    key = b"tokenizer.ggml.tokens"
    at = good.find(key) + len(key) + 4 + 4
    bad = bytearray(good)
    bad[at:at + 8] = (1 << 40).to_bytes(8, "little")
    with open(os.path.join(folder, "huge_array.gguf"), "wb") as f:
        f.write(bad)
    bad = bytearray(good)
    bad[4:8] = (1).to_bytes(4, "little")
    with open(os.path.join(folder, "version1.gguf"), "wb") as f:
        f.write(bad)


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
