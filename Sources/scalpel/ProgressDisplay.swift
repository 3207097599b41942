import ConsoleKitTerminal
import Foundation
import Tensors
import Training

/// A live progress line on stderr: a bar, the work done of the total, the rate and the time
/// left, redrawn in place while a command runs. Shown only when stderr is a terminal (and not
/// with `--quiet` or `--json`), so logs and pipes get nothing but results.
///
/// ConsoleKitTerminal's `ActivityIndicator` drives it: it redraws on a timer of its own and
/// clears the previous line, so the work never waits for the terminal. Its own `Terminal`
/// writes to stdout, which carries results, hence the small console on stderr here.
final class ProgressDisplay: @unchecked Sendable {
    /// What is counted: bytes (shown as sizes and a byte rate), tensor elements, or steps.
    enum Unit { case bytes, elements, inputs, steps }

    private let state: ProgressState
    private var indicator: ActivityIndicator<ProgressLine>?
    private let console: StandardErrorConsole?

    /// A display titled `title` counting up to `total` in `unit`; nothing is shown when `enabled`
    /// is false or stderr is not a terminal.
    init(_ title: String, total: Int, unit: Unit, enabled: Bool) {
        state = ProgressState(title: title, total: total, unit: unit)
        console = enabled && StandardErrorConsole.isTerminal ? StandardErrorConsole() : nil
        start()
    }

    private func start() {
        guard let console else { return }
        let indicator = ProgressLine(state: state).newActivity(for: console)
        indicator.start(refreshRate: 100)
        self.indicator = indicator
    }

    /// Adds `amount` to the work done (from any thread).
    func advance(_ amount: Int) { state.advance(amount) }

    /// Sets the work done and the detail shown after the counts (loss, learning rate).
    func update(done: Int, total: Int? = nil, detail: String = "") {
        state.set(done: done, total: total, detail: detail)
    }

    /// Prints `line` for good (above the bar on a terminal; on stderr either way).
    func say(_ line: String) {
        indicator?.succeed()
        indicator = nil
        FileHandle.standardError.write(Data((DisplayText.escaped(line) + "\n").utf8))
        start()
    }

    /// Removes the bar and stops counting; the command's result follows on stdout.
    func finish() {
        WorkProgress.install(add: nil)
        indicator?.succeed()
        indicator = nil
    }

    /// A display of the work the libraries count through `WorkProgress` (bytes of tensors
    /// compared or written, scoring batches), shown unless `--quiet` or `--json`. Call
    /// `finish()` when the work is done or failed (`defer`), before the result is printed.
    static func counting(_ title: String, total: Int, unit: Unit = .bytes, _ options: OutputOptions) -> ProgressDisplay
    {
        let display = ProgressDisplay(title, total: total, unit: unit, enabled: !options.quiet && !options.json)
        WorkProgress.install(add: { display.advance($0) }, expect: { display.update(done: 0, total: $0) })
        return display
    }
}

/// The counts a display shows, updated from worker threads and read by the redraw timer.
final class ProgressState: @unchecked Sendable {
    let title: String
    let unit: ProgressDisplay.Unit
    /// When the first work was counted, and how much: the rate is measured from there, so
    /// the setup before the first step (loading, a first evaluation) does not skew it.
    private var first: (time: Date, done: Int)?
    private var done = 0
    private var total: Int
    private var detail = ""
    private let lock = NSLock()

    init(title: String, total: Int, unit: ProgressDisplay.Unit) {
        self.title = title
        self.total = total
        self.unit = unit
    }

    func advance(_ amount: Int) {
        lock.withLock {
            if first == nil { first = (Date(), done) }
            done += amount
        }
    }

    func set(done: Int, total: Int?, detail: String) {
        lock.withLock {
            if first == nil, done > 0 { first = (Date(), self.done) }
            self.done = done
            if let total { self.total = total }
            self.detail = detail
        }
    }

    var snapshot: (done: Int, total: Int, detail: String) { lock.withLock { (done, total, detail) } }

    /// Work per second since the first work was counted (nil until there is a measure).
    var rate: Double? {
        lock.withLock {
            guard let first else { return nil }
            let seconds = Date().timeIntervalSince(first.time)
            let amount = done - first.done
            return seconds > 0.2 && amount > 0 ? Double(amount) / seconds : nil
        }
    }
}

