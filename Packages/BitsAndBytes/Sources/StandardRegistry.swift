import CPUKernels
import DoubleQuant
import FormatFP4
import FormatFP8
import FormatINT8
import FormatNF4
public import Foundation
import MetalKernels
public import ModelPatcher
public import QuantCore

/// Builds the registry `bnb-patch` and the model patcher use: the built-in formats and backends,
/// the bundled `registry.yaml`, then an optional user configuration.
///
/// Formats are only ever looked up through the registry, so a configuration can disable, alias or
/// re-default anything, and a third-party plugin is on equal footing with the built-ins.
public enum StandardRegistry {
  /// The plugins built into this package, in installation order.
  public static var builtinPlugins: [any QuantPlugin] {
    [
      NF4Plugin(), FP4Plugin(), DoubleQuantPlugin(), Int8Plugin(), FP8Plugin(), MetalBackendPlugin(encoder: CPUBackend()),
      CPUBackendPlugin(),
    ]
  }

  /// The bundled default configuration (`Resources/registry.yaml`).
  public static var bundledConfigurationURL: URL? {
    Bundle.module.url(forResource: "registry", withExtension: "yaml")
  }

  /// Creates a registry with the built-in plugins, `extraPlugins`, the reference backend, the bundled
  /// configuration and, last, `configuration` files (later ones win).
  ///
  /// - Parameters:
  ///   - extraPlugins: Third-party plugins, installed after the built-ins (before any YAML, so YAML can name them).
  ///   - configurations: Registry YAML files to apply after the bundled one.
  ///   - inline: A registry section parsed elsewhere (for example from a job file), applied last.
  /// - Returns: The configured registry.
  /// - Throws: `ModelPatcherError.registry` for name clashes, `.configuration` for bad YAML.
  public static func make(
    extraPlugins: [any QuantPlugin] = [], configurations: [URL] = [], inline: RegistryConfiguration? = nil
  ) throws(ModelPatcherError) -> QuantRegistry {
    let registry = QuantRegistry()
    do {
      for plugin in builtinPlugins + extraPlugins { try registry.install(plugin) }
      if !registry.backends.contains(where: { $0.backend.name == "reference" }) { try registry.register(ReferenceBackend()) }
    } catch {
      throw .registry(error)
    }
    do {
      if let bundled = bundledConfigurationURL { try registry.apply(RegistryConfiguration(contentsOf: bundled)) }
      for url in configurations { try registry.apply(RegistryConfiguration(contentsOf: url)) }
      if let inline { try registry.apply(inline) }
    } catch {
      throw .configuration(error)
    }
    return registry
  }

  /// The backend the functional API uses when given none: the first available backend of the built-in
  /// plugins in ``BackendPreference/defaultAutomaticOrder`` (the CPU kernels: on Apple platforms `cpu` precedes
  /// `metal` until the Metal backend has been run on a GPU, Docs/metal.md).
  public static let preferredBackend: any KernelBackend = {
    let registry = QuantRegistry()
    for plugin in builtinPlugins { try? registry.install(plugin) }
    return (try? registry.preferredBackend()) ?? ReferenceBackend()
  }()
}
