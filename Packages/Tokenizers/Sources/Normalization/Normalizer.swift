import Foundation

/// A `normalizer` of `tokenizer.json`: rewrites the text before it is split.
indirect enum Normalizer: Sendable {
  case nfc, nfd, nfkc, nfkd
  case lowercase
  case stripAccents
  case strip(left: Bool, right: Bool)
  case prepend(String)
  case replace(PatternMatcher, String)
  case sequence([Normalizer])

  /// Builds a normalizer from its JSON object.
  static func make(_ node: JSONNode) throws(TokenizerError) -> Normalizer {
    let type = try node.typeName()
    switch type {
    case "NFC": return .nfc
    case "NFD": return .nfd
    case "NFKC": return .nfkc
    case "NFKD": return .nfkd
    case "Lowercase": return .lowercase
    case "StripAccents": return .stripAccents
    case "Strip": return .strip(left: try node.bool("strip_left") ?? true, right: try node.bool("strip_right") ?? true)
    case "Prepend": return .prepend(try node.required("prepend").string())
    case "Replace":
      return .replace(try PatternMatcher.make(try node.required("pattern")), try node.required("content").string())
    case "Sequence":
      var normalizers: [Normalizer] = []
      for child in try node.required("normalizers").array() { normalizers.append(try make(child)) }
      return .sequence(normalizers)
    default:
      throw .unsupported(file: node.file, component: node.path.isEmpty ? "normalizer" : node.path, type: type)
    }
  }

  /// The normalized text.
  func normalize(_ text: String) -> String {
    switch self {
    case .nfc: return text.precomposedStringWithCanonicalMapping
    case .nfd: return text.decomposedStringWithCanonicalMapping
    case .nfkc: return text.precomposedStringWithCompatibilityMapping
    case .nfkd: return text.decomposedStringWithCompatibilityMapping
    case .lowercase:
      var result = ""
      result.reserveCapacity(text.utf8.count)
      for scalar in text.unicodeScalars { result += scalar.properties.lowercaseMapping }
      return result
    case .stripAccents:
      var scalars = String.UnicodeScalarView()
      for scalar in text.unicodeScalars where scalar.properties.generalCategory != .nonspacingMark {
        scalars.append(scalar)
      }
      return String(scalars)
    case .strip(let left, let right):
      let scalars = Array(text.unicodeScalars)
      var start = 0
      var end = scalars.count
      if left { while start < end && scalars[start].properties.isWhitespace { start += 1 } }
      if right { while end > start && scalars[end - 1].properties.isWhitespace { end -= 1 } }
      var view = String.UnicodeScalarView()
      view.append(contentsOf: scalars[start..<end])
      return String(view)
    case .prepend(let prefix):
      return text.isEmpty ? text : prefix + text
    case .replace(let pattern, let content):
      let matches = pattern.matches(in: text[...])
      if matches.isEmpty { return text }
      var result = ""
      var previous = text.startIndex
      for match in matches {
        result += text[previous..<match.lowerBound]
        result += content
        previous = match.upperBound
      }
      result += text[previous...]
      return result
    case .sequence(let normalizers):
      return normalizers.reduce(text) { $1.normalize($0) }
    }
  }
}
