import Foundation
public import QuantCore

/// One failed conformance check: which check, and what went wrong.
public struct ConformanceFailure: Sendable, CustomStringConvertible {
  /// The check's name (`"round-trip"`, `"serialization"`, …).
  public var check: String
  /// What went wrong, with the shape and parameters involved.
  public var message: String

  /// The check and its message on one line.
  public var description: String { "[\(check)] \(message)" }
}

/// Checks that a ``QuantizationFormat`` behaves the way the built-in formats do.
///
/// The checks need no test framework: each returns the failures it found, so a plugin's tests can
/// assert `conformance.run().isEmpty` with XCTest, Swift Testing or anything else.
///
/// ```swift
/// let conformance = ConformanceSuite(
///   format: MyFormat(), parameterSets: [FormatParameters(["group_size": .int(64)])],
///   shapes: [[4, 64], [3, 128]], maxRelativeRMSError: 0.1)
/// #expect(conformance.run().isEmpty)
/// ```
public struct ConformanceSuite: Sendable {
  /// The format under test.
  public var format: any QuantizationFormat
  /// Parameter sets to run every check with.
  public var parameterSets: [FormatParameters]
  /// Shapes the format must accept (2-D `[rows, columns]`).
  public var shapes: [[Int]]
  /// Shapes the format may reject, but only with a `QuantError` (never a crash or a wrong result).
  public var awkwardShapes: [[Int]]
  /// The largest acceptable RMS error of a round trip, relative to the input's RMS.
  public var maxRelativeRMSError: Float
  /// Input dtypes to try.
  public var inputDTypes: [DType]

  /// Describes a conformance run.
  ///
  /// - Parameters:
  ///   - format: The format under test.
  ///   - parameterSets: Parameter sets; defaults to the format's defaults.
  ///   - shapes: Shapes that must round-trip.
  ///   - awkwardShapes: Odd shapes that must either round-trip or fail with a typed error.
  ///   - maxRelativeRMSError: The error bar for round trips of standard-normal data.
  ///   - inputDTypes: Input dtypes to try.
  public init(
    format: any QuantizationFormat, parameterSets: [FormatParameters] = [FormatParameters()],
    shapes: [[Int]] = [[1, 64], [4, 128], [16, 256]], awkwardShapes: [[Int]] = [[1, 1], [3, 33], [5, 100]],
    maxRelativeRMSError: Float, inputDTypes: [DType] = [.float32, .float16, .bfloat16]
  ) {
    self.format = format
    self.parameterSets = parameterSets
    self.shapes = shapes
    self.awkwardShapes = awkwardShapes
    self.maxRelativeRMSError = maxRelativeRMSError
    self.inputDTypes = inputDTypes
  }

  /// Runs every check.
  ///
  /// - Returns: All failures; empty when the format conforms.
  public func run() -> [ConformanceFailure] {
    checkRoundTrip() + checkAwkwardShapes() + checkBadInput() + checkSerialization() + checkReferenceBackend()
  }

  /// Round trips of seeded standard-normal data stay within ``maxRelativeRMSError`` and keep the
  /// shape, and `dequantize` agrees with the storage layout's own decoding.
  public func checkRoundTrip() -> [ConformanceFailure] {
    var failures: [ConformanceFailure] = []
    for parameters in parameterSets {
      for shape in shapes {
        for dtype in inputDTypes {
          let context = "\(format.name) \(shape) \(dtype) \(parameters.values)"
          do {
            let input = try Tensor(converting: SeededNormal.values(shape.reduce(1, *), seed: 42), to: dtype, shape: shape)
            let quantized = try format.quantize(input, parameters: parameters)
            if quantized.shape != shape {
              failures.append(.init(check: "round-trip", message: "\(context): quantized shape \(quantized.shape)"))
            }
            let output = try format.dequantize(quantized, to: .float32)
            guard output.shape == shape else {
              failures.append(.init(check: "round-trip", message: "\(context): dequantized shape \(output.shape)"))
              continue
            }
            let original = try input.floats()
            let decoded = try output.floats()
            let error = relativeRMS(decoded, original)
            if !(error <= maxRelativeRMSError) {
              failures.append(
                .init(check: "round-trip", message: "\(context): relative RMS error \(error) > \(maxRelativeRMSError)"))
            }
            let layoutValues = try quantized.layout.dequantizedFloats()
            if layoutValues.map(\.bitPattern) != decoded.map(\.bitPattern) {
              failures.append(.init(check: "round-trip", message: "\(context): dequantize disagrees with the layout's decoding"))
            }
          } catch {
            failures.append(.init(check: "round-trip", message: "\(context): \(error)"))
          }
        }
      }
    }
    return failures
  }

