import QuantCore
import Testing

/// A backend that counts how often its availability is asked.
private final class ProbedBackend: KernelBackend, BackendAvailabilityReporting, @unchecked Sendable {
  let name: String
  let available: Bool
  let reason: String?
  let probes = Locked(0)

  init(_ name: String, available: Bool, reason: String? = nil) {
    (self.name, self.available, self.reason) = (name, available, reason)
  }

  var isAvailable: Bool {
    probes.withLock { $0 += 1 }
    return available
  }
  var reasonUnavailable: String? { available ? nil : reason }
  func accelerates(_ layout: StorageLayout) -> Bool { false }
  func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try ReferenceBackend().dequantize(tensor, to: dtype)
  }
  func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    try ReferenceBackend().linear(input, weight: weight, bias: bias)
  }
}

@Suite("The auto order")
struct AutoOrderTests {
  @Test("the default order puts cpu first on Apple platforms and metal first elsewhere")
  func defaultOrder() {
    #if canImport(Darwin)
      #expect(BackendPreference.defaultAutomaticOrder == ["cpu", "metal", "reference"])
    #else
      #expect(BackendPreference.defaultAutomaticOrder == ["metal", "cpu", "reference"])
    #endif
  }

  @Test("auto asks backends after the first usable one nothing (Metal's availability compiles shaders)")
  func lazyProbing() throws {
    let registry = QuantRegistry()
    let first = ProbedBackend("cpu", available: true)
    let later = ProbedBackend("metal", available: true)
    try registry.register(later)
    try registry.register(first)
    let yaml = "backend: auto\nauto_order: [cpu, metal]\n"
    try registry.apply(RegistryConfiguration(node: YAMLDocument(text: yaml, file: "test.yaml").root))
    #expect(try registry.preferredBackend().name == "cpu")
    #expect(later.probes.withLock { $0 } == 0)
  }

  @Test("asking for an unavailable backend by name reports its reason")
  func reason() throws {
    let registry = QuantRegistry()
    try registry.register(ProbedBackend("metal", available: false, reason: "no Metal device"))
    let error = #expect(throws: RegistryError.self) { try registry.backend(named: "metal") }
    #expect(error == .backendUnavailable("metal", available: [], reason: "no Metal device"))
    #expect(error?.description.contains("(no Metal device)") == true)
  }
}
