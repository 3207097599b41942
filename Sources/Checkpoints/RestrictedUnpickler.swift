import Tensors

/// A pickle reader that executes nothing. It runs the pickle opcodes PyTorch's `torch.save`
/// emits (protocols 2 to 5) on a stack of plain values, and the only callables it knows are
/// an allow-list of names, which it never looks up in any runtime: `collections.OrderedDict`
/// builds a dictionary, `torch._utils._rebuild_tensor_v2` and `_rebuild_parameter` describe
/// a tensor, the `torch.*Storage` names give a storage's dtype. Any other global, any
/// callable applied to anything else, and every opcode outside that set is refused, naming it.
/// Memo size, stack size and nesting depth are bounded.
struct RestrictedUnpickler {
    /// A pickled value, as far as a state dict needs.
    indirect enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case bytes([UInt8])
        case tuple([Value])
        case list(ListBox)
        case dict(DictBox)
        case global(module: String, name: String)
        case storage(Storage)
        case tensor(TensorRecord)
        case mark
    }

    final class ListBox { var items: [Value] = [] }
    final class DictBox { var items: [(Value, Value)] = [] }

    struct Storage {
        let key: String
        let dtype: DType
        let elementCount: Int
    }

    struct TensorRecord {
        let storage: Storage
        let offset: Int
        let shape: [Int]
        let stride: [Int]
    }

    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
    ]

    /// The legacy storage class names `torch.save` writes, and their dtypes.
    static let storageTypes: [String: DType] = [
        "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool,
    ]

    let bytes: UnsafeRawBufferPointer
    let path: String
    var at = 0
    var stack: [Value] = []
    var memo: [Int: Value] = [:]

    static let maximumMemo = 1 << 20
    static let maximumStack = 1 << 20
    static let maximumDepth = 200

    init(_ bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    func fail(_ message: String) -> CheckpointError {
        CheckpointError(path, "data.pkl: \(message) (at byte \(at)); Scalpel reads state dicts of tensors and runs nothing from the file")
    }

    mutating func read(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - at else { throw fail("the pickle ends early") }
        defer { at += n }
        return UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])
    }

    mutating func u8() throws -> Int { Int(try read(1)[0]) }
    mutating func le(_ n: Int) throws -> Int {
        let raw = try read(n)
        var value = 0
        for i in (0..<n).reversed() { value = value << 8 | Int(raw[i]) }
        return value
    }

    mutating func line() throws -> String {
        var end = at
        while end < bytes.count, bytes[end] != 0x0A { end += 1 }
        guard end < bytes.count, end - at < 256 else { throw fail("a GLOBAL name is unterminated") }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<end]), as: UTF8.self)
        at = end + 1
        return text
    }

    mutating func push(_ value: Value) throws {
        guard stack.count < Self.maximumStack else { throw fail("the pickle stack grows beyond \(Self.maximumStack) entries") }
        if depth(value) > Self.maximumDepth { throw fail("values nest more than \(Self.maximumDepth) deep") }
        stack.append(value)
    }

    mutating func pop() throws -> Value {
        guard let value = stack.popLast() else { throw fail("the pickle pops an empty stack") }
        if case .mark = value { throw fail("unexpected MARK") }
        return value
    }

    /// Values since the last MARK, which is removed.
    mutating func popToMark() throws -> [Value] {
        guard let mark = stack.lastIndex(where: { if case .mark = $0 { return true }; return false }) else {
            throw fail("no MARK on the stack")
        }
        let items = Array(stack[(mark + 1)...])
        stack.removeSubrange(mark...)
        return items
    }

    /// Nesting depth of a value (containers count one level each; boxes are shallow so that
    /// shared references cannot make this loop).
    func depth(_ value: Value) -> Int {
        switch value {
        case .tuple(let items): return 1 + (items.map(depth).max() ?? 0)
        case .list(let box): return 1 + (box.items.count > 64 ? 0 : (box.items.map(depth).max() ?? 0))
        default: return 0
        }
    }

    mutating func memoize(_ index: Int) throws {
        guard let top = stack.last else { throw fail("memoizes an empty stack") }
        guard index >= 0, index < Self.maximumMemo, memo.count < Self.maximumMemo || memo[index] != nil else {
            throw fail("the memo grows beyond \(Self.maximumMemo) entries")
        }
        memo[index] = top
    }

    mutating func fetch(_ index: Int) throws {
        guard let value = memo[index] else { throw fail("memo entry \(index) is used before it is set") }
        try push(value)
    }

    /// Runs the pickle to its STOP and returns the value.
    mutating func run() throws -> Value {
        while true {
            let opcode = try u8()
            switch opcode {
            case 0x80: _ = try u8()                                   // PROTO
            case 0x95: _ = try read(8)                                // FRAME
            case 0x2E: return try pop()                               // STOP
            case 0x28: try push(.mark)                                // MARK
            case 0x4E: try push(.none)                                // NONE
            case 0x88: try push(.bool(true))                          // NEWTRUE
            case 0x89: try push(.bool(false))                         // NEWFALSE
            case 0x4B: try push(.int(try u8()))                       // BININT1
            case 0x4D: try push(.int(try le(2)))                      // BININT2
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try le(4)))))  // BININT
            case 0x8A:                                                // LONG1
                let n = try u8()
                guard n <= 8 else { throw fail("an integer of \(n) bytes is too large") }
                var value = n == 0 ? 0 : try le(n)
                if n > 0, n < 8, value & (1 << (8 * n - 1)) != 0 { value -= 1 << (8 * n) }
                try push(.int(value))
            case 0x47: try push(.float(Double(bitPattern: UInt64(bitPattern: Int64(try beInt(8))))))  // BINFLOAT
            case 0x58: try push(.string(try text(try le(4))))         // BINUNICODE
            case 0x8C: try push(.string(try text(try u8())))          // SHORT_BINUNICODE
            case 0x8D: try push(.string(try text(try le(8))))         // BINUNICODE8
            case 0x55: try push(.string(try text(try u8())))          // SHORT_BINSTRING
            case 0x54: try push(.string(try text(try le(4))))         // BINSTRING
            case 0x43: try push(.bytes(Array(try read(try u8()))))    // SHORT_BINBYTES
            case 0x42: try push(.bytes(Array(try read(try le(4)))))   // BINBYTES
            case 0x29: try push(.tuple([]))                           // EMPTY_TUPLE
            case 0x85: try push(.tuple([try pop()]))                  // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try push(.tuple([a, b]))          // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(.tuple([a, b, c]))  // TUPLE3
            case 0x74: try push(.tuple(try popToMark()))              // TUPLE
            case 0x5D: try push(.list(ListBox()))                     // EMPTY_LIST
            case 0x7D: try push(.dict(DictBox()))                     // EMPTY_DICT
            case 0x61:                                                // APPEND
                let item = try pop()
                guard case .list(let box)? = stack.last else { throw fail("APPEND to a non-list") }
                box.items.append(item)
            case 0x65:                                                // APPENDS
                let items = try popToMark()
                guard case .list(let box)? = stack.last else { throw fail("APPENDS to a non-list") }
                box.items += items
            case 0x73:                                                // SETITEM
                let value = try pop(), key = try pop()
                guard case .dict(let box)? = stack.last else { throw fail("SETITEM on a non-dict") }
                box.items.append((key, value))
            case 0x75:                                                // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0, case .dict(let box)? = stack.last else { throw fail("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { box.items.append((items[i], items[i + 1])) }
            case 0x71: try memoize(try u8())                          // BINPUT
            case 0x72: try memoize(try le(4))                         // LONG_BINPUT
            case 0x94: try memoize(memo.count)                        // MEMOIZE
            case 0x68: try fetch(try u8())                            // BINGET
            case 0x6A: try fetch(try le(4))                           // LONG_BINGET
            case 0x63:                                                // GLOBAL
                let module = try line(), name = try line()
                try push(try global(module, name))
            case 0x93:                                                // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else { throw fail("STACK_GLOBAL needs two strings") }
                try push(try global(module, name))
            case 0x51:                                                // BINPERSID
                try push(try persistent(try pop()))
            case 0x52:                                                // REDUCE
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments))
            case 0x62:                                                // BUILD
                // Object state (an OrderedDict's `_metadata`, a tensor's Python attributes):
                // not part of the tensors, dropped.
                _ = try pop()
                guard !stack.isEmpty else { throw fail("BUILD on an empty stack") }
            default:
                throw fail(String(format: "opcode 0x%02X is not one a PyTorch state dict uses", opcode))
            }
        }
    }

    mutating func beInt(_ n: Int) throws -> Int {
        let raw = try read(n)
        return raw.reduce(0) { $0 << 8 | Int($1) }
    }

    mutating func text(_ n: Int) throws -> String { String(decoding: try read(n), as: UTF8.self) }

    func global(_ module: String, _ name: String) throws -> Value {
        let full = module + "." + name
        if Self.allowedGlobals.contains(full) || (module == "torch" && Self.storageTypes[name] != nil) {
            return .global(module: module, name: name)
        }
        throw fail("refuses the global \(full): it is not one of the names a state dict needs (\(Self.allowedGlobals.sorted().joined(separator: ", ")), torch.*Storage)")
    }

    /// `('storage', torch.FloatStorage, key, location, numel)`.
    func persistent(_ id: Value) throws -> Value {
        guard case .tuple(let items) = id, items.count >= 5, case .string("storage") = items[0],
              case .global("torch", let typeName) = items[1], let dtype = Self.storageTypes[typeName],
              case .string(let key) = items[2], case .int(let count) = items[4], count >= 0 else {
            throw fail("a persistent id is not a PyTorch storage reference")
        }
        return .storage(Storage(key: key, dtype: dtype, elementCount: count))
    }

    func reduce(_ callable: Value, _ arguments: Value) throws -> Value {
        guard case .global(let module, let name) = callable, case .tuple(let args) = arguments else {
            throw fail("REDUCE applies something other than an allowed global")
        }
        switch module + "." + name {
        case "collections.OrderedDict":
            guard args.isEmpty else { throw fail("OrderedDict is built with arguments") }
            return .dict(DictBox())
        case "torch._utils._rebuild_tensor_v2":
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                  case .tuple(let size) = args[2], case .tuple(let stride) = args[3] else {
                throw fail("_rebuild_tensor_v2 has unexpected arguments")
            }
            let shape = try size.map { value -> Int in
                guard case .int(let n) = value, n >= 0 else { throw fail("a tensor size is not a non-negative integer") }
                return n
            }
            let strides = try stride.map { value -> Int in
                guard case .int(let n) = value, n >= 0 else { throw fail("a tensor stride is not a non-negative integer") }
                return n
            }
            guard shape.count == strides.count, offset >= 0 else { throw fail("a tensor's size and stride disagree") }
            return .tensor(TensorRecord(storage: storage, offset: offset, shape: shape, stride: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let first = args.first, case .tensor = first else { throw fail("_rebuild_parameter has no tensor") }
            return first
        default:
            throw fail("REDUCE of \(module).\(name) is not allowed")
        }
    }
}
