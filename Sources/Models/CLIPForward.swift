import Foundation
import Tensors

extension CLIPModel {
    /// What one block's forward pass leaves for the backward pass.
    struct BlockActivations {
        var input: [Float], normed1: [Float], q: [Float], k: [Float], v: [Float], probabilities: [Float]
        var middle: [Float], normed2: [Float], preActivation: [Float]
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
    public func embedTexts(_ batch: [[Int32]]) throws -> [[Float]] {
        let pass = try runText(batch, recordFrom: nil)
        return normalised(
            project(pass, norm: finalNorm, projection: textProjection, tower: configuration.text).features)
    }

    /// Normalised image embeddings of preprocessed images, each 3 × size × size floats
    /// (channel-major, as `images` in a task's .npz).
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
        layerNorm(tokens, preNorm, rows: images.count * length, width: w, into: &x)
        let activations = runBlocks(
            visionBlocks, tower: c.vision, x: &x, batch: images.count, length: length, causal: false,
            recordFrom: recordFrom)
        return TowerPass(
            hidden: x, batch: images.count, length: length, pooledRows: (0..<images.count).map { $0 * length },
            activations: activations)
    }

    /// Pre-LayerNorm blocks: x + attention(LN₁(x)), then + MLP(LN₂(·)); `x` becomes the output.
    func runBlocks(
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
            layerNorm(x, block.norm1, rows: rows, width: w, into: &normed1)
            var q = [Float].scratch(rows * w)
            var k = [Float].scratch(rows * w)
            var v = [Float].scratch(rows * w)
            apply(block.query, normed1, rows: rows, into: &q)
            apply(block.key, normed1, rows: rows, into: &k)
            apply(block.value, normed1, rows: rows, into: &v)
            var probabilities = [Float].scratch(batch * tower.heads * length * length)
            var context = [Float].scratch(rows * w)
            q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        probabilities.withUnsafeMutableBufferPointer { pp in
                            context.withUnsafeMutableBufferPointer { cp in
                                Kernels.attention(
                                    q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, batch: batch,
                                    length: length, width: w,
                                    heads: tower.heads, keyMask: everyKey, probabilities: pp.baseAddress!,
                                    causal: causal, out: cp.baseAddress!)
                            }
                        }
                    }
                }
            }
            var attended = [Float].scratch(rows * w)
            apply(block.out, context, rows: rows, into: &attended)
            var middle = [Float].scratch(rows * w)
            for i in 0..<(rows * w) { middle[i] = x[i] + attended[i] }
            var normed2 = [Float].scratch(rows * w)
            layerNorm(middle, block.norm2, rows: rows, width: w, into: &normed2)
            var preActivation = [Float].scratch(rows * tower.intermediate)
            apply(block.fc, normed2, rows: rows, into: &preActivation)
            // The backward pass needs the activation's input; otherwise it runs in place.
            let activated = activation(of: &preActivation, keepingInput: record)
            var projected = [Float].scratch(rows * w)
            apply(block.projection, activated, rows: rows, into: &projected)
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
            layerNorm(Array(pass.hidden[(row * w)..<((row + 1) * w)]), norm, rows: 1, width: w, into: &normed)
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

    func apply(_ linear: Linear, _ x: [Float], rows: Int, into out: inout [Float]) {
        x.withUnsafeBufferPointer { xp in
            linear.weight.withUnsafeBufferPointer { wp in
                linear.bias.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { op in
                        Kernels.linear(
                            xp.baseAddress!, rows: rows, inWidth: linear.inWidth, weight: wp.baseAddress!,
                            bias: bp.baseAddress!,
                            outWidth: linear.outWidth, out: op.baseAddress!)
                    }
                }
            }
        }
    }

    func layerNorm(_ x: [Float], _ norm: Norm, rows: Int, width: Int, into out: inout [Float]) {
        x.withUnsafeBufferPointer { xp in
            norm.gamma.withUnsafeBufferPointer { gp in
                norm.beta.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { op in
                        Kernels.layerNorm(
                            xp.baseAddress!, rows: rows, width: width, gamma: gp.baseAddress!, beta: bp.baseAddress!,
                            eps: configuration.layerNormEpsilon, out: op.baseAddress!)
                    }
                }
            }
        }
    }
}
