import Foundation
import FuzzHarnesses
import TestSupport
import Testing

/// Every committed fuzz input — the seed corpora, what the fuzzers kept, and each input that once crashed —
/// runs through its harness on every `swift test`, without a fuzzer: a crash here fails the suite.
@Suite("Fuzz corpora and crash inputs replay cleanly")
struct FuzzRegressionTests {
  @Test("each target has a seed corpus", arguments: FuzzTarget.allCases)
  func targetHasSeeds(_ target: FuzzTarget) {
    let inputs = FuzzCorpus.committedInputs(of: target, repository: TestFiles.repository)
    #expect(!inputs.isEmpty, "Tools/fuzz/corpus/\(target.rawValue) is empty")
  }

  @Test("committed inputs replay without a crash", arguments: FuzzTarget.allCases)
  func replay(_ target: FuzzTarget) throws {
    for file in FuzzCorpus.committedInputs(of: target, repository: TestFiles.repository) {
      target.run(try Data(contentsOf: file))
    }
  }
}
