import Foundation

/// The work a command has done so far, counted where it happens (bytes of tensors written,
/// compared or hashed) and shown by the command line's progress display. Counting costs one
/// locked addition per tensor; nothing is counted unless a command installed a sink.
public enum WorkProgress {
    private final class Sink: @unchecked Sendable {
        let lock = NSLock()
        var add: (@Sendable (Int) -> Void)?
        var expect: (@Sendable (Int) -> Void)?
    }

    private static let sink = Sink()

    /// Sends every later `add` to `add` and every `expect` to `expect` (nil: stop counting).
    public static func install(add: (@Sendable (Int) -> Void)?, expect: (@Sendable (Int) -> Void)? = nil) {
        sink.lock.withLock {
            sink.add = add
            sink.expect = expect
        }
    }

    /// Says how much work a stage whose size only the library knows will count (the scoring
    /// batches of a mask, say): the total the display shows from now on.
    public static func expect(_ total: Int) {
        let body = sink.lock.withLock { sink.expect }
        body?(total)
    }

    /// Counts `bytes` of work done (from any thread).
    public static func add(_ bytes: Int) {
        let body = sink.lock.withLock { sink.add }
        body?(bytes)
    }
}
