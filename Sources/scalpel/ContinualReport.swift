import Checkpoints
import Training

/// A continual run's report for people: a Markdown page and an SVG plot, from the report and
/// its JSON (whose bootstrap intervals they show rather than draw again).
enum ContinualReport {
    /// The tables of `r` under its headline protocol, both protocols' summary figures, the
    /// control set, and the settings the patches were made with.
    static func markdown(_ r: ContinualRunner.Report, json: JSONValue, method: String, evaluation: EvaluationProtocol)
        -> String
    {
        let m = r.metrics(evaluation)
        let control = r.control
        let intervals = json[evaluation.reportKey]?["accuracy_matrix_intervals"]?.arrayValue ?? []
        var out = "# Continual run: \(method)\n\n"
        out += "Protocol: \(name(evaluation)) (\(meaning(evaluation))). report.json holds both protocols' figures.\n\n"
        var rows: [[String]] = [["after task"] + r.tasks + ["control"]]
        rows.append(
            ["base (zero-shot)"] + m.taskAccuracyBase.map { Format.fixed($0, 1) } + [
                Format.fixed(control.accuracyBase, 2)
            ])
        for (k, row) in m.accuracyMatrix.enumerated() {
            let cells = r.tasks.indices.map { i in
                i < row.count
                    ? Format.fixed(row[i], 1)
                        + range(intervals.count > k ? intervals[k].arrayValue?[i] : nil, digits: 1) : ""
            }
            rows.append(["\(k + 1) \(r.tasks[k])"] + cells + [Format.fixed(control.accuracyAfterEachTask[k], 2)])
        }
        out += table(rows)
        out += "\n"
        var measures: [[String]] = [["measure"] + EvaluationProtocol.allCases.map(name)]
        func row(_ label: String, _ value: (ProtocolMetrics, JSONValue?) -> String) {
            measures.append([label] + EvaluationProtocol.allCases.map { value(r.metrics($0), json[$0.reportKey]) })
        }
        row("average accuracy over the seen tasks' items, base → final") { m, j in
            """
            \(Format.fixed(m.averageAccuracyBase, 2)) % → \(Format.fixed(m.averageAccuracy, 2)) \
            %\(range(j?["average_accuracy_interval"]))
            """
        }
        row("forgetting") { m, j in "\(Format.fixed(m.forgetting, 2)) points\(range(j?["forgetting_interval"]))" }
        row("learning accuracy (each task right after learning it)") { m, j in
            "\(Format.fixed(m.learningAccuracy, 2)) %\(range(j?["learning_accuracy_interval"]))"
        }
        row("accuracy on the tasks not yet learned (mean after tasks 1…n−1)") { m, j in
            m.unseenAccuracy.map { "\(Format.fixed($0, 2)) %\(range(j?["unseen_accuracy_interval"]))" } ?? "(one task)"
        }
        out += table(measures)
        out += "\n"
        out += table([
            ["control set (\(Format.count(r.states.first?.control.count ?? 0)) items)", "value"],
            [
                "control accuracy, base → final",
                """
                \(Format.fixed(control.accuracyBase, 2)) %\(range(json["control_accuracy_base_interval"])) → \
                \(Format.fixed(control.accuracy, 2)) %\(range(json["control_accuracy_interval"]))
                """,
            ],
            [
                "control drop (paired over the same items)",
                "\(Format.fixed(control.drop, 2)) points\(range(json["control_drop_interval"]))",
            ],
            [
                "trainable parameters (union of the masks; all for full fine-tuning)",
                Format.count(r.trainableParameters),
            ],
            ["changed parameters (union of the patches)", Format.count(r.changedParameters)],
            ["time", "\(Format.fixed(r.seconds, 1)) s"],
        ])
        out +=
            """
            \n[low, high]: 95 % percentile bootstrap intervals over the test items \
            (\(json["bootstrap"]?["resamples"]?.intValue ?? 0) resamples; the same items in every state, so \
            differences between states are paired).\n\n
            """
        var settings: [[String]] = [["setting", "value"]]
        for (name, value) in r.settings.values {
            settings.append([name, value.replacingOccurrences(of: "|", with: "\\|")])
        }
        return out + table(settings)
    }

    static func name(_ evaluation: EvaluationProtocol) -> String { evaluation.rawValue + "-incremental" }

    static func meaning(_ evaluation: EvaluationProtocol) -> String {
        switch evaluation {
        case .classIncremental:
            "after task k every seen task's test items are classified among the classes of all seen tasks"
        case .taskIncremental: "each task's test items are classified among its own classes"
        }
    }

