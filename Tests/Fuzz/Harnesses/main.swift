// scalpel-fuzz: coverage-guided fuzzing of every parser in the repository (libFuzzer).
//
//   scalpel-fuzz list                         the targets
//   scalpel-fuzz TARGET [libFuzzer options]   fuzz TARGET (a build made by Tests/Fuzz/fuzz.sh)
//   scalpel-fuzz replay TARGET PATH...        run TARGET once on each file (or each file of a
//                                             folder): regression inputs, in any build
import CFuzzDriver
import Foundation

nonisolated(unsafe) var selected: Harness?

func usage() -> Never {
    FileHandle.standardError.write(
        Data("usage: scalpel-fuzz list | TARGET [libFuzzer options] | replay TARGET PATH...\n".utf8))
    exit(2)
}

func harness(_ name: String) -> Harness {
    guard let found = harnesses.first(where: { $0.name == name }) else {
        FileHandle.standardError.write(
            Data("scalpel-fuzz: no target \"\(name)\" (scalpel-fuzz list names them)\n".utf8))
        exit(2)
    }
    return found
}

/// The files `paths` name, folders expanded (sorted, hidden files skipped).
func inputs(_ paths: [String]) -> [String] {
    paths.flatMap { path -> [String] in
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [path] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
    }
}

var arguments = CommandLine.arguments
guard arguments.count >= 2 else { usage() }
atexit { try? FileManager.default.removeItem(atPath: workspace) }
switch arguments[1] {
case "list":
    for target in harnesses {
        print("\(target.name.padding(toLength: 18, withPad: " ", startingAt: 0))\(target.summary)")
    }
case "replay":
    guard arguments.count >= 4 else { usage() }
    let target = harness(arguments[2])
    for path in inputs(Array(arguments[3...])) {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("scalpel-fuzz: cannot read \(path)\n".utf8))
            exit(1)
        }
        data.withUnsafeBytes { target.run($0) }
        print("ok \(target.name) \(path)")
    }
default:
    selected = harness(arguments[1])
    // libFuzzer reads its own options from argv; the target's name is not one of them.
    arguments.remove(at: 1)
    var argc = Int32(arguments.count)
    var cStrings = arguments.map { strdup($0) } + [nil]
    let status = cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var argv = buffer.baseAddress
        return scalpel_fuzz_run_driver(&argc, &argv) { data, size in
            selected?.run(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
    }
    if status == -1 {
        FileHandle.standardError.write(
            Data("scalpel-fuzz: this build has no libFuzzer; build with Tests/Fuzz/fuzz.sh build, or use replay\n".utf8)
        )
        exit(2)
    }
    exit(status)
}
