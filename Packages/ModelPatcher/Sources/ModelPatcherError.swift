public import QuantCore
public import SafeTensors

/// Everything that can stop a model patcher operation, grouped into classes a caller (or the
/// `bnb-patch` exit status) can act on.
public enum ModelPatcherError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The job file, the registry YAML or an option is wrong (with `file:line:column` when known).
  case configuration(ConfigurationError)
  /// A format or backend name is unknown, disabled or unavailable.
  case registry(RegistryError)
  /// The input is unusable: missing, not a model, corrupt safetensors, already quantized, …
  case invalidInput(file: String, tensor: String?, message: String)
  /// A safetensors file is corrupt, truncated or inconsistent, or cannot be read or written.
  case safeTensors(SafeTensorsError)
  /// A tensor cannot be quantized or decoded by its format (dtype, shape, state).
  case tensor(file: String, tensor: String, format: String, error: QuantError)
  /// A weight holds NaN or infinite values and the job refuses them.
  case nonFiniteWeights(file: String, tensor: String, count: Int)
  /// The destination exists and overwriting was not allowed.
  case outputExists(path: String)
  /// Reading, writing, copying or renaming failed.
  case io(path: String, operation: String, reason: String)
  /// A verification threshold was exceeded.
  case verificationFailed(String)
  /// The operation was cancelled (for example by Ctrl-C); nothing was written.
  case cancelled

  /// The class of the error, which `bnb-patch` maps to its exit status.
  public var category: Category {
    switch self {
    case .configuration, .registry: .configuration
    case .invalidInput, .tensor: .invalidInput
    case .safeTensors(let error): error.isIOFailure ? .io : .invalidInput
    case .nonFiniteWeights: .nonFiniteWeights
    case .outputExists: .outputExists
    case .io: .io
    case .verificationFailed: .verificationFailed
    case .cancelled: .cancelled
    }
  }

  /// The classes of errors.
  public enum Category: String, Sendable, CaseIterable {
    /// Bad job file, registry YAML or option.
    case configuration
    /// Bad input model or tensor.
    case invalidInput
    /// NaN or infinite weights refused.
    case nonFiniteWeights
    /// The destination exists.
    case outputExists
    /// An operating-system failure.
    case io
    /// Verification thresholds exceeded.
    case verificationFailed
    /// Interrupted.
    case cancelled
  }

  /// A one-line message naming the file, tensor or YAML position involved.
  public var description: String {
    switch self {
    case .configuration(let error): error.description
    case .registry(let error): error.description
    case .invalidInput(let file, let tensor, let message):
      tensor.map { "\(file): tensor '\($0)': \(message)" } ?? "\(file): \(message)"
    case .safeTensors(let error): error.description
    case .tensor(let file, let tensor, let format, let error): "\(file): tensor '\(tensor)': \(format): \(error)"
    case .nonFiniteWeights(let file, let tensor, let count):
      "\(file): tensor '\(tensor)' holds \(count) NaN or infinite value\(count == 1 ? "" : "s"); "
        + "fix the weights, keep the tensor with a 'format: none' rule, or set 'non_finite: warn'"
    case .outputExists(let path):
      "\(path) already exists; choose another output, or pass --force (overwrite: true in the job) to replace it"
    case .io(let path, let operation, let reason): "\(path): cannot \(operation): \(reason)"
    case .verificationFailed(let message): "verification failed: \(message)"
    case .cancelled: "cancelled; no output was written"
    }
  }
}
