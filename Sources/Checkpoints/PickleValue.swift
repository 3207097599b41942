import Tensors

extension RestrictedUnpickler {
    /// A pickled value, as far as a state dict needs. Every container knows its height (how
    /// deeply values nest inside it), fixed when it is built, so nothing ever walks a value to
    /// measure it and the unpickler can bound nesting (which also bounds the recursion Swift
    /// uses to free a value).
    enum Value {
        case none
        case bool(Bool)
        case int(Int)
        /// An integer too large for 64 bits (a Python int in the file's other values).
        case bigInt
        case float(Double)
        case string(String)
        case bytes([UInt8])
        case tuple(Tuple)
        case list(ListBox)
        case dict(DictBox)
        case global(TorchGlobal)
        case storage(Storage)
        case tensor(TensorRecord)
        /// A value torch's loader allows that Scalpel keeps opaque (a `torch.Size`, a set, a
        /// device): what made it.
        case object(String)
        /// A tensor torch's loader allows that Scalpel does not read: the words that name it.
        case unsupported(String)
        case mark

        var height: Int {
            switch self {
            case .tuple(let tuple): return tuple.height
            case .list(let box): return box.height
            case .dict(let box): return box.height
            default: return 0
            }
        }

        /// True when this is the string `text`, compared byte for byte.
        func isString(_ text: String) -> Bool {
            if case .string(let s) = self { return s.utf8.elementsEqual(text.utf8) }
            return false
        }
    }

    /// An immutable sequence of values.
    struct Tuple {
        let items: [Value]
        let height: Int
    }

    /// A list or dict is filled while it is on the stack. Once it is placed inside another
    /// value it is sealed, and changing it is refused: Python's pickler always completes a
    /// container before placing it, except in a value that contains itself, so sealing keeps
    /// every value acyclic and its height exact.
    class Box {
        private(set) var height = 1
        var sealed = false

        func grow(toHold item: Value) { height = max(height, item.height + 1) }
    }

    final class ListBox: Box {
        private(set) var items: [Value] = []
        func append(_ item: Value) {
            grow(toHold: item)
            items.append(item)
        }
    }

    final class DictBox: Box {
        private(set) var items: [(Value, Value)] = []
        func append(_ key: Value, _ value: Value) {
            grow(toHold: key)
            grow(toHold: value)
            items.append((key, value))
        }
    }

    /// A storage named by a persistent id `('storage', type, key, location, count)`.
    struct Storage {
        enum Kind {
            /// A legacy typed storage (`torch.FloatStorage`): `count` counts elements of the dtype.
            case typed(DType)
            /// `torch.storage.UntypedStorage`: `count` counts bytes; the tensor gives the dtype.
            case untyped
            /// A typed storage of a dtype Scalpel does not read (`torch.ComplexFloatStorage`).
            case unsupported(String)
        }
        let key: String
        let kind: Kind
        let count: Int

        /// Bytes per counted element.
        var unit: Int {
            if case .typed(let dtype) = kind { return dtype.size }
            return 1
        }
    }

    /// A tensor: a view of `shape` with element `stride`, from element `offset` (counted in
    /// `dtype`) of its storage.
    struct TensorRecord {
        let storage: Storage
        let dtype: DType
        let offset: Int
        let shape: [Int]
        let stride: [Int]
    }
}
