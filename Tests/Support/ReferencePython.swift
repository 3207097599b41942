import Foundation

/// Runs the reference Python (the project's `.venv`, or `$SCALPEL_PYTHON`) for the tests
/// that compare Scalpel with the real Python libraries.
public enum ReferencePython {
    /// The package's root folder.
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// The handed field cases the tests replay (copied from the project's shared folder, which
    /// a fresh clone lacks).
    public static var fieldCases: String { packageRoot + "/Tests/Fixtures/field-cases" }

    public static var executable: String {
        if let configured = ProcessInfo.processInfo.environment["SCALPEL_PYTHON"] { return configured }
        let venv = packageRoot + "/.venv/bin/python"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/python3"
    }

    /// Runs Python with `arguments` (in `folder` when given); stdout and stderr together.
    public static func run(_ arguments: [String], in folder: String? = nil) throws -> (status: Int32, output: String) {
        let result = try runProgram(executable, arguments, in: folder)
        var output = result.output
        if output.contains("No module named") {
            output +=
                "\nThe reference tests need the packages in Samples/requirements.txt: run ./test.sh (it installs them into .venv)."
        }
        return (result.status, output)
    }
}

/// Runs a program (the reference Python, another test tool) with `arguments`, in `folder`
/// when given; returns its exit status and stdout and stderr together.
public func runProgram(_ path: String, _ arguments: [String], in folder: String? = nil) throws -> (
    status: Int32, output: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
