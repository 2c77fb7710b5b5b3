import ArgumentParser
import Foundation
import ModelPatcher
import QuantCore

/// `bnb-patch formats`: what the registry holds.
struct FormatsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "formats", abstract: "List the registry's formats and backends, and which are available here.")

  @Flag(name: .long, help: "Print JSON instead of tables.")
  var json = false

  @OptionGroup var registryOptions: RegistryOptions

  struct FormatRow: Codable {
    var name: String
    var aliases: [String]
    var enabled: Bool
    var bitsandbytesCompatible: Bool
    var configKeys: [String]
    var plugin: String?
    var defaults: [String: String]
    var summary: String
  }

  struct BackendRow: Codable {
    var name: String
    var enabled: Bool
    var available: Bool
    var plugin: String?
    /// Why the backend is unavailable, when it says (a shader compiler log, a missing GPU feature).
    var unavailableReason: String?
  }

  struct Report: Codable {
    var formats: [FormatRow]
    var backends: [BackendRow]
    var preferredBackend: String?
  }

  mutating func run() async throws {
    let registry = try registryOptions.make()
    let formats = registry.formats.map { entry in
      let defaults = entry.configuredDefaults.merged(over: entry.format.defaultParameters)
      return FormatRow(
        name: entry.format.name, aliases: entry.aliases, enabled: entry.isEnabled,
        bitsandbytesCompatible: entry.format.isBitsAndBytesCompatible,
        configKeys: ((try? entry.format.modelConfiguration(parameters: defaults, requested: nil)) ?? nil)?.map(\.key) ?? [],
        plugin: entry.plugin,
        defaults: defaults.values.mapValues(\.description), summary: entry.format.summary)
    }
    let backends = registry.backends.map {
      BackendRow(
        name: $0.backend.name, enabled: $0.isEnabled, available: $0.backend.isAvailable, plugin: $0.plugin,
        unavailableReason: $0.backend.isAvailable ? nil : $0.backend.unavailableReason)
    }
    let report = Report(formats: formats, backends: backends, preferredBackend: try? registry.preferredBackend().name)
    let console = BNBPatch.context.console
    if json {
      console.write(TextFormatting.json(report))
      return
    }
    let formatRows = formats.map { row in
      [
        row.name, row.aliases.joined(separator: ", "), row.enabled ? "yes" : "no", row.bitsandbytesCompatible ? "yes" : "no",
        row.configKeys.isEmpty ? "-" : row.configKeys.joined(separator: ", "),
        row.defaults.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "), row.summary,
      ]
    }
    console.write(
      TextFormatting.table(
        ["format", "aliases", "enabled", "bitsandbytes", "config.json", "defaults", "summary"], formatRows, rightAligned: []))
    console.write(
      "bitsandbytes: checkpoints transformers + bitsandbytes load as they are; config.json: what the format writes there "
        + "(quantization_config is what transformers reads: fp8_e4m3 loads as fine-grained FP8)\n")
    console.write("\n")
    let backendRows = backends.map { row in
      [
        row.name, row.enabled ? "yes" : "no", row.available ? "yes" : "no",
        row.name == report.preferredBackend ? "preferred" : "",
      ]
    }
    console.write(TextFormatting.table(["backend", "enabled", "available", "auto"], backendRows, rightAligned: []))
    for row in backends {
      if let reason = row.unavailableReason { console.write("\(row.name) is unavailable: \(reason)\n") }
    }
  }
}