/// One line: `title [=====     ] 45 % 1.2 GB of 2.6 GB  310 MB/s  0:05 left  detail`.
struct ProgressLine: ActivityIndicatorType {
    let state: ProgressState

    func outputActivityIndicator(to console: any Console, state indicatorState: ActivityIndicatorState) {
        // Finished or failed: the line is cleared and the command's own output says the rest.
        guard case .active = indicatorState else { return }
        console.output(ConsoleText(stringLiteral: render(width: console.size.width)), newLine: true)
    }

    private func render(width: Int) -> String {
        let (done, total, detail) = state.snapshot
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let counts: String
        let rate = state.rate
        switch state.unit {
        case .bytes:
            counts =
                "\(Format.bytes(done)) of \(Format.bytes(total))" + (rate.map { "  \(Format.bytes(Int($0)))/s" } ?? "")
        case .elements: counts = "\(Format.count(done)) of \(Format.count(total)) elements"
        case .inputs: counts = "\(Format.count(done)) of \(Format.count(total)) inputs embedded"
        case .steps: counts = "step \(done) of \(total)"
        }
        let left = rate.map { fraction < 1 ? "  \(Self.clock(Double(total - done) / $0)) left" : "" } ?? ""
        let bar =
            String(repeating: "=", count: Int(fraction * 20)) + String(repeating: " ", count: 20 - Int(fraction * 20))
        let line =
            """
            \(DisplayText.escaped(state.title)) [\(bar)] \(Int(fraction * 100)) %  \
            \(counts)\(left)\(detail.isEmpty ? "" : "  " + detail)
            """
        // One terminal line, or the clearing would leave pieces of wrapped lines behind.
        return width > 1 && line.count >= width ? String(line.prefix(width - 1)) : line
    }

    /// `m:ss` or `h:mm:ss`.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// A ConsoleKit console writing to stderr, plain text with the erase-line commands of ANSI
/// terminals, for `ProgressDisplay`.
final class StandardErrorConsole: Console, @unchecked Sendable {
    /// Whether stderr is a terminal that takes ANSI commands.
    static var isTerminal: Bool {
        isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["TERM"].map { $0 != "dumb" } ?? false
    }

    private let lock = NSLock()
    private var info: [AnySendableHashable: any Sendable] = [:]

    var userInfo: [AnySendableHashable: any Sendable] {
        get { lock.withLock { info } }
        set { lock.withLock { info = newValue } }
    }

    var supportsANSICommands: Bool { true }

    var size: (width: Int, height: Int) {
        var window = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &window) == 0 else { return (80, 24) }
        return (Int(window.ws_col), Int(window.ws_row))
    }

    func input(isSecure: Bool) -> String { "" }

    func output(_ text: ConsoleText, newLine: Bool) {
        didOutputLines(count: newLine ? 1 : 0)
        FileHandle.standardError.write(Data((text.description + (newLine ? "\n" : "")).utf8))
    }

    func clear(_ type: ConsoleClear) {
        switch type {
        case .line: FileHandle.standardError.write(Data("\u{1B}[1A\u{1B}[2K".utf8))  // cursor up, erase the line
        case .screen: FileHandle.standardError.write(Data("\u{1B}[2J".utf8))
        }
    }

    func report(error: String, newLine: Bool) {
        FileHandle.standardError.write(Data((error + (newLine ? "\n" : "")).utf8))
    }
}

/// The progress of `train` (and each task of `continual`): optimizer steps with the epoch,
/// the running loss and the learning rate.
final class TrainingProgress: @unchecked Sendable {
    private let display: ProgressDisplay
    private let quiet: Bool

    init(_ title: String = "train", quiet: Bool) {
        self.quiet = quiet
        display = ProgressDisplay(title, total: 0, unit: .steps, enabled: !quiet)
    }

    /// For `MaskedTrainer.Observer.step`.
    var step: (MaskedTrainer.StepProgress) -> Void {
        { [display] p in
            display.update(
                done: p.step, total: p.totalSteps,
                detail:
                    """
                    epoch \(p.epoch)/\(p.epochs)  loss \(String(format: "%.4f", p.loss))  lr \
                    \(String(format: "%.2e", p.learningRate))
                    """
            )
        }
    }

    /// A line for good on stderr (nothing with `--quiet`).
    func say(_ line: String) { if !quiet { display.say(line) } }

    func finish() { display.finish() }
}
