import Foundation
public import QuantCore
import SafeTensors

/// Quantizes whole models, reads quantized checkpoints back, dequantizes and verifies them.
///
/// Every format is looked up through ``registry``. Work streams: tensors flow from the memory-mapped
/// input through the formats to the writer with a bounded number in flight, so memory does not grow
/// with the model. Outputs are written next to their destination and moved into place only when
/// complete; inputs are never modified.
///
/// ```swift
/// let patcher = CheckpointPatcher(registry: try StandardRegistry.make())   // StandardRegistry: the BitsAndBytes umbrella
/// let job = try QuantizationJob(contentsOf: URL(filePath: "Examples/quant.yaml"))
/// let summary = try await patcher.quantizeModel(job) { event in print(event) }
/// ```
public struct CheckpointPatcher: Sendable {
  /// Where formats and backends are looked up.
  public let registry: QuantRegistry
  /// Elements per chunk of the streaming quantizer (``ChunkedQuantizer``); 0 quantizes every tensor whole.
  package var chunkElements = ChunkedQuantizer.defaultChunkElements

  /// Creates a patcher.
  ///
  /// - Parameter registry: The registry (usually `StandardRegistry.make()` of the `BitsAndBytes` umbrella,
  ///   which installs the built-in formats and backends).
  public init(registry: QuantRegistry) {
    self.registry = registry
  }

  // MARK: - Planning

  /// Opens the job's input and decides what happens to every tensor, without writing anything.
  ///
  /// - Parameter job: The job.
  /// - Returns: The opened input and the plan.
  /// - Throws: `ModelPatcherError` for bad configuration or input.
  public func plan(_ job: QuantizationJob) throws(ModelPatcherError) -> (input: ModelInput, plan: QuantizationPlan) {
    let input = try ModelInput(url: job.model)
    try refuseQuantizedInput(input)
    let resolved = try resolveFormats(job)
    let plan = QuantizationPlan.make(
      entries: input.checkpoint.tensorNames.compactMap { input.checkpoint.entry(named: $0) }, isModelFolder: input.isFolder,
      defaultFormat: resolved.format, defaultParameters: resolved.parameters,
      skipModules: job.quantization?.llmInt8SkipModules, rules: resolved.rules)
    return (input, plan)
  }

  private func refuseQuantizedInput(_ input: ModelInput) throws(ModelPatcherError) {
    if let block = input.configuration?["quantization_config"], !block.isNull {
      let method = block["quant_method"]?.stringValue ?? "unknown"
      throw .invalidInput(
        file: input.url.appending(path: "config.json").path, tensor: nil,
        message: "the model is already quantized (quant_method '\(method)'); dequantize it first (bnb-patch dequantize)")
    }
    // Every registered format (enabled or not) says which of its companion tensors give it away.
    let formats = registry.formats.map(\.format)
    for name in input.checkpoint.tensorNames {
      if let format = formats.first(where: { $0.marksQuantizedCheckpoint(tensorName: name) }) {
        throw .invalidInput(
          file: input.fileName(of: name), tensor: name,
          message:
            "the checkpoint is already quantized (it holds \(format.name) tensors); dequantize it first (bnb-patch dequantize)")
      }
    }
  }

  struct ResolvedFormats {
    var format: String
    var parameters: FormatParameters
    var rules: [(rule: TensorRule, parameters: FormatParameters)]
  }

  func resolveFormats(_ job: QuantizationJob) throws(ModelPatcherError) -> ResolvedFormats {
    let file = job.file ?? "<job>"
    let installed = registry.pluginNames
    for (plugin, location) in job.requiredPlugins where !installed.contains(plugin) {
      throw .configuration(
        ConfigurationError(
          location: location, file: file,
          message:
            "the job needs plugin '\(plugin)', which is not built into this program (build a bnb-patch with BNBPatch.main(plugins:))",
          found: "'\(plugin)'", validChoices: installed))
    }
    do {
      _ = try registry.backend(named: job.backend)
    } catch {
      throw .registry(error)
    }
    guard let requested = job.format ?? job.quantization?.formatName else {
      throw .configuration(
        ConfigurationError(location: nil, file: file, message: "the job names no format and no quantization block"))
    }
    let implied = job.quantization?.formatParameters ?? FormatParameters()
    let (name, parameters) = try resolve(
      format: requested, layers: [implied, job.parameters], strict: job.parameters, location: nil,
      locations: job.parameterLocations, file: file)
    var rules: [(rule: TensorRule, parameters: FormatParameters)] = []
    for rule in job.rules {
      guard let ruleFormat = rule.format else {
        rules.append((rule, FormatParameters()))
        continue
      }
      var ruleParameters = try resolve(
        format: ruleFormat, layers: [implied, job.parameters, rule.parameters], strict: rule.parameters, location: rule.location,
        locations: rule.parameterLocations, file: file)
      var canonical = rule
      canonical.format = ruleParameters.name
      ruleParameters.name = canonical.format ?? ruleFormat
      rules.append((canonical, ruleParameters.parameters))
    }
    return ResolvedFormats(format: name, parameters: parameters, rules: rules)
  }

