import QuantCore
import Testing

@testable import CPUKernels

@Suite("CPU backend registration")
struct RegistryTests {
  @Test("the plugin registers 'cpu', which auto selects without Metal")
  func plugin() throws {
    let registry = QuantRegistry()
    try registry.install(CPUBackendPlugin())
    try registry.register(ReferenceBackend())
    #expect(try registry.backend(named: "cpu").name == "cpu")
    #expect(try registry.preferredBackend().name == "cpu")
    #expect(throws: RegistryError.self) { try registry.install(CPUBackendPlugin()) }
  }

  @Test("thread chunks cover every row exactly once")
  func chunks() {
    for count in [0, 1, 5, 16, 17, 1000] {
      for threads in [1, 2, 3, 8] {
        let ranges = ParallelChunks.ranges(count: count, threads: threads, alignment: 4)
        #expect(ranges.reduce(0) { $0 + $1.count } == count)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(ranges.dropLast().allSatisfy { $0.upperBound % 4 == 0 })
      }
    }
  }
}
