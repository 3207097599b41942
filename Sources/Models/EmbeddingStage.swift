/// Which vector of an input a loss is computed on.
///
/// The encoders' outputs are L2-normalised: sentence-transformers' BERT family ends in a
/// `Normalize` module, CLIP divides its projected features by their norm. A loss of the norm of
/// the output (MAS importance, Aljundi et al., ECCV 2018) is then the constant 1 and its
/// gradient zero, so such a loss is taken on the vector just before the normalisation.
public enum EmbeddingStage: Sendable {
    /// The embedding as the encoder outputs it, of unit length.
    case normalised
    /// The same vector before the L2 normalisation: BERT's mean-pooled last hidden state,
    /// CLIP's projected features.
    case unnormalised
}
