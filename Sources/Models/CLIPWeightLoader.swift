import Checkpoints
import Tensors

extension CLIPModel {
    /// Reads CLIP's tensors from a checkpoint as Float32, each by name and the shape the
    /// configuration expects, in either naming (`Names`); `replacements` stand in for
    /// tensors of the same name (a patched model held in memory).
    struct WeightLoader {
        let checkpoint: Checkpoint
        let replacements: [String: TensorView]
        let names: Names
        let naming: Naming

        /// The tensor `name` as Float32 values, checked to be `shape` (a scalar may be stored
        /// as [] or [1]: Hugging Face's logit_scale is []).
        /// - Throws: `ModelError` naming the checkpoint when the tensor is missing, of another
        ///   shape, or not floating point.
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let entry = checkpoint.entry(named: name) else {
                throw ModelError(checkpoint.path, "CLIP tensor \"\(name)\" is missing")
            }
            let view = replacements[name] ?? checkpoint.view(entry)
            guard view.shape == shape || (shape == [1] && view.shape.isEmpty) else {
                throw ModelError(
                    checkpoint.path,
                    """
                    CLIP tensor \"\(name)\" is \(Shape.describe(view.shape)), expected \(Shape.describe(shape)) \
                    from the other tensors
                    """
                )
            }
            guard view.dtype.isFloatingPoint else {
                throw ModelError(
                    checkpoint.path, "CLIP tensor \"\(name)\" is \(view.dtype.rawValue), not floating point")
            }
            return view.floatValues()
        }

        /// `name.weight` [out, inWidth] and `name.bias` [out].
        func linear(_ name: String, _ out: Int, _ inWidth: Int) throws -> Linear {
            Linear(
                weight: try load(name + ".weight", [out, inWidth]), bias: try load(name + ".bias", [out]),
                inWidth: inWidth, outWidth: out)
        }

        /// `name.weight` and `name.bias`, [width] each.
        func norm(_ name: String, width: Int) throws -> Norm {
            Norm(gamma: try load(name + ".weight", [width]), beta: try load(name + ".bias", [width]))
        }

        /// A projection into the embedding space as the runtime multiplies by it, [width,
        /// embedding] (features · projection): open_clip stores it so; Hugging Face stores a
        /// Linear without bias, [embedding, width], which is transposed.
        func projection(_ name: String, width: Int, embedding: Int) throws -> [Float] {
            guard naming == .huggingFace else { return try load(name, [width, embedding]) }
            let stored = try load(name, [embedding, width])
            var out = [Float](repeating: 0, count: stored.count)
            for r in 0..<embedding { for c in 0..<width { out[c * embedding + r] = stored[r * width + c] } }
            return out
        }

        /// The query, key and value projections of the block at `prefix`: open_clip's packed
        /// `attn.in_proj_weight` [3C, C] and `in_proj_bias` [3C] split in three, or Hugging
        /// Face's separate `q_proj`, `k_proj`, `v_proj`.
        private func attentionProjections(_ prefix: String, width w: Int) throws -> (Linear, Linear, Linear) {
            guard naming == .openCLIP else {
                return (
                    try linear(prefix + "self_attn.q_proj", w, w), try linear(prefix + "self_attn.k_proj", w, w),
                    try linear(prefix + "self_attn.v_proj", w, w)
                )
            }
            let weight = try load(prefix + "attn.in_proj_weight", [3 * w, w])
            let bias = try load(prefix + "attn.in_proj_bias", [3 * w])
            func part(_ k: Int) -> Linear {
                Linear(
                    weight: Array(weight[(k * w * w)..<((k + 1) * w * w)]),
                    bias: Array(bias[(k * w)..<((k + 1) * w)]), inWidth: w, outWidth: w)
            }
            return (part(0), part(1), part(2))
        }

        /// The residual blocks of one tower, in order.
        func blocks(_ tower: Tower, vision: Bool) throws -> [Block] {
            try (0..<tower.layers).map { i in
                let w = tower.width
                let p = names.block(vision: vision, i)
                let (query, key, value) = try attentionProjections(p, width: w)
                return Block(
                    norm1: try norm(p + names.norm1, width: w), query: query, key: key, value: value,
                    out: try linear(p + names.attentionOut, w, w),
                    norm2: try norm(p + names.norm2, width: w), fc: try linear(p + names.fc, tower.intermediate, w),
                    projection: try linear(p + names.projection, w, tower.intermediate))
            }
        }
    }
}
