import Foundation
package import QuantCore

extension BitsAndBytesConfig {
  /// Reads a `quantization_config` object from `config.json`.
  ///
  /// - Parameters:
  ///   - json: The object.
  ///   - file: The file, for messages.
  /// - Returns: The configuration, or `nil` when `quant_method` is not `bitsandbytes`.
  /// - Throws: `ModelPatcherError.invalidInput` for mistyped fields.
  package static func from(json: JSONValue, file: String) throws(ModelPatcherError) -> BitsAndBytesConfig? {
    guard json.members != nil else {
      throw .invalidInput(file: file, tensor: nil, message: "quantization_config must be an object")
    }
    if let method = json["quant_method"]?.stringValue, method != "bitsandbytes" { return nil }
    do {
      let data = Data(json.text(style: .compact).utf8)
      return try JSONDecoder().decode(BitsAndBytesConfig.self, from: data)
    } catch {
      throw .invalidInput(file: file, tensor: nil, message: "invalid quantization_config: \(error)")
    }
  }

}
