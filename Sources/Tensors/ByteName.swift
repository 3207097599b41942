/// A name (tensor name, metadata key, label) identified by its UTF-8 bytes.
///
/// Swift's `String` equality, hashing and ordering follow Unicode canonical equivalence:
/// "café" spelt with U+00E9 and "cafe" + U+0301 are `==` and hash alike. safetensors, NumPy,
/// PyTorch and every file format Scalpel reads treat them as two names, so wherever names
/// are compared, collected or sorted Scalpel uses their bytes: `ByteName` as a key,
/// `NameMap` and `NameSet` as the collections, `String.hasSameBytes(as:)` for one test.
public struct ByteName: Hashable, Comparable, Sendable {
    /// The name's UTF-8 bytes, as the file stores them.
    public let bytes: [UInt8]

    /// The name of `name`'s UTF-8 bytes (no Unicode normalisation).
    public init(_ name: String) { bytes = Array(name.utf8) }

    /// The name as text (the same bytes: Swift strings keep the code units they were made of).
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Byte order (as safetensors and Hugging Face sort names), not Unicode collation.
    public static func < (a: ByteName, b: ByteName) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

extension String {
    /// Whether both strings are the same UTF-8 bytes (not merely canonically equivalent).
    public func hasSameBytes(as other: String) -> Bool { utf8.elementsEqual(other.utf8) }

    /// Ordering by UTF-8 bytes, for sorting names as files store them.
    public func precedesByBytes(_ other: String) -> Bool { utf8.lexicographicallyPrecedes(other.utf8) }
}

/// A dictionary from names to values, names compared by their UTF-8 bytes (see `ByteName`).
/// Iterates in insertion order.
public struct NameMap<Value> {
    private var indices: [ByteName: Int] = [:]
    private var entries: [(name: String, value: Value)] = []

    /// An empty map.
    public init() {}

    /// The number of names.
    public var count: Int { entries.count }
    /// Whether the map has no names.
    public var isEmpty: Bool { entries.isEmpty }
    /// The names, in insertion order.
    public var names: [String] { entries.map(\.name) }
    /// The values, in insertion order.
    public var values: [Value] { entries.map(\.value) }

    /// The value under `name` (by bytes), or nil. Setting a new name appends it; setting nil removes the name.
    public subscript(_ name: String) -> Value? {
        get { indices[ByteName(name)].map { entries[$0].value } }
        set {
            let key = ByteName(name)
            if let index = indices[key] {
                if let newValue { entries[index].value = newValue } else { remove(at: index, key: key) }
            } else if let newValue {
                indices[key] = entries.count
                entries.append((name, newValue))
            }
        }
    }

    /// The value under `name`, or `defaultValue()` when there is none; setting stores under `name`.
    public subscript(_ name: String, default defaultValue: @autoclosure () -> Value) -> Value {
        get { self[name] ?? defaultValue() }
        set { self[name] = newValue }
    }

    /// Inserts `value` under `name` unless the name is there already; returns whether it was new.
    @discardableResult
    public mutating func insertNew(_ name: String, _ value: Value) -> Bool {
        guard indices[ByteName(name)] == nil else { return false }
        self[name] = value
        return true
    }

    private mutating func remove(at index: Int, key: ByteName) {
        entries.remove(at: index)
        indices[key] = nil
        for (i, entry) in entries.enumerated().dropFirst(index) { indices[ByteName(entry.name)] = i }
    }
}

extension NameMap: Sequence {
    /// The `(name, value)` pairs in insertion order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: Value)]> { entries.makeIterator() }
}

extension NameMap: Sendable where Value: Sendable {}

/// A set of names compared by their UTF-8 bytes (see `ByteName`).
public struct NameSet: Sendable {
    private var members: Set<ByteName> = []

    /// An empty set.
    public init() {}
    /// The set of `names`, duplicates (by bytes) kept once.
    public init<S: Sequence>(_ names: S) where S.Element == String { members = Set(names.map(ByteName.init)) }

    /// The number of distinct names (by bytes).
    public var count: Int { members.count }
    /// Whether `name`, by its bytes, is in the set.
    public func contains(_ name: String) -> Bool { members.contains(ByteName(name)) }

    /// Inserts `name`; false when it was there already.
    @discardableResult
    public mutating func insert(_ name: String) -> Bool { members.insert(ByteName(name)).inserted }
}
