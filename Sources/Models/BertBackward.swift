import Foundation
import Tensors

extension BertModel {
    /// The loss of a batch's embeddings and the gradient of a scalar loss with respect to
    /// each of them, as the caller defines the loss.
    public typealias EmbeddingLoss = (_ embeddings: [[Float]]) -> (loss: Float, gradients: [[Float]])

    /// A loss and its gradients with respect to some of the model's tensors.
    public struct Gradients: Sendable {
        /// The loss's value for the batch.
        public let loss: Float
        /// d loss / d tensor, by checkpoint name, in the tensor's row-major layout.
        public let tensors: [String: [Float]]
    }

    /// Gradients of `loss` (a function of the batch's sentence embeddings) with respect to the
    /// tensors `names` (checkpoint names; `parameterNames` lists them). The backward pass
    /// computes activation gradients only down to the earliest of those tensors in forward
    /// order and parameter gradients for those tensors only. With `dropout`, the forward
    /// pass drops as BERT does in training and the backward pass through the same masks.
    /// `stage` says which vectors the loss sees: the L2-normalised sentence embeddings (the
    /// default, what `embed` returns), or the mean-pooled last hidden states before that
    /// normalisation (`.unnormalised`), whose norm carries information the normalised ones lose.
    /// - Throws: `ModelError` when a name is not a trainable tensor of this model, `loss` returns gradients that are
    ///   not one vector of `hidden` floats per sequence, or as `forward` does.
    public func gradients(
        _ batch: [[Int32]], of names: Set<String>, dropout: Dropout? = nil, stage: EmbeddingStage = .normalised,
        loss: EmbeddingLoss
    ) throws -> Gradients {
        var wanted: Set<Parameter> = []
        for name in names {
            guard let parameter = parameter(named: name) else {
                throw ModelError(
                    name,
                    """
                    is not a trainable tensor of this BERT model (\(parameterNames.first ?? "") … \
                    \(parameterNames.last ?? ""))
                    """
                )
            }
            wanted.insert(parameter)
        }
        let lowest = wanted.map(\.depth).min() ?? Int.max
        let firstLayer = lowest == Int.max ? configuration.layers : max(0, lowest / LayerTensor.stages)
        let pass = try run(batch, recordFrom: firstLayer, recordEmbeddings: lowest < 0, dropout: dropout)
        let (embeddings, pooled, norms, counts) = pool(
            pass.hidden, length: pass.length, mask: pass.mask, count: batch.count)
        let (value, embeddingGradients) = loss(stage == .normalised ? embeddings : pooled)
        guard embeddingGradients.count == batch.count,
            embeddingGradients.allSatisfy({ $0.count == configuration.hidden })
        else {
            throw ModelError("loss", "the loss returned gradients of the wrong shape")
        }
        guard !wanted.isEmpty else { return Gradients(loss: value, tensors: [:]) }
        var backward = Backward(model: self, pass: pass, batch: batch.count, wanted: wanted, lowest: lowest)
        backward.poolBackward(
            embeddings: embeddings, gradients: embeddingGradients, norms: norms, counts: counts,
            normalised: stage == .normalised)
        for index in stride(from: configuration.layers - 1, through: firstLayer, by: -1) {
            guard backward.layer(index) else { break }
        }
        if lowest < 0 { backward.embeddings() }
        return Gradients(
            loss: value,
            tensors: Dictionary(uniqueKeysWithValues: backward.gradients.map { (name(of: $0.key), $0.value) }))
    }

    /// One backward pass: the gradient flowing down (`dx`, with respect to the current
    /// layer's output) and the parameter gradients asked for.
    struct Backward {
        let model: BertModel
        let pass: Pass
        let batch: Int
        let wanted: Set<Parameter>
        let lowest: Int
        let rows: Int
        var gradients: [Parameter: [Float]] = [:]
        var dx: [Float]
        var dSum: [Float], dDense: [Float], dContext: [Float], dq: [Float], dk: [Float], dv: [Float]
        var dInner: [Float]

        init(model: BertModel, pass: Pass, batch: Int, wanted: Set<Parameter>, lowest: Int) {
            self.model = model
            self.pass = pass
            self.batch = batch
            self.wanted = wanted
            self.lowest = lowest
            rows = batch * pass.length
            let h = model.configuration.hidden
            dx = [Float](repeating: 0, count: rows * h)
            dSum = dx
            dDense = dx
            dContext = dx
            dq = dx
            dk = dx
            dv = dx
            dInner = [Float](repeating: 0, count: rows * model.configuration.intermediate)
        }

