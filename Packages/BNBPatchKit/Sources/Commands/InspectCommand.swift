import ArgumentParser
import Foundation
import ModelPatcher
import QuantCore

/// `bnb-patch inspect PATH`: the tensors of a file or folder, quantized or not.
struct InspectCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect", abstract: "List the tensors of a safetensors file or model folder (quantized or not).")

  @Argument(help: "A .safetensors file, an index file, or a model folder.")
  var path: String

  @Flag(name: .long, help: "Print JSON instead of a table.")
  var json = false

  @OptionGroup var registryOptions: RegistryOptions

  struct Row: Codable {
    var name: String
    var dtype: String
    var shape: [Int]
    var format: String
    var bytes: Int
    var bitsPerParameter: Double
  }

  struct Report: Codable {
    var path: String
    var tensors: [Row]
    var totalBytes: Int
    var totalParameters: Int
    var quantizedTensors: Int
    var bitsPerParameter: Double
  }

  mutating func run() async throws {
    let patcher = CheckpointPatcher(registry: try registryOptions.make())
    let checkpoint = try patcher.loadCheckpoint(at: URL(filePath: path).standardizedFileURL)
    FaultInjection.pause(at: "inspect")
    let rows = checkpoint.items.map { item in
      Row(
        name: item.name, dtype: item.dtype.rawValue, shape: item.shape, format: item.format ?? "-", bytes: item.storedBytes,
        bitsPerParameter: item.elementCount == 0 ? 0 : Double(item.storedBytes * 8) / Double(item.elementCount))
    }
    let totalBytes = rows.reduce(0) { $0 + $1.bytes }
    let parameters = checkpoint.items.reduce(0) { $0 + $1.elementCount }
    let report = Report(
      path: path, tensors: rows, totalBytes: totalBytes, totalParameters: parameters,
      quantizedTensors: checkpoint.quantizedItems.count,
      bitsPerParameter: parameters == 0 ? 0 : Double(totalBytes * 8) / Double(parameters))
    let console = BNBPatch.context.console
    if json {
      console.write(TextFormatting.json(report))
      return
    }
    let table = rows.map { row in
      [
        TextFormatting.terminalSafe(row.name), row.dtype, "[" + row.shape.map(String.init).joined(separator: ", ") + "]",
        row.format, String(row.bytes),
        TextFormatting.decimal(row.bitsPerParameter),
      ]
    }
    console.write(
      TextFormatting.table(["name", "dtype", "shape", "format", "bytes", "bits/param"], table, rightAligned: [4, 5]))
    console.write(
      "\(rows.count) tensors (\(report.quantizedTensors) quantized), \(parameters) parameters, "
        + "\(TextFormatting.bytes(totalBytes)), \(TextFormatting.decimal(report.bitsPerParameter)) bits/param\n")
  }
}
