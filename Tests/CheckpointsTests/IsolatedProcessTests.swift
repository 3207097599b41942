import Foundation
import Tensors
import Testing

@testable import Checkpoints

/// The forked child that reads with libhdf5: every way it can end is told apart, and the
/// parent goes on.
struct IsolatedProcessTests {
    /// Runs `child` with a plain fork; returns the messages received.
    static func run(silence: Int = 30, memory: Int = 256 << 20, _ child: (IsolatedProcess.Channel) throws -> Void)
        throws -> [(UInt8, [UInt8])]
    {
        var received: [(UInt8, [UInt8])] = []
        try IsolatedProcess.run(
            silence: silence, memory: memory, fork: { fork() }, child: child,
            receive: { kind, payload in received.append((kind, Array(payload.bytes))) })
        return received
    }

    @Test func messagesArriveInOrderWithTheirBytes() throws {
        let big = Fixtures.bytes(3 << 20, seed: 5)
        let received = try Self.run { channel in
            channel.send(1, Array("one".utf8))
            channel.step("between")
            channel.send(2, big)
            channel.send(3, [])
        }
        #expect(received.map(\.0) == [1, 2, 3])
        #expect(received[0].1 == Array("one".utf8) && received[1].1 == big && received[2].1.isEmpty)
    }

    @Test func aCrashIsReportedWithTheLastStep() throws {
        #expect(throws: IsolatedProcess.Failure(kind: .crashed(signal: SIGSEGV), step: "about to crash")) {
            try Self.run { channel in
                channel.step("about to crash")
                raise(SIGSEGV)
            }
        }
    }

    @Test func aSilentChildIsStopped() throws {
        #expect(throws: IsolatedProcess.Failure(kind: .silent(seconds: 1), step: "waiting forever")) {
            try Self.run(silence: 1) { channel in
                channel.step("waiting forever")
                while true { sleep(60) }
            }
        }
    }

    @Test func anErrorThrownInTheChildComesBackAsItsText() throws {
        #expect(throws: IsolatedProcess.Failure(kind: .failed(message: "the problem"), step: "checking")) {
            try Self.run { channel in
                channel.step("checking")
                throw CheckpointError("/some/file", "the problem")
            }
        }
    }

    @Test func aChildLeavingEarlyIsReported() throws {
        #expect(throws: IsolatedProcess.Failure(kind: .exited(status: 7), step: "leaving")) {
            try Self.run { channel in
                channel.step("leaving")
                _exit(7)
            }
        }
    }

    /// The child's address space may grow by what was allowed and no more: an allocation of
    /// 1 GiB fails under a 64 MiB allowance, and one of 16 MiB succeeds.
    @Test func theChildsMemoryIsLimited() throws {
        let received = try Self.run(memory: 64 << 20) { channel in
            for size in [1 << 30, 16 << 20] {
                let pointer = malloc(size)
                channel.send(1, [pointer == nil ? 0 : 1])
                free(pointer)
            }
        }
        #expect(received.map(\.1) == [[0], [1]])
    }

    /// What the receiver throws is what the caller gets; the child is stopped.
    @Test func aReceiverErrorStopsTheChild() throws {
        #expect(throws: CheckpointError.self) {
            try IsolatedProcess.run(
                silence: 30, memory: 64 << 20, fork: { fork() },
                child: { channel in
                    while true { channel.send(1, [1]) }
                },
                receive: { _, _ in throw CheckpointError("f", "enough") })
        }
    }

    /// The child's standard streams are /dev/null: an inherited stdout would keep whatever
    /// reads the parent's output (a pipe into `tee`, a CI log) waiting for as long as the
    /// child lives.
    @Test func theChildsStandardStreamsAreDevNull() throws {
        let received = try Self.run { channel in
            for fd in 0...2 {
                var target = [UInt8](repeating: 0, count: 256)
                let n = target.withUnsafeMutableBytes {
                    readlink("/proc/self/fd/\(fd)", $0.baseAddress!.assumingMemoryBound(to: CChar.self), 255)
                }
                channel.send(1, Array(target.prefix(max(n, 0))))
            }
        }
        #expect(received.map { String(decoding: $0.1, as: UTF8.self) } == ["/dev/null", "/dev/null", "/dev/null"])
    }

    /// A parent stopped while its child hangs (Ctrl-C, a fuzzer's time limit) takes the child
    /// with it: no orphan goes on looping. A middle process starts a child that hangs, passes
    /// its pid on, and ends; the child must be gone (or a zombie awaiting init) within 5 s.
    @Test func aChildDiesWithItsParent() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        let middle = fork()
        if middle == 0 {
            close(ends[0])
            try? IsolatedProcess.run(
                silence: 60, memory: 64 << 20, fork: { fork() },
                child: { channel in
                    channel.send(1, withUnsafeBytes(of: getpid()) { Array($0) })
                    while true { sleep(60) }
                },
                receive: { _, payload in
                    _ = write(ends[1], payload.bytes.baseAddress!, payload.bytes.count)
                    _exit(0)
                })
            _exit(1)
        }
        close(ends[1])
        var child: pid_t = 0
        let got = read(ends[0], &child, MemoryLayout<pid_t>.size)
        close(ends[0])
        var status: Int32 = 0
        while waitpid(middle, &status, 0) < 0, errno == EINTR {}
        #expect(got == MemoryLayout<pid_t>.size && child > 0)
        guard got == MemoryLayout<pid_t>.size, child > 0 else { return }
        var running = true
        for _ in 0..<50 where running {
            running = Self.isRunning(child)
            if running { usleep(100_000) }
        }
        if running { kill(child, SIGKILL) }
        #expect(!running, "the child of a parent that ended still runs")
    }

    /// Whether `pid` exists and is not a zombie (/proc/PID/stat's state, after the name's ')').
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
