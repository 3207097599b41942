import Foundation
import Models
import Tensors

/// The test data of a continual run, read once, and its evaluation in each model state under
/// both protocols (`EvaluationProtocol`). Every test input and every class prompt is embedded
/// once per state; only the candidate classes differ between the protocols.
struct ContinualEvaluator {
    let tasks: [TaskFolder]
    let inputs: [[EncoderInput]]
    let labels: [[Int]]
    let control: TaskFolder
    let controlInputs: [EncoderInput]
    let controlLabels: [Int]
    /// unionIndex[i][c]: task i's class c in the list of every task's classes, where a class
    /// that several tasks list with the same label and the same prompt (their bytes) is one
    /// class, at its first task's position. The same label with another prompt is another
    /// class: tasks often reuse labels ("positive", "0") for different things.
    let unionIndex: [[Int]]

    /// Reads the tasks' and the control's classes and test data.
    /// - Throws: `ModelError` naming the file, as `TaskFolder` does.
    init(tasks folders: [String], control: String) throws {
        tasks = try folders.map(TaskFolder.init(folder:))
        let data = try tasks.map { try $0.inputs("test") }
        inputs = data.map(\.inputs)
        labels = data.map(\.labels)
        self.control = try TaskFolder(folder: control)
        (controlInputs, controlLabels) = try self.control.inputs("test")
        // Keyed by label, a tab (which no label holds: classes.txt splits at the first) and prompt.
        var union = NameMap<Int>()
        unionIndex = tasks.map { task in
            zip(task.labels, task.prompts).map { label, prompt in
                let key = label + "\t" + prompt
                if let index = union[key] { return index }
                union.insertNew(key, union.count)
                return union.count - 1
            }
        }
    }

    /// The outcomes of the model `encoder` in the state after `seen` tasks (0: the base).
    func outcomes(_ encoder: any ZeroShotEncoder, seen: Int) throws -> StateOutcomes {
        let prompts = try tasks.map { try encoder.embed(texts: $0.prompts) }
        let items = try inputs.map { try encoder.embed(inputs: $0) }
        let byTask = tasks.indices.map { i in
            zip(ZeroShot.predictions(items[i], among: prompts[i]), labels[i]).map { $0 == $1 }
        }
        var byClass = [[Bool]](repeating: [], count: tasks.count)
        for group in [0..<seen, seen..<tasks.count] where !group.isEmpty {
            // The group's classes, each once, in task order then classes.txt order.
            var position: [Int: Int] = [:]
            var candidates: [[Float]] = []
            for i in group {
                for (c, u) in unionIndex[i].enumerated() where position[u] == nil {
                    position[u] = candidates.count
                    candidates.append(prompts[i][c])
                }
            }
            for i in group {
                byClass[i] = zip(ZeroShot.predictions(items[i], among: candidates), labels[i]).map {
                    $0 == position[unionIndex[i][$1]]!
                }
            }
        }
        let controlPredictions = ZeroShot.predictions(
            try encoder.embed(inputs: controlInputs), among: try encoder.embed(texts: control.prompts))
        return StateOutcomes(
            classIncremental: byClass, taskIncremental: byTask,
            control: zip(controlPredictions, controlLabels).map { $0 == $1 })
    }
}
