/// A `decoder` of `tokenizer.json`: turns tokens back into text.
indirect enum Decoder: Sendable {
  case byteLevel
  case byteFallback
  case fuse
  case strip(content: Unicode.Scalar, start: Int, stop: Int)
  case replace(PatternMatcher, String)
  case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
  case bpe(suffix: String)
  case sequence([Decoder])

  /// Builds a decoder from its JSON object.
  static func make(_ node: JSONNode) throws(TokenizerError) -> Decoder {
    let type = try node.typeName()
    switch type {
    case "ByteLevel": return .byteLevel
    case "ByteFallback": return .byteFallback
    case "Fuse": return .fuse
    case "Strip":
      let content = try node.required("content").string()
      guard content.unicodeScalars.count == 1, let scalar = content.unicodeScalars.first else {
        throw try node.required("content").mismatch("one character")
      }
      return .strip(content: scalar, start: try node.int("start") ?? 0, stop: try node.int("stop") ?? 0)
    case "Replace":
      return .replace(try PatternMatcher.make(try node.required("pattern")), try node.required("content").string())
    case "Metaspace":
      let replacement = try node.string("replacement") ?? "\u{2581}"
      guard replacement.unicodeScalars.count == 1, let scalar = replacement.unicodeScalars.first else {
        throw try node.required("replacement").mismatch("one character")
      }
      return .metaspace(replacement: scalar, prependScheme: try PrependScheme.make(node))
    case "BPEDecoder": return .bpe(suffix: try node.string("suffix") ?? "</w>")
    case "Sequence":
      var decoders: [Decoder] = []
      for child in try node.required("decoders").array() { decoders.append(try make(child)) }
      return .sequence(decoders)
    default:
      throw .unsupported(file: node.file, component: node.path.isEmpty ? "decoder" : node.path, type: type)
    }
  }

  /// The text of the tokens.
  func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }

  /// One step of a decoder chain: tokens in, tokens out (`Decoder::decode_chain`).
  func decodeChain(_ tokens: [String]) -> [String] {
    switch self {
    case .byteLevel:
      var bytes: [UInt8] = []
      for token in tokens where !ByteLevelAlphabet.decode(token, into: &bytes) {
        bytes.append(contentsOf: token.utf8)
      }
      return [String(decoding: bytes, as: UTF8.self)]
    case .byteFallback:
      var result: [String] = []
      var pending: [UInt8] = []
      func flush() {
        guard !pending.isEmpty else { return }
        if let text = String(validating: pending, as: UTF8.self) {
          result.append(text)
        } else {
          result.append(String(repeating: "\u{FFFD}", count: pending.count))
        }
        pending.removeAll()
      }
      for token in tokens {
        if let byte = Self.fallbackByte(token) {
          pending.append(byte)
        } else {
          flush()
          result.append(token)
        }
      }
      flush()
      return result
    case .fuse:
      return [tokens.joined()]
    case .strip(let content, let start, let stop):
      return tokens.map { token in
        let scalars = Array(token.unicodeScalars)
        var from = 0
        while from < start && from < scalars.count && scalars[from] == content { from += 1 }
        var to = scalars.count
        while scalars.count - to < stop && to > from && scalars[to - 1] == content { to -= 1 }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[from..<to])
        return String(view)
      }
    case .replace(let pattern, let content):
      return tokens.map { Normalizer.replace(pattern, content).normalize($0) }
    case .metaspace(let replacement, let scheme):
      return tokens.enumerated().map { index, token in
        var view = String.UnicodeScalarView()
        for scalar in token.unicodeScalars {
          if scalar == replacement {
            if index == 0 && scheme != .never { continue }
            view.append(" ")
          } else {
            view.append(scalar)
          }
        }
        return String(view)
      }
    case .bpe(let suffix):
      return tokens.enumerated().map { index, token in
        token.replacingLiteral(suffix, with: index == tokens.count - 1 ? "" : " ")
      }
    case .sequence(let decoders):
      return decoders.reduce(tokens) { $1.decodeChain($0) }
    }
  }

  /// Whether a `ByteFallback` step is part of the decoder.
  var containsByteFallback: Bool {
    switch self {
    case .byteFallback: true
    case .sequence(let decoders): decoders.contains { $0.containsByteFallback }
    default: false
    }
  }

  /// The byte of a `<0xNN>` token.
  static func fallbackByte(_ token: String) -> UInt8? {
    let bytes = Array(token.utf8)
    guard bytes.count == 6, bytes[0] == UInt8(ascii: "<"), bytes[1] == UInt8(ascii: "0"), bytes[2] == UInt8(ascii: "x"),
      bytes[5] == UInt8(ascii: ">")
    else { return nil }
    return UInt8(String(decoding: bytes[3...4], as: UTF8.self), radix: 16)
  }
}

extension String {
  /// The string with every occurrence of `literal` (compared as bytes) replaced.
  func replacingLiteral(_ literal: String, with replacement: String) -> String {
    Normalizer.replace(.literal(literal), replacement).normalize(self)
  }
}
