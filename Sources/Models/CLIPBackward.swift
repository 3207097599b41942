import Foundation
import Tensors

extension CLIPModel {
    /// A loss of a batch's normalised image and text embeddings, and its gradients with
    /// respect to each of them.
    public typealias EmbeddingLoss = (_ images: [[Float]], _ texts: [[Float]]) -> (
        loss: Float, images: [[Float]], texts: [[Float]]
    )

    /// A loss and its gradients with respect to some of the model's tensors.
    public struct Gradients: Sendable {
        /// The loss's value for the batch.
        public let loss: Float
        /// d loss / d tensor, by checkpoint name.
        public let tensors: [String: [Float]]
    }

    /// Gradients of `loss` with respect to first-MLP linear tensors (`mlp.c_fc` / `mlp.fc1`,
    /// weight or bias) of either tower, by checkpoint name. Each tower's backward pass stops
    /// at the earliest block asked for; a tower with nothing asked for runs forward only.
    /// `stage` says which vectors the loss sees: the normalised embeddings (the default), or
    /// the projected features before the normalisation (`.unnormalised`).
    /// - Throws: `ModelError` when a name is not a first-MLP tensor, `loss` returns gradients for another number of
    ///   images or texts, or as `embedTexts` and `embedImages` do.
    public func gradients(
        images: [[Float]], texts: [[Int32]], of names: Set<String>, stage: EmbeddingStage = .normalised,
        loss: EmbeddingLoss
    ) throws -> Gradients {
        var wanted: [Bool: [Int: (weight: String?, bias: String?)]] = [false: [:], true: [:]]
        for name in names {
            guard let (vision, index, isBias) = firstMLP(name) else {
                throw ModelError(
                    name,
                    """
                    is not a first-MLP tensor of this CLIP model (\(firstMLPNames.text.first ?? "") …, \
                    \(firstMLPNames.vision.first ?? "") …)
                    """
                )
            }
            var entry = wanted[vision]![index] ?? (nil, nil)
            if isBias { entry.bias = name } else { entry.weight = name }
            wanted[vision]![index] = entry
        }
        // A tower with no inputs (a text task has no images) does not run.
        let visionPass = images.isEmpty ? nil : try runVision(images, recordFrom: wanted[true]!.keys.min())
        let textPass = texts.isEmpty ? nil : try runText(texts, recordFrom: wanted[false]!.keys.min())
        let visionFeatures = visionPass.map {
            project($0, norm: postNorm, projection: visionProjection, tower: configuration.vision)
        }
        let textFeatures = textPass.map {
            project($0, norm: finalNorm, projection: textProjection, tower: configuration.text)
        }
        let seen = { (features: [[Float]]) in stage == .normalised ? self.normalised(features) : features }
        let (value, dImages, dTexts) = loss(seen(visionFeatures?.features ?? []), seen(textFeatures?.features ?? []))
        let width = configuration.embedding
        guard dImages.count == images.count, dTexts.count == texts.count,
            (dImages + dTexts).allSatisfy({ $0.count == width })
        else {
            throw ModelError("loss", "returned gradients of the wrong shape")
        }
        var out: [String: [Float]] = [:]
        for (vision, pass, features, gradients) in [
            (true, visionPass, visionFeatures, dImages), (false, textPass, textFeatures, dTexts),
        ] {
            guard let asked = wanted[vision], !asked.isEmpty, let pass, let features else { continue }
            let tower = vision ? configuration.vision : configuration.text
            var dx = poolBackward(
                pass, features: features, gradients: gradients, norm: vision ? postNorm : finalNorm,
                projection: vision ? visionProjection : textProjection, tower: tower, normalised: stage == .normalised)
            let blocks = vision ? visionBlocks : textBlocks
            let earliest = asked.keys.min()!
            for index in stride(from: tower.layers - 1, through: earliest, by: -1) {
                let saved = pass.activations[index - earliest]
                blockBackward(
                    blocks[index], saved, tower: tower, pass: pass, dx: &dx, wanted: asked[index], into: &out,
                    last: index == earliest)
            }
        }
        return Gradients(loss: value, tensors: out)
    }

    /// (image tower?, block, bias?) of a first-MLP tensor name.
    func firstMLP(_ name: String) -> (Bool, Int, Bool)? {
        for (vision, weights) in [(false, firstMLPNames.text), (true, firstMLPNames.vision)] {
            if let index = weights.firstIndex(of: name) { return (vision, index, false) }
            if let index = weights.firstIndex(where: { String($0.dropLast("weight".count)) + "bias" == name }) {
                return (vision, index, true)
            }
        }
        return nil
    }

