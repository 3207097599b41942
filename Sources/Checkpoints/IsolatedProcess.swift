import CProcess
import Tensors

#if canImport(Glibc)
    import Glibc
#endif

/// Runs work that may take the process down (a C library crashing, looping or allocating
/// without bound on a malformed file: libhdf5 does all three) in a forked child process.
/// The child streams framed messages back over a pipe; the parent reads them with a time
/// limit on silence, so a crash, a hang or a memory blow-up in the child becomes an error
/// in the parent that names the last step the child announced.
///
/// Why a fork and not a thread or a fresh process: a signal handler cannot safely resume
/// after a segmentation fault inside a C library, and a library cannot start a fresh copy
/// of whatever executable hosts it (the CLI, a test runner). A forked child shares the
/// parent's code and open mappings, and its death is contained. The child runs on the one
/// thread fork leaves it: the caller makes sure no other thread is inside the library being
/// guarded at fork time (HDF5 forks under its lock), glibc keeps malloc usable across fork,
/// and the child never returns into the parent's code: it leaves with `_exit`. Nor does it
/// outlive the parent: a parent stopped while waiting (Ctrl-C, a fuzzer's timeout, a kill)
/// takes the child with it, so no orphan goes on looping with the parent's stdout open.
enum IsolatedProcess {
    /// How a child ended without finishing its work.
    struct Failure: Error, Equatable {
        enum Kind: Equatable {
            case crashed(signal: Int32)
            case silent(seconds: Int)
            case exited(status: Int32)
            case failed(message: String)
        }
        let kind: Kind
        /// The last step the child announced before it ended.
        let step: String

        /// "crashed (segmentation fault)" and the like, for messages.
        var summary: String {
            switch kind {
            case .crashed(let signal): return "crashed (\(Self.signalName(signal)))"
            case .silent(let seconds): return "stopped responding for \(seconds) s"
            case .exited(let status): return "ended with status \(status)"
            case .failed(let message): return message
            }
        }

        private static func signalName(_ signal: Int32) -> String {
            switch signal {
            case SIGSEGV: return "segmentation fault"
            case SIGBUS: return "bus error"
            case SIGABRT: return "abort"
            case SIGILL: return "illegal instruction"
            case SIGFPE: return "arithmetic fault"
            case SIGTRAP: return "trap"
            case SIGKILL: return "killed"
            default: return "signal \(signal)"
            }
        }
    }

    /// Message kinds reserved by the runner; callers use 1...127.
    static let stepKind: UInt8 = 250, failureKind: UInt8 = 251, doneKind: UInt8 = 252

    /// The child's end of the pipe.
    struct Channel {
        let fd: Int32

        /// Sends one message: its kind, its length (u64 little-endian), its bytes. A parent
        /// that is gone ends the child.
        func send(_ kind: UInt8, _ payload: UnsafeRawBufferPointer) {
            var header = [kind]
            withUnsafeBytes(of: UInt64(payload.count).littleEndian) { header += $0 }
            header.withUnsafeBytes { writeAll($0) }
            writeAll(payload)
        }

        func send(_ kind: UInt8, _ payload: [UInt8]) { payload.withUnsafeBytes { send(kind, $0) } }

        /// Announces what the child does next, so that a crash during it is reported with it.
        func step(_ text: String) { send(IsolatedProcess.stepKind, Array(text.utf8)) }

