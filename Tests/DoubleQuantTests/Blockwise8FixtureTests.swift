import DoubleQuant
import QuantCore
import TestSupport
import Testing

@Suite("8-bit blockwise quantization against bitsandbytes 0.50")
struct Blockwise8FixtureTests {
  @Test("codes and absmax equal the default rule; the CPU rule reproduces the library; library codes decode bit for bit")
  func fixtures() throws {
    let fixture = try FixtureSafeTensors("bnb/blockwise8.safetensors")
    var compared = 0
    var differingFromCPUKernel = 0
    var configurations = 0
    for caseID in fixture.tensorNames.filter({ $0.hasSuffix("/input") }).map({ String($0.dropLast("/input".count)) }) {
      let input = try fixture.require(caseID + "/input")
      for mapName in ["signed", "unsigned"] {
        for blocksize in [64, 256, 4096] {
          let key = "\(caseID)/\(mapName)/bs\(blocksize)"
          guard let libraryCodes = try fixture.tensor(named: key + "/codes") else { continue }
          configurations += 1
          let map = try #require(DynamicMap.named(mapName))
          let ours = try quantizeBlockwise(input, code: map, blocksize: blocksize)
          guard case .codebook8Bit(let codes, let state) = ours.layout, case .plain(let absmax) = state.absmax else {
            Issue.record("\(key): unexpected layout")
            continue
          }
          #expect(codes.bytes == (try fixture.require(key + "/codes_default")).bytes, "\(key): codes")
          let expectedAbsmax = try fixture.require(key + "/absmax_default").scalars(as: Float.self)
          #expect(absmax.map(\.bitPattern) == expectedAbsmax.map(\.bitPattern), "\(key): absmax")
          compared += codes.elementCount
          differingFromCPUKernel += zip(codes.bytes, libraryCodes.bytes).filter { $0 != $1 }.count

          // Decode the library's own codes and absmax: code[q] * absmax in float32, as its C++ kernel does.
          let libraryState = QuantState(
            absmax: .plain(try fixture.require(key + "/absmax").scalars()), shape: input.shape, code: map,
            dtype: .float32, blocksize: blocksize, quantType: blockwise8FormatName)
          let libraryTensor = QuantizedTensor(
            format: blockwise8FormatName, shape: input.shape, originalDType: .float32,
            layout: .codebook8Bit(codes: libraryCodes, state: libraryState))
          let decoded = try dequantizeBlockwise(libraryTensor)
          #expect(decoded.bytes == (try fixture.require(key + "/dequant")).bytes, "\(key): dequant")

          // The CPU rule reproduces the library's own codes and absmax.
          let cpu = try quantizeBlockwise(input, code: map, blocksize: blocksize, rule: .cpuLookupTable)
          guard case .codebook8Bit(let cpuCodes, let cpuState) = cpu.layout else { continue }
          #expect(cpuCodes.bytes == libraryCodes.bytes, "\(key): CPU-rule codes")
          #expect(
            cpuState.absmax.decoded().map(\.bitPattern)
              == (try fixture.require(key + "/absmax").scalars(as: Float.self)).map(\.bitPattern),
            "\(key): CPU-rule absmax")
        }
      }
    }
    print(
      "blockwise8: \(configurations) configurations, \(compared) codes; the CPU C++ LUT kernel differs on \(differingFromCPUKernel)"
    )
    // The manifest's per-configuration counts of library-vs-default differences must add up to what we see.
    let manifest = try FixtureJSON.load("bnb/blockwise8.json")
    var expectedDifferences = 0
    var manifestConfigurations = 0
    for entry in manifest["cases"] as? [[String: Any]] ?? [] {
      for (_, result) in entry["results"] as? [String: [String: Any]] ?? [:] {
        manifestConfigurations += 1
        expectedDifferences += result["n_codes_differ_default"] as? Int ?? -1_000_000
      }
    }
    #expect(configurations == manifestConfigurations && configurations > 20)
    #expect(differingFromCPUKernel == expectedDifferences)
  }
}

@Suite("Double quantization against bitsandbytes 0.50")
struct DoubleQuantFixtureTests {
  @Test(
    "given the stored offset, the CPU rule reproduces the library's nested codes and scales", arguments: ["f32", "f16", "bf16"])
  func nestedCodes(dtypeKey: String) throws {
    let fixture = try FixtureSafeTensors("bnb/fourbit_\(dtypeKey).safetensors")
    var compared = 0
    for name in fixture.tensorNames where name.hasSuffix("/dq/absmax_f32") {
      let base = String(name.dropLast("absmax_f32".count))
      let absmax = try fixture.require(name).scalars(as: Float.self)
      let offset = try fixture.require(base + "offset").scalars(as: Float.self)[0]
      let library = try doubleQuant(absmax: absmax, offset: offset, rule: .cpuLookupTable)
      #expect(library.codes == (try fixture.require(base + "absmax")).bytes, "\(base)")
      let scales = try fixture.require(base + "nested_absmax").scalars(as: Float.self)
      #expect(library.absmax.map(\.bitPattern) == scales.map(\.bitPattern), "\(base)")
      let defaultRule = try doubleQuant(absmax: absmax, offset: offset)
      #expect(defaultRule.codes == (try fixture.require(base + "absmax_default")).bytes, "\(base)")
      compared += absmax.count
    }
    #expect(compared > 2000)
  }
}
