import QuantCore
import Testing

/// A format with one parameter of every kind, for the single validation path.
private struct KindsFormat: QuantizationFormat {
  static let blocksize = FormatParameterSpec(
    name: "blocksize", kind: .blocksize(supported: [32, 64]), defaultValue: .int(64), summary: "block")
  static let flag = FormatParameterSpec(name: "flag", kind: .bool, defaultValue: .bool(false), summary: "flag")
  static let ratio = FormatParameterSpec(name: "ratio", kind: .number, defaultValue: .double(0.5), summary: "ratio")
  static let mode = FormatParameterSpec(
    name: "mode", kind: .string(allowed: ["a", "b"]), defaultValue: .string("a"), summary: "mode")

  var name: String { "kinds" }
  var summary: String { "one parameter of every kind" }
  var parameterSpecs: [FormatParameterSpec] { [Self.blocksize, Self.flag, Self.ratio, Self.mode] }
  func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    throw .invalidArgument("not used")
  }
  func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] { [] }
  func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? { nil }
  func companionTensorNames(for weightName: String) -> [String] { [] }
}

private struct FuturePlugin: QuantPlugin {
  var name: String { "from-the-future" }
  var apiVersion: Int { QuantRegistry.pluginAPIVersion + 1 }
  func register(into registry: QuantRegistry) throws(RegistryError) {}
}

@Suite("parameter validation in one place")
struct ParameterValidationTests {
  @Test("every accessor checks its declaration, defaults included")
  func accessorsValidate() throws {
    let good = FormatParameters(["blocksize": .int(32), "flag": .bool(true), "ratio": .int(2), "mode": .string("b")])
    #expect(try good.integer(KindsFormat.blocksize) == 32)
    #expect(try good.bool(KindsFormat.flag))
    #expect(try good.number(KindsFormat.ratio) == 2)
    #expect(try good.string(KindsFormat.mode) == "b")
    #expect(try FormatParameters().number(KindsFormat.ratio) == 0.5)

    #expect(throws: QuantError.unsupportedBlocksize(48, supported: [32, 64])) {
      try FormatParameters(["blocksize": .int(48)]).integer(KindsFormat.blocksize)
    }
    #expect(throws: QuantError.invalidArgument("parameter 'flag' must be a boolean (true, false), found \"yes\"")) {
      try FormatParameters(["flag": .string("yes")]).bool(KindsFormat.flag)
    }
    #expect(throws: QuantError.invalidArgument("parameter 'ratio' must be a number, found \"big\"")) {
      try FormatParameters(["ratio": .string("big")]).number(KindsFormat.ratio)
    }
    #expect(throws: QuantError.invalidArgument("parameter 'mode' must be one of the allowed strings (a, b), found \"c\"")) {
      try FormatParameters(["mode": .string("c")]).string(KindsFormat.mode)
    }
  }

  @Test("configured parameters: unknown names and bad values are the same problem everywhere")
  func configuredProblems() {
    let format = KindsFormat()
    #expect(format.parameterProblem(named: "mode", value: .string("b")) == nil)
    let unknown = format.parameterProblem(named: "blocksise", value: .int(64))
    #expect(unknown?.isUnknownName == true && unknown?.validChoices == ["blocksize", "flag", "ratio", "mode"])
    let bad = format.parameterProblem(named: "blocksize", value: .int(48))
    #expect(bad?.isUnknownName == false && bad?.validChoices == ["32", "64"])
    #expect(bad?.message == "parameter 'blocksize' of format 'kinds' must be one of the supported blocksizes")
  }

  @Test("a registry file reports a bad default through the same check, at the value")
  func registryUsesTheSameCheck() throws {
    let registry = QuantRegistry()
    try registry.register(KindsFormat())
    let document = try YAMLDocument(text: "formats:\n  kinds:\n    defaults: { blocksize: 48 }\n", file: "r.yaml")
    let expected = try #require(KindsFormat().parameterProblem(named: "blocksize", value: .int(48)))
    do {
      try registry.apply(RegistryConfiguration(node: document.root))
      Issue.record("a bad default was accepted")
    } catch {
      #expect(error.message == expected.message && error.validChoices == expected.validChoices)
      #expect(error.location?.line == 3)
    }
  }

  @Test("a plugin written for a newer API is refused with its own error")
  func pluginAPIMismatch() {
    #expect(
      throws: RegistryError.pluginAPIMismatch(
        plugin: "from-the-future", required: QuantRegistry.pluginAPIVersion + 1, supported: QuantRegistry.pluginAPIVersion)
    ) {
      try QuantRegistry().install(FuturePlugin())
    }
  }
}
