/// A `post_processor` of `tokenizer.json`: adds the special tokens around an encoded sequence.
indirect enum PostProcessor: Sendable {
  /// `TemplateProcessing`'s `single` template, each item either special-token ids or the sequence.
  case template([TemplateItem])
  /// Processors that change offsets only (`ByteLevel`).
  case none
  case sequence([PostProcessor])

  enum TemplateItem: Sendable {
    case sequence
    case special([Int])
  }

  /// Builds a post-processor from its JSON object.
  static func make(_ node: JSONNode, vocabulary: (String) -> Int?) throws(TokenizerError) -> PostProcessor {
    let type = try node.typeName()
    switch type {
    case "TemplateProcessing":
      var specials: [String: [Int]] = [:]
      if let table = node["special_tokens"] {
        for (name, entry) in try table.members() {
          specials[name] = try entry.required("ids").array().map { (id) throws(TokenizerError) in try id.int() }
        }
      }
      var items: [TemplateItem] = []
      for item in try node.required("single").array() {
        if item["Sequence"] != nil {
          items.append(.sequence)
        } else if let special = item["SpecialToken"] {
          let name = try special.required("id").string()
          guard let ids = specials[name] else {
            throw TokenizerError.unknownToken(file: node.file, key: "\(node.path).special_tokens", token: name)
          }
          items.append(.special(ids))
        } else {
          throw item.mismatch("a `Sequence` or `SpecialToken` item")
        }
      }
      return .template(items)
    case "ByteLevel": return .none
    case "RobertaProcessing", "BertProcessing":
      let cls = try node.required("cls").array()
      let sep = try node.required("sep").array()
      guard cls.count == 2, sep.count == 2 else { throw node.mismatch("`cls` and `sep` as [token, id]") }
      return .template([.special([try cls[1].int()]), .sequence, .special([try sep[1].int()])])
    case "Sequence":
      var processors: [PostProcessor] = []
      for child in try node.required("processors").array() { processors.append(try make(child, vocabulary: vocabulary)) }
      return .sequence(processors)
    default:
      throw .unsupported(file: node.file, component: node.path.isEmpty ? "post_processor" : node.path, type: type)
    }
  }

  /// The ids with the special tokens added.
  func process(_ ids: [Int]) -> [Int] {
    switch self {
    case .none: return ids
    case .sequence(let processors): return processors.reduce(ids) { $1.process($0) }
    case .template(let items):
      var result: [Int] = []
      result.reserveCapacity(ids.count + items.count)
      for item in items {
        switch item {
        case .sequence: result += ids
        case .special(let special): result += special
        }
      }
      return result
    }
  }
}
