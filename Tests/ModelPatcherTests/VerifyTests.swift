import BitsAndBytes
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

@Suite("Reading checkpoints back and verifying them")
struct VerifyTests {
  @Test func loadsTransformersInt8Checkpoint() throws {
    let patcher = CheckpointPatcher(registry: try StandardRegistry.make())
    let checkpoint = try patcher.loadCheckpoint(at: TestFiles.fixture("hf/tiny-llama-bnb-int8"))
    #expect(checkpoint.quantizedItems.count == 14)
    #expect(checkpoint.items.count == 21)
    #expect(checkpoint.bitsAndBytesConfig?.loadIn8bit == true)
    let item = try #require(checkpoint.items.first { $0.name == "model.layers.0.mlp.down_proj.weight" })
    #expect(item.format == "int8" && item.shape == [128, 352])
    #expect(
      item.keys.sorted() == [
        "model.layers.0.mlp.down_proj.SCB", "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.weight_format",
      ])
    let quantized = try #require(try checkpoint.quantizedTensor(named: item.name))
    #expect(quantized.shape == [128, 352])
    #expect(try checkpoint.quantizedTensor(named: "lm_head.weight") == nil)
  }

  @Test func verifiesAgainstTheOriginal() throws {
    let patcher = CheckpointPatcher(registry: try StandardRegistry.make())
    let report = try patcher.verify(
      quantized: TestFiles.fixture("hf/tiny-llama-bnb-int8"), against: TestFiles.tinyLlama,
      thresholds: .init(minimumSNR: 30, minimumCosine: 0.999))
    #expect(report.layers.count == 14 && report.identicalPlainTensors == 7 && report.changedPlainTensors.isEmpty)
    #expect(report.passed)
    for layer in report.layers {
      // int8 row-wise: the error of each element is at most half a step, absmax/254.
      #expect(layer.maxAbsoluteError > 0 && layer.maxAbsoluteError < 0.1 / 254 * 1.01)
      #expect(layer.snrDecibels > 30 && layer.cosine > 0.999)
    }
    let strict = try patcher.verify(
      quantized: TestFiles.fixture("hf/tiny-llama-bnb-int8"), against: TestFiles.tinyLlama, thresholds: .init(minimumSNR: 80))
    #expect(!strict.passed && strict.layers.allSatisfy { !$0.passed })
  }

  @Test func metricsOfKnownVectors() {
    let exact = CheckpointPatcher.metrics([1, -2, 3], [1, -2, 3])
    #expect(exact.maxAbsoluteError == 0 && exact.snrDecibels == .infinity && exact.cosine == 1)
    let off = CheckpointPatcher.metrics([3, 4], [3, 3])
    #expect(off.maxAbsoluteError == 1)
    #expect(abs(off.rmsError - (0.5).squareRoot()) < 1e-12)
    #expect(abs(off.snrDecibels - 10 * log10(25.0)) < 1e-12)
    #expect(abs(off.cosine - 21 / (5 * 18.0.squareRoot())) < 1e-12)
  }
}
