/// The attention kernels called on arrays, for BERT and CLIP alike (Swift passes each array
/// as a pointer to its elements for the length of the call). Shapes as in `Kernels.attention`:
/// q, k, v, out and their gradients [N, C]; probabilities and dropout [B, NH, T, T], an
/// empty `dropout` meaning none.
enum Attention {
    static func forward(
        q: [Float], k: [Float], v: [Float], batch: Int, length: Int, width: Int, heads: Int, keyMask: [Float],
        dropout: [Float] = [], causal: Bool = false, probabilities: inout [Float], out: inout [Float]
    ) {
        dropout.withUnsafeBufferPointer { mask in
            Kernels.attention(
                q: q, k: k, v: v, batch: batch, length: length, width: width, heads: heads, keyMask: keyMask,
                probabilities: &probabilities, dropout: mask.isEmpty ? nil : mask.baseAddress, causal: causal,
                out: &out)
        }
    }

    static func backward(
        dOut: [Float], q: [Float], k: [Float], v: [Float], probabilities: [Float], dropout: [Float] = [],
        batch: Int, length: Int, width: Int, heads: Int, dq: inout [Float], dk: inout [Float], dv: inout [Float]
    ) {
        dropout.withUnsafeBufferPointer { mask in
            Kernels.attentionBackward(
                dOut: dOut, q: q, k: k, v: v, probabilities: probabilities,
                dropout: mask.isEmpty ? nil : mask.baseAddress, batch: batch, length: length, width: width,
                heads: heads, dq: &dq, dk: &dk, dv: &dv)
        }
    }
}