    /// From the embeddings' gradients to the last hidden state's: normalisation, projection,
    /// the final LayerNorm of the pooled rows; zero elsewhere. With `normalised` false the
    /// gradients are with respect to the features before the normalisation, which is skipped.
    func poolBackward(
        _ pass: TowerPass, features: (features: [[Float]], normed: [[Float]]), gradients: [[Float]], norm: Norm,
        projection: [Float], tower: Tower, normalised: Bool
    ) -> [Float] {
        let w = tower.width
        let e = configuration.embedding
        var dx = [Float](repeating: 0, count: pass.batch * pass.length * w)
        for (b, row) in pass.pooledRows.enumerated() {
            let f = features.features[b]
            let de = gradients[b]
            let length = max(f.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            let unit = f.map { $0 / length }
            let dot = zip(unit, de).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let df = normalised ? (0..<e).map { (de[$0] - unit[$0] * dot) / length } : de
            var dNormed = [Float](repeating: 0, count: w)
            for i in 0..<w {
                var total: Float = 0
                for j in 0..<e { total += projection[i * e + j] * df[j] }
                dNormed[i] = total
            }
            let hidden = Array(pass.hidden[(row * w)..<((row + 1) * w)])
            var dHidden = [Float](repeating: 0, count: w)
            norm.inputGradient(hidden, dNormed, rows: 1, eps: configuration.layerNormEpsilon, into: &dHidden)
            for i in 0..<w { dx[row * w + i] = dHidden[i] }
        }
        return dx
    }

    /// One pre-LayerNorm block backwards, `dx` from its output to its input; the first MLP
    /// linear's gradients when wanted. `last`: nothing below is wanted, stop after the MLP.
    private func blockBackward(
        _ block: Block, _ saved: BlockActivations, tower: Tower, pass: TowerPass, dx: inout [Float],
        wanted: (weight: String?, bias: String?)?, into out: inout [String: [Float]], last: Bool
    ) {
        let rows = pass.batch * pass.length
        let w = tower.width
        let f = tower.intermediate
        var dInner = [Float](repeating: 0, count: rows * f)
        block.projection.inputGradient(dx, rows: rows, accumulate: false, into: &dInner)
        saved.preActivation.withUnsafeBufferPointer { x in
            dInner.withUnsafeMutableBufferPointer { dy in
                switch configuration.activation {
                case .quickGELU: Kernels.quickGELUBackward(x.baseAddress!, dy.baseAddress!, count: rows * f)
                case .gelu: Kernels.geluBackward(x.baseAddress!, dy.baseAddress!, count: rows * f)
                }
            }
        }
        if let name = wanted?.weight {
            var dw = [Float](repeating: 0, count: f * w)
            dInner.withUnsafeBufferPointer { dy in
                saved.normed2.withUnsafeBufferPointer { x in
                    dw.withUnsafeMutableBufferPointer {
                        Kernels.linearWeightGradient(
                            dy.baseAddress!, x.baseAddress!, rows: rows, outWidth: f, inWidth: w, dw: $0.baseAddress!)
                    }
                }
            }
            out[name] = dw
        }
        if let name = wanted?.bias {
            var db = [Float](repeating: 0, count: f)
            dInner.withUnsafeBufferPointer { Kernels.columnSums($0.baseAddress!, rows: rows, width: f, into: &db) }
            out[name] = db
        }
        guard !last else { return }
        // Through LN₂ onto the residual stream.
        var dNormed = [Float](repeating: 0, count: rows * w)
        block.fc.inputGradient(dInner, rows: rows, accumulate: false, into: &dNormed)
        var dMiddle = [Float](repeating: 0, count: rows * w)
        block.norm2.inputGradient(
            saved.middle, dNormed, rows: rows, eps: configuration.layerNormEpsilon, into: &dMiddle)
        for i in dx.indices { dx[i] += dMiddle[i] }
        // Through the attention and LN₁.
        var dContext = [Float](repeating: 0, count: rows * w)
        var dq = dContext
        var dk = dContext
        var dv = dContext
        block.out.inputGradient(dx, rows: rows, accumulate: false, into: &dContext)
        Attention.backward(
            dOut: dContext, q: saved.q, k: saved.k, v: saved.v, probabilities: saved.probabilities, batch: pass.batch,
            length: pass.length, width: w, heads: tower.heads, dq: &dq, dk: &dk, dv: &dv)
        block.query.inputGradient(dq, rows: rows, accumulate: false, into: &dNormed)
        block.key.inputGradient(dk, rows: rows, accumulate: true, into: &dNormed)
        block.value.inputGradient(dv, rows: rows, accumulate: true, into: &dNormed)
        var dInput = [Float](repeating: 0, count: rows * w)
        block.norm1.inputGradient(saved.input, dNormed, rows: rows, eps: configuration.layerNormEpsilon, into: &dInput)
        for i in dx.indices { dx[i] += dInput[i] }
    }
}
