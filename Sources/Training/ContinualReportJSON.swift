import Checkpoints
import Foundation
import Tensors

/// report.json and state.json: a continual run's figures under both protocols, with 95 %
/// bootstrap intervals, and the per-item outcomes they come from (so that a resumed run, and
/// a comparison of two runs over the same items, can recompute anything). Manual/continual.md
/// lists every key.
extension ContinualRunner {
    /// How the report's intervals are drawn (documented in the report itself).
    static let bootstrap = Bootstrap()

    /// The report as JSON, `evaluation` its headline protocol.
    public static func json(_ report: Report, method: String, evaluation: EvaluationProtocol) -> JSONValue {
        let control = report.control
        let controlReplicates = bootstrap.replicates(report.states.map { [$0.control] }) {
            ControlMetrics(counts: $0.map { $0[0] })
        }
        var members: [(String, JSONValue)] = [
            ("method", .string(method)), ("protocol", .string(evaluation.rawValue)),
            ("tasks", .array(report.tasks.map { .string($0) })),
            ("test_items", .array((report.states.first?.taskIncremental ?? []).map { .integer($0.count) })),
        ]
        for each in EvaluationProtocol.allCases { members.append((each.reportKey, section(report, each))) }
        members += [
            ("control_items", .integer(report.states.first?.control.count ?? 0)),
            ("control_accuracy_base", number(control.accuracyBase)),
            ("control_accuracy_base_interval", interval(controlReplicates.map(\.accuracyBase))),
            ("control_accuracy", number(control.accuracy)),
            ("control_accuracy_interval", interval(controlReplicates.map(\.accuracy))),
            ("control_accuracy_after_each_task", .array(control.accuracyAfterEachTask.map(number))),
            (
                "control_accuracy_after_each_task_intervals",
                .array(
                    control.accuracyAfterEachTask.indices.map { k in
                        interval(controlReplicates.map { $0.accuracyAfterEachTask[k] })
                    })
            ),
            ("control_drop", number(control.drop)),
            ("control_drop_interval", interval(controlReplicates.map(\.drop))),
            ("trainable_parameters", .integer(report.trainableParameters)),
            ("changed_parameters", .integer(report.changedParameters)),
            ("seconds", number(report.seconds)), ("settings", report.settings.json),
            (
                "bootstrap",
                .object([
                    ("resamples", .integer(bootstrap.resamples)), ("level", .number(bootstrap.level)),
                    ("seed", .integer(Int(bootstrap.seed))),
                    (
                        "method",
                        .string(
                            """
                            percentile; test items resampled with replacement within each task and within the \
                            control set, the same items in every state (paired)
                            """
                        )
                    ),
                ])
            ),
            (
                "outcomes",
                .object(
                    EvaluationProtocol.allCases.map { each in
                        (each.reportKey, .array(report.states.map { .array($0.tasks(each).map(bits)) }))
                    } + [("control", .array(report.states.map { bits($0.control) }))])
            ),
        ]
        return .object(members)
    }

    /// One protocol's figures and their intervals.
    static func section(_ report: Report, _ evaluation: EvaluationProtocol) -> JSONValue {
        let m = report.metrics(evaluation)
        let replicates = bootstrap.replicates(report.states.map { $0.tasks(evaluation) }) {
            ProtocolMetrics(counts: $0)
        }
        return .object([
            ("accuracy_matrix", .array(m.accuracyMatrix.map { .array($0.map(number)) })),
            (
                "accuracy_matrix_intervals",
                .array(
                    m.accuracyMatrix.enumerated().map { r, row in
                        .array(row.indices.map { i in interval(replicates.map { $0.accuracyMatrix[r][i] }) })
                    })
            ),
            ("average_accuracy", number(m.averageAccuracy)),
            ("average_accuracy_interval", interval(replicates.map(\.averageAccuracy))),
            ("average_accuracy_after_each_task", .array(m.averageAccuracyAfterEachTask.map(number))),
            (
                "average_accuracy_after_each_task_intervals",
                .array(
                    m.averageAccuracyAfterEachTask.indices.map { k in
                        interval(replicates.map { $0.averageAccuracyAfterEachTask[k] })
                    })
            ),
            ("average_accuracy_base", number(m.averageAccuracyBase)),
            ("average_accuracy_base_interval", interval(replicates.map(\.averageAccuracyBase))),
            ("task_accuracy_base", .array(m.taskAccuracyBase.map(number))),
            ("forgetting", number(m.forgetting)), ("forgetting_interval", interval(replicates.map(\.forgetting))),
            ("learning_accuracy", number(m.learningAccuracy)),
            ("learning_accuracy_interval", interval(replicates.map(\.learningAccuracy))),
            ("unseen_accuracy_after_each_task", .array(m.unseenAccuracyAfterEachTask.map(number))),
            ("unseen_accuracy", m.unseenAccuracy.map(number) ?? .null),
            (
                "unseen_accuracy_interval",
                m.unseenAccuracy == nil ? .null : interval(replicates.compactMap(\.unseenAccuracy))
            ),
        ])
    }

