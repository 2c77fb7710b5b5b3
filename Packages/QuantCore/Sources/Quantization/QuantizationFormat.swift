/// A tensor with the name it has in a checkpoint.
public struct NamedTensor: Sendable {
  /// The checkpoint key (`model.layers.0.self_attn.q_proj.weight.absmax`).
  public var name: String
  /// The tensor.
  public var tensor: Tensor

  /// Pairs a name with a tensor.
  ///
  /// - Parameters:
  ///   - name: The checkpoint key.
  ///   - tensor: The tensor.
  public init(_ name: String, _ tensor: Tensor) {
    self.name = name
    self.tensor = tensor
  }
}

/// Somewhere tensors can be looked up by checkpoint name (a safetensors file, a sharded folder, a dictionary).
public protocol TensorSource: Sendable {
  /// Every tensor name available.
  var tensorNames: [String] { get }
  /// The tensor called `name`, or `nil` when absent.
  ///
  /// - Parameter name: The checkpoint key.
  /// - Throws: `QuantError` when the tensor exists but cannot be read.
  func tensor(named name: String) throws(QuantError) -> Tensor?
}

/// A quantization format: how values are encoded, decoded and stored in checkpoints.
///
/// Formats are registered in a ``QuantRegistry`` by name. Built-in formats register through this same
/// protocol; a third-party format conforms to it in its own package and needs no change to the core.
public protocol QuantizationFormat: Sendable {
  /// The registry name (`"nf4"`). Lowercase, no spaces.
  var name: String { get }
  /// One line describing the format.
  var summary: String { get }
  /// The parameters the format accepts, with defaults.
  var parameterSpecs: [FormatParameterSpec] { get }
  /// Whether this format's checkpoints can be read by transformers + bitsandbytes as is.
  var isBitsAndBytesCompatible: Bool { get }

  /// Quantizes a floating-point tensor.
  ///
  /// - Parameters:
  ///   - tensor: A float32, float16 or bfloat16 tensor (formats may accept more).
  ///   - parameters: Parameter values; unset ones take the defaults of `parameterSpecs`.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for unsupported input or parameters.
  func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor

  /// Quantizes like ``quantize(_:parameters:)``, letting `backend` run the encoding where it has a
  /// faster, bit-identical encoder (the result is the same bytes either way).
  ///
  /// - Parameters:
  ///   - tensor: The tensor to quantize.
  ///   - parameters: Parameter values.
  ///   - backend: The compute backend to encode with.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for unsupported input or parameters.
  func quantize(_ tensor: Tensor, parameters: FormatParameters, backend: any KernelBackend) throws(QuantError)
    -> QuantizedTensor

  /// Decodes a quantized tensor to a floating-point dtype with one rounding from float32.
  ///
  /// - Parameters:
  ///   - tensor: A tensor this format produced or loaded.
  ///   - dtype: The output dtype.
  /// - Returns: A tensor with the logical shape.
  /// - Throws: `QuantError` for inconsistent state or an unsupported dtype.
  func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor

  /// The checkpoint tensors that store `tensor` under `weightName` (for example `weight`,
  /// `weight.absmax`, … as bitsandbytes names them).
  ///
  /// - Parameters:
  ///   - tensor: The quantized tensor.
  ///   - weightName: The original tensor's key (`model.layers.0.mlp.up_proj.weight`).
  /// - Returns: The tensors to write, in a stable order.
  /// - Throws: `QuantError` when `tensor` was not made by this format.
  func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor]

  /// Reads a tensor stored by this format under `weightName`, or returns `nil` when `source` holds no
  /// such tensor in this format.
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where to look up the component tensors.
  /// - Returns: The quantized tensor, or `nil`.
  /// - Throws: `QuantError` when the tensors exist but are inconsistent.
  func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor?

  /// Names of the extra tensors this format stores beside `weightName` (for recognising checkpoints).
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: The full keys of the companion tensors.
  func companionTensorNames(for weightName: String) -> [String]

  /// Entries this format adds to a model's `config.json` when a whole model is quantized with it
  /// (for example a `"quantization"` block another library reads), or `nil` for none.
  ///
  /// bitsandbytes-compatible formats return `nil`: the model patcher writes transformers'
  /// `quantization_config` for them.
  ///
  /// - Parameter parameters: The parameters the model was quantized with.
  /// - Returns: Top-level `config.json` keys and values, or `nil`.
  func modelConfiguration(parameters: FormatParameters) throws(QuantError) -> [(key: String, value: ConfigValue)]?

  /// Entries this format adds to a model's `config.json` when a whole model is quantized with it, given
  /// the transformers `quantization_config` the job asked for: this is where a format says what it means
  /// for transformers (NF4, FP4 and INT8 complete `requested` into the bitsandbytes block; FP8 writes its
  /// fine-grained block; MLX's affine format writes MLX's `quantization`). The model patcher writes what
  /// this returns and knows no format by name.
  ///
  /// The default ignores `requested` and returns ``modelConfiguration(parameters:)``.
  ///
  /// - Parameters:
  ///   - parameters: The parameters the model was quantized with (defaults applied).
  ///   - requested: The job's `quantization:` block, if it has one.
  /// - Returns: Top-level `config.json` keys and values, or `nil` for none.
  /// - Throws: `QuantError` for parameters the target library cannot express.
  func modelConfiguration(parameters: FormatParameters, requested: BitsAndBytesConfig?) throws(QuantError)
    -> [(key: String, value: ConfigValue)]?

  /// Whether a tensor called `tensorName` can only come from a checkpoint this format wrote (bitsandbytes'
  /// `<weight>.SCB`, `<weight>.quant_state.bitsandbytes__nf4`), so that quantizing such a checkpoint again
  /// is refused with a clear message. Formats without an unmistakable companion return `false` (the default).
  ///
  /// - Parameter tensorName: A checkpoint key.
  /// - Returns: Whether the key marks a checkpoint already quantized with this format.
  func marksQuantizedCheckpoint(tensorName: String) -> Bool
}

// MARK: - Default implementations

extension QuantizationFormat {
  /// Formats are not bitsandbytes-compatible unless they say so.
  public var isBitsAndBytesCompatible: Bool { false }

  /// Ignores the backend: the format's own encoder runs.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters, backend: any KernelBackend) throws(QuantError)
    -> QuantizedTensor
  {
    try quantize(tensor, parameters: parameters)
  }

  /// No `config.json` entries.
  public func modelConfiguration(parameters: FormatParameters) throws(QuantError) -> [(key: String, value: ConfigValue)]? {
    nil
  }

  /// The entries of ``modelConfiguration(parameters:)``; `requested` is not consulted.
  public func modelConfiguration(parameters: FormatParameters, requested: BitsAndBytesConfig?) throws(QuantError)
    -> [(key: String, value: ConfigValue)]?
  {
    try modelConfiguration(parameters: parameters)
  }

  /// No tensor marks this format's checkpoints.
  public func marksQuantizedCheckpoint(tensorName: String) -> Bool { false }

  /// Decodes through the layout's reference path, then rounds once to `dtype`.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try Tensor(converting: tensor.layout.dequantizedFloats(), to: dtype, shape: tensor.shape)
  }

  /// The default parameters, as declared.
  public var defaultParameters: FormatParameters {
    FormatParameters(Dictionary(uniqueKeysWithValues: parameterSpecs.map { ($0.name, $0.defaultValue) }))
  }

  /// The declaration of parameter `name`, if any.
  ///
  /// - Parameter name: A parameter name.
  public func parameterSpec(named name: String) -> FormatParameterSpec? {
    parameterSpecs.first { $0.name == name }
  }
}
