import Dispatch
import Foundation
import Tensors

/// Splits work over the cores. The runtime runs OpenBLAS single-threaded and parallelises
/// itself, rows (or batch items) to each core: OpenBLAS's own threads spin between calls
/// and would take a core from the element-wise kernels in between the matrix products.
enum Parallel {
    static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body` on consecutive chunks of 0..<count, concurrently; chunks smaller than
    /// `minimum` are not worth a thread.
    static func chunks(_ count: Int, minimum: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(workers, count / max(1, minimum)))
        guard parts > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        // The parts touch disjoint ranges of the caller's buffers.
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let start = count * part / parts
                let end = count * (part + 1) / parts
                if start < end { work.value(start..<end) }
            }
        }
    }

    /// Called once before the runtime computes: OpenBLAS single-threaded, as above; and
    /// glibc's allocator told to keep large blocks in the heap rather than map and unmap them
    /// for each pass (every fresh mapping is zeroed page by page by the kernel: a few percent
    /// of a training step, and most of its run-to-run spread).
    static let configureBlas: Void = {
        Blas.threads = 1
        Blas.keepLargeAllocations()
    }()
}
