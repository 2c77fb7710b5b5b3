import Foundation
import QuantCore
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A hostile YAML file is refused with a located message, without growing memory or time without bound,
/// and special files are refused before they are opened.
@Suite("YAML resource budget and file kinds")
struct YAMLBudgetTests {
  /// Nine levels of ten aliases each: 10⁹ values once expanded, in about 600 bytes.
  static let billionLaughs: String = {
    var lines = ["model: m", "output: o", "format: nf4", "parameters:", "  a: &a [x, x, x, x, x, x, x, x, x, x]"]
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
    for (previous, name) in zip(names, names.dropFirst()) {
      lines.append("  \(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]")
    }
    return lines.joined(separator: "\n") + "\n"
  }()

  @Test("nested aliases under parameters are refused at their line")
  func billionLaughsIsRefused() throws {
    #expect(Self.billionLaughs.utf8.count < 700)
    let error = try #require(throws: ConfigurationError.self) {
      try YAMLDocument(text: Self.billionLaughs, file: "job.yaml")
    }
    #expect(error.message.contains("expands to more than 200000 values"))
    let line = try #require(error.location?.line)
    #expect((5...13).contains(line), "located in the parameters block: \(error)")
  }

  @Test("complex mapping keys are refused at their line before Yams compares them")
  func complexKeys() throws {
    for (text, line, column) in [
      ("a: 1\n? - x\n  - y\n: 2\n", 2, 1), ("a:\n  - ? b\n    : c\n", 2, 5), ("[a, b]: 1\n", 1, 6),
      ("x: {{a: 1}: 2}\n", 1, 10),
    ] {
      #expect(throws: ConfigurationError.self) { _ = try YAMLDocument(text: text, file: "k.yaml") }
      do {
        _ = try YAMLDocument(text: text, file: "k.yaml")
      } catch {
        #expect(error.location?.line == line && error.location?.column == column, "\(text)")
      }
    }
    // Question marks and brackets inside scalars and comments are not keys.
    let plain = "a: \"? b\"\nb: 'x]: y'\nc: what? # ? not a key\nd: [1, 2]\ne: {f: g}\n? \n"
    #expect(throws: ConfigurationError.self) { _ = try YAMLDocument(text: plain, file: "k.yaml") }
    let accepted = "a: \"? b\"\nb: 'x]: y'\nc: what? # ? not a key\nd: [1, 2]\ne: {f: g}\n"
    #expect(try YAMLDocument(text: accepted, file: "k.yaml").root.mapping("root").count == 5)
  }

  @Test("block scalars may hold lines that look like complex keys; the key after them is still found")
  func blockScalarsAreSkipped() throws {
    let literal = "note: |\n  ? not a key\n  [a]: neither\n\n  - ? nor this\nitems:\n  - >-\n    ? folded text\n  - b\n"
    let document = try YAMLDocument(text: literal, file: "k.yaml")
    #expect(document.root["note"]?.value == .string("? not a key\n[a]: neither\n\n- ? nor this\n"))
    #expect(try document.root["items"]?.sequence("items").count == 2)
    let header = "a: |+2 # kept\n   ? x\nb: c\n"
    #expect(try YAMLDocument(text: header, file: "k.yaml").root["b"]?.value == .string("c"))
    // The scalar ends at the first line indented no deeper than its header line.
    for (text, line, column) in [
      ("a: |\n  ? x\n? y\n: z\n", 3, 1), ("list:\n  - |\n    ? x\n  - ? y\n    : z\n", 4, 5),
      ("a: |x\n? y\n: z\n", 2, 1),
    ] {
      do {
        _ = try YAMLDocument(text: text, file: "k.yaml")
        Issue.record("accepted: \(text)")
      } catch {
        #expect(error.location?.line == line && error.location?.column == column, "\(text): \(error)")
      }
    }
  }

  @Test("aliases used a few times stay accepted")
  func modestAliasesAreAccepted() throws {
    let text = "defaults: &d {blocksize: 64}\nformats:\n  nf4: {defaults: *d}\n  fp4: {defaults: *d}\n"
    let document = try YAMLDocument(text: text, file: "registry.yaml")
    #expect(document.root["formats"]?["fp4"]?["defaults"]?["blocksize"]?.value == .int(64))
  }

  @Test("nesting deeper than the budget is refused")
  func deepNestingIsRefused() throws {
    let text = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
    let error = try #require(throws: ConfigurationError.self) { try YAMLDocument(text: text, file: "deep.yaml") }
    #expect(error.message.contains("nesting deeper than 64 levels"))
    // libyaml's own limit (1000 levels) is reached first for deeper documents; both are clean errors.
    let deeper = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
    #expect(throws: ConfigurationError.self) { try YAMLDocument(text: deeper, file: "deeper.yaml") }
  }

  @Test("a document over the size budget is refused before parsing")
  func oversizedDocumentIsRefused() throws {
    let budget = YAMLBudget(maximumBytes: 64, maximumNodes: 100, maximumDepth: 8)
    let text = "rules:\n" + String(repeating: "  - {match: x, format: none}\n", count: 4)
    let error = try #require(throws: ConfigurationError.self) { try YAMLDocument(text: text, file: "big.yaml", budget: budget) }
    #expect(error.message == "the file is \(text.utf8.count) bytes; YAML configuration is limited to 64 bytes")
  }

  @Test("a folder, a named pipe and invalid UTF-8 are refused with what they are")
  func specialFilesAreRefused() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let directory = try #require(throws: ConfigurationError.self) { try YAMLDocument(contentsOf: folder) }
    #expect(directory.description == "\(folder.path): cannot read the file: it is a folder, not a file")
    let fifo = folder.appending(path: "job.yaml")
    #expect(mkfifo(fifo.path, 0o600) == 0)
    // Opening the pipe would block forever: the check must come before the open.
    let pipe = try #require(throws: ConfigurationError.self) { try YAMLDocument(contentsOf: fifo) }
    #expect(pipe.message.contains("named pipe (FIFO)"))
    let binary = folder.appending(path: "binary.yaml")
    try Data([0x6D, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(to: binary)
    let utf8 = try #require(throws: ConfigurationError.self) { try YAMLDocument(contentsOf: binary) }
    #expect(utf8.message == "the file is not valid UTF-8 text")
  }
}