  /// Odd shapes either round-trip within the error bar or are refused with a `QuantError`.
  public func checkAwkwardShapes() -> [ConformanceFailure] {
    var failures: [ConformanceFailure] = []
    for parameters in parameterSets {
      for shape in awkwardShapes {
        let context = "\(format.name) \(shape) \(parameters.values)"
        do {
          let input = try Tensor(converting: SeededNormal.values(shape.reduce(1, *), seed: 7), to: .float32, shape: shape)
          let quantized: QuantizedTensor
          do {
            quantized = try format.quantize(input, parameters: parameters)
          } catch {
            continue  // A typed refusal is conforming.
          }
          let decoded = try format.dequantize(quantized, to: .float32)
          if decoded.shape != shape {
            failures.append(.init(check: "awkward-shapes", message: "\(context): dequantized shape \(decoded.shape)"))
          }
          let error = relativeRMS(try decoded.floats(), try input.floats())
          if !(error <= maxRelativeRMSError * 2) {
            failures.append(.init(check: "awkward-shapes", message: "\(context): relative RMS error \(error)"))
          }
        } catch {
          failures.append(.init(check: "awkward-shapes", message: "\(context): \(error)"))
        }
      }
    }
    return failures
  }

  /// Empty tensors, integer dtypes and unknown parameter values are refused with a `QuantError`.
  public func checkBadInput() -> [ConformanceFailure] {
    var failures: [ConformanceFailure] = []
    var cases: [(String, Tensor, FormatParameters)] = []
    do {
      let parameters = parameterSets.first ?? FormatParameters()
      cases.append(("an empty tensor", try Tensor([] as [Float], shape: [0, 64]), parameters))
      cases.append(("an int32 tensor", try Tensor([Int32](repeating: 1, count: 64), shape: [1, 64]), parameters))
      for spec in format.parameterSpecs {
        var bad = parameters
        switch spec.kind {
        case .integer(let allowed?): bad[spec.name] = .int((allowed.max() ?? 0) + 1)
        case .integerRange(let range) where range.lowerBound > Int.min: bad[spec.name] = .int(range.lowerBound - 1)
        case .numberRange: bad[spec.name] = .double(.nan)
        case .string(let allowed?) where !allowed.isEmpty: bad[spec.name] = .string("no-such-\(spec.name)")
        case .bool: bad[spec.name] = .string("maybe")
        default: continue
        }
        cases.append(
          (
            "parameter \(spec.name) = \(bad[spec.name] ?? .null)",
            try Tensor([Float](repeating: 1, count: 256), shape: [2, 128]), bad
          ))
      }
    } catch {
      return [.init(check: "bad-input", message: "cannot build inputs: \(error)")]
    }
    for (what, tensor, parameters) in cases {
      do {
        _ = try format.quantize(tensor, parameters: parameters)
        failures.append(.init(check: "bad-input", message: "\(format.name) accepted \(what)"))
      } catch {
        // Refused with a typed error, as required.
      }
    }
    return failures
  }

  /// `checkpointTensors` → `loadCheckpoint` reproduces the tensor bit for bit; every written tensor
  /// is the weight or a declared companion (formats may declare optional companions, such as nested
  /// state); removing any written companion makes loading fail with a typed error or find nothing.
  public func checkSerialization() -> [ConformanceFailure] {
    var failures: [ConformanceFailure] = []
    let weightName = "model.layers.0.mlp.up_proj.weight"
    for parameters in parameterSets {
      for shape in shapes {
        let context = "\(format.name) \(shape) \(parameters.values)"
        do {
          let input = try Tensor(converting: SeededNormal.values(shape.reduce(1, *), seed: 3), to: .float16, shape: shape)
          let quantized = try format.quantize(input, parameters: parameters)
          let written = try format.checkpointTensors(for: quantized, weightName: weightName)
          let names = Set(written.map(\.name))
          if names.count != written.count {
            failures.append(.init(check: "serialization", message: "\(context): duplicate tensor names"))
          }
          let companions = Set(format.companionTensorNames(for: weightName))
          let undeclared = names.subtracting(companions).subtracting([weightName])
          if !undeclared.isEmpty {
            failures.append(
              .init(
                check: "serialization", message: "\(context): \(undeclared.sorted()) are written but not declared as companions"))
          }
          let source = DictionaryTensorSource(written)
          guard let loaded = try format.loadCheckpoint(weightName: weightName, from: source) else {
            failures.append(.init(check: "serialization", message: "\(context): loadCheckpoint found nothing"))
            continue
          }
          let before = try format.dequantize(quantized, to: .float32).floats().map(\.bitPattern)
          let after = try format.dequantize(loaded, to: .float32).floats().map(\.bitPattern)
          if before != after || loaded.shape != quantized.shape {
            failures.append(.init(check: "serialization", message: "\(context): reloaded tensor differs"))
          }
          if try format.loadCheckpoint(weightName: "model.other.weight", from: source) != nil {
            failures.append(.init(check: "serialization", message: "\(context): loaded a tensor that is not there"))
          }
          for companion in companions.intersection(names) {
            let partial = DictionaryTensorSource(written.filter { $0.name != companion })
            do {
              if try format.loadCheckpoint(weightName: weightName, from: partial) != nil {
                failures.append(.init(check: "serialization", message: "\(context): loaded without \(companion)"))
              }
            } catch {
              // A typed error for a missing companion is conforming.
            }
          }
        } catch {
          failures.append(.init(check: "serialization", message: "\(context): \(error)"))
        }
      }
    }
    return failures
  }

