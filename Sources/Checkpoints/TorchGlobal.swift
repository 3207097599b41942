import Tensors

/// What a GLOBAL in a PyTorch pickle names, judged against the names torch's own restricted
/// loader accepts (`torch.load(weights_only=True)`, torch/_weights_only_unpickler.py,
/// `_get_allowed_globals`, as of PyTorch 2.13). A name torch accepts is either one Scalpel uses
/// or one it names as not supported; any other name is refused as unsafe, because a full
/// unpickler would import it and run what the file names. Nothing is ever looked up in a
/// runtime: each name maps to a meaning here.
enum TorchGlobal {
    /// `collections.OrderedDict`: called with no arguments it makes an empty dict.
    case orderedDict
    /// A function that rebuilds a tensor Scalpel reads.
    case rebuild(Rebuild)
    /// A function or class torch accepts that makes a tensor Scalpel does not read (a
    /// quantized, sparse or meta tensor, a DTensor, ...): the words that name it.
    case unsupportedTensor(String)
    /// `torch.nn.parameter.Parameter`: its first argument is the tensor.
    case parameterClass
    /// `torch.Tensor` and the legacy tensor classes (`torch.FloatTensor`, ...).
    case tensorClass(String)
    /// A dtype (`torch.float8_e4m3fn`), with Scalpel's dtype where it has one.
    case dtype(name: String, DType?)
    /// A legacy typed storage class (`torch.FloatStorage`), with its dtype where Scalpel has it.
    case typedStorage(name: String, DType?)
    /// `torch.storage.UntypedStorage`: a storage whose element count counts bytes.
    case untypedStorage
    /// Any other name torch accepts (`torch.Size`, `torch.device`, `collections.Counter`,
    /// `builtins.set`, quantization schemes, ...): calling it gives a value that is not a tensor.
    case value(String)

    enum Rebuild {
        /// `_rebuild_tensor` and `_rebuild_tensor_v2`: storage, offset, size, stride, ...
        case tensor
        /// `_rebuild_tensor_v3`: as v2, with the dtype as the seventh argument (dtypes that have
        /// no legacy storage class, since PyTorch 2.1).
        case tensorV3
        /// `_rebuild_parameter` and `_rebuild_parameter_with_state`: the tensor is the first argument.
        case parameter
        /// `torch._tensor._rebuild_from_type_v2(func, type, args, state)`: `func(*args)`.
        case fromType
    }

    /// The meaning of `module.name`, compared as UTF-8 bytes (as torch joins them, so
    /// `torch` + `_utils._rebuild_tensor_v2` is the same name); nil for a name torch refuses.
    static func lookup(module: String, name: String) -> TorchGlobal? {
        table[Array(module.utf8) + [UInt8(ascii: ".")] + Array(name.utf8)]
    }

    /// torch's name for `dtype` (`torch.<name>`).
    static func torchName(_ dtype: DType) -> String {
        switch dtype {
        case .f64: return "float64"
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .i64: return "int64"
        case .i32: return "int32"
        case .i16: return "int16"
        case .i8: return "int8"
        case .u64: return "uint64"
        case .u32: return "uint32"
        case .u16: return "uint16"
        case .u8: return "uint8"
        case .bool: return "bool"
        case .f8e4m3: return "float8_e4m3fn"
        case .f8e5m2: return "float8_e5m2"
        }
    }

    /// The legacy storage class `torch.save` names for `dtype`; nil for the dtypes that have
    /// none, which it saves through `_rebuild_tensor_v3`.
    static func storageName(_ dtype: DType) -> String? {
        switch dtype {
        case .f64: return "DoubleStorage"
        case .f32: return "FloatStorage"
        case .f16: return "HalfStorage"
        case .bf16: return "BFloat16Storage"
        case .i64: return "LongStorage"
        case .i32: return "IntStorage"
        case .i16: return "ShortStorage"
        case .i8: return "CharStorage"
        case .u8: return "ByteStorage"
        case .bool: return "BoolStorage"
        case .u64, .u32, .u16, .f8e4m3, .f8e5m2: return nil
        }
    }