        /// Normalisation and mean pooling, backwards: dp = (de − e (e·de)) / |p|, spread over
        /// the sequence's tokens. Without the normalisation (`normalised` false, `gradients`
        /// are then with respect to the pooled vectors p), dp is the gradient given.
        mutating func poolBackward(
            embeddings: [[Float]], gradients: [[Float]], norms: [Float], counts: [Float], normalised: Bool
        ) {
            let h = model.configuration.hidden
            let length = pass.length
            for b in 0..<batch {
                let e = embeddings[b]
                let de = gradients[b]
                // Unnormalised: no radial part to take out, and no 1 / |p|.
                let dot = normalised ? zip(e, de).reduce(Float(0)) { $0 + $1.0 * $1.1 } : 0
                let scale = 1 / ((normalised ? norms[b] : 1) * counts[b])
                for t in 0..<length where pass.mask[b * length + t] != 0 {
                    let row = (b * length + t) * h
                    for i in 0..<h { dx[row + i] = (de[i] - e[i] * dot) * scale }
                }
            }
        }

        /// Layer `index` backwards, from `dx` at its output to `dx` at its input; false when
        /// no tensor below the point reached is wanted (the pass stops).
        mutating func layer(_ index: Int) -> Bool {
            let c = model.configuration
            let h = c.hidden
            let f = c.intermediate
            let layer = model.layers[index]
            let saved = pass.activations[index - (c.layers - pass.activations.count)]
            let depth = index * LayerTensor.stages
            func needed(below stage: LayerStage) -> Bool { lowest < depth + stage.rawValue }

            // Output LayerNorm; its input is the second MLP linear's (dropped) output plus the residual.
            normParameters(index, .outputNormWeight, .outputNormBias, input: saved.outputSum, dy: dx)
            guard needed(below: .outputNorm) else { return false }
            layer.outputNorm.inputGradient(
                saved.outputSum, dx, rows: rows, eps: model.configuration.layerNormEpsilon, into: &dSum)
            dropped(dSum, saved.outputDropout, into: &dDense)
            linearParameters(
                index, .outputWeight, .outputBias, dy: dDense, input: saved.activation, outWidth: h, inWidth: f)
            guard needed(below: .secondMLP) else { return false }
            layer.output.inputGradient(dDense, rows: rows, accumulate: false, into: &dInner)
            saved.preActivation.withUnsafeBufferPointer { a in
                dInner.withUnsafeMutableBufferPointer {
                    Kernels.geluBackward(a.baseAddress!, $0.baseAddress!, count: rows * f)
                }
            }
            linearParameters(
                index, .intermediateWeight, .intermediateBias, dy: dInner, input: saved.attentionOutput, outWidth: f,
                inWidth: h)
            guard needed(below: .firstMLP) else { return false }
            // d(attention block output) = the residual's share plus the first MLP linear's input gradient.
            layer.intermediate.inputGradient(dInner, rows: rows, accumulate: true, into: &dSum)
            normParameters(index, .attentionNormWeight, .attentionNormBias, input: saved.attentionSum, dy: dSum)
            guard needed(below: .attentionNorm) else { return false }
            // dx (the layer output's gradient, used up above) takes the attention block's input
            // gradient: the residual's share, to which the projections' shares are added below.
            layer.attentionNorm.inputGradient(
                saved.attentionSum, dSum, rows: rows, eps: model.configuration.layerNormEpsilon, into: &dx)
            dropped(dx, saved.attentionOutputDropout, into: &dDense)
            linearParameters(
                index, .attentionOutputWeight, .attentionOutputBias, dy: dDense, input: saved.context, outWidth: h,
                inWidth: h)
            guard needed(below: .attentionOutput) else { return false }
            layer.attentionOutput.inputGradient(dDense, rows: rows, accumulate: false, into: &dContext)
            attentionBackward(saved)
            linearParameters(index, .queryWeight, .queryBias, dy: dq, input: saved.input, outWidth: h, inWidth: h)
            linearParameters(index, .keyWeight, .keyBias, dy: dk, input: saved.input, outWidth: h, inWidth: h)
            linearParameters(index, .valueWeight, .valueBias, dy: dv, input: saved.input, outWidth: h, inWidth: h)
            guard needed(below: .projections) else { return false }
            // The layer's input: the residual plus the three projections' input gradients.
            layer.query.inputGradient(dq, rows: rows, accumulate: true, into: &dx)
            layer.key.inputGradient(dk, rows: rows, accumulate: true, into: &dx)
            layer.value.inputGradient(dv, rows: rows, accumulate: true, into: &dx)
            return true
        }

