import Foundation
import LanguageModels
import QLoRA
import TestSupport
import Testing

@Suite("Fusing adapters into the base checkpoint")
struct FusionTests {
  /// The fp32 base fused with peft's adapter gives peft's logits with the (unmerged) adapter, which peft's
  /// `merge_and_unload` also gives (the merge is exact up to float rounding).
  @Test func fusedCheckpointGivesTheAdapterLogits() throws {
    let expected = try Fixture("tiny-llama-peft-expected.safetensors")
    let (_, adapters) = try PEFTAdapterFiles.read(from: PEFTParityTests.adapterFolder)
    let output = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: output) }
    try AdapterFusion.fuse(modelFolder: PEFTParityTests.modelFolder, adapters: adapters, outputFolder: output)
    #expect(try TestFiles.contents(of: output).contains("config.json"))
    let fused = try TrainableModel(model: try LanguageModel.load(directory: output, threads: 1))
    #expect(fused.adapters.isEmpty)
    let logits = try fused.logits(try expected.ints("input_ids"))
    #expect(Fixture.relativeError(logits, try expected.floats("logits")) < 1e-5)
    // Without the fuse the base model's logits are far from these.
    let base = try TrainableModel(model: try LanguageModel.load(directory: PEFTParityTests.modelFolder, threads: 1))
    #expect(Fixture.relativeError(try base.logits(try expected.ints("input_ids")), try expected.floats("logits")) > 1e-2)
  }

  @Test func adapterForAMissingModuleIsAnError() throws {
    let (_, adapters) = try PEFTAdapterFiles.read(from: PEFTParityTests.adapterFolder)
    var renamed = adapters
    renamed["model.layers.7.self_attn.q_proj"] = adapters["model.layers.0.self_attn.q_proj"]
    let output = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: output) }
    #expect(throws: QLoRAError.unknownTargetModule("model.layers.7.self_attn.q_proj")) {
      try AdapterFusion.fuse(modelFolder: PEFTParityTests.modelFolder, adapters: renamed, outputFolder: output)
    }
  }
}
