#!/usr/bin/env python3
"""Seed corpora for Tests/Fuzz (one folder per scalpel-fuzz target), made by the reference
libraries (numpy, safetensors, gguf, h5py, zstandard) and a few hand-built inputs:

    python Tests/Fuzz/make_seeds.py OUT_FOLDER

Seeds are small valid files of each kind, with the variations the parsers branch on (dtypes,
byte orders, compression, metadata, nesting), so the fuzzer starts from deep inside each
parser instead of at its first check. Deterministic: the same files every run.
"""
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def save(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def arrays():
    rng = np.random.default_rng(0)
    return {
        "w.f32": rng.standard_normal((3, 4)).astype(np.float32),
        "w.f16": rng.standard_normal((5,)).astype(np.float16),
        "w.f64": rng.standard_normal((2, 2)).astype(np.float64),
        "i.i64": np.arange(6, dtype=np.int64).reshape(2, 3),
        "b.u8": np.array([0, 1, 255], dtype=np.uint8),
        "flag": np.array([True, False]),
        "scalar": np.array(1.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def safetensors_seeds(out):
    from safetensors.numpy import save as serialize
    folder = os.path.join(out, "safetensors")
    tensors = arrays()
    save(folder, "all.safetensors", serialize(tensors, metadata={"format": "pt", "note": "seed"}))
    save(folder, "one.safetensors", serialize({"x": tensors["w.f32"]}))
    save(folder, "names.safetensors", serialize({"caf\u00e9.weight": tensors["w.f32"], "cafe\u0301.weight": tensors["w.f32"]}))
    index = {"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    save(os.path.join(out, "safetensors-index"), "index.json", json.dumps(index).encode())
    save(os.path.join(out, "json"), "index.json", json.dumps(index).encode())


def json_seeds(out):
    folder = os.path.join(out, "json")
    docs = [
        {"architectures": ["BertModel"], "hidden_size": 384, "layer_norm_eps": 1e-12, "vocab_size": 30522, "dropout": None, "tie": True},
        [1, -2.5e-3, "\u00e9\u0000\ud83d\ude00", {"nested": [[[]]]}],
        {"format": "spatch", "version": 2, "kind": "patch", "metadata": {"task": "x"}, "entries": []},
    ]
    for i, doc in enumerate(docs):
        save(folder, f"doc{i}.json", json.dumps(doc).encode())
    save(folder, "escapes.json", b'{"a\\u00e9":"\\"\\\\\\/\\b\\f\\n\\r\\t","n":123456789012345678901234567890}')


def numpy_seeds(out):
    for name, array in arrays().items():
        buffer = io.BytesIO()
        np.save(buffer, array)
        save(os.path.join(out, "npy"), name + ".npy", buffer.getvalue())
    for name, array in [("fortran", np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))),
                        ("bigendian", np.arange(4, dtype=">f4")), ("v2header", np.zeros((2,), dtype=np.float32))]:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, version=(2, 0) if name == "v2header" else None)
        save(os.path.join(out, "npy"), name + ".npy", buffer.getvalue())
    for name, writer in [("plain", np.savez), ("deflated", np.savez_compressed)]:
        buffer = io.BytesIO()
        writer(buffer, **{k.replace(".", "_"): v for k, v in arrays().items()})
        save(os.path.join(out, "npz"), name + ".npz", buffer.getvalue())


def gguf_seeds(out):
    import gguf
    folder = os.path.join(out, "gguf")
    os.makedirs(folder, exist_ok=True)
    for name, alignment in [("plain", None), ("aligned16", 16)]:
        path = os.path.join(folder, name + ".gguf")
        writer = gguf.GGUFWriter(path, "llama")
        if alignment:
            writer.add_custom_alignment(alignment)
        writer.add_string("general.name", "seed")
        writer.add_uint32("llama.block_count", 2)
        writer.add_float32("llama.rope.freq_base", 10000.0)
        writer.add_bool("tokenizer.ggml.add_bos_token", True)
        writer.add_array("tokenizer.ggml.tokens", ["a", "b", "\u00e9"])
        writer.add_tensor("token_embd.weight", np.arange(8, dtype=np.float32).reshape(2, 4))
        writer.add_tensor("output.weight", np.arange(4, dtype=np.float16))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()


def hdf5_seeds(out):
    import h5py
    folder = os.path.join(out, "hdf5")
    os.makedirs(folder, exist_ok=True)
    with h5py.File(os.path.join(folder, "keras.h5"), "w") as f:
        f.attrs["backend"] = b"tensorflow"  # variable-length ASCII
        f.attrs["keras_version"] = "2.15.0"  # variable-length UTF-8
        f.attrs["layer_names"] = np.array([b"dense"], dtype="S5")  # fixed length
        group = f.create_group("model_weights/dense/dense")
        group.create_dataset("kernel:0", data=np.arange(6, dtype=np.float32).reshape(2, 3))
        group.create_dataset("bias:0", data=np.zeros(3, dtype=np.float32))
    with h5py.File(os.path.join(folder, "chunked.h5"), "w") as f:
        f.create_dataset("chunked", data=np.arange(64, dtype=np.float64).reshape(8, 8), chunks=(4, 4), compression="gzip")
        f.create_dataset("big_endian", data=np.arange(4, dtype=">i4"))
        f.create_dataset("scalar", data=np.float32(2.0))


def spatch_seeds(out):
    """Patches written from Formats/spatch.md by a minimal writer (xor and add entries)."""
    import zstandard
    folder = os.path.join(out, "spatch")

    def varints(values):
        out, previous = bytearray(), 0
        for i, v in enumerate(values):
            d = v if i == 0 else v - previous
            previous = v
            while True:
                byte = d & 0x7F
                d >>= 7
                out.append(byte | (0x80 if d else 0))
                if not d:
                    break
        return bytes(out)

    def write(name, kind, entries):
        data, described, offset = b"", [], 0
        for entry in entries:
            frames, stored = {}, b""
            for role, raw in entry.pop("streams"):
                compressed = zstandard.ZstdCompressor(level=3).compress(raw)
                frames[role] = {"offset": offset, "length": len(compressed), "size": len(raw)}
                offset += len(compressed)
                stored += compressed
            entry["frames"] = frames
            entry["sha256"] = hashlib.sha256(stored).hexdigest()
            data += stored
            described.append(entry)
        header = json.dumps({"format": "spatch", "version": 2, "kind": kind, "metadata": {"tool": "make_seeds"}, "entries": described}).encode()
        save(folder, name, b"\x89SPATCH\n" + struct.pack("<Q", len(header)) + header + data)

    old = np.arange(16, dtype=np.float32)
    new = old.copy()
    positions = [1, 5, 6, 15]
    new[positions] += 0.5
    old_bytes, new_bytes = old.view(np.uint8).reshape(-1, 4), new.view(np.uint8).reshape(-1, 4)
    xor = (old_bytes[positions] ^ new_bytes[positions])
    state = lambda a: {"dtype": "F32", "shape": [16], "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    xor_entry = lambda: {"name": "w", "op": "xor", "before": state(old), "after": state(new), "nnz": len(positions),
                         "index_encoding": "delta-varint",
                         "at_positions": {"before_sha256": hashlib.sha256(old_bytes[positions].tobytes()).hexdigest(),
                                          "after_sha256": hashlib.sha256(new_bytes[positions].tobytes()).hexdigest()},
                         "streams": [("index", varints(positions)), ("values", xor.T.copy().tobytes())]}
    added = np.arange(6, dtype=np.float16)
    add_entry = {"name": "head", "op": "add", "before": None, "after": {"dtype": "F16", "shape": [2, 3], "sha256": hashlib.sha256(added.tobytes()).hexdigest()},
                 "nnz": 6, "streams": [("after_data", added.view(np.uint8).reshape(-1, 2).T.copy().tobytes())]}
    write("xor.spatch", "patch", [xor_entry()])
    write("xor_add.spatch", "patch", [xor_entry(), add_entry])
    bitmap = bytes([0b01100010, 0b10000000])
    write("mask.spatch", "mask", [{"name": "w", "op": "mask", "before": state(old), "after": None, "nnz": 4,
                                   "index_encoding": "bitmap", "streams": [("index", bitmap)]}])


def text_seeds(out):
    classes = "greeting\tsomeone says hello\nfarewell\tsomeone says goodbye\n"
    examples = "\n".join(json.dumps({"text": t, "label": l}) for t, l in [("hi there", "greeting"), ("bye now", "farewell"), ("caf\u00e9 \u65e5", 1)])
    save(os.path.join(out, "task"), "lf", classes.encode() + b"\xff" + examples.encode())
    save(os.path.join(out, "task"), "crlf_bom", b"\xef\xbb\xbf" + classes.replace("\n", "\r\n").encode() + b"\xff" + examples.replace("\n", "\r\n").encode())
    vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nplay\n##ing\ncat\n##s\n\u00e9\n"
    for i, text in enumerate(["The cats are playing!", "caf\u00e9 \u65e5\u672c \U0001F600 don't", "a" * 300, "\u0000\u200b\t x"]):
        save(os.path.join(out, "wordpiece"), f"text{i}", vocab.encode() + b"\xff" + text.encode())
        save(os.path.join(out, "clip-text"), f"text{i}", text.encode())


def pytorch_seeds(out):
    """PyTorch checkpoints made by torch (the committed fixtures; Tests/Fixtures/make_pytorch_fixtures.py)."""
    folder = os.path.join(out, "pytorch")
    os.makedirs(folder, exist_ok=True)
    for base in [os.path.join(ROOT, "Tests/Fixtures/pytorch"), os.path.join(ROOT, "Tests/Fixtures/field-cases")]:
        for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            if name.endswith(".pt") or name.endswith(".bin"):
                shutil.copy(os.path.join(base, name), os.path.join(folder, name))


def main():
    out = sys.argv[1]
    for make in [safetensors_seeds, json_seeds, numpy_seeds, gguf_seeds, hdf5_seeds, spatch_seeds, text_seeds, pytorch_seeds]:
        make(out)
    for target in sorted(os.listdir(out)):
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seeds")


if __name__ == "__main__":
    main()