        private func writeAll(_ bytes: UnsafeRawBufferPointer) {
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { _exit(3) }
                done += n
            }
        }
    }

    /// Runs `child` in a forked process and hands each of its messages to `receive`, in
    /// order, with the message's bytes in a fresh buffer the receiver may keep. `fork` makes
    /// the process (the caller wraps it in whatever lock keeps other threads out of the guarded
    /// library). Returns once the child has finished; throws `Failure` when it crashed, fell
    /// silent for `silence` seconds (it is then killed), exited early or threw (`.failed` with
    /// the error's text; a `FileError`'s problem alone, the caller knows the file); rethrows what
    /// `receive` throws (the child is then killed). The child's address space may grow by
    /// `memory` bytes (see `limitMemory`).
    static func run(
        silence: Int, memory: Int, fork makeChild: () -> pid_t, child: (Channel) throws -> Void,
        receive: (UInt8, ByteBuffer) throws -> Void
    ) throws {
        var ends: [Int32] = [-1, -1]
        // Close-on-exec from the start: a process another thread starts meanwhile must not
        // hold the child's end open, or the end of the stream would wait for it. (A socket
        // pair, since Glibc's module does not offer pipe2.)
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw Failure(kind: .failed(message: "cannot make a socket pair (errno \(errno))"), step: "starting")
        }
        let parent = getpid()
        let pid = makeChild()
        if pid == 0 {
            becomeChild(of: parent, keeping: ends[1], memory: memory)
            let channel = Channel(fd: ends[1])
            do {
                try child(channel)
                channel.send(doneKind, [])
            } catch let error as FileError {
                // The parent names the file itself.
                channel.send(failureKind, Array(error.problem.utf8))
            } catch {
                channel.send(failureKind, Array("\(error)".utf8))
            }
            _exit(0)
        }
        close(ends[1])
        defer { close(ends[0]) }
        guard pid > 0 else {
            throw Failure(kind: .failed(message: "cannot start a process (errno \(errno))"), step: "starting")
        }
        var reaped = false
        defer {
            if !reaped {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            }
        }
        var reader = Reader(fd: ends[0], silence: silence)
        var step = "starting"
        var finished = false
        var failure: String?
        while let (kind, payload) = try reader.next(step: step) {
            switch kind {
            case stepKind: step = String(decoding: UnsafeRawBufferPointer(payload.bytes), as: UTF8.self)
            case failureKind: failure = String(decoding: UnsafeRawBufferPointer(payload.bytes), as: UTF8.self)
            case doneKind: finished = true
            default: try receive(kind, payload)
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        reaped = true
        let signal = status & 0x7F
        let code = (status >> 8) & 0xFF
        if signal != 0 { throw Failure(kind: .crashed(signal: signal), step: step) }
        if let failure { throw Failure(kind: .failed(message: failure), step: step) }
        guard finished, code == 0 else { throw Failure(kind: .exited(status: code), step: step) }
    }

    /// Sets the child up: it dies with its parent (killed when the parent ends, and gone at
    /// once if the parent already has), only its own end of the pipe open (another child's
    /// pipe, inherited, would keep that stream from ending), default handlers for crash
    /// signals (a runtime's crash reporter would print pages to stderr and take seconds), no
    /// core files, stdin, stdout and stderr on /dev/null (the parent reports; an inherited
    /// stdout would keep whatever reads the parent's output waiting), and an address-space limit.
    private static func becomeChild(of parent: pid_t, keeping channel: Int32, memory: Int) {
        if scalpel_die_with_parent() != 0 || getppid() != parent { _exit(4) }
        var open: [Int32] = []
        if let folder = opendir("/proc/self/fd") {
            while let entry = readdir(folder) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                if let fd = Int32(name), fd > 2, fd != channel { open.append(fd) }
            }
            closedir(folder)
        }
        for fd in open { close(fd) }
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { Glibc.signal(signal, SIG_DFL) }
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
        let null = Glibc.open("/dev/null", O_RDWR)
        if null >= 0 {
            for fd: Int32 in 0...2 { dup2(null, fd) }
            if null > 2 { close(null) }
        }
        limitMemory(extra: memory)
    }

    /// In the child: lets its address space grow by at most `extra` bytes beyond what it has
    /// now, so a library asked by a damaged file for terabytes gets an allocation failure
    /// (or dies) rather than taking the machine's memory. Only the soft limit moves, so
    /// later calls may raise it again.
    static func limitMemory(extra: Int) {
        guard let current = addressSpace() else { return }
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
        let (wanted, overflow) = current.addingReportingOverflow(max(extra, 0))
        guard !overflow else { return }
        limit.rlim_cur = limit.rlim_max == rlim_t.max ? rlim_t(wanted) : min(rlim_t(wanted), limit.rlim_max)
        setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
    }

    /// The process's address-space size in bytes (/proc/self/statm's first field, in pages).
    private static func addressSpace() -> Int? {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0, let pages = Int(String(decoding: buffer.prefix(n).prefix { $0 != 0x20 }, as: UTF8.self)) else {
            return nil
        }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Reads framed messages, waiting at most `silence` seconds for each next byte.
    private struct Reader {
        let fd: Int32
        let silence: Int

        /// The next message, or nil at the end of the stream.
        mutating func next(step: String) throws -> (UInt8, ByteBuffer)? {
            var header = [UInt8](repeating: 0, count: 9)
            let got = try header.withUnsafeMutableBytes { try fill($0, step: step) }
            if got == 0 { return nil }
            guard got == 9 else { throw Failure(kind: .failed(message: "sent a cut message"), step: step) }
            let length = header[1...].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard length < 1 << 50 else {
                throw Failure(kind: .failed(message: "sent a message of \(length) bytes"), step: step)
            }
            let payload = ByteBuffer(count: Int(length))
            guard try fill(payload.bytes, step: step) == Int(length) else {
                throw Failure(kind: .failed(message: "sent a cut message"), step: step)
            }
            return (header[0], payload)
        }

        /// Fills `buffer` unless the stream ends first; returns how many bytes came.
        private func fill(_ buffer: UnsafeMutableRawBufferPointer, step: String) throws -> Int {
            var done = 0
            while done < buffer.count {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, Int32(silence * 1000))
                if ready < 0, errno == EINTR { continue }
                guard ready > 0 else { throw Failure(kind: .silent(seconds: silence), step: step) }
                let n = read(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            return done
        }
    }
}
