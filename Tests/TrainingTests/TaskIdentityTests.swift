import Foundation
import TestSupport
import Testing

@testable import Training

/// The checks behind the warnings of `continual` (a control that is also a task) and `train`
/// (a mask made for another task).
struct TaskIdentityTests {
    @Test func aTaskIsTheSameThroughAnyPathOrCopyAndNoOtherIs() throws {
        let (_, tasks, control, root) = try TinyContinualRun.setUp(#function)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(TaskIdentity.same(tasks[0], tasks[0]))
        #expect(TaskIdentity.same(tasks[0], root + "/./t1"))
        let copy = root + "/copy-of-t1"
        try FileManager.default.copyItem(atPath: tasks[0], toPath: copy)
        #expect(TaskIdentity.same(copy, tasks[0]))
        #expect(!TaskIdentity.same(tasks[0], tasks[1]))
        #expect(!TaskIdentity.same(tasks[0], control))
        #expect(!TaskIdentity.same(tasks[0], root + "/missing"))
    }
}
