import Tensors

/// What the calls in a PyTorch pickle mean, interpreted without running anything: REDUCE (and
/// NEWOBJ) of an allowed global on its arguments, and BINPERSID's storage references, as
/// `torch.load` gives them meaning (torch/serialization.py `persistent_load`, torch/_utils.py
/// `_rebuild_tensor_v2` / `_rebuild_tensor_v3`).
struct TorchCalls {
    typealias Value = RestrictedUnpickler.Value
    let fail: (String) -> CheckpointError

    /// `('storage', storage type, key, location, count)`: a legacy typed storage counts
    /// elements of its dtype, `torch.storage.UntypedStorage` counts bytes.
    func storage(_ id: Value) throws -> Value {
        guard case .tuple(let tuple) = id, tuple.items.count == 5, tuple.items[0].isString("storage"),
            case .global(let type) = tuple.items[1], case .string(let key) = tuple.items[2],
            case .int(let count) = tuple.items[4], count >= 0
        else {
            throw fail("a persistent id is not a PyTorch storage reference ('storage', type, key, location, size)")
        }
        let kind: RestrictedUnpickler.Storage.Kind
        switch type {
        case .typedStorage(_, let dtype?): kind = .typed(dtype)
        case .typedStorage(let name, nil): kind = .unsupported("a tensor in a torch.\(name)")
        case .untypedStorage: kind = .untyped
        default: throw fail("a persistent id names something other than a storage class")
        }
        return .storage(.init(key: key, kind: kind, count: count))
    }

    /// The value `callable(*arguments)` would give.
    func call(_ callable: Value, _ arguments: Value) throws -> Value {
        guard case .global(let global) = callable else {
            throw fail("REDUCE applies something other than an allowed global")
        }
        guard case .tuple(let tuple) = arguments else { throw fail("REDUCE arguments are not a tuple") }
        let args = tuple.items
        switch global {
        case .orderedDict:
            guard args.isEmpty else {
                throw fail(
                    """
                    collections.OrderedDict built from arguments, which torch.save never writes, is not supported \
                    by Scalpel
                    """
                ).with(kind: .unsupported)
            }
            return .dict(RestrictedUnpickler.DictBox())
        case .rebuild(.tensor):
            return try tensor(args, dtypeArgument: nil, function: "_rebuild_tensor_v2")
        case .rebuild(.tensorV3):
            guard args.count >= 7 else { throw fail("_rebuild_tensor_v3 has \(args.count) arguments, not 7") }
            return try tensor(args, dtypeArgument: args[6], function: "_rebuild_tensor_v3")
        case .rebuild(.parameter), .parameterClass:
            switch args.first {
            case .tensor(let record)?: return .tensor(record)
            case .unsupported(let what)?: return .unsupported(what)
            default: throw fail("a parameter is built without a tensor")
            }
        case .rebuild(.fromType):
            // _rebuild_from_type_v2(func, new_type, args, state): func(*args), as new_type.
            guard args.count == 4 else { throw fail("_rebuild_from_type_v2 has \(args.count) arguments, not 4") }
            let inner = try call(args[0], args[2])
            switch args[1] {
            case .global(.tensorClass("torch.Tensor")), .global(.parameterClass): return inner
            default: return .unsupported("a tensor subclass (torch._tensor._rebuild_from_type_v2)")
            }
        case .unsupportedTensor(let what):
            return .unsupported(what)
        case .tensorClass(let name):
            return .unsupported("a tensor built by calling \(name)")
        case .typedStorage(let name, _):
            return .object("torch.\(name)")
        case .untypedStorage:
            return .object("torch.storage.UntypedStorage")
        case .value(let name):
            return .object(name)
        case .dtype(let name, _):
            throw fail("torch.\(name) is called, but a dtype is not callable")
        }
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`; v3 adds the dtype as its
    /// seventh argument. Sizes and strides are checked here to be non-negative integers; that
    /// the view lies inside its storage is checked against the archive by `PyTorchReader`.
    func tensor(_ args: [Value], dtypeArgument: Value?, function: String) throws -> Value {
        guard args.count >= 4, case .storage(let storage) = args[0] else {
            throw fail("\(function) has unexpected arguments")
        }
        guard case .int(let offset) = args[1], offset >= 0 else {
            throw fail("a tensor's storage offset is not a non-negative integer")
        }
        let shape = try integers(args[2], "size")
        let stride = try integers(args[3], "stride")
        guard shape.count == stride.count else {
            throw fail("a tensor has \(shape.count) sizes but \(stride.count) strides")
        }
        let dtype: DType
        switch (dtypeArgument, storage.kind) {
        case (_, .unsupported(let what)):
            return .unsupported(what)
        case (.global(.dtype(_, let known?))?, _):
            dtype = known
        case (.global(.dtype(let name, nil))?, _):
            return .unsupported("a torch.\(name) tensor")
        case (nil, .typed(let known)):
            dtype = known
        case (nil, .untyped):
            dtype = .u8  // torch.load views an untyped storage as uint8
        case (_?, _):
            throw fail("\(function)'s dtype argument is not a torch dtype")
        }
        return .tensor(.init(storage: storage, dtype: dtype, offset: offset, shape: shape, stride: stride))
    }

    func integers(_ value: Value, _ what: String) throws -> [Int] {
        guard case .tuple(let tuple) = value else { throw fail("a tensor's \(what) is not a tuple") }
        return try tuple.items.map { item in
            guard case .int(let n) = item, n >= 0 else { throw fail("a tensor \(what) is not a non-negative integer") }
            return n
        }
    }
}
