import BNBPatchKit
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import BNBGenerateKit

/// `bnb-lora train | eval | fuse` in-process on the bundled tiny Llama (tokenizer and chat template included)
/// with `Examples/lora`'s data (text, prompt/completion and chat records).
@Suite struct LoRACommandTests {
  static let data = TestFiles.repository.appending(path: "Examples/lora").path

  static func lora(_ arguments: [String]) async -> CommandOutput {
    let console = Console.capturing()
    let status = await BNBGenerate.run(.lora, arguments: arguments, console: console)
    return CommandOutput(status: status, output: console.capturedOutput, error: console.capturedError)
  }

  static func train(_ folder: URL, _ extra: [String]) async -> CommandOutput {
    await lora(
      [
        "train", "--model", Commands.tinyLlama, "--data", data, "--adapter-path", folder.path, "--batch-size", "2",
        "--learning-rate", "5e-2", "--max-grad-norm", "0", "--dropout", "0.1", "--seed", "3", "--json",
      ] + extra)
  }

  /// The per-step JSON lines of a `--json` run.
  static func steps(_ output: String) -> [[String: Any]] {
    output.split(separator: "\n").compactMap {
      (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
    }
  }

  @Test func trainWritesAPEFTAdapterAndLogsEveryStep() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let run = await Self.train(folder, ["--iters", "4", "--steps-per-eval", "2"])
    #expect(run.status == 0, "\(run.error)")
    let steps = Self.steps(run.output)
    #expect(steps.map { $0["step"] as? Int } == [1, 2, 3, 4])
    #expect(steps.allSatisfy { ($0["loss"] as? Double).map(\.isFinite) == true })
    #expect(steps[1]["validation_loss"] != nil && steps[0]["validation_loss"] == nil)
    for name in ["adapter_config.json", "adapter_model.safetensors", "trainer_state.json"] {
      #expect(FileManager.default.fileExists(atPath: folder.appending(path: name).path), "\(name)")
    }
    let config = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "adapter_config.json")))
        as? [String: Any])
    #expect(config["peft_type"] as? String == "LORA")
    #expect(config["r"] as? Int == 8)
  }

  @Test func resumeAfterAStopGivesTheUninterruptedAdapter() async throws {
    let straight = try TestFiles.scratchFolder()
    let stopped = try TestFiles.scratchFolder()
    defer {
      try? FileManager.default.removeItem(at: straight)
      try? FileManager.default.removeItem(at: stopped)
    }
    let whole = await Self.train(straight, ["--iters", "4"])
    #expect(whole.status == 0, "\(whole.error)")
    let first = await Self.train(stopped, ["--iters", "4", "--stop-at", "2"])
    #expect(first.status == 0, "\(first.error)")
    #expect(Self.steps(first.output).count == 2)
    let second = await Self.train(stopped, ["--iters", "4", "--resume"])
    #expect(second.status == 0, "\(second.error)")
    #expect(Self.steps(second.output).map { $0["step"] as? Int } == [3, 4])
    let weights = "adapter_model.safetensors"
    #expect(
      try Data(contentsOf: straight.appending(path: weights)) == Data(contentsOf: stopped.appending(path: weights)))
    // Other settings than the checkpoint's are refused.
    let changed = await Self.train(stopped, ["--iters", "5", "--resume"])
    #expect(changed.status == 65 && changed.error.contains("differ"), "\(changed.error)")
  }

  @Test func evalReportsLossAndPerplexityWithAndWithoutTheAdapter() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(await Self.train(folder, ["--iters", "3"]).status == 0)
    let valid = Self.data + "/valid.jsonl"
    let base = await Self.lora(["eval", "--model", Commands.tinyLlama, "--data", valid, "--json"])
    let adapted = await Self.lora(
      ["eval", "--model", Commands.tinyLlama, "--data", valid, "--adapter-path", folder.path, "--json"])
    #expect(base.status == 0 && adapted.status == 0, "\(base.error) \(adapted.error)")
    let a = try #require(try JSONSerialization.jsonObject(with: Data(base.output.utf8)) as? [String: Double])
    let b = try #require(try JSONSerialization.jsonObject(with: Data(adapted.output.utf8)) as? [String: Double])
    for report in [a, b] {
      let loss = try #require(report["loss"])
      #expect(abs(try #require(report["perplexity"]) - exp(loss)) <= 1e-4 * exp(loss))
    }
    #expect(a["loss"] != b["loss"], "the adapter changed nothing")
    #expect(a["tokens"] == b["tokens"] && (a["tokens"] ?? 0) > 0)
  }

  @Test func fuseWritesADenseCheckpointThatLoads() async throws {
    let adapter = try TestFiles.scratchFolder()
    let fused = try TestFiles.scratchFolder().appending(path: "fused")
    defer {
      try? FileManager.default.removeItem(at: adapter)
      try? FileManager.default.removeItem(at: fused.deletingLastPathComponent())
    }
    #expect(await Self.train(adapter, ["--iters", "4"]).status == 0)
    let run = await Self.lora(
      ["fuse", "--model", Commands.tinyLlama, "--adapter-path", adapter.path, "--save-path", fused.path])
    #expect(run.status == 0, "\(run.error)")
    // The fused float16 model's logits equal the base's with the adapter attached, up to the float16 rounding
    // of the fused weights; the base alone is further away (the adapter took part).
    func logits(_ arguments: [String]) async throws -> [Float] {
      let file = adapter.appending(path: "logits.safetensors")
      let run = await Commands.generate(
        arguments + ["--prompt-ids", "1,5,9,13,40,41", "--max-new-tokens", "0", "--logits-out", file.path])
      #expect(run.status == 0, "\(run.error)")
      return try SafeTensorsFile(contentsOf: file).requireTensor(named: "logits").floats()
    }
    let reference = try await logits(["--model", Commands.tinyLlama, "--adapter", adapter.path])
    let merged = try await logits(["--model", fused.path])
    let base = try await logits(["--model", Commands.tinyLlama])
    func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }
    let scale = reference.map(abs).max() ?? 1
    #expect(merged.count == reference.count && !merged.isEmpty)
    #expect(distance(merged, reference) <= 2e-3 * max(1, scale), "fused vs adapter \(distance(merged, reference))")
    #expect(distance(base, reference) > 4 * distance(merged, reference), "base \(distance(base, reference))")
  }

  @Test(
    arguments: [
      (["--target-modules", "nonexistent_proj"], 65, "nonexistent_proj"),
      (["--rank", "0"], 65, "rank"),
      (["--max-seq-length", "100000"], 65, "max_position_embeddings"),
      (["--schedule", "wavy"], 65, "schedule"),
    ] as [([String], Int32, String)])
  func badSettingsAreRefused(_ extra: [String], _ status: Int32, _ text: String) async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let run = await Self.train(folder, ["--iters", "1"] + extra)
    #expect(run.status == status, "\(run.error)")
    #expect(run.error.contains(text), "\(run.error)")
    #expect(!FileManager.default.fileExists(atPath: folder.appending(path: "adapter_model.safetensors").path))
  }

  @Test func badDataNamesTheLine() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appending(path: "bad.jsonl")
    try Data("{\"text\": \"one two\"}\n{\"text\": 3}\nnot json\n".utf8).write(to: file)
    let run = await Self.lora(
      ["train", "--model", Commands.tinyLlama, "--data", file.path, "--adapter-path", folder.path, "--iters", "1"])
    #expect(run.status == 66 && run.error.contains("bad.jsonl:2"), "\(run.error)")
    let skipping = await Self.lora(
      [
        "train", "--model", Commands.tinyLlama, "--data", file.path, "--adapter-path", folder.path, "--iters", "1",
        "--skip-bad-lines",
      ])
    #expect(skipping.status == 0, "\(skipping.error)")
    #expect(skipping.error.contains("bad.jsonl:2") && skipping.error.contains("bad.jsonl:3"), "\(skipping.error)")
    let empty = folder.appending(path: "empty.jsonl")
    try Data("\n\n".utf8).write(to: empty)
    let none = await Self.lora(
      ["train", "--model", Commands.tinyLlama, "--data", empty.path, "--adapter-path", folder.path, "--iters", "1"])
    #expect(none.status == 66 && none.error.contains("empty.jsonl"), "\(none.error)")
  }
}
