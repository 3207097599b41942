import Foundation
import Tensors

/// A pickle reader that executes nothing. It runs the pickle opcodes PyTorch's `torch.save`
/// emits (protocols 2 to 5, the set torch's own `torch.load(weights_only=True)` accepts) on a
/// stack of plain values. Globals are judged by `TorchGlobal` against the names torch's
/// loader allows, and calls to them are interpreted by `TorchCalls`, never run. A name or
/// opcode torch refuses is refused as unsafe; a construct torch accepts that Scalpel cannot
/// represent is named as not supported. Memo size, stack size and nesting height are bounded,
/// and values never contain themselves, so no walk over them can recurse without end.
struct RestrictedUnpickler {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var at = 0
    /// Where the opcode being run starts, for messages.
    var opcodeStart = 0
    var stack: [Value] = []
    var memo: [Int: Value] = [:]

    static let maximumMemo = 1 << 20
    static let maximumStack = 1 << 20
    static let maximumDepth = 200

    init(_ bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    /// The file is damaged, or uses a construct Scalpel does not support (the message says which).
    func fail(_ message: String) -> CheckpointError { fail(message, kind: .malformed) }

    /// `fail` with the failure's family: a construct refused as unsafe, or one not supported.
    func fail(_ message: String, kind: FileError.Kind) -> CheckpointError {
        CheckpointError(path, "data.pkl: \(message) (at byte \(opcodeStart))", kind: kind)
    }

    mutating func read(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - at else { throw fail("the pickle ends early") }
        defer { at += n }
        return UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])
    }

    mutating func u8() throws -> Int { Int(try read(1)[0]) }

    /// An unsigned little-endian integer of `n` ≤ 8 bytes; nil when it exceeds `Int.max`.
    mutating func le(_ n: Int) throws -> Int? {
        let raw = try read(n)
        var value: UInt64 = 0
        for i in (0..<n).reversed() { value = value << 8 | UInt64(raw[i]) }
        return value > UInt64(Int.max) ? nil : Int(value)
    }

    /// A length or index field: the file's claim, refused when it cannot be one.
    mutating func count(_ n: Int) throws -> Int {
        guard let value = try le(n) else { throw fail("a length of more than 2^63 bytes") }
        return value
    }

    mutating func line() throws -> String {
        var end = at
        while end < bytes.count, end - at < 256, bytes[end] != 0x0A { end += 1 }
        guard end < bytes.count, bytes[end] == 0x0A else {
            throw fail("a GLOBAL name is unterminated or longer than 256 bytes")
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<end]), as: UTF8.self)
        at = end + 1
        return text
    }

    mutating func text(_ n: Int) throws -> String { String(decoding: try read(n), as: UTF8.self) }

    mutating func push(_ value: Value) throws {
        guard stack.count < Self.maximumStack else {
            throw fail("the pickle stack grows beyond \(Self.maximumStack) entries")
        }
        stack.append(value)
    }

    private mutating func pop() throws -> Value {
        guard let value = stack.popLast() else { throw fail("the pickle pops an empty stack") }
        if case .mark = value { throw fail("unexpected MARK") }
        return value
    }

    /// Values since the last MARK, which is removed.
    private mutating func popToMark() throws -> [Value] {
        guard
            let mark = stack.lastIndex(where: {
                if case .mark = $0 { return true }
                return false
            })
        else {
            throw fail("no MARK on the stack")
        }
        let items = Array(stack[(mark + 1)...])
        stack.removeSubrange(mark...)
        return items
    }

    /// Marks a list or dict as placed inside another value (see `Box`).
    private func seal(_ value: Value) {
        switch value {
        case .list(let box): box.sealed = true
        case .dict(let box): box.sealed = true
        default: break
        }
    }

    private func checkHeight(_ height: Int) throws {
        guard height <= Self.maximumDepth else { throw fail("values nest more than \(Self.maximumDepth) deep") }
    }

    /// A tuple of `items`, which are sealed.
    func tuple(_ items: [Value]) throws -> Value {
        let height = 1 + (items.map(\.height).max() ?? 0)
        try checkHeight(height)
        items.forEach(seal)
        return .tuple(Tuple(items: items, height: height))
    }

    /// Refuses to change `box` once it has been placed in another value (see `Box`).
    private func checkUnsealed(_ box: Box) throws {
        if box.sealed {
            throw fail(
                """
                a list or dict is changed after being placed in another value, as pickle does only for a value \
                that contains itself: not supported by Scalpel
                """,
                kind: .unsupported)
        }
    }

    private mutating func appendItems(_ items: [Value], opcode: String) throws {
        guard case .list(let list)? = stack.last else { throw fail("\(opcode) to something that is not a list") }
        try checkUnsealed(list)
        for item in items {
            seal(item)
            if list.sealed { throw fail("a list contains itself: not supported by Scalpel", kind: .unsupported) }
            try checkHeight(item.height + 1)
            list.append(item)
        }
    }

    private mutating func setItems(_ items: [Value], opcode: String) throws {
        guard items.count % 2 == 0 else { throw fail("\(opcode) with an odd number of keys and values") }
        guard case .dict(let dict)? = stack.last else { throw fail("\(opcode) on something that is not a dict") }
        try checkUnsealed(dict)
        for i in stride(from: 0, to: items.count, by: 2) {
            seal(items[i])
            seal(items[i + 1])
            if dict.sealed { throw fail("a dict contains itself: not supported by Scalpel", kind: .unsupported) }
            try checkHeight(max(items[i].height, items[i + 1].height) + 1)
            dict.append(items[i], items[i + 1])
        }
    }

    private mutating func memoize(_ index: Int) throws {
        guard let top = stack.last else { throw fail("memoizes an empty stack") }
        guard index < Self.maximumMemo, memo.count < Self.maximumMemo || memo[index] != nil else {
            throw fail("the memo grows beyond \(Self.maximumMemo) entries")
        }
        memo[index] = top
    }

    private mutating func fetch(_ index: Int) throws {
        guard let value = memo[index] else { throw fail("memo entry \(index) is used before it is set") }
        try push(value)
    }

    mutating func global(_ module: String, _ name: String) throws -> Value {
        guard let meaning = TorchGlobal.lookup(module: module, name: name) else {
            let advice =
                module.hasPrefix("torch.nn.modules") || module.hasPrefix("__main__")
                ? " (a whole model saved with torch.save(model): save model.state_dict() instead)" : ""
            throw fail(
                """
                refuses the global \((module + "." + name).escapedForMessage): torch.load(weights_only=True) \
                refuses it too, and unpickling it would import and run code the file names (unsafe); Scalpel runs \
                nothing from the file\(advice)
                """,
                kind: .refusedConstruct)
        }
        return .global(meaning)
    }

    /// Runs the pickle to its STOP and returns the value.
    /// - Throws: `CheckpointError` naming the problem and the byte where the pickle is damaged,
    ///   unsafe, or uses a construct Scalpel does not support.
    mutating func run() throws -> Value {
        while true {
            opcodeStart = at
            let opcode = try u8()
            switch opcode {
            case 0x80: _ = try u8()  // PROTO
            case 0x95: _ = try read(8)  // FRAME
            case 0x2E: return try pop()  // STOP
            case 0x28: try push(.mark)  // MARK
            case 0x4E: try push(.none)  // NONE
            case 0x88: try push(.bool(true))  // NEWTRUE
            case 0x89: try push(.bool(false))  // NEWFALSE
            case 0x4B: try push(.int(try u8()))  // BININT1
            case 0x4D: try push(.int(try count(2)))  // BININT2
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try count(4)))))  // BININT
            case 0x8A: try push(try long(try u8()))  // LONG1
            case 0x47:  // BINFLOAT (big-endian)
                let raw = try read(8)
                try push(.float(Double(bitPattern: raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })))
            case 0x58: try push(.string(try text(try count(4))))  // BINUNICODE
            case 0x8C: try push(.string(try text(try u8())))  // SHORT_BINUNICODE
            case 0x8D: try push(.string(try text(try count(8))))  // BINUNICODE8
            case 0x55: try push(.string(try text(try u8())))  // SHORT_BINSTRING
            case 0x54: try push(.string(try text(try count(4))))  // BINSTRING
            case 0x43: try push(.bytes(Array(try read(try u8()))))  // SHORT_BINBYTES
            case 0x42: try push(.bytes(Array(try read(try count(4)))))  // BINBYTES
            case 0x29: try push(.tuple(Tuple(items: [], height: 1)))  // EMPTY_TUPLE
            case 0x85:
                let a = try pop()
                try push(try tuple([a]))  // TUPLE1
            case 0x86:
                let b = try pop()
                let a = try pop()
                try push(try tuple([a, b]))  // TUPLE2
            case 0x87:
                let c = try pop()
                let b = try pop()
                let a = try pop()
                try push(try tuple([a, b, c]))  // TUPLE3
            case 0x74: try push(try tuple(try popToMark()))  // TUPLE
            case 0x5D: try push(.list(ListBox()))  // EMPTY_LIST
            case 0x7D: try push(.dict(DictBox()))  // EMPTY_DICT
            case 0x8F: try push(.object("set"))  // EMPTY_SET
            case 0x61:
                let item = try pop()
                try appendItems([item], opcode: "APPEND")  // APPEND
            case 0x65: try appendItems(try popToMark(), opcode: "APPENDS")  // APPENDS
            case 0x73:
                let value = try pop()
                let key = try pop()
                try setItems([key, value], opcode: "SETITEM")  // SETITEM
            case 0x75: try setItems(try popToMark(), opcode: "SETITEMS")  // SETITEMS
            case 0x71: try memoize(try u8())  // BINPUT
            case 0x72: try memoize(try count(4))  // LONG_BINPUT
            case 0x94: try memoize(memo.count)  // MEMOIZE
            case 0x68: try fetch(try u8())  // BINGET
            case 0x6A: try fetch(try count(4))  // LONG_BINGET
            case 0x63:  // GLOBAL
                let module = try line()
                let name = try line()
                try push(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try global(module, name))
            case 0x51:  // BINPERSID
                try push(try TorchCalls(fail: fail).storage(try pop()))
            case 0x52, 0x81:  // REDUCE, NEWOBJ
                let arguments = try pop()
                let callable = try pop()
                seal(arguments)
                try push(try TorchCalls(fail: fail).call(callable, arguments))
            case 0x62:  // BUILD
                // Object state (an OrderedDict's `_metadata`, a tensor's Python attributes):
                // not part of the tensors, dropped.
                _ = try pop()
                guard !stack.isEmpty else { throw fail("BUILD on an empty stack") }
            default:
                throw fail(
                    String(
                        format:
                            """
                            opcode 0x%02X is refused: torch.load(weights_only=True) refuses it too, and a state \
                            dict never uses it
                            """,
                        opcode),
                    kind: .refusedConstruct)
            }
        }
    }

    /// LONG1: a little-endian two's-complement integer of `n` bytes.
    mutating func long(_ n: Int) throws -> Value {
        let raw = try read(n)
        guard n <= 8 else { return .bigInt }
        var value: UInt64 = 0
        for i in (0..<n).reversed() { value = value << 8 | UInt64(raw[i]) }
        // Sign-extend from the top bit of the last byte.
        if n > 0, n < 8, raw[n - 1] & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(n)) }
        return .int(Int(bitPattern: UInt(value)))
    }
}
