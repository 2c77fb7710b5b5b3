/// GPT-2's reversible map between bytes and printable characters (`bytes_to_unicode`).
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 and up, in byte order.
enum ByteLevelAlphabet {
  /// The character for each byte, as a one-character string.
  static let characters: [String] = {
    var result = [String](repeating: "", count: 256)
    var next: UInt32 = 256
    for byte in 0..<256 {
      let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
      let scalar: UInt32
      if printable {
        scalar = UInt32(byte)
      } else {
        scalar = next
        next += 1
      }
      result[byte] = String(Character(Unicode.Scalar(scalar) ?? " "))
    }
    return result
  }()

  /// The byte for each mapped scalar value (index = scalar value, up to U+0143), or -1.
  static let bytesByScalar: [Int16] = {
    var result = [Int16](repeating: -1, count: 324)
    for (byte, character) in characters.enumerated() {
      if let scalar = character.unicodeScalars.first { result[Int(scalar.value)] = Int16(byte) }
    }
    return result
  }()

  /// Maps the UTF-8 bytes of `text` to the alphabet.
  static func encode(_ text: Substring) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count * 2)
    for byte in text.utf8 { result += characters[Int(byte)] }
    return result
  }

  /// Maps a token back to bytes; nil when a character is not in the alphabet.
  static func decode(_ token: String, into bytes: inout [UInt8]) -> Bool {
    let start = bytes.count
    for scalar in token.unicodeScalars {
      let value = Int(scalar.value)
      guard value < bytesByScalar.count, bytesByScalar[value] >= 0 else {
        bytes.removeSubrange(start...)
        return false
      }
      bytes.append(UInt8(bytesByScalar[value]))
    }
    return true
  }
}