  /// `ReferenceBackend.linear` with the quantized weight matches a float32 product with the
  /// dequantized weight (the contract every backend is held to).
  public func checkReferenceBackend() -> [ConformanceFailure] {
    var failures: [ConformanceFailure] = []
    guard let parameters = parameterSets.first, let shape = shapes.first(where: { $0.count == 2 }) else { return [] }
    do {
      let weight = try Tensor(converting: SeededNormal.values(shape[0] * shape[1], seed: 11), to: .float32, shape: shape)
      let quantized = try format.quantize(weight, parameters: parameters)
      let x = try Tensor(converting: SeededNormal.values(3 * shape[1], seed: 12), to: .float32, shape: [3, shape[1]])
      let y = try ReferenceBackend().linear(x, weight: quantized, bias: nil).floats()
      let w = try format.dequantize(quantized, to: .float32).floats()
      let xs = try x.floats()
      for row in 0..<3 {
        for column in 0..<shape[0] {
          var sum: Float = 0
          for k in 0..<shape[1] { sum += xs[row * shape[1] + k] * w[column * shape[1] + k] }
          if abs(sum - y[row * shape[0] + column]) > 1e-4 * max(1, abs(sum)) {
            failures.append(
              .init(
                check: "backend",
                message: "\(format.name): linear[\(row), \(column)] = \(y[row * shape[0] + column]), expected \(sum)"))
            return failures
          }
        }
      }
    } catch {
      failures.append(.init(check: "backend", message: "\(format.name): \(error)"))
    }
    return failures
  }

  private func relativeRMS(_ a: [Float], _ b: [Float]) -> Float {
    var error: Double = 0
    var signal: Double = 0
    for (x, y) in zip(a, b) {
      error += Double(x - y) * Double(x - y)
      signal += Double(y) * Double(y)
    }
    return signal == 0 ? Float(error.squareRoot()) : Float((error / signal).squareRoot())
  }
}

/// A `TensorSource` over an in-memory list of named tensors.
struct DictionaryTensorSource: TensorSource {
  let tensors: [String: Tensor]
  init(_ named: [NamedTensor]) {
    tensors = Dictionary(named.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
  }
  var tensorNames: [String] { tensors.keys.sorted() }
  func tensor(named name: String) throws(QuantError) -> Tensor? { tensors[name] }
}

/// Deterministic random numbers (SplitMix64) and standard-normal values (Box–Muller), identical on
/// every platform: reproducible test data for plugins and for this project's own tests.
public struct SeededNormal: RandomNumberGenerator, Sendable {
  private var state: UInt64

  /// Creates a generator.
  ///
  /// - Parameter seed: The seed; equal seeds give equal sequences on every platform.
  public init(seed: UInt64) { state = seed }

  /// Draws the next 64 random bits.
  ///
  /// - Returns: The bits.
  public mutating func nextBits() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// The next 64 random bits (`RandomNumberGenerator`, for `shuffled(using:)`, `random(in:using:)`).
  ///
  /// - Returns: The bits, the same as ``nextBits()``.
  public mutating func next() -> UInt64 { nextBits() }

  /// Draws a uniform double in [0, 1) with 53 random bits.
  ///
  /// - Returns: The value.
  public mutating func nextUnit() -> Double { Double(nextBits() >> 11) * 0x1p-53 }

  /// `count` standard-normal values from a fresh generator seeded with `seed`.
  ///
  /// - Parameters:
  ///   - count: How many.
  ///   - seed: The seed.
  /// - Returns: The values as `Float`.
  public static func values(_ count: Int, seed: UInt64) -> [Float] {
    var generator = SeededNormal(seed: seed)
    return generator.values(count)
  }

  /// Draws `count` standard-normal values.
  ///
  /// - Parameter count: How many.
  /// - Returns: The values as `Float`.
  public mutating func values(_ count: Int) -> [Float] {
    var result: [Float] = []
    result.reserveCapacity(count)
    while result.count < count {
      let u1 = Double((nextBits() >> 11) + 1) * 0x1p-53
      let u2 = nextUnit()
      let radius = (-2 * log(u1)).squareRoot()
      result.append(Float(radius * cos(2 * Double.pi * u2)))
      if result.count < count { result.append(Float(radius * sin(2 * Double.pi * u2))) }
    }
    return result
  }
}

/// The conformance suite's old name: a type named after its module hides the module in qualified
/// lookups, so it is ``ConformanceSuite`` now.
@available(*, deprecated, renamed: "ConformanceSuite")
public typealias FormatConformance = ConformanceSuite
