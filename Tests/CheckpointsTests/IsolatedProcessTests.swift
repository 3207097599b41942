import Foundation
import Testing
import Tensors
@testable import Checkpoints

/// The forked child that reads with libhdf5: every way it can end is told apart, and the
/// parent goes on.
struct IsolatedProcessTests {
    /// Runs `child` with a plain fork; returns the messages received.
    static func run(silence: Int = 30, memory: Int = 256 << 20, _ child: (IsolatedProcess.Channel) throws -> Void) throws -> [(UInt8, [UInt8])] {
        var received: [(UInt8, [UInt8])] = []
        try IsolatedProcess.run(silence: silence, memory: memory, fork: { fork() }, child: child) { kind, payload in
            received.append((kind, Array(payload.bytes)))
        }
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
            try IsolatedProcess.run(silence: 30, memory: 64 << 20, fork: { fork() }, child: { channel in
                while true { channel.send(1, [1]) }
            }) { _, _ in throw CheckpointError("f", "enough") }
        }
    }
}
