import Checkpoints
import Foundation
import Models
import Patches
import Tensors

/// One fuzz target: a parser of the repository, fed arbitrary bytes. A thrown error is a
/// correct refusal; a trap, a sanitizer report, a hang or runaway memory is a finding.
struct Harness: Sendable {
    let name: String
    /// What it parses, for `scalpel-fuzz list`.
    let summary: String
    let run: @Sendable (UnsafeRawBufferPointer) -> Void
}

/// A private folder on tmpfs where file-based targets write their input.
let workspace: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/scalpel-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Writes `bytes` to `name` in the workspace and returns its path.
func file(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
    let path = workspace + "/" + name
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// Opens a checkpoint and reads every tensor it holds, as `convert` would.
func readCheckpoint(_ path: String) {
    guard let checkpoint = try? Checkpoint.open(path, allowingOpaqueTensors: true) else { return }
    for entry in checkpoint.tensors { _ = checkpoint.view(entry).sha256 }
    _ = checkpoint.metadata.count
}

/// `bytes` split at the first `0xFF` (which UTF-8 text never holds): two files' contents.
func split(_ bytes: UnsafeRawBufferPointer) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
    let cut = bytes.firstIndex(of: 0xFF) ?? bytes.count
    return (
        UnsafeRawBufferPointer(rebasing: bytes[..<cut]),
        UnsafeRawBufferPointer(rebasing: bytes[min(cut + 1, bytes.count)...])
    )
}

/// A small WordPiece vocabulary, so that text inputs reach the tokenizer's whole loop.
let wordPiece: WordPieceTokenizer? = {
    let tokens = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "a", "##s", "##ing", "cat", "play", "é", "##é", "日", "!", ".",
    ]
    return try? WordPieceTokenizer(
        vocabulary: Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, Int32($0)) }),
        lowercase: true, maxLength: 64)
}()

/// CLIP's BPE vocabulary, from the default location `./setup.sh` fetches it to (or
/// SCALPEL_CLIP_BPE); nil when absent, and the `clip-text` target then says so.
let clipTokenizer: CLIPTokenizer? = {
    let path =
        ProcessInfo.processInfo.environment["SCALPEL_CLIP_BPE"] ?? ".cache/models/clip-bpe/bpe_simple_vocab_16e6.txt.gz"
    return try? CLIPTokenizer(vocabularyFile: path)
}()

let harnesses: [Harness] = [
    Harness(name: "json", summary: "the JSON parser (headers, indexes, configs)") { bytes in
        _ = try? JSONValue.parse(bytes)
    },
    Harness(name: "safetensors", summary: "a safetensors file: header, offsets, every tensor read") { bytes in
        _ = try? SafetensorsHeader.parse(bytes, path: "input.safetensors")
        readCheckpoint(file("input.safetensors", bytes))
    },
    Harness(name: "safetensors-index", summary: "a sharded model's index.json beside two valid shards") { bytes in
        Shards.prepare()
        readCheckpoint(file("model.safetensors.index.json", bytes))
    },
    Harness(name: "pytorch", summary: "a PyTorch zip checkpoint: zip reader, restricted unpickler, storages") { bytes in
        readCheckpoint(file("input.pt", bytes))
    },
    Harness(name: "npy", summary: "a NumPy .npy: header and data") { bytes in
        readCheckpoint(file("input.npy", bytes))
    },
    Harness(name: "npz", summary: "a NumPy .npz: zip members, deflate, .npy headers") { bytes in
        readCheckpoint(file("input.npz", bytes))
    },
    Harness(name: "gguf", summary: "a GGUF file: header, typed metadata, tensor infos") { bytes in
        readCheckpoint(file("input.gguf", bytes))
    },
    Harness(name: "hdf5", summary: "an HDF5/Keras file: groups, datasets, attributes (through libhdf5)") { bytes in
        readCheckpoint(file("input.h5", bytes))
    },
    Harness(name: "spatch", summary: "a .spatch patch or mask: header, frames, positions, values, audit") { bytes in
        guard let patch = try? PatchFile.open(file("input.spatch", bytes)) else { return }
        _ = PatchAuditor.audit(patch, base: nil)
        for entry in patch.entries where (try? patch.verify(entry)) != nil {
            _ = try? patch.positions(entry)
            for after in [false, true] { _ = try? patch.wholeTensor(entry, after: after) }
        }
    },
    Harness(name: "task", summary: "a task folder: classes.txt, then 0xFF, then train.jsonl") { bytes in
        let (classes, examples) = split(bytes)
        let folder = workspace + "/task"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: folder + "/classes.txt", contents: Data(classes))
        FileManager.default.createFile(atPath: folder + "/train.jsonl", contents: Data(examples))
        guard let task = try? TaskFolder(folder: folder) else { return }
        _ = try? task.examples("train")
    },
    Harness(name: "wordpiece", summary: "BERT's WordPiece tokenizer: a vocab.txt, then 0xFF, then a text") { bytes in
        let (vocabulary, text) = split(bytes)
        let tokenizer =
            (try? WordPieceTokenizer(vocabularyFile: file("vocab.txt", vocabulary), maxLength: 64)) ?? wordPiece
        _ = tokenizer?.encode(String(decoding: text, as: UTF8.self))
    },
    Harness(name: "clip-text", summary: "CLIP's byte-level BPE tokenizer on a text (needs the BPE vocabulary)") {
        bytes in
        _ = clipTokenizer?.encode(String(decoding: bytes, as: UTF8.self))
    },
]

/// Two valid shards for the index target, written once.
enum Shards {
    nonisolated(unsafe) static var ready = false

    static func prepare() {
        guard !ready else { return }
        ready = true
        for (shard, name) in [("model-00001-of-00002.safetensors", "a"), ("model-00002-of-00002.safetensors", "b")] {
            let view = TensorView.make(dtype: .f32, shape: [2]) { _ in }
            try? SafetensorsWriter.write(
                [OutputTensor(name: name, view: view)], metadata: [], to: workspace + "/" + shard)
        }
    }
}
