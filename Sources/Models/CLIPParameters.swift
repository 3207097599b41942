import Foundation

/// The CLIP tensors the runtime trains (the first MLP linears of both towers), addressed by
/// checkpoint name, as BERT's are, so masks, gradients and optimizers speak the checkpoint's
/// language.
extension CLIPModel {
    /// The current values of the first-MLP tensor `name` (Float32, the checkpoint's
    /// [out × in] layout for the weight), or nil for any other name.
    public func values(of name: String) -> [Float]? {
        guard let (vision, index, isBias) = firstMLP(name) else { return nil }
        let block = vision ? visionBlocks[index] : textBlocks[index]
        return isBias ? block.fc.bias : block.fc.weight
    }

    /// Changes the first-MLP tensor `name` in place (an optimizer step; the count is fixed).
    /// - Throws: `ModelError` when `name` is not a first-MLP tensor of the model, and whatever `body` throws.
    public func modify(_ name: String, _ body: (inout [Float]) throws -> Void) throws {
        guard let (vision, index, isBias) = firstMLP(name) else {
            throw ModelError(
                name,
                """
                is not a trainable tensor of this CLIP model (the first MLP linears, such as \
                \(firstMLPNames.text.first ?? ""))
                """
            )
        }
        let path: WritableKeyPath<Block, [Float]> = isBias ? \.fc.bias : \.fc.weight
        if vision {
            let count = visionBlocks[index][keyPath: path].count
            try body(&visionBlocks[index][keyPath: path])
            precondition(visionBlocks[index][keyPath: path].count == count, "a tensor's element count changed")
        } else {
            let count = textBlocks[index][keyPath: path].count
            try body(&textBlocks[index][keyPath: path])
            precondition(textBlocks[index][keyPath: path].count == count, "a tensor's element count changed")
        }
    }
}
