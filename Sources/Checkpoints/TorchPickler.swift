import Tensors

/// Emits the pickle (protocol 2) of an OrderedDict of tensors, as `torch.save` does (torch's
/// `Tensor._reduce_ex_internal` and `persistent_id`), so `torch.load(weights_only=True)`
/// loads it:
/// - a dtype with a legacy storage class: `_rebuild_tensor_v2(('storage', torch.FloatStorage,
///   key, 'cpu', elements), offset, size, stride, False, OrderedDict())`;
/// - the others: `_rebuild_tensor_v3(('storage', torch.storage.UntypedStorage, key, 'cpu',
///   bytes), offset, size, stride, False, OrderedDict(), torch.<dtype>)`.
/// Unlike torch it memoizes nothing, which changes the bytes and not the value.
enum TorchPickler {
    /// The pickle of the state dict of `tensors`, each contiguous in storage `data/<storage>`.
    static func stateDict(_ tensors: [(OutputTensor, storage: Int)]) -> [UInt8] {
        var out: [UInt8] = [0x80, 0x02]
        func global(_ module: String, _ name: String) { out += [0x63] + Array("\(module)\n\(name)\n".utf8) }
        func string(_ text: String) {
            let bytes = Array(text.utf8)
            out.append(0x58)
            for i in 0..<4 { out.append(UInt8((bytes.count >> (8 * i)) & 0xFF)) }
            out += bytes
        }
        func int(_ value: Int) {
            if value >= 0, value < 1 << 31 {
                out.append(0x4A)
                for i in 0..<4 { out.append(UInt8((value >> (8 * i)) & 0xFF)) }
            } else {
                out += [0x8A, 8]
                for i in 0..<8 { out.append(UInt8((value >> (8 * i)) & 0xFF)) }
            }
        }
        func tuple(_ values: [Int]) {
            out.append(0x28)
            values.forEach(int)
            out.append(0x74)
        }
        func orderedDict() {
            global("collections", "OrderedDict")
            out += [0x29, 0x52]
        }
        orderedDict()
        out.append(0x28)  // MARK for SETITEMS
        for (tensor, storage) in tensors {
            let legacy = TorchGlobal.storageName(tensor.dtype)
            string(tensor.name)
            global("torch._utils", legacy == nil ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2")
            out.append(0x28)  // MARK: the arguments
            out.append(0x28)  // MARK: the persistent id
            string("storage")
            if let legacy {
                global("torch", legacy)
            } else {
                global("torch.storage", "UntypedStorage")
            }
            string(String(storage))
            string("cpu")
            // A typed storage counts elements, an untyped one bytes.
            int(legacy == nil ? tensor.byteCount : tensor.byteCount / tensor.dtype.size)
            out += [0x74, 0x51]  // TUPLE, BINPERSID
            int(0)
            tuple(tensor.shape)
            tuple(Shape.contiguousStrides(tensor.shape))
            out.append(0x89)  // requires_grad False
            orderedDict()  // backward hooks
            if legacy == nil { global("torch", TorchGlobal.torchName(tensor.dtype)) }
            out += [0x74, 0x52]  // TUPLE, REDUCE
        }
        out += [0x75, 0x2E]  // SETITEMS, STOP
        return out
    }
}
