import DoubleQuant
import QuantCore
import TestSupport
import Testing

@Suite("bitsandbytes quant-state JSON")
struct QuantStateJSONTests {
  @Test("PythonFloatRepr writes exactly what CPython's repr and json.dumps write")
  func pythonRepr() throws {
    let manifest = try FixtureJSON.load("bnb/python_float_repr.json")
    let rows = try #require(manifest["values"] as? [[String]])
    #expect(rows.count > 500)
    for row in rows {
      let value = Double(bitPattern: try #require(UInt64(row[0], radix: 16)))
      #expect(PythonFloatRepr.repr(value) == row[1], "bits \(row[0])")
      #expect(PythonFloatRepr.json(value) == row[2], "bits \(row[0])")
    }
    #expect(PythonFloatRepr.json(.nan) == "NaN" && PythonFloatRepr.json(-.infinity) == "-Infinity")
  }

  @Test("records round-trip through their JSON bytes")
  func roundTrip() throws {
    let offsets: [Float] = [0.050548553466796875, 1e-38, 3.4e38, 0, 1, 0.1, .nan, .infinity]
    for offset in offsets {
      let record = PackedQuantStateJSON(
        quantType: "nf4", blocksize: 64, dtype: .bfloat16, shape: [64, 64], nested: .init(blocksize: 256, offset: offset))
      let parsed = try PackedQuantStateJSON(jsonBytes: Array(record.jsonText.utf8))
      #expect(parsed.quantType == "nf4" && parsed.shape == [64, 64] && parsed.dtype == .bfloat16)
      #expect(parsed.nested?.offset.bitPattern == offset.bitPattern || (offset.isNaN && parsed.nested?.offset.isNaN == true))
    }
    let plain = PackedQuantStateJSON(quantType: "fp4", blocksize: 64, dtype: .float16, shape: [96, 256])
    #expect(try PackedQuantStateJSON(jsonBytes: Array(plain.jsonText.utf8)) == plain)
  }

  @Test(
    "malformed JSON gives typed errors",
    arguments: [
      "", "{", "{\"quant_type\": \"nf4\"}", "[1, 2]",
      "{\"quant_type\": \"nf4\", \"blocksize\": \"64\", \"dtype\": \"float16\", \"shape\": [1]}",
      "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float17\", \"shape\": [1]}",
      "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [1.5]}",
      "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [1]} trailing",
      "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [1], \"nested_offset\": 0.5}",
    ])
  func malformed(text: String) {
    #expect(throws: QuantError.self) { try PackedQuantStateJSON(jsonBytes: Array(text.utf8)) }
  }
}