  /// Resolves a format name (aliases allowed) and its parameters: registry defaults, then each layer
  /// (only the parameters the format declares), with `strict` values required to be declared and valid.
  private func resolve(
    format requested: String, layers: [FormatParameters], strict: FormatParameters, location: SourceLocation?,
    locations: [String: SourceLocation], file: String
  ) throws(ModelPatcherError) -> (name: String, parameters: FormatParameters) {
    let format: any QuantizationFormat
    var parameters: FormatParameters
    do {
      format = try registry.format(named: requested)
      parameters = try registry.defaultParameters(forFormat: requested)
    } catch {
      guard let location else { throw .registry(error) }
      throw .configuration(ConfigurationError(location: location, message: error.description, found: "'\(requested)'"))
    }
    for (key, value) in strict.values.sorted(by: { $0.key < $1.key }) {
      if let problem = format.parameterProblem(named: key, value: value) {
        throw .configuration(
          ConfigurationError(
            location: locations[key] ?? location, file: file, message: problem.message, found: problem.found,
            validChoices: problem.validChoices))
      }
    }
    for layer in layers {
      for (key, value) in layer.values where format.parameterSpec(named: key) != nil { parameters[key] = value }
    }
    return (format.name, parameters)
  }

  // MARK: - Quantizing

  /// Quantizes a model folder or file into a folder or file, as the job says.
  ///
  /// - Parameters:
  ///   - job: The job.
  ///   - events: Called with progress and warnings.
  /// - Returns: What was done.
  /// - Throws: `ModelPatcherError`; nothing is left at the destination on failure.
  @discardableResult
  public func quantizeModel(_ job: QuantizationJob, events: PatchEventHandler? = nil) async throws(ModelPatcherError)
    -> PatchSummary
  {
    let (input, plan) = try self.plan(job)
    let checkpoint = input.checkpoint
    let registry = self.registry
    let backend: any KernelBackend
    do throws(RegistryError) {
      backend = try registry.backend(named: job.backend)
    } catch {
      throw .registry(error)
    }
    let items = plan.items
    let policy = job.nonFinite
    let inputFiles = items.map { input.fileName(of: $0.name) }
    let quantizer = ChunkedQuantizer(chunkElements: chunkElements)
    let patchItems = items.map { item -> PatchItem in
      let format: String?
      if case .quantize(let name, _) = item.action { format = name } else { format = nil }
      return PatchItem(
        name: item.name, elementCount: item.elementCount, inputBytes: item.byteCount,
        workingBytes: TensorPipeline.streamingWorkingBytes(
          elements: item.elementCount, storedBytes: item.byteCount, computed: item.action.isQuantized),
        format: format, quantizedBytes: nil, action: format ?? "kept")
    }
    let destination = PatchDestination(
      input: input.url, output: job.output, overwrite: job.overwrite, maximumShardSize: job.maximumShardSize,
      threads: job.threads, byteBudget: TensorPipeline.streamingByteBudget)
    return try await patch(
      patchItems, to: destination, events: events,
      configuration: { () throws(ModelPatcherError) in
        try input.configuration.map { (json) throws(ModelPatcherError) in try patchedConfiguration(json, job: job, plan: plan) }
      },
      otherFiles: job.copyOtherFiles ? input.otherFiles : [],
      work: { (index) throws(ModelPatcherError) -> TensorPipeline.Output in
        let item = items[index]
        let file = inputFiles[index]
        guard case .quantize(let formatName, let parameters) = item.action else {
          guard let source = checkpoint.file(containing: item.name) else {
            throw .invalidInput(file: file, tensor: item.name, message: "cannot be read")
          }
          return TensorPipeline.Output(copies: [TensorPipeline.Copy(name: item.name, file: source)])
        }
        let format: any QuantizationFormat
        do throws(RegistryError) {
          format = try registry.format(named: formatName)
        } catch {
          throw .registry(error)
        }
        let job = ChunkedQuantizer.Job(
          format: format, parameters: parameters, backend: backend, refuseNonFinite: policy == .refuse, fileName: file,
          tensorName: item.name)
        let result: ChunkedQuantizer.Result
        if let source = checkpoint.file(containing: item.name) {
          result = try quantizer.quantize(FileChunkSource(tensor: item.name, in: source, fileName: file), job: job)
        } else {
          guard let tensor = try? checkpoint.tensor(named: item.name) else {
            throw .invalidInput(file: file, tensor: item.name, message: "cannot be read")
          }
          result = try quantizer.quantize(InMemoryChunkSource(tensor: tensor), job: job)
        }
        var warnings: [String] = []
        if result.nonFinite > 0 {
          warnings.append("\(file): tensor '\(item.name)' holds \(result.nonFinite) NaN or infinite values; quantized anyway")
        }
        do throws(QuantError) {
          return TensorPipeline.Output(
            tensors: try format.checkpointTensors(for: result.tensor, weightName: item.name), warnings: warnings)
        } catch {
          throw .tensor(file: file, tensor: item.name, format: formatName, error: error)
        }
      })
  }