    static func number(_ x: Double) -> JSONValue { .number((x * 100).rounded() / 100) }

    static func interval(_ values: [Double]) -> JSONValue {
        guard let range = bootstrap.interval(values) else { return .null }
        return .array([number(range.lowerBound), number(range.upperBound)])
    }

    /// Outcomes as text: one character per item, "1" correct, "0" not.
    static func bits(_ outcomes: [Bool]) -> JSONValue { .string(String(outcomes.map { $0 ? "1" : "0" })) }

    static func save(_ report: Report, method: Method, evaluation: EvaluationProtocol, to path: String) throws {
        try AtomicFile.write(
            Array((json(report, method: method.rawValue, evaluation: evaluation).pretty() + "\n").utf8), to: path)
    }

    /// The saved state of the run in `folder`, if there is one, when it was made with
    /// `settings`; nil for a folder without a run. Its outcomes must fit `evaluator`'s tasks.
    static func resumed(_ folder: String, settings: ContinualSettings, method: Method, evaluator: ContinualEvaluator)
        throws -> Report?
    {
        let path = folder + "/state.json"
        let advice =
            """
            start over with --restart (it removes the run's files from \(folder), and no other file), or use \
            another output folder
            """
        guard FileManager.default.fileExists(atPath: path) else {
            let files = try ContinualRunFolder.runFiles(in: folder)
            guard files.isEmpty else {
                throw FileError(
                    folder,
                    "holds \(files.joined(separator: ", ")) but no state.json, so there is no run to resume; \(advice)",
                    kind: .incompatible)
            }
            return nil
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(contentsOf: path)
        } catch let error as FileError {
            throw FileError(path, error.problem + "; " + advice, kind: error.kind)
        }
        guard let recorded = ContinualSettings(json: json["settings"]) else {
            throw FileError(
                path,
                "records no settings (an older Scalpel wrote it), so resuming its run cannot be checked; \(advice)",
                kind: .unsupported)
        }
        let differences = settings.differences(from: recorded)
        guard differences.isEmpty else {
            throw FileError(
                path, "the run there was made with other settings:",
                details: differences.map { "  " + $0 } + ["resume it with the same settings, or " + advice],
                kind: .incompatible)
        }
        guard let outcomes = json["outcomes"] else {
            throw FileError(
                path,
                """
                records no per-item outcomes (an older Scalpel wrote it, measuring task-incremental accuracy \
                only); \(advice)
                """,
                kind: .unsupported)
        }
        let itemCounts = evaluator.labels.map(\.count)
        func decode(_ value: JSONValue?, count: Int) -> [Bool]? {
            guard let text = value?.stringValue, text.utf8.count == count,
                text.utf8.allSatisfy({ $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") })
            else { return nil }
            return text.utf8.map { $0 == UInt8(ascii: "1") }
        }
        func states(_ key: String) -> [[[Bool]]]? {
            guard let list = outcomes[key]?.arrayValue else { return nil }
            let decoded = list.map { state -> [[Bool]]? in
                guard let tasks = state.arrayValue, tasks.count == itemCounts.count else { return nil }
                let each = zip(tasks, itemCounts).map { decode($0, count: $1) }
                return each.contains { $0 == nil } ? nil : each.map { $0! }
            }
            return decoded.contains { $0 == nil } ? nil : decoded.map { $0! }
        }
        let controlStates = outcomes["control"]?.arrayValue?.map { decode($0, count: evaluator.controlLabels.count) }
        guard let byClass = states(EvaluationProtocol.classIncremental.reportKey),
            let byTask = states(EvaluationProtocol.taskIncremental.reportKey),
            let controlStates, !controlStates.contains(where: { $0 == nil }),
            byClass.count == byTask.count, byClass.count == controlStates.count,
            (1...(itemCounts.count + 1)).contains(byClass.count),
            let trainable = json["trainable_parameters"]?.intValue, let changed = json["changed_parameters"]?.intValue,
            let seconds = json["seconds"].flatMap(Self.double)
        else {
            throw FileError(
                path, "is damaged (its outcomes do not fit the tasks' and the control's test items); \(advice)",
                kind: .corrupt)
        }
        let finished = byClass.count - 1
        // Every finished task's files must still be there: the later tasks build on them.
        for k in 0..<finished {
            for file in ["task\(k + 1).spatch"] + (method.score == nil ? [] : ["task\(k + 1)-mask.spatch"])
            where !FileManager.default.fileExists(atPath: folder + "/" + file) {
                throw FileError(
                    folder + "/" + file, "is missing, though state.json records task \(k + 1) as finished; \(advice)",
                    kind: .notFound)
            }
        }
        let tasks = json["tasks"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let saved = (0...finished).map {
            StateOutcomes(classIncremental: byClass[$0], taskIncremental: byTask[$0], control: controlStates[$0]!)
        }
        return Report(
            tasks: tasks, states: saved, trainableParameters: trainable, changedParameters: changed, seconds: seconds,
            settings: recorded)
    }

    static func double(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let x): return x
        case .integer(let i): return Double(i)
        default: return nil
        }
    }
}
