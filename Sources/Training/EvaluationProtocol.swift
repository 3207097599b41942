/// How a continual run classifies the test items of its tasks. The method's paper (Zhang et
/// al., "Overcoming Generic Knowledge Loss with Selective Parameter Update", CVPR 2024)
/// measures class-incremental learning; task-incremental is the easier, older measure.
///
/// Tasks T1…Tn are learned in order; state 0 is the base model, state k the model after task k.
/// In a state every test input and every class prompt is embedded once, and an item goes to
/// the candidate class with the most similar prompt (`ZeroShot.predictions`; a tie to the
/// earliest candidate, in task order, then classes.txt order).
public enum EvaluationProtocol: String, CaseIterable, Sendable {
    /// In state k ≥ 1 an item of a seen task (i ≤ k) is classified among the classes of all
    /// seen tasks, T1…Tk together; an item of an unseen task (i > k) among the classes of the
    /// unseen tasks, Tk+1…Tn together (state 0: every task unseen). A class two tasks list
    /// with the same label and the same prompt (by their bytes) is one class; the same label
    /// with different prompts, two.
    case classIncremental = "class"
    /// An item of task i is classified among task i's classes alone, in every state.
    case taskIncremental = "task"

    /// The protocol's section in report.json: "class_incremental" or "task_incremental".
    public var reportKey: String { rawValue + "_incremental" }
}

/// Which test items one model state classifies correctly: under each protocol one array per
/// task (its test items in file order, true = correct), and the control set's items (its own
/// classes, the same under both protocols).
public struct StateOutcomes: Sendable, Equatable {
    /// Per task: each test item classified among the classes of every task seen so far.
    public var classIncremental: [[Bool]]
    /// Per task: each test item classified among its own task's classes.
    public var taskIncremental: [[Bool]]
    /// The control set's items, among its own classes.
    public var control: [Bool]

    /// Outcomes as measured, or as state.json stores them.
    public init(classIncremental: [[Bool]], taskIncremental: [[Bool]], control: [Bool]) {
        self.classIncremental = classIncremental
        self.taskIncremental = taskIncremental
        self.control = control
    }

    /// The tasks' outcomes under `evaluation`.
    public func tasks(_ evaluation: EvaluationProtocol) -> [[Bool]] {
        evaluation == .classIncremental ? classIncremental : taskIncremental
    }
}