  /// Finishes the weights, writes `config.json` and copies the other files (folder outputs only), then
  /// moves the output into place.
  ///
  /// - Returns: The files written, sorted.
  func complete(_ transaction: OutputTransaction, writer: any CheckpointWriter, configuration: JSONValue?, otherFiles: [URL])
    throws(ModelPatcherError) -> [String]
  {
    var files: [String]
    do {
      files = try writer.complete()
    } catch {
      throw .safeTensors(error)
    }
    if transaction.isFolderOutput {
      if let configuration {
        try write(
          configuration.text(style: .python(indent: 2, sortKeys: true)) + "\n",
          to: transaction.staging.appending(path: "config.json"))
        files.append("config.json")
      }
      for file in otherFiles {
        do {
          // The contents, not a link: a Hugging Face cache snapshot is made of relative links into ../../blobs.
          try FileManager.default.copyItem(
            at: file.resolvingSymlinksInPath(), to: transaction.staging.appending(path: file.lastPathComponent))
        } catch {
          throw .io(path: file.path, operation: "copy into the output", reason: error.localizedDescription)
        }
        files.append(file.lastPathComponent)
      }
    }
    if Task.isCancelled { throw .cancelled }
    try transaction.commit()
    return files.sorted()
  }

  /// Refuses an output that is the input or lies inside it (inputs are never modified).
  func checkOutput(_ output: URL, against input: URL) throws(ModelPatcherError) {
    let out = output.standardizedFileURL.resolvingSymlinksInPath().path
    let source = input.standardizedFileURL.resolvingSymlinksInPath().path
    if out == source || out.hasPrefix(source + "/") || source.hasPrefix(out + "/") {
      throw .configuration(
        ConfigurationError(
          location: nil, file: output.path, message: "the output must not be the input, inside it, or contain it",
          found: output.path))
    }
  }

  /// The input's `config.json` with the entries the default format declares for it (its
  /// ``QuantizationFormat/modelConfiguration(parameters:requested:)``, given the job's `quantization:` block).
  func patchedConfiguration(_ configuration: JSONValue, job: QuantizationJob, plan: QuantizationPlan) throws(ModelPatcherError)
    -> JSONValue
  {
    let resolved = try resolveFormats(job)
    let format: any QuantizationFormat
    do {
      format = try registry.format(named: resolved.format)
    } catch {
      throw .registry(error)
    }
    var result = configuration
    do {
      for (key, value) in try format.modelConfiguration(parameters: resolved.parameters, requested: job.quantization) ?? [] {
        result.setMember(key, to: value.jsonValue)
      }
    } catch {
      throw .tensor(file: job.model.path, tensor: "config.json", format: resolved.format, error: error)
    }
    return result
  }

  func write(_ text: String, to url: URL) throws(ModelPatcherError) {
    do {
      try Data(text.utf8).write(to: url)
    } catch {
      throw .io(path: url.path, operation: "write", reason: error.localizedDescription)
    }
  }
}

/// The model patcher's old name: a type named after its module hides the module in qualified lookups
/// (`ModelPatcher.QuantizationJob`), so it is ``CheckpointPatcher`` now.
@available(*, deprecated, renamed: "CheckpointPatcher")
public typealias ModelPatcher = CheckpointPatcher

/// Counts NaN and infinite values straight from the bits.
enum NonFiniteScan {
  static func count(in tensor: Tensor) -> Int {
    switch tensor.dtype {
    case .float32: count(in: tensor, as: UInt32.self, exponentMask: 0x7F80_0000)
    case .float16: count(in: tensor, as: UInt16.self, exponentMask: 0x7C00)
    case .bfloat16: count(in: tensor, as: UInt16.self, exponentMask: 0x7F80)
    case .float64: count(in: tensor, as: UInt64.self, exponentMask: 0x7FF0_0000_0000_0000)
    default: 0
    }
  }

  /// Elements whose exponent bits are all ones (NaN or ±infinity).
  private static func count<Bits: FixedWidthInteger>(in tensor: Tensor, as _: Bits.Type, exponentMask: Bits) -> Int {
    tensor.withUnsafeBytes { raw in
      var count = 0
      for index in 0..<tensor.elementCount
      where raw.loadUnaligned(fromByteOffset: index * MemoryLayout<Bits>.size, as: Bits.self) & exponentMask == exponentMask {
        count += 1
      }
      return count
    }
  }
}