    /// " [low, high]" from a JSON interval, or nothing.
    static func range(_ value: JSONValue?, digits: Int = 2) -> String {
        guard let bounds = value?.arrayValue, bounds.count == 2, let low = number(bounds[0]),
            let high = number(bounds[1])
        else { return "" }
        return " [\(Format.fixed(low, digits)), \(Format.fixed(high, digits))]"
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let x): return x
        case .integer(let i): return Double(i)
        default: return nil
        }
    }

    static func table(_ rows: [[String]]) -> String {
        var out =
            "| " + rows[0].joined(separator: " | ") + " |\n| " + rows[0].map { _ in "---" }.joined(separator: " | ")
            + " |\n"
        for row in rows.dropFirst() { out += "| " + row.joined(separator: " | ") + " |\n" }
        return out
    }

    /// Average accuracy over the seen tasks (headline protocol), accuracy on the tasks not yet
    /// learned, and control accuracy, after each task, with their 95 % intervals as bars.
    static func svg(_ r: ContinualRunner.Report, json: JSONValue, evaluation: EvaluationProtocol) -> String {
        let width = 520.0
        let height = 320.0
        let left = 50.0
        let bottom = 40.0
        let top = 50.0
        let right = 20.0
        let m = r.metrics(evaluation)
        let control = r.control
        let n = max(r.finishedTasks, 1)
        func x(_ k: Int) -> Double { left + (width - left - right) * Double(k) / Double(n) }
        func y(_ value: Double) -> Double { height - bottom - (height - top - bottom) * value / 100 }
        let section = json[evaluation.reportKey]
        let seen: [Double?] = [nil] + m.averageAccuracyAfterEachTask
        let seenBars: [JSONValue?] =
            [nil] + (section?["average_accuracy_after_each_task_intervals"]?.arrayValue ?? []).map { Optional($0) }
        let unseen: [Double?] = m.unseenAccuracyAfterEachTask.map { $0 }
        let controlValues: [Double?] = [control.accuracyBase] + control.accuracyAfterEachTask
        let controlBars: [JSONValue?] =
            [json["control_accuracy_base_interval"]]
            + (json["control_accuracy_after_each_task_intervals"]?.arrayValue ?? []).map { Optional($0) }
        func line(_ values: [Double?], _ color: String, dashed: Bool = false) -> String {
            let points = values.enumerated().compactMap { k, v in v.map { "\(x(k)),\(y($0))" } }.joined(separator: " ")
            return
                """
                <polyline fill=\"none\" stroke=\"\(color)\" \
                stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"5,4\"" : "") points=\"\(points)\"/>\n
                """
        }
        func bars(_ intervals: [JSONValue?], _ color: String) -> String {
            intervals.enumerated().compactMap { k, value -> String? in
                guard let bounds = value?.arrayValue, bounds.count == 2, let low = number(bounds[0]),
                    let high = number(bounds[1])
                else { return nil }
                return
                    """
                    <line x1=\"\(x(k))\" x2=\"\(x(k))\" y1=\"\(y(low))\" y2=\"\(y(high))\" stroke=\"\(color)\" \
                    stroke-width=\"1.5\"/>
                    """
                        + """
                        <line x1=\"\(x(k) - 4)\" x2=\"\(x(k) + 4)\" y1=\"\(y(low))\" y2=\"\(y(low))\" \
                        stroke=\"\(color)\"/>
                        """
                            + """
                            <line x1=\"\(x(k) - 4)\" x2=\"\(x(k) + 4)\" y1=\"\(y(high))\" y2=\"\(y(high))\" \
                            stroke=\"\(color)\"/>\n
                            """
            }.joined()
        }
        var out =
            """
            <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" \
            font-family=\"sans-serif\" font-size=\"11\">\n
            """
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for tick in stride(from: 0, through: 100, by: 25) {
            out +=
                """
                <line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(Double(tick)))\" y2=\"\(y(Double(tick)))\" \
                stroke=\"#ddd\"/><text x=\"\(left - 8)\" y=\"\(y(Double(tick)) + 4)\" \
                text-anchor=\"end\">\(tick)</text>\n
                """
        }
        for k in 0...n {
            out +=
                """
                <text x=\"\(x(k))\" y=\"\(height - bottom + 16)\" \
                text-anchor=\"middle\">\(k == 0 ? "base" : "task \(k)")</text>\n
                """
        }
        out += line(seen, "#1f77b4") + bars(seenBars, "#1f77b4")
        out += line(unseen, "#7f7f7f", dashed: true)
        out += line(controlValues, "#d62728") + bars(controlBars, "#d62728")
        out +=
            """
            <text x=\"\(left + 8)\" y=\"14\" fill=\"#1f77b4\">average accuracy on the tasks learned (%, \
            \(name(evaluation)))</text>\n
            """
        out += "<text x=\"\(left + 8)\" y=\"28\" fill=\"#7f7f7f\">accuracy on the tasks not yet learned (%)</text>\n"
        out +=
            """
            <text x=\"\(left + 8)\" y=\"42\" fill=\"#d62728\">control accuracy (%); bars: 95 % bootstrap \
            intervals</text>\n</svg>\n
            """
        return out
    }
}
