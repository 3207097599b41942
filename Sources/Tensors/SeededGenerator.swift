import Foundation

/// A small seeded generator (SplitMix64), so scores, shuffles and training repeat exactly.
public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    /// A generator whose stream is fixed by `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits of the SplitMix64 stream.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fisher–Yates with this generator.
    public static func shuffled<T>(_ items: [T], seed: UInt64) -> [T] {
        var generator = SeededGenerator(seed: seed)
        var out = items
        if out.count > 1 {
            for i in stride(from: out.count - 1, to: 0, by: -1) {
                let j = Int(generator.next() % UInt64(i + 1))
                out.swapAt(i, j)
            }
        }
        return out
    }
}
