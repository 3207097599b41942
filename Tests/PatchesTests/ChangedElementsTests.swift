import Testing

@testable import Patches

/// `create`'s one-pass scan: the changed positions and their XORs, against the definition
/// (compare every element, XOR its bytes), for every element width and across the 1,024-element
/// blocks it skips with memcmp.
struct ChangedElementsTests {
    @Test(arguments: [1, 2, 4, 8])
    func positionsAndXorsMatchTheDefinition(width: Int) {
        let count = 3 * 1024 + 17
        var random = SystemRandomNumberGenerator()
        let old = (0..<(count * width)).map { _ in UInt8.random(in: 0...255, using: &random) }
        var new = old
        // Block edges, the very first and last elements, a run inside one block; one changed
        // bit in the highest byte (a float's sign: -0.0 against 0.0) and one in the lowest.
        let changed = [0, 1, 1023, 1024, 1025, 2047, 2048, 2500, 2501, 2502, count - 1]
        for (n, i) in changed.enumerated() {
            new[i * width + (n.isMultiple(of: 2) ? width - 1 : 0)] ^= n.isMultiple(of: 2) ? 0x80 : 0x01
        }

        let (indices, xor) = old.withUnsafeBytes { a in
            new.withUnsafeBytes { b in
                ChangedElements.scan(a, b, elementSize: width, keepingXor: true)
            }
        }
        #expect(indices == changed)
        let expected = changed.flatMap { i in (0..<width).map { old[i * width + $0] ^ new[i * width + $0] } }
        #expect(xor == expected)
        let found = old.withUnsafeBytes { a in
            new.withUnsafeBytes { b in ChangedElements.find(a, b, elementSize: width) }
        }
        #expect(found == changed)
    }

    @Test func identicalAndEmptyBuffersHaveNoChanges() {
        let bytes = [UInt8](repeating: 7, count: 5000 * 4)
        let (indices, xor) = bytes.withUnsafeBytes { ChangedElements.scan($0, $0, elementSize: 4, keepingXor: true) }
        #expect(indices.isEmpty && xor.isEmpty)
        let none = [UInt8]().withUnsafeBytes { ChangedElements.scan($0, $0, elementSize: 4, keepingXor: true) }
        #expect(none.indices.isEmpty && none.xor.isEmpty)
    }
}
