import FormatFP8
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

/// The `quantization_config` block against transformers' `FineGrainedFP8Config.to_dict()`
/// (`Tests/Fixtures/fp8/finegrained_config.json`, `Tools/fixtures/gen_fp8_config.py`).
@Suite("fine-grained FP8 quantization_config against transformers")
struct QuantizationConfigTests {
  static func configValue(_ json: JSONValue) -> ConfigValue {
    switch json {
    case .null: .null
    case .bool(let value): .bool(value)
    case .number(let number): Int(number.literal).map(ConfigValue.int) ?? .double(Double(number.literal) ?? .nan)
    case .string(let value): .string(value)
    case .array(let values): .array(values.map(configValue))
    case .object(let members): .object(members.map { (key: $0.key, value: configValue($0.value)) })
    }
  }

  @Test func matchesTransformersToDict() throws {
    let data = try #require(FileManager.default.contents(atPath: FixtureDirectory.path("fp8/finegrained_config.json")))
    let cases = try #require(JSONParser.parse(bytes: [UInt8](data))["cases"]?.elements)
    #expect(cases.count == 4)
    for testCase in cases {
      let kwargs = try #require(testCase["kwargs"])
      let expected = QuantizationConfigTests.configValue(try #require(testCase["to_dict"]))
      var parameters = FormatParameters()
      if let block = kwargs["weight_block_size"] {
        if let side = block.elements?.first?.numberValue.flatMap({ Int($0.literal) }) {
          parameters["tile_size"] = .int(side)
        } else {
          parameters["scale"] = .string("tensor")
        }
      }
      let skipped = kwargs["modules_to_not_convert"]?.elements?.compactMap(\.stringValue)
      let config = try FP8Format.e4m3.quantizationConfig(parameters: parameters, modulesToNotConvert: skipped)
      #expect(config == expected, "\(kwargs)")
    }
  }

  @Test func modelConfigurationOnlyWhereTransformersCanLoad() throws {
    let tile = try #require(try FP8Format.e4m3.modelConfiguration(parameters: FormatParameters()))
    #expect(tile.map(\.key) == ["quantization_config"])
    #expect(try FP8Format.e4m3.modelConfiguration(parameters: FormatParameters(["scale": .string("row")])) == nil)
    #expect(try FP8Format.e5m2.modelConfiguration(parameters: FormatParameters()) == nil)
    #expect(throws: QuantError.self) { try FP8Format.e5m2.quantizationConfig() }
    #expect(throws: QuantError.self) {
      try FP8Format.e4m3.quantizationConfig(parameters: FormatParameters(["scale": .string("row")]))
    }
  }
}
