public import ModelPatcher

/// The exit statuses of `bnb-patch`, one per class of error (documented in `Docs/quant-yaml.md`).
public enum ExitStatus: Int32, Sendable, CaseIterable {
  /// Everything worked.
  case success = 0
  /// An unexpected failure.
  case failure = 1
  /// `verify` found a layer beyond its thresholds (or a plain tensor that changed).
  case verificationFailed = 2
  /// The command line is wrong (unknown flag, missing argument).
  case usage = 64
  /// The job file, the registry YAML or an option value is wrong.
  case configuration = 65
  /// The input model or a tensor in it is unusable (corrupt, truncated, lying header, unsupported dtype, …).
  case invalidInput = 66
  /// A weight holds NaN or infinite values and the job refuses them.
  case nonFiniteWeights = 67
  /// The output exists and `--force` was not given.
  case outputExists = 73
  /// Reading or writing failed (permissions, disk full, …).
  case io = 74
  /// Interrupted (Ctrl-C); nothing was written.
  case cancelled = 130

  /// The status for a model patcher error.
  ///
  /// - Parameter error: The error.
  public init(_ error: ModelPatcherError) {
    switch error.category {
    case .configuration: self = .configuration
    case .invalidInput: self = .invalidInput
    case .nonFiniteWeights: self = .nonFiniteWeights
    case .outputExists: self = .outputExists
    case .io: self = .io
    case .verificationFailed: self = .verificationFailed
    case .cancelled: self = .cancelled
    }
  }
}
