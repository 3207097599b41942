import Foundation

/// The files a continual run writes in its folder: state.json, report.json, report.md and
/// report.svg (the last three by the command line), taskK.spatch and taskK-mask.spatch, and the
/// hidden temporary files beside them that a killed process can leave
/// (".task2.spatch.scalpel-…"). Starting over removes these and nothing else: a run folder may
/// hold the user's own files.
enum ContinualRunFolder {
    static let reports = ["state.json", "report.json", "report.md", "report.svg"]

    /// Whether a file named `name` is one a run writes (names compared as bytes).
    static func isRunFile(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        if isOutput(bytes[...]) { return true }
        // A temporary file: "." + an output's name + ".scalpel-" + anything.
        let marker = Array(".scalpel-".utf8)
        guard bytes.first == UInt8(ascii: "."),
            let end = (1..<max(1, bytes.count - marker.count + 1)).first(where: { bytes[$0...].starts(with: marker) })
        else { return false }
        return isOutput(bytes[1..<end])
    }

    /// Whether `name` is a report or a task's patch or mask.
    private static func isOutput(_ name: ArraySlice<UInt8>) -> Bool {
        reports.contains { $0.utf8.elementsEqual(name) } || isTaskPatch(name)
    }

    /// "taskK.spatch" or "taskK-mask.spatch", K a positive number as the runner writes it
    /// (no leading zero).
    private static func isTaskPatch(_ name: ArraySlice<UInt8>) -> Bool {
        let prefix = Array("task".utf8)
        guard name.starts(with: prefix) else { return false }
        var rest = name.dropFirst(prefix.count)
        let digits = rest.prefix { (0x30...0x39).contains($0) }
        guard let first = digits.first, first != 0x30 else { return false }
        rest = rest.dropFirst(digits.count)
        return rest.elementsEqual(".spatch".utf8) || rest.elementsEqual("-mask.spatch".utf8)
    }

    /// The run's files in `folder`, by name in byte order (none when the folder does not exist).
    /// - Throws: when the folder exists but cannot be listed.
    static func runFiles(in folder: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: folder) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: folder).filter { name in
            // Files and links only: a folder of that name is not something a run wrote.
            let type =
                try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.type] as? FileAttributeType
            return isRunFile(name) && (type == .typeRegular || type == .typeSymbolicLink)
        }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Removes the run's files from `folder` (`runFiles`), leaving every other file; returns
    /// their names.
    /// - Throws: when one cannot be removed (the ones before it are gone).
    static func discard(_ folder: String) throws -> [String] {
        let names = try runFiles(in: folder)
        for name in names { try FileManager.default.removeItem(atPath: folder + "/" + name) }
        return names
    }
}
