extension Array where Element == Float {
    /// `count` floats with unspecified contents, for a kernel that overwrites all of them.
    /// A forward pass that records its activations allocates each layer's outputs afresh
    /// this way: writing into a buffer the record still shares would first copy its old
    /// contents (copy on write), a full pass over memory for nothing.
    static func scratch(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }
}

/// An element-wise kernel applied to `x`: into a new buffer when `keepingInput` (a recorded
/// pass keeps an activation's input for the backward pass), otherwise in place, `x` then
/// being the result.
func elementwise(
    _ x: inout [Float], keepingInput: Bool,
    _ kernel: (_ x: UnsafePointer<Float>, _ count: Int, _ out: UnsafeMutablePointer<Float>) -> Void
) -> [Float] {
    guard keepingInput else {
        x.withUnsafeMutableBufferPointer { kernel($0.baseAddress!, $0.count, $0.baseAddress!) }
        return x
    }
    var out = [Float].scratch(x.count)
    x.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer { kernel(xp.baseAddress!, xp.count, $0.baseAddress!) }
    }
    return out
}
