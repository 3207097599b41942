import Foundation
import Tensors

extension CLIPModel {
    /// What one residual block's forward pass leaves for the backward pass, in forward order
    /// (open_clip's `ResidualAttentionBlock`: x + attn(ln_1(x)), then + mlp(ln_2(·))). Shapes in
    /// the kernels' legend (Kernels.swift): N = B · T rows, C = the tower's `width`, F = its
    /// `intermediate`, NH = its `heads`.
    struct BlockActivations {
        /// [N, C]: the block's input (the residual stream), ln_1's input.
        var input: [Float]
        /// [N, C]: ln_1's output, the attention's input.
        var normed1: [Float]
        /// [N, C] each: the query, key and value projections of `normed1` (parts of in_proj).
        var q: [Float], k: [Float], v: [Float]
        /// [B, NH, T, T]: the attention weights after the softmax.
        var probabilities: [Float]
        /// [N, C]: `input` plus the attention's output projection: ln_2's input.
        var middle: [Float]
        /// [N, C]: ln_2's output, the first MLP linear's (c_fc) input.
        var normed2: [Float]
        /// [N, F]: c_fc's output, the activation's input.
        var preActivation: [Float]
    }

    /// One tower's pass over a batch: the last hidden state [batch · length × width], the rows
    /// pooled (one per item), and the activations of blocks `recordFrom`… when recorded.
    struct TowerPass {
        let hidden: [Float]
        let batch: Int
        let length: Int
        let pooledRows: [Int]
        let activations: [BlockActivations]
    }

    /// Normalised text embeddings of token-id sequences (from `CLIPTokenizer.encode`).
    /// - Throws: `ModelError` for an empty sequence, one longer than `contextLength`, or a token id outside the
    ///   vocabulary.
    public func embedTexts(_ batch: [[Int32]]) throws -> [[Float]] {
        let pass = try runText(batch, recordFrom: nil)
        return normalised(
            project(pass, norm: finalNorm, projection: textProjection, tower: configuration.text).features)
    }

    /// Normalised image embeddings of preprocessed images, each 3 × size × size floats
    /// (channel-major, as `images` in a task's .npz).
    /// - Throws: `ModelError` when an image does not have 3 × `imageSize` × `imageSize` values.
    public func embedImages(_ images: [[Float]]) throws -> [[Float]] {
        let pass = try runVision(images, recordFrom: nil)
        return normalised(
            project(pass, norm: postNorm, projection: visionProjection, tower: configuration.vision).features)
    }

    /// The text tower: token and position embeddings, causal blocks; pooled at each
    /// sequence's highest token id (the end token), as OpenAI's CLIP does.
    func runText(_ batch: [[Int32]], recordFrom: Int?) throws -> TowerPass {
        let c = configuration
        let w = c.text.width
        let length = batch.map(\.count).max() ?? 0
        guard length <= c.contextLength else {
            throw ModelError(
                "input", "a sequence of \(length) tokens is longer than the model's context of \(c.contextLength)")
        }
        var x = [Float](repeating: 0, count: batch.count * length * w)
        var pooled: [Int] = []
        for (b, ids) in batch.enumerated() {
            guard !ids.isEmpty else {
                throw ModelError(
                    "input", "an empty token sequence (the tokenizer frames every text with start and end tokens)")
            }
            for t in 0..<length {
                let id = t < ids.count ? Int(ids[t]) : 0
                guard id >= 0, id < c.vocabulary else {
                    throw ModelError("input", "token id \(id) is outside the vocabulary of \(c.vocabulary)")
                }
                let row = (b * length + t) * w
                for i in 0..<w { x[row + i] = tokenEmbedding[id * w + i] + textPositions[t * w + i] }
            }
            // the first highest id
            let end = ids.indices.max { ids[$0] < ids[$1] || (ids[$0] == ids[$1] && $0 > $1) } ?? 0
            pooled.append(b * length + end)
        }
        let activations = runBlocks(
            textBlocks, tower: c.text, x: &x, batch: batch.count, length: length, causal: true, recordFrom: recordFrom)
        return TowerPass(hidden: x, batch: batch.count, length: length, pooledRows: pooled, activations: activations)
    }

    /// The image tower: patches through the convolution (a matrix product), the class token,
    /// positions, the pre-norm, blocks; pooled at the class token.
    func runVision(_ images: [[Float]], recordFrom: Int?) throws -> TowerPass {
        let c = configuration
        let w = c.vision.width
        let p = c.patchSize
        let size = c.imageSize
        let grid = size / p
        let length = grid * grid + 1
        let patchLength = 3 * p * p
        for (n, image) in images.enumerated() where image.count != 3 * size * size {
            throw ModelError(
                "input",
                "image \(n) has \(image.count) values; this model takes 3 × \(size) × \(size) = \(3 * size * size)")
        }
        // Each patch as a row of (channel, y, x) values: the convolution's weight layout.
        var patches = [Float](repeating: 0, count: images.count * grid * grid * patchLength)
        for (n, image) in images.enumerated() {
            for gy in 0..<grid {
                for gx in 0..<grid {
                    let row = ((n * grid + gy) * grid + gx) * patchLength
                    for channel in 0..<3 {
                        for y in 0..<p {
                            let source = channel * size * size + (gy * p + y) * size + gx * p
                            let target = row + (channel * p + y) * p
                            for x in 0..<p { patches[target + x] = image[source + x] }
                        }
                    }
                }
            }
        }
        var embedded = [Float](repeating: 0, count: images.count * grid * grid * w)
        patches.withUnsafeBufferPointer { x in
            patchWeight.withUnsafeBufferPointer { weight in
                embedded.withUnsafeMutableBufferPointer { out in
                    Kernels.linear(
                        x.baseAddress!, rows: images.count * grid * grid, inWidth: patchLength,
                        weight: weight.baseAddress!, bias: nil,
                        outWidth: w, out: out.baseAddress!)
                }
            }
        }
        var tokens = [Float](repeating: 0, count: images.count * length * w)
        for n in 0..<images.count {
            for t in 0..<length {
                let row = (n * length + t) * w
                for i in 0..<w {
                    let value = t == 0 ? classEmbedding[i] : embedded[((n * grid * grid) + t - 1) * w + i]
                    tokens[row + i] = value + visionPositions[t * w + i]
                }
            }
        }
        var x = [Float](repeating: 0, count: tokens.count)
        preNorm.forward(tokens, rows: images.count * length, eps: configuration.layerNormEpsilon, into: &x)
        let activations = runBlocks(
            visionBlocks, tower: c.vision, x: &x, batch: images.count, length: length, causal: false,
            recordFrom: recordFrom)
        return TowerPass(
            hidden: x, batch: images.count, length: length, pooledRows: (0..<images.count).map { $0 * length },
            activations: activations)
    }

