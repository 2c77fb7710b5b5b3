import BNBPatchKit
import Foundation
import QLoRA
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

  /// Three 3-step runs, each in its own folder: plain, with `flags`, and with `yaml` as `--config`; their
  /// outputs and adapter files.
  static func trainThreeWays(flags: [String], yaml: String) async throws -> [(run: CommandOutput, adapter: Data)] {
    var results: [(run: CommandOutput, adapter: Data)] = []
    for variant in 0..<3 {
      let folder = try TestFiles.scratchFolder()
      defer { try? FileManager.default.removeItem(at: folder) }
      let config = folder.appending(path: "lora.yaml")
      try Data(yaml.utf8).write(to: config)
      let extra = [[], flags, ["--config", config.path]][variant]
      let run = await Self.train(folder.appending(path: "adapter"), ["--iters", "3"] + extra)
      #expect(run.status == 0, "\(run.error)")
      results.append((run, try Data(contentsOf: folder.appending(path: "adapter/adapter_model.safetensors"))))
    }
    return results
  }

  /// Keeping activations (flag or `keep_activations_mb:`) skips recomputes and changes no bit of the adapter.
  @Test func keptActivationsGiveTheSameAdapter() async throws {
    let runs = try await Self.trainThreeWays(flags: ["--keep-activations-mb", "1000"], yaml: "keep_activations_mb: 1000\n")
    let (reference, flag, file) = (runs[0], runs[1], runs[2])
    #expect(flag.adapter == reference.adapter && file.adapter == reference.adapter)
    #expect(
      Self.steps(flag.run.output).map { $0["loss"] as? Double } == Self.steps(reference.run.output).map { $0["loss"] as? Double })
    // The budget was applied: the tiny model's first block was kept (its last block always is), not recomputed.
    #expect(Self.steps(reference.run.output).map { $0["kept_blocks"] as? Int } == [0, 0, 0])
    #expect(Self.steps(flag.run.output).map { $0["kept_blocks"] as? Int } == [1, 1, 1])
    #expect(Self.steps(file.run.output).map { $0["kept_blocks"] as? Int } == [1, 1, 1])
  }

  /// bfloat16 saved activations (flag with kept blocks, or `saved_activations:` with recomputed ones) give one
  /// adapter, not the float32 one, with the float32 first loss (the forward pass is unchanged).
  @Test func bfloat16SavedActivationsGiveOneAdapter() async throws {
    let runs = try await Self.trainThreeWays(
      flags: ["--keep-activations-mb", "1000", "--saved-activations", "bfloat16"], yaml: "saved_activations: bfloat16\n")
    let (reference, flag, file) = (runs[0], runs[1], runs[2])
    #expect(file.adapter == flag.adapter && reference.adapter != flag.adapter)
    #expect(Self.steps(flag.run.output).first?["loss"] as? Double == Self.steps(reference.run.output).first?["loss"] as? Double)
    #expect(Self.steps(flag.run.output).map { $0["kept_blocks"] as? Int } == [1, 1, 1])
    #expect(Self.steps(file.run.output).map { $0["kept_blocks"] as? Int } == [0, 0, 0])
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let bad = await Self.train(folder, ["--iters", "3", "--saved-activations", "half"])
    #expect(bad.status == 65 && bad.error.contains("bfloat16"), "\(bad.error)")
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
      (["--keep-activations-mb=-5"], 64, "--keep-activations-mb must be ≥ 0"),
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

  /// A `lora.yaml` holding every setting gives the adapter the same flags give, byte for byte; a flag
  /// overrides the file; relative paths are taken from the file's folder.
  @Test func configFileEqualsFlagsAndFlagsOverrideIt() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let config = folder.appending(path: "lora.yaml")
    try Data(
      """
      model: \(Commands.tinyLlama)
      quantization: {load_in_4bit: true, bnb_4bit_quant_type: fp4}
      data: \(Self.data)
      adapter_path: from-file
      iters: 2
      batch_size: 2
      learning_rate: 5.0e-2
      schedule: linear
      warmup: 1
      max_grad_norm: 0
      weight_decay: 0.01
      seed: 3
      rank: 4
      alpha: 8
      dropout: 0.1
      target_modules: [q_proj, v_proj]
      num_layers: 1
      """.utf8
    ).write(to: config)
    let fromFile = await Self.lora(["train", "--config", config.path, "--json"])
    #expect(fromFile.status == 0, "\(fromFile.error)")
    #expect(Self.steps(fromFile.output).count == 2)
    let fromFlags = await Self.lora(
      [
        "train", "--model", Commands.tinyLlama, "--load-in-4bit", "--bnb-4bit-quant-type", "fp4", "--data", Self.data,
        "--adapter-path", folder.appending(path: "from-flags").path, "--iters", "2", "--batch-size", "2",
        "--learning-rate", "5e-2", "--schedule", "linear", "--warmup", "1", "--max-grad-norm", "0", "--weight-decay",
        "0.01", "--seed", "3", "--rank", "4", "--alpha", "8", "--dropout", "0.1", "--target-modules", "q_proj,v_proj",
        "--num-layers", "1", "--json",
      ])
    #expect(fromFlags.status == 0, "\(fromFlags.error)")
    let weights = "adapter_model.safetensors"
    let a = try Data(contentsOf: folder.appending(path: "from-file/\(weights)"))
    let b = try Data(contentsOf: folder.appending(path: "from-flags/\(weights)"))
    #expect(a == b, "the file and the flags trained different adapters")
    // Without the file's fp4 quantization the adapter differs (the setting took effect).
    let dense = await Self.lora(
      ["train", "--config", config.path, "--adapter-path", folder.appending(path: "dense").path, "--load-in-8bit"])
    #expect(dense.status == 0, "\(dense.error)")
    #expect(try Data(contentsOf: folder.appending(path: "dense/\(weights)")) != a)
    // A flag overrides the file.
    let overridden = await Self.lora(
      ["train", "--config", config.path, "--adapter-path", folder.appending(path: "r2").path, "--rank", "2"])
    #expect(overridden.status == 0, "\(overridden.error)")
    let adapterConfig = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "r2/adapter_config.json")))
        as? [String: Any])
    #expect(adapterConfig["r"] as? Int == 2)
    #expect((adapterConfig["target_modules"] as? [String])?.sorted() == ["q_proj", "v_proj"])
    // eval and fuse read the same file (model, data, adapter_path, save_path).
    let evaluation = await Self.lora(["eval", "--config", config.path, "--data", Self.data + "/valid.jsonl", "--json"])
    let base = await Self.lora(
      ["eval", "--config", config.path, "--data", Self.data + "/valid.jsonl", "--base-only", "--json"])
    #expect(evaluation.status == 0 && base.status == 0, "\(evaluation.error) \(base.error)")
    #expect(evaluation.output != base.output, "eval did not take adapter_path from the file")
  }

  /// Every problem in a `lora.yaml` is reported at its line:column with status 65, and nothing is written.
  @Test(
    arguments: [
      ("iters: 2\nbatch_sise: 2\n", "lora.yaml:2:1", "batch_sise"),
      ("iters: 2\nrank: 0\n", "lora.yaml:2:7", "rank must be at least 1"),
      ("dropout: 1.5\n", "lora.yaml:1:10", "dropout"),
      ("schedule: wavy\n", "lora.yaml:1:11", "cosine"),
      ("quantization: {load_in_5bit: true}\n", "lora.yaml:1:16", "load_in_5bit"),
      ("target_modules: [q_proj, [v_proj]]\n", "lora.yaml:1:26", "target_modules"),
      ("keep_activations_mb: -1\n", "lora.yaml:1:22", "keep_activations_mb must be at least 0"),
      ("saved_activations: half\n", "lora.yaml:1:20", "bfloat16"),
      ("iters: [2\n", "lora.yaml", "malformed"),
    ] as [(String, String, String)])
  func badConfigFilesNameTheLineAndColumn(_ text: String, _ location: String, _ detail: String) async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let config = folder.appending(path: "lora.yaml")
    try Data(text.utf8).write(to: config)
    let run = await Self.lora(
      [
        "train", "--config", config.path, "--model", Commands.tinyLlama, "--data", Self.data, "--adapter-path",
        folder.path,
      ])
    #expect(run.status == 65, "\(run.error)")
    #expect(run.error.contains(location) && run.error.contains(detail), "\(run.error)")
    #expect(!FileManager.default.fileExists(atPath: folder.appending(path: "adapter_model.safetensors").path))
  }

  /// `fuse` on a bnb-patch NF4 + double-quant base: the dense result (`--dequantize`) gives the logits of the
  /// base with the adapter attached; the default result is an NF4 checkpoint again (quantization_config
  /// kept), whose logits differ from those by the re-quantization only; an existing output is refused.
  @Test func fuseIntoAQuantizedBase() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let base = folder.appending(path: "nf4")
    let job = TestFiles.repository.appending(path: "Examples/quant.yaml").path
    #expect(await BNBPatch.run(arguments: ["--config", job, "-o", base.path, "--quiet"], console: .capturing()) == 0)
    let adapter = folder.appending(path: "adapter")
    let trained = await Self.lora(
      [
        "train", "--model", base.path, "--data", Self.data, "--adapter-path", adapter.path, "--iters", "4",
        "--learning-rate", "5e-2", "--max-grad-norm", "0", "--batch-size", "2", "--target-modules",
        "gate_proj,up_proj,down_proj",
      ])
    #expect(trained.status == 0, "\(trained.error)")
    let dense = folder.appending(path: "fused-dense")
    let requantized = folder.appending(path: "fused-nf4")
    let denseRun = await Self.lora(
      ["fuse", "--model", base.path, "--adapter-path", adapter.path, "--save-path", dense.path, "--dequantize"])
    let quantizedRun = await Self.lora(
      ["fuse", "--model", base.path, "--adapter-path", adapter.path, "--save-path", requantized.path])
    #expect(denseRun.status == 0 && quantizedRun.status == 0, "\(denseRun.error) \(quantizedRun.error)")
    func configuration(_ url: URL) throws -> [String: Any] {
      try #require(
        try JSONSerialization.jsonObject(with: Data(contentsOf: url.appending(path: "config.json"))) as? [String: Any])
    }
    #expect(try configuration(dense)["quantization_config"] == nil)
    let kept = try #require(try configuration(requantized)["quantization_config"] as? [String: Any])
    #expect(kept["bnb_4bit_quant_type"] as? String == "nf4" && kept["bnb_4bit_use_double_quant"] as? Bool == true)
    func logits(_ arguments: [String]) async throws -> [Float] {
      let file = folder.appending(path: "logits.safetensors")
      let run = await Commands.generate(
        arguments + ["--prompt-ids", "1,5,9,13,40,41", "--max-new-tokens", "0", "--logits-out", file.path])
      #expect(run.status == 0, "\(run.error)")
      return try SafeTensorsFile(contentsOf: file).requireTensor(named: "logits").floats()
    }
    func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }
    let reference = try await logits(["--model", base.path, "--adapter", adapter.path])
    let baseAlone = try await logits(["--model", base.path])
    let fusedDense = try await logits(["--model", dense.path])
    let fusedQuantized = try await logits(["--model", requantized.path])
    let scale = reference.map(abs).max() ?? 1
    let adapterEffect = distance(baseAlone, reference)
    print(
      "fuse into NF4: scale \(scale), adapter effect \(adapterEffect), dense \(distance(fusedDense, reference)), "
        + "re-quantized \(distance(fusedQuantized, reference))")
    #expect(!fusedDense.isEmpty && fusedDense.count == reference.count)
    // Measured: the MLP adapter moves the logits by 0.009 (scale 0.02); the dense fuse lands 4.5e-7 from the
    // attached adapter, the re-quantized one 2.8e-4 (NF4 rounding of the fused weights).
    #expect(adapterEffect > 1e-2 * scale)
    #expect(distance(fusedDense, reference) <= 1e-3 * adapterEffect)
    #expect(distance(fusedQuantized, reference) <= 0.1 * adapterEffect)
    // Modules without an adapter keep the base's bytes (double quantization would otherwise recompute their
    // statistics); adapted ones changed.
    let adapted = try PEFTAdapterFiles.read(from: adapter).adapters.keys
    let before = try SafeTensorsFile(contentsOf: base.appending(path: "model.safetensors"))
    let after = try SafeTensorsFile(contentsOf: requantized.appending(path: "model.safetensors"))
    #expect(Set(before.tensorNames) == Set(after.tensorNames))
    var changed = Set<String>()
    for name in before.tensorNames {
      let a = try before.requireTensor(named: name).bytes
      let b = try after.requireTensor(named: name).bytes
      if a != b { changed.insert(name.components(separatedBy: ".weight").first ?? name) }
    }
    #expect(!changed.isEmpty && changed.isSubset(of: Set(adapted)), "\(changed.sorted()) vs \(adapted.sorted())")
    let again = await Self.lora(
      ["fuse", "--model", base.path, "--adapter-path", adapter.path, "--save-path", requantized.path])
    #expect(again.status == 65 && again.error.contains("exists"), "\(again.error)")
  }
}
