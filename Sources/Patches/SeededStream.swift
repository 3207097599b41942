import Tensors

/// The seeded randomness of the merges: one 64-bit number per (seed, patch, tensor, element),
/// from SplitMix64's mixing function, so that the result depends neither on the order nor on
/// the thread the work runs in, and another implementation can reproduce it (Manual, merge
/// page). DARE's drop reads it as a uniform number; TIES' trim as a rank that breaks equal
/// magnitudes at its cut. No method does both, so one stream serves the two.
struct SeededStream {
    let key: UInt64

    /// `patch` is the patch's 0-based place on the command line.
    init(seed: UInt64, patch: Int, tensor: String) {
        key = Self.mix(seed ^ Self.mix(Fingerprint.fnv1a(tensor) ^ Self.mix(UInt64(patch))))
    }

    /// The element's number: independent of its neighbours', so ordering by it favours no position.
    func rank(_ position: Int) -> UInt64 {
        Self.mix(key &+ UInt64(position) &* 0x9e37_79b9_7f4a_7c15)
    }

    /// The rank's top 53 bits as a uniform number in [0, 1).
    func uniform(_ position: Int) -> Double {
        Double(rank(position) >> 11) * 0x1p-53
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
