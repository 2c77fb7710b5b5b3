import QLoRA
import QuantCore
import TestSupport
import Testing

/// Float and integer views of a `Tests/Fixtures/qlora` safetensors file.
struct Fixture {
  let file: FixtureSafeTensors

  init(_ name: String) throws { file = try FixtureSafeTensors("qlora/" + name) }

  func floats(_ name: String) throws -> [Float] { try file.require(name).floats() }
  func doubles(_ name: String) throws -> [Double] { try file.require(name).scalars(as: Double.self) }
  func ints(_ name: String) throws -> [Int] { try file.require(name).scalars(as: Int64.self).map { Int($0) } }
  func tensor(_ name: String) throws -> Tensor { try file.require(name) }

  /// `max |a − b| / max(max |b|, floor)`: the error relative to the reference's scale.
  static func relativeError(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    var worst: Float = 0
    var scale: Float = floor
    for (x, y) in zip(a, b) {
      worst = max(worst, abs(x - y))
      scale = max(scale, abs(y))
    }
    return worst / scale
  }
}

extension Fixture {
  /// Checks every adapter's accumulated `lora_A`/`lora_B` gradients against the fixture's `<tensor>.grad`
  /// entries (peft's names), within `tolerance` relative.
  func expectAdapterGradients(of model: TrainableModel, tolerance: Float = 1e-4) throws {
    for module in model.adapterNames {
      let adapter = try #require(model.adapters[module])
      let gradA = try floats(PEFTAdapterFiles.tensorName(module: module, factor: "A") + ".grad")
      let gradB = try floats(PEFTAdapterFiles.tensorName(module: module, factor: "B") + ".grad")
      #expect(Fixture.relativeError(adapter.gradientA, gradA) < tolerance, "\(module).lora_A")
      #expect(Fixture.relativeError(adapter.gradientB, gradB) < tolerance, "\(module).lora_B")
    }
  }
}