    /// Pre-LayerNorm blocks: x + attention(LN₁(x)), then + MLP(LN₂(·)); `x` becomes the output.
    private func runBlocks(
        _ blocks: [Block], tower: Tower, x: inout [Float], batch: Int, length: Int, causal: Bool, recordFrom: Int?
    ) -> [BlockActivations] {
        let rows = batch * length
        let w = tower.width
        let everyKey = [Float](repeating: 1, count: rows)
        var recorded: [BlockActivations] = []
        for (index, block) in blocks.enumerated() {
            // Every buffer written below is allocated afresh (see `scratch`): the record of
            // the block before may still hold the last ones.
            let record = recordFrom.map { index >= $0 } ?? false
            var normed1 = [Float].scratch(rows * w)
            block.norm1.forward(x, rows: rows, eps: configuration.layerNormEpsilon, into: &normed1)
            var q = [Float].scratch(rows * w)
            var k = [Float].scratch(rows * w)
            var v = [Float].scratch(rows * w)
            block.query.forward(normed1, rows: rows, into: &q)
            block.key.forward(normed1, rows: rows, into: &k)
            block.value.forward(normed1, rows: rows, into: &v)
            var probabilities = [Float].scratch(batch * tower.heads * length * length)
            var context = [Float].scratch(rows * w)
            Attention.forward(
                q: q, k: k, v: v, batch: batch, length: length, width: w, heads: tower.heads, keyMask: everyKey,
                causal: causal, probabilities: &probabilities, out: &context)
            var attended = [Float].scratch(rows * w)
            block.out.forward(context, rows: rows, into: &attended)
            var middle = [Float].scratch(rows * w)
            for i in 0..<(rows * w) { middle[i] = x[i] + attended[i] }
            var normed2 = [Float].scratch(rows * w)
            block.norm2.forward(middle, rows: rows, eps: configuration.layerNormEpsilon, into: &normed2)
            var preActivation = [Float].scratch(rows * tower.intermediate)
            block.fc.forward(normed2, rows: rows, into: &preActivation)
            // The backward pass needs the activation's input; otherwise it runs in place.
            let activated = activation(of: &preActivation, keepingInput: record)
            var projected = [Float].scratch(rows * w)
            block.projection.forward(activated, rows: rows, into: &projected)
            var output = [Float].scratch(rows * w)
            for i in 0..<(rows * w) { output[i] = middle[i] + projected[i] }
            if record {
                recorded.append(
                    BlockActivations(
                        input: x, normed1: normed1, q: q, k: k, v: v, probabilities: probabilities,
                        middle: middle, normed2: normed2, preActivation: preActivation))
            }
            x = output
        }
        return recorded
    }

    /// The pooled rows through the final LayerNorm and the projection: features [batch][embedding].
    func project(_ pass: TowerPass, norm: Norm, projection: [Float], tower: Tower) -> (
        features: [[Float]], normed: [[Float]]
    ) {
        let w = tower.width
        let e = configuration.embedding
        var features: [[Float]] = []
        var normedRows: [[Float]] = []
        for row in pass.pooledRows {
            var normed = [Float](repeating: 0, count: w)
            norm.forward(
                Array(pass.hidden[(row * w)..<((row + 1) * w)]), rows: 1, eps: configuration.layerNormEpsilon,
                into: &normed)
            var feature = [Float](repeating: 0, count: e)
            for i in 0..<w where normed[i] != 0 {
                let value = normed[i]
                for j in 0..<e { feature[j] += value * projection[i * e + j] }
            }
            features.append(feature)
            normedRows.append(normed)
        }
        return (features, normedRows)
    }

    func normalised(_ rows: [[Float]]) -> [[Float]] {
        rows.map { row in
            let norm = max(row.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return row.map { $0 / norm }
        }
    }

    /// The MLP's activation of `x` (see `elementwise`).
    func activation(of x: inout [Float], keepingInput: Bool) -> [Float] {
        elementwise(&x, keepingInput: keepingInput) { x, count, out in
            switch configuration.activation {
            case .quickGELU: Kernels.quickGELU(x, count: count, into: out)
            case .gelu: Kernels.gelu(x, count: count, into: out)
            }
        }
    }
}