    static let table: [[UInt8]: TorchGlobal] = {
        var table: [String: TorchGlobal] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor": .rebuild(.tensor),
            "torch._utils._rebuild_tensor_v2": .rebuild(.tensor),
            "torch._utils._rebuild_tensor_v3": .rebuild(.tensorV3),
            "torch._utils._rebuild_parameter": .rebuild(.parameter),
            "torch._utils._rebuild_parameter_with_state": .rebuild(.parameter),
            "torch._tensor._rebuild_from_type_v2": .rebuild(.fromType),
            "torch._utils._rebuild_qtensor": .unsupportedTensor("a quantized tensor (torch._utils._rebuild_qtensor)"),
            "torch._utils._rebuild_sparse_tensor": .unsupportedTensor(
                "a sparse tensor (torch._utils._rebuild_sparse_tensor)"),
            "torch._utils._rebuild_nested_tensor": .unsupportedTensor(
                "a nested tensor (torch._utils._rebuild_nested_tensor)"),
            "torch._utils._rebuild_meta_tensor_no_storage": .unsupportedTensor(
                "a meta tensor, which holds no data (torch._utils._rebuild_meta_tensor_no_storage)"),
            "torch._utils._rebuild_wrapper_subclass": .unsupportedTensor(
                "a tensor subclass (torch._utils._rebuild_wrapper_subclass)"),
            "torch._utils._rebuild_device_tensor_from_numpy": .unsupportedTensor(
                "a device tensor saved through NumPy (torch._utils._rebuild_device_tensor_from_numpy)"),
            "torch._utils._rebuild_device_tensor_from_cpu_tensor": .unsupportedTensor(
                "a device tensor saved through a CPU copy (torch._utils._rebuild_device_tensor_from_cpu_tensor)"),
            "torch.nn.parameter.Parameter": .parameterClass,
            "torch.Tensor": .tensorClass("torch.Tensor"),
            "torch.storage.UntypedStorage": .untypedStorage,
            "torch.storage.TypedStorage": .value("torch.storage.TypedStorage"),
        ]
        // Accepted by torch once torch.distributed.tensor is imported.
        for name in [
            "torch.distributed.device_mesh.DeviceMesh", "torch.distributed.tensor._dtensor_spec.DTensorSpec",
            "torch.distributed.tensor._dtensor_spec.TensorMeta", "torch.distributed.tensor.DTensor",
            "torch.distributed.tensor.placement_types.Partial", "torch.distributed.tensor.placement_types.Replicate",
            "torch.distributed.tensor.placement_types.Shard",
        ] {
            table[name] = .unsupportedTensor("a distributed tensor (\(name))")
        }
        for name in [
            "collections.Counter", "torch.Size", "torch.device", "torch.serialization._get_layout", "_codecs.encode",
            "builtins.bytearray", "builtins.set", "builtins.complex", "torch.per_tensor_affine",
            "torch.per_tensor_symmetric", "torch.per_channel_affine", "torch.per_channel_symmetric",
            "torch.per_channel_affine_float_qparams",
        ] {
            table[name] = .value(name)
        }
        for dtype in DType.allCases { table["torch." + torchName(dtype)] = .dtype(name: torchName(dtype), dtype) }
        let otherDTypes =
            [
                "complex32", "complex64", "complex128", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
                "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
                "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
            ]
            + (1...7).flatMap { ["int\($0)", "uint\($0)"] }
        for name in otherDTypes { table["torch." + name] = .dtype(name: name, nil) }
        for module in ["torch", "torch.cuda"] {
            for dtype in DType.allCases {
                if let name = storageName(dtype) { table["\(module).\(name)"] = .typedStorage(name: name, dtype) }
            }
            for name in ["ComplexDoubleStorage", "ComplexFloatStorage"] {
                table["\(module).\(name)"] = .typedStorage(name: name, nil)
            }
        }
        for name in ["QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage"] {
            table["torch." + name] = .typedStorage(name: name, nil)
        }
        let kinds = ["Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte"]
        for module in ["torch", "torch.cuda"] {
            for kind in kinds + ["Bool"] { table["\(module).\(kind)Tensor"] = .tensorClass("\(module).\(kind)Tensor") }
            for kind in kinds {
                table["\(module).sparse.\(kind)Tensor"] = .unsupportedTensor(
                    "a sparse tensor (\(module).sparse.\(kind)Tensor)")
            }
        }
        return Dictionary(uniqueKeysWithValues: table.map { (Array($0.key.utf8), $0.value) })
    }()
}
