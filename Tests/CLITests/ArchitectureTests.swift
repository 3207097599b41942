import Foundation
import TestSupport
import Testing

/// The layering of ARCHITECTURE.md, enforced: every source file imports only what its target's
/// row allows, and Package.swift declares exactly those dependencies.
struct ArchitectureTests {
    static let root = ReferencePython.packageRoot
    /// Modules of the toolchain and the system, allowed everywhere.
    static let systemModules: Set<String> = ["Foundation", "Dispatch", "Synchronization", "Glibc", "Darwin"]

    /// The table of ARCHITECTURE.md: target → the modules it may import. A row may name
    /// several targets (the system-library module maps share one).
    static func allowedImports() throws -> [String: Set<String>] {
        let text = try String(contentsOfFile: root + "/ARCHITECTURE.md", encoding: .utf8)
        var table: [String: Set<String>] = [:]
        var inTable = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("| target | holds | may import |") {
                inTable = true
                continue
            }
            guard inTable else { continue }
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 5, !cells[1].hasPrefix("---") else { continue }
            let allowed = Set(
                cells[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            for target in cells[1].split(separator: ",") {
                table[target.trimmingCharacters(in: CharacterSet(charactersIn: " `"))] = allowed
            }
        }
        return table
    }

    /// The modules `source` imports (`import X`, `@testable import X`, `@preconcurrency import X`).
    static func imports(of source: String) -> Set<String> {
        var modules: Set<String> = []
        for line in source.split(separator: "\n") {
            var words = line.split(separator: " ").map(String.init)
            while let first = words.first, first.hasPrefix("@") { words.removeFirst() }
            guard words.count >= 2, words[0] == "import" else { continue }
            modules.insert(String(words[1].split(separator: ".")[0]))
        }
        return modules
    }

    @Test func everyImportIsOneTheTableAllows() throws {
        let table = try Self.allowedImports()
        let targets = try FileManager.default.contentsOfDirectory(atPath: Self.root + "/Sources").filter {
            !$0.hasPrefix(".")
        }
        #expect(Set(targets) == Set(table.keys), "ARCHITECTURE.md's table and Sources/ name different targets")
        var checked = 0
        for target in targets {
            let allowed = try #require(table[target], "\(target) has no row in ARCHITECTURE.md")
            let folder = Self.root + "/Sources/" + target
            let files = try #require(FileManager.default.enumerator(atPath: folder)).compactMap { $0 as? String }
            for file in files where file.hasSuffix(".swift") {
                let source = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
                for module in Self.imports(of: source).subtracting(Self.systemModules) {
                    #expect(
                        allowed.contains(module),
                        "Sources/\(target)/\(file) imports \(module), which ARCHITECTURE.md does not allow \(target)")
                }
                checked += 1
            }
        }
        #expect(checked > 150)
    }

    /// Each target's `dependencies: [...]` in Package.swift, by name (products by their name).
    static func packageDependencies() throws -> [String: Set<String>] {
        let manifest = try String(contentsOfFile: Self.root + "/Package.swift", encoding: .utf8)
        var result: [String: Set<String>] = [:]
        let declarations =
            manifest.components(separatedBy: ".target(").dropFirst()
            + manifest.components(separatedBy: ".executableTarget(").dropFirst()
            + manifest.components(separatedBy: ".systemLibrary(").dropFirst()
        for declaration in declarations {
            // The declaration ends where the next one starts; its name is its first string.
            let body = declaration.components(separatedBy: "\n        .").first ?? declaration
            guard let name = Self.strings(in: body).first else { continue }
            var dependencies: Set<String> = []
            if let start = body.range(of: "dependencies: [") {
                let list = body[start.upperBound...].prefix { $0 != "]" }
                // `.product(name: "Crypto", package: "swift-crypto")`: the product's name.
                let withoutPackages = list.replacingOccurrences(
                    of: #"package: "[^"]*""#, with: "", options: .regularExpression)
                dependencies = Set(Self.strings(in: withoutPackages))
            }
            result[name] = dependencies
        }
        return result
    }

    static func strings(in text: String) -> [String] {
        text.split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }
            .map { String($0.element) }
    }

    @Test func packageSwiftDeclaresExactlyTheTable() throws {
        let table = try Self.allowedImports()
        let declared = try Self.packageDependencies()
        for (target, allowed) in table {
            #expect(
                declared[target] == allowed,
                "Package.swift: \(target) depends on \(declared[target]?.sorted() ?? []), ARCHITECTURE.md says \(allowed.sorted())"
            )
        }
    }
}