        /// The embedding block backwards from `dx` at its output: LayerNorm, then each
        /// token's word, position and token-type rows.
        mutating func embeddings() {
            let c = model.configuration
            let h = c.hidden
            var dNorm = dx
            if !pass.embeddingDropout.isEmpty { for i in dNorm.indices { dNorm[i] *= pass.embeddingDropout[i] } }
            if wanted.contains(.embedding(.normWeight)) || wanted.contains(.embedding(.normBias)) {
                var dGamma = [Float](repeating: 0, count: h)
                var dBeta = dGamma
                model.withPointers(pass.embeddingSum, dNorm) { x, dy in
                    Kernels.layerNormParameterGradients(
                        x, dy, rows: rows, width: h, eps: c.layerNormEpsilon, dGamma: &dGamma, dBeta: &dBeta)
                }
                keep(.embedding(.normWeight), dGamma)
                keep(.embedding(.normBias), dBeta)
            }
            let tables: [EmbeddingTensor] = [.word, .position, .type]
            guard tables.contains(where: { wanted.contains(.embedding($0)) }) else { return }
            var dSum = [Float](repeating: 0, count: rows * h)
            model.embeddings.norm.inputGradient(
                pass.embeddingSum, dNorm, rows: rows, eps: model.configuration.layerNormEpsilon, into: &dSum)
            var dWord = wanted.contains(.embedding(.word)) ? [Float](repeating: 0, count: c.vocabulary * h) : []
            var dPosition =
                wanted.contains(.embedding(.position)) ? [Float](repeating: 0, count: c.maxPositions * h) : []
            var dType = wanted.contains(.embedding(.type)) ? [Float](repeating: 0, count: c.typeVocabulary * h) : []
            for r in 0..<rows {
                let token = pass.tokens[r]
                let t = r % pass.length
                for i in 0..<h {
                    let g = dSum[r * h + i]
                    if !dWord.isEmpty { dWord[token * h + i] += g }
                    if !dPosition.isEmpty { dPosition[t * h + i] += g }
                    if !dType.isEmpty { dType[i] += g }
                }
            }
            keep(.embedding(.word), dWord)
            keep(.embedding(.position), dPosition)
            keep(.embedding(.type), dType)
        }

        mutating func attentionBackward(_ saved: LayerActivations) {
            let c = model.configuration
            Attention.backward(
                dOut: dContext, q: saved.q, k: saved.k, v: saved.v, probabilities: saved.probabilities,
                dropout: saved.probabilityDropout, batch: batch, length: pass.length, width: c.hidden, heads: c.heads,
                dq: &dq, dk: &dk, dv: &dv)
        }

        /// `out` = `dy` times a dropout mask (or `dy` itself without one).
        func dropped(_ dy: [Float], _ mask: [Float], into out: inout [Float]) {
            if mask.isEmpty {
                out = dy
            } else {
                for i in dy.indices { out[i] = dy[i] * mask[i] }
            }
        }

        private mutating func linearParameters(
            _ index: Int, _ weight: LayerTensor, _ bias: LayerTensor, dy: [Float], input: [Float], outWidth: Int,
            inWidth: Int
        ) {
            if wanted.contains(.layer(index, weight)) {
                var dw = [Float](repeating: 0, count: outWidth * inWidth)
                model.withPointers(dy, input) { dyp, x in
                    dw.withUnsafeMutableBufferPointer {
                        Kernels.linearWeightGradient(
                            dyp, x, rows: rows, outWidth: outWidth, inWidth: inWidth, dw: $0.baseAddress!)
                    }
                }
                gradients[.layer(index, weight)] = dw
            }
            if wanted.contains(.layer(index, bias)) {
                var db = [Float](repeating: 0, count: outWidth)
                dy.withUnsafeBufferPointer {
                    Kernels.columnSums($0.baseAddress!, rows: rows, width: outWidth, into: &db)
                }
                gradients[.layer(index, bias)] = db
            }
        }

        private mutating func normParameters(
            _ index: Int, _ weight: LayerTensor, _ bias: LayerTensor, input: [Float], dy: [Float]
        ) {
            guard wanted.contains(.layer(index, weight)) || wanted.contains(.layer(index, bias)) else { return }
            let c = model.configuration
            var dGamma = [Float](repeating: 0, count: c.hidden)
            var dBeta = dGamma
            model.withPointers(input, dy) { x, dyp in
                Kernels.layerNormParameterGradients(
                    x, dyp, rows: rows, width: c.hidden, eps: c.layerNormEpsilon, dGamma: &dGamma, dBeta: &dBeta)
            }
            keep(.layer(index, weight), dGamma)
            keep(.layer(index, bias), dBeta)
        }

        mutating func keep(_ parameter: Parameter, _ gradient: [Float]) {
            if wanted.contains(parameter) { gradients[parameter] = gradient }
        }
    }

    private func withPointers<R>(_ a: [Float], _ b: [Float], _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R)
        -> R
    {
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in body(ap.baseAddress!, bp.baseAddress!) } }
    }
}
