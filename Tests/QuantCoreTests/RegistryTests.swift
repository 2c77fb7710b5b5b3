import QuantCore
import Testing

/// A minimal format used to exercise the registry: it stores values as float32 "codes".
private struct ToyFormat: QuantizationFormat {
  var name = "toy"
  var summary: String { "identity storage for registry tests" }
  var parameterSpecs: [FormatParameterSpec] {
    [
      FormatParameterSpec(name: "blocksize", kind: .integer(allowed: [32, 64]), defaultValue: .int(64), summary: "block"),
      FormatParameterSpec(name: "double_quant", kind: .bool, defaultValue: .bool(false), summary: "nested"),
      FormatParameterSpec(name: "mode", kind: .string(allowed: ["a", "b"]), defaultValue: .string("a"), summary: "mode"),
    ]
  }
  func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    throw .invalidArgument("not used")
  }
  func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] { [] }
  func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? { nil }
  func companionTensorNames(for weightName: String) -> [String] { [] }
}

/// A backend that claims to be unavailable, like Metal on Linux.
private struct AbsentBackend: KernelBackend {
  var name: String { "metal" }
  var isAvailable: Bool { false }
  func accelerates(_ layout: StorageLayout) -> Bool { true }
  func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    throw .unsupportedOperation(backend: name, operation: "dequantize")
  }
  func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    throw .unsupportedOperation(backend: name, operation: "linear")
  }
}

private struct ToyPlugin: QuantPlugin {
  var name: String { "toy-plugin" }
  func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(ToyFormat(), aliases: ["toy4"])
    try registry.register(ToyFormat(name: "other"))
  }
}

private func makeRegistry() throws -> QuantRegistry {
  let registry = QuantRegistry()
  try registry.install(ToyPlugin())
  try registry.register(AbsentBackend())
  try registry.register(ReferenceBackend())
  return registry
}

private func configurationError(_ yaml: String, in registry: QuantRegistry) -> ConfigurationError? {
  do {
    let configuration = try RegistryConfiguration(node: YAMLDocument(text: yaml, file: "test.yaml").root)
    try registry.apply(configuration)
    return nil
  } catch {
    return error
  }
}

@Suite("Registry and its YAML configuration")
struct RegistryTests {
  @Test("formats register through the plugin API and resolve by name and alias")
  func lookup() throws {
    let registry = try makeRegistry()
    #expect(try registry.format(named: "toy").name == "toy")
    #expect(try registry.format(named: "toy4").name == "toy")
    #expect(registry.formats.first?.plugin == "toy-plugin")
    #expect(throws: RegistryError.unknownFormat("nf5", available: ["other", "toy", "toy4"])) {
      try registry.format(named: "nf5")
    }
    #expect(throws: RegistryError.duplicateName("toy4", kind: "format")) {
      try registry.register(ToyFormat(name: "toy4"))
    }
  }

  @Test("auto picks the first available backend in order; an unavailable backend is refused by name")
  func backendPreference() throws {
    let registry = try makeRegistry()
    #expect(try registry.preferredBackend().name == "reference")
    #expect(throws: RegistryError.backendUnavailable("metal", available: ["reference"])) {
      try registry.backend(named: "metal")
    }
    #expect(try registry.backend(named: "auto").name == "reference")
  }

  @Test("configuration sets defaults, aliases, enablement and the backend")
  func applyConfiguration() throws {
    let registry = try makeRegistry()
    let yaml = """
      version: 1
      backend: reference
      threads: 2
      formats:
        toy:
          aliases: [toy-four]
          defaults: { blocksize: 32, mode: b }
        other:
          enabled: false
      """
    #expect(configurationError(yaml, in: registry) == nil)
    #expect(try registry.format(named: "toy-four").name == "toy")
    let defaults = try registry.defaultParameters(forFormat: "toy")
    #expect(defaults["blocksize"] == .int(32))
    #expect(defaults["mode"] == .string("b"))
    #expect(defaults["double_quant"] == .bool(false))
    #expect(throws: RegistryError.disabled("other", kind: "format")) { try registry.format(named: "other") }
    #expect(registry.threads == 2)
    #expect(registry.backendPreference == .named("reference"))
  }

  @Test(
    "bad configuration names file:line:column, what was found and the valid choices",
    arguments: [
      ("formats:\n  nf5: {}\n", "test.yaml:2:3", "'nf5'", ["other", "toy"]),
      ("formats:\n  toy:\n    defaults:\n      blocksize: 48\n", "test.yaml:4:18", "48", ["32", "64"]),
      ("formats:\n  toy:\n    defaults:\n      double_quant: maybe\n", "test.yaml:4:21", "\"maybe\"", ["true", "false"]),
      (
        "formats:\n  toy:\n    defaults:\n      colour: red\n", "test.yaml:4:7", "'colour'",
        ["blocksize", "double_quant", "mode"]
      ),
      ("backend: tpu\n", "test.yaml:1:10", "'tpu'", ["auto", "metal", "reference"]),
      ("threads: many\n", "test.yaml:1:10", "'many'", []),
      ("formats:\n  toy:\n    enabled: sometimes\n", "test.yaml:3:14", "'sometimes'", ["true", "false"]),
      ("backend: auto\nbogus: 1\n", "test.yaml:2:1", "'bogus'", RegistryConfiguration.keys),
      ("formats: [toy\n", "test.yaml:2:1", nil, []),
    ] as [(String, String, String?, [String])]
  )
  func badConfiguration(yaml: String, location: String, found: String?, choices: [String]) throws {
    let registry = try makeRegistry()
    let error = try #require(configurationError(yaml, in: registry))
    #expect(error.location?.description == location, "\(error)")
    if let found { #expect(error.found == found, "\(error)") }
    #expect(error.validChoices == choices, "\(error)")
    #expect(error.description.hasPrefix(location))
  }
}
