import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import BNBGenerateKit

/// `--adapter` against peft: the QLoRA fixtures hold a tiny Llama, a LoRA adapter folder (written by the QLoRA
/// module, rsLoRA on q/v/down projections) and the logits `PeftModel.from_pretrained` computes with it.
@Suite("bnb-generate --adapter")
struct AdapterGenerationTests {
  static let fixtures = TestFiles.repository.appending(path: "Tests/Fixtures/qlora")

  @Test func logitsEqualPeftWithTheAdapter() async throws {
    let expected = try FixtureSafeTensors("qlora/swift-adapter-peft-logits.safetensors")
    let inputIDs = try expected.require("input_ids").scalars(as: Int64.self).map { Int($0) }
    let peftLogits = try expected.require("logits").floats()
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appending(path: "logits.safetensors")
    let arguments = [
      "--model", Self.fixtures.appending(path: "tiny-llama").path, "--prompt-ids",
      inputIDs.map(String.init).joined(separator: ","), "--max-new-tokens", "0", "--logits-out", file.path,
    ]
    let withAdapter = await Commands.generate(
      arguments + ["--adapter", Self.fixtures.appending(path: "swift-adapter").path])
    #expect(withAdapter.status == 0, "\(withAdapter.error)")
    let ours = try SafeTensorsFile(contentsOf: file).requireTensor(named: "logits").floats()
    #expect(ours.count == peftLogits.count)
    var worst: Float = 0
    var scale: Float = 0
    for (mine, theirs) in zip(ours, peftLogits) {
      worst = max(worst, abs(mine - theirs))
      scale = max(scale, abs(theirs))
    }
    #expect(worst <= 1e-5 * max(1, scale), "largest difference \(worst)")

    // Without the adapter the logits differ: the adapter really took part.
    let plain = await Commands.generate(arguments)
    #expect(plain.status == 0, "\(plain.error)")
    let base = try SafeTensorsFile(contentsOf: file).requireTensor(named: "logits").floats()
    #expect(zip(base, peftLogits).contains { abs($0 - $1) > 1e-3 * max(1, scale) })
  }

  @Test func adapterForAnotherModelIsInvalidInput() async throws {
    // The fixture adapter names projections by path; tiny-llama has the same paths but other shapes: refused
    // when attached, naming the module, before any kernel reads past a row.
    let result = await Commands.generate([
      "--model", Commands.tinyLlama, "--prompt-ids", "1,2", "--max-new-tokens", "1", "--adapter",
      Self.fixtures.appending(path: "swift-adapter").path,
    ])
    #expect(result.status == GenerateExitStatus.invalidInput.rawValue)
    #expect(result.error.contains("features"), "\(result.error)")
  }
}
