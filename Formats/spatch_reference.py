"""Reference reader and applier for `.spatch` files, written from Formats/spatch.md alone.

Uses only numpy and zstandard (plus the standard library). It exists to prove the
specification complete: the test suite applies Scalpel's patches with it and compares the
result with `scalpel apply`, bit for bit.

  spatch_reference.py info PATCH              print the header summary, verify every frame
  spatch_reference.py apply BASE PATCH... OUT apply patches to a safetensors BASE, write OUT
  spatch_reference.py revert MODEL PATCH OUT  undo a patch
"""
import hashlib
import json
import struct
import sys

import numpy as np
import zstandard

MAGIC = b"\x89SPATCH\n"
VERSION = 2  # version 1 files (no "at_positions") are read too
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
ROLE_ORDER = ["index", "values", "before_data", "after_data"]


class PatchError(Exception):
    pass


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Patch:
    def __init__(self, path):
        with open(path, "rb") as f:
            raw = f.read()
        if len(raw) < 16 or raw[:8] != MAGIC:
            raise PatchError(f"{path}: not a .spatch file")
        (h,) = struct.unpack("<Q", raw[8:16])
        if 16 + h > len(raw):
            raise PatchError(f"{path}: truncated header")
        header_bytes = raw[16:16 + h]
        self.header = json.loads(header_bytes)
        self.id = hashlib.sha256(header_bytes).hexdigest()
        self.data = raw[16 + h:]
        version = self.header.get("version", 0)
        if self.header.get("format") != "spatch" or not 1 <= version <= VERSION:
            raise PatchError(f"{path}: unsupported format or version")
        for entry in self.header["entries"]:
            if version >= 2 and entry["op"] == "xor" and "at_positions" not in entry:
                raise PatchError(f"{path}: xor entry {entry['name']} has no at_positions (version 2)")
        # Frames tile the data section in entry order, roles in ROLE_ORDER; no frame claims
        # more than zstd can expand its stored bytes to; nnz agrees with the tensor.
        cursor = 0
        for entry in self.header["entries"]:
            for role in ROLE_ORDER:
                frame = entry["frames"].get(role)
                if frame is None:
                    continue
                if frame["offset"] != cursor:
                    raise PatchError(f"{path}: frames of {entry['name']} do not tile the data section")
                if frame["size"] > 32768 * frame["length"]:
                    raise PatchError(f"{path}: {entry['name']}: {role} frame claims more than zstd can expand")
                cursor += frame["length"]
            state = entry["before"] if entry["before"] is not None else entry["after"]
            n = numel(state["shape"]) if state is not None else 0
            if entry["op"] in ("xor", "mask"):
                index = entry["frames"].get("index", {"size": 0})
                if entry["nnz"] > n or (entry.get("index_encoding") == "delta-varint" and entry["nnz"] > index["size"]):
                    raise PatchError(f"{path}: {entry['name']}: nnz {entry['nnz']} does not fit the tensor or its index")
                if entry.get("index_encoding") == "bitmap" and index["size"] != (n + 7) // 8:
                    raise PatchError(f"{path}: {entry['name']}: bitmap size does not match the tensor")
            elif entry["nnz"] != numel((entry["after"] or entry["before"])["shape"]):
                raise PatchError(f"{path}: {entry['name']}: nnz must equal the element count for {entry['op']}")
            stored = b"".join(self.stored(entry, r) for r in ROLE_ORDER if r in entry["frames"])
            if hashlib.sha256(stored).hexdigest() != entry["sha256"]:
                raise PatchError(f"{path}: entry {entry['name']} fails its checksum")
        if cursor != len(self.data):
            raise PatchError(f"{path}: data section has bytes outside any frame")

    def stored(self, entry, role):
        frame = entry["frames"][role]
        return self.data[frame["offset"]:frame["offset"] + frame["length"]]

    def frame(self, entry, role):
        frame = entry["frames"][role]
        out = zstandard.ZstdDecompressor().decompress(self.stored(entry, role), max_output_size=frame["size"])
        if len(out) != frame["size"]:
            raise PatchError(f"{entry['name']}: {role} decompressed to {len(out)} bytes, header says {frame['size']}")
        return out

    def positions(self, entry):
        state = entry["before"]
        n = numel(state["shape"])
        raw = self.frame(entry, "index")
        if entry["index_encoding"] == "bitmap":
            bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")[:n]
            idx = np.nonzero(bits)[0]
        else:
            deltas, value, shift = [], 0, 0
            for byte in raw:
                value |= (byte & 0x7F) << shift
                if byte & 0x80:
                    shift += 7
                else:
                    deltas.append(value)
                    value, shift = 0, 0
            idx = np.cumsum(np.array(deltas, dtype=np.int64))
        if len(idx) != entry["nnz"] or (len(idx) and (idx[-1] >= n or np.any(np.diff(idx) <= 0))):
            raise PatchError(f"{entry['name']}: invalid positions")
        return idx

    def whole(self, entry, role, state):
        planes = np.frombuffer(self.frame(entry, role), dtype=np.uint8)
        s = SIZES[state["dtype"]]
        return planes.reshape(s, -1).T.copy().tobytes()  # planes -> element bytes


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], raw[8 + n + begin:8 + n + end])
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, offset, blobs = {}, 0, []
    if meta:
        header["__metadata__"] = meta
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def step(tensors, patch, entry, backwards):
    name, op = entry["name"], entry["op"]
    expected, result = (entry["after"], entry["before"]) if backwards else (entry["before"], entry["after"])
    at = entry.get("at_positions")
    at_expected, at_result = (None, None) if at is None else \
        ((at["after_sha256"], at["before_sha256"]) if backwards else (at["before_sha256"], at["after_sha256"]))
    current = tensors.get(name)
    composed = False
    if expected is None:
        if current is not None:
            raise PatchError(f"{name}: already present")
    else:
        if current is None or current[0] != expected["dtype"] or list(current[1]) != expected["shape"]:
            raise PatchError(f"{name}: not the dtype and shape the patch expects")
        if sha(current[2]) != expected["sha256"]:
            # Composition (version 2): an xor entry applies where the elements it changes
            # hold the bits it was made against, whatever the rest of the tensor holds.
            if op != "xor" or at_expected is None:
                raise PatchError(f"{name}: does not match the patch's fingerprint")
            composed = True
    if op == "xor":
        s = SIZES[expected["dtype"]]
        idx = patch.positions(entry)
        planes = np.frombuffer(patch.frame(entry, "values"), dtype=np.uint8).reshape(s, -1)
        data = np.frombuffer(current[2], dtype=np.uint8).copy().reshape(-1, s)
        if at_expected is not None and sha(data[idx].tobytes()) != at_expected:
            raise PatchError(f"{name}: the elements the patch changes do not hold the bits it was made against")
        data[idx] ^= planes.T
        if at_result is not None and sha(data[idx].tobytes()) != at_result:
            raise PatchError(f"{name}: the changed elements do not match the patch's position fingerprint")
        new = (current[0], current[1], data.tobytes())
    elif op == "mask":
        raise PatchError(f"{name}: a mask cannot be applied")
    elif result is None:
        new = None
    else:
        role = "before_data" if backwards else "after_data"
        new = (result["dtype"], result["shape"], patch.whole(entry, role, result))
    if new is None:
        tensors.pop(name, None)
    else:
        if not composed and sha(new[2]) != result["sha256"]:
            raise PatchError(f"{name}: result does not match the patch's fingerprint")
        tensors[name] = new


def main(argv):
    if len(argv) == 3 and argv[1] == "info":
        patch = Patch(argv[2])
        print(json.dumps({"id": patch.id, "kind": patch.header["kind"], "entries": len(patch.header["entries"])}))
        return 0
    if len(argv) >= 5 and argv[1] in ("apply", "revert"):
        tensors, meta = read_safetensors(argv[2])
        patches = [Patch(p) for p in argv[3:-1]]
        for patch in patches:
            for entry in patch.header["entries"]:
                step(tensors, patch, entry, backwards=argv[1] == "revert")
        write_safetensors(argv[-1], tensors, meta)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except PatchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
