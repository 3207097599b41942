import Crypto

/// SHA-256 of a tensor's raw bytes: the fingerprint that patches use to recognise their base.
/// Dtype and shape are not hashed here; callers compare them separately, so a message can say
/// which of the three differs.
public enum Fingerprint {
    /// Lowercase hex SHA-256 (FIPS 180-4) of `bytes`: 64 characters.
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        // Hash in 64 MiB slices so a huge tensor does not become one giant read.
        let slice = 64 << 20
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + slice, bytes.count)
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
        }
        return hasher.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

extension Fingerprint {
    /// FNV-1a (64-bit) of a string's UTF-8 bytes: a cheap, documented key for per-tensor
    /// random streams (not a fingerprint of content).
    public static func fnv1a(_ string: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in string.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }
}

extension TensorView {
    /// Lowercase hex SHA-256 of the tensor's bytes.
    public var sha256: String { Fingerprint.sha256(bytes) }
}

/// SHA-256 over bytes given piece by piece (a file written in parts), as raw bytes.
public struct StreamingSHA256 {
    private var hasher = SHA256()

    /// A hasher that has seen no bytes.
    public init() {}

    /// Adds `bytes` to what is hashed.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Adds `bytes` to what is hashed.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest of everything given so far.
    public func digest() -> [UInt8] { Array(hasher.finalize()) }
}
