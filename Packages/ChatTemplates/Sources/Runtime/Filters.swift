import Foundation

/// jinja2's filters (`value | name(args)`), with transformers' `tojson`.
extension Interpreter {
  static let filterNames: Set = [
    "trim", "tojson", "length", "count", "upper", "lower", "capitalize", "title", "join", "default", "d", "first", "last",
    "list", "map", "select", "reject", "selectattr", "rejectattr", "items", "replace", "string", "int", "float", "safe",
    "indent", "round", "abs", "unique", "sort", "reverse", "wordcount", "escape", "e", "sum", "min", "max", "dictsort",
    "format",
  ]

  func applyFilter(_ name: String, to value: JinjaValue, _ arguments: JinjaCallable.Arguments) throws -> JinjaValue {
    func argument(_ index: Int, _ key: String) -> JinjaValue? { arguments.argument(index, key) }
    func flag(_ index: Int, _ key: String) -> Bool { argument(index, key)?.isTruthy ?? false }
    switch name {
    case "trim":
      let characters: String? = if case .string(let text) = argument(0, "chars") ?? .none { text } else { nil }
      return .string(PythonStrings.strip(value.pythonString, characters: characters, leading: true, trailing: true))
    case "tojson":
      return .string(try toJSON(value, arguments))
    case "length", "count":
      return .int(try length(value))
    case "upper": return .string(value.pythonString.uppercased())
    case "lower": return .string(value.pythonString.lowercased())
    case "capitalize": return .string(PythonStrings.capitalize(value.pythonString))
    case "title": return .string(jinjaTitle(value.pythonString))
    case "string", "safe": return .string(value.pythonString)
    case "escape", "e": return .string(htmlEscaped(value.pythonString))
    case "join":
      var items = try iterate(value)
      if let path = argument(1, "attribute"), !path.isUndefined { items = try items.map { try attributePath(path, of: $0) } }
      return .string(items.map(\.pythonString).joined(separator: (argument(0, "d") ?? .string("")).pythonString))
    case "default", "d":
      let fallback = argument(0, "default_value") ?? .string("")
      return value.isUndefined || (flag(1, "boolean") && !value.isTruthy) ? fallback : value
    case "first":
      return try iterate(value).first ?? .undefined(hint: "No first item, sequence was empty.")
    case "last":
      return try iterate(value).last ?? .undefined(hint: "No last item, sequence was empty.")
    case "list": return .array(try iterate(value))
    case "items":
      switch value {
      case .undefined: return .array([])
      case .dictionary(let dictionary): return .array(dictionary.pairs.map { .array([.string($0.key), $0.value]) })
      default: throw JinjaFailure("Can only get item pairs from a mapping.")
      }
    case "map": return .array(try map(value, arguments))
    case "select", "reject":
      return .array(try selectOrReject(try iterate(value), arguments, select: name == "select", attribute: false))
    case "selectattr", "rejectattr":
      return .array(try selectOrReject(try iterate(value), arguments, select: name == "selectattr", attribute: true))
    case "replace":
      guard let old = argument(0, "old"), let new = argument(1, "new") else { throw JinjaFailure("replace() needs old and new") }
      let count = argument(2, "count")?.integer ?? -1
      return .string(PythonStrings.replace(value.pythonString, old.pythonString, new.pythonString, count: count))
    case "int": return integer(value, fallback: argument(0, "default") ?? .int(0), base: argument(1, "base")?.integer ?? 10)
    case "float":
      switch value {
      case .string(let text):
        return Double(PythonStrings.strip(text, characters: nil, leading: true, trailing: true)).map { .double($0) }
          ?? (argument(0, "default") ?? .double(0))
      default: return value.number.map { .double($0) } ?? (argument(0, "default") ?? .double(0))
      }
    case "indent":
      let text = value.pythonString
      let width = argument(0, "width") ?? .int(4)
      // Every line gets the indentation: bound the result before building it.
      let unit = if case .string(let prefix) = width { prefix.utf8.count } else { max(0, width.integer ?? 4) }
      let lines = text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
      try RenderBudget.checkRepetition(unit: unit + 1, count: lines, limit: RenderBudget.maximumBytes - text.utf8.count)
      return .string(indent(text, width: width, first: flag(1, "first"), blank: flag(2, "blank")))
    case "round":
      try value.failIfUndefined()
      guard let number = value.number else { throw JinjaFailure("type \(value.typeName) doesn't define __round__ method") }
      let precision = argument(0, "precision")?.integer ?? 0
      let method = (argument(1, "method") ?? .string("common")).pythonString
      let scale = pow(10, Double(precision))
      switch method {
      case "ceil": return .double((number * scale).rounded(.up) / scale)
      case "floor": return .double((number * scale).rounded(.down) / scale)
      default:
        // Python's round(): an int stays an int; a float is rounded from its exact binary value, half to even
        // (printf's correctly rounded conversion does the same).
        if let integer = value.integer, precision >= 0 { return .int(integer) }
        if precision >= 0, precision <= 300, number.isFinite {
          return .double(Double(String(format: "%.\(precision)f", number)) ?? number)
        }
        let rounded = (number * scale).rounded(.toNearestOrEven) / scale
        return value.integer != nil ? .int(Int(rounded)) : .double(rounded)
      }
    case "abs":
      switch value {
      case .int(let number): return .int(abs(number))
      case .bool(let flag): return .int(flag ? 1 : 0)
      case .double(let number): return .double(abs(number))
      default: throw JinjaFailure("bad operand type for abs(): '\(value.typeName)'")
      }
    case "unique":
      var seen: [JinjaValue] = []
      var result: [JinjaValue] = []
      for item in try iterate(value) {
        let key = sortKey(try attributePathIfGiven(argument(1, "attribute"), of: item), caseSensitive: flag(0, "case_sensitive"))
        if !seen.contains(where: { $0.pythonEquals(key) }) {
          seen.append(key)
          result.append(item)
        }
      }
      return .array(result)
    case "sort":
      let items = try iterate(value)
      let keys = try items.map {
        sortKey(try attributePathIfGiven(argument(2, "attribute"), of: $0), caseSensitive: flag(1, "case_sensitive"))
      }
      return .array(try stableSorted(items, keys: keys, reverse: flag(0, "reverse")))
    case "dictsort":
      guard case .dictionary(let dictionary) = value else {
        if value.isUndefined { return .array([]) }
        throw JinjaFailure("'\(value.typeName)' object has no attribute 'items'")
      }
      let byValue = (argument(1, "by") ?? .string("key")).pythonString
      guard byValue == "key" || byValue == "value" else { throw JinjaFailure("You can only sort by either \"key\" or \"value\"") }
      let pairs = dictionary.pairs
      let keys = pairs.map { sortKey(byValue == "key" ? .string($0.key) : $0.value, caseSensitive: flag(0, "case_sensitive")) }
      return .array(
        try stableSorted(pairs.map { JinjaValue.array([.string($0.key), $0.value]) }, keys: keys, reverse: flag(2, "reverse")))
    case "format":
      return .string(
        try PythonStrings.percentFormat(
          value.pythonString,
          arguments.keywords.isEmpty
            ? .array(arguments.positional) : .dictionary(JinjaDictionary(arguments.keywords.map { ($0.name, $0.value) }))))
    case "reverse":
      if case .string(let text) = value { return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed()))) }
      return .array(try iterate(value).reversed())
    case "wordcount":
      var count = 0
      var inWord = false
      for scalar in value.pythonString.unicodeScalars {
        let isWord = scalar == "_" || scalar.properties.isAlphabetic || scalar.properties.numericType != nil
        if isWord, !inWord { count += 1 }
        inWord = isWord
      }
      return .int(count)
    case "sum":
      var total = argument(1, "start") ?? .int(0)
      for item in try iterate(value) {
        total = try Operators.binary("+", total, try attributePathIfGiven(argument(0, "attribute"), of: item))
      }
      return total
    case "min", "max":
      let items = try iterate(value)
      guard var best = items.first else { return .undefined(hint: "No aggregated item, sequence was empty.") }
      for item in items.dropFirst() {
        let key = sortKey(try attributePathIfGiven(argument(1, "attribute"), of: item), caseSensitive: flag(0, "case_sensitive"))
        let bestKey = sortKey(
          try attributePathIfGiven(argument(1, "attribute"), of: best), caseSensitive: flag(0, "case_sensitive"))
        guard let less = name == "min" ? key.pythonLess(bestKey) : bestKey.pythonLess(key) else {
          throw JinjaFailure("'<' not supported between instances of '\(key.typeName)' and '\(bestKey.typeName)'")
        }
        if less { best = item }
      }
      return best
    default:
      throw JinjaFailure("No filter named '\(name)'.")
    }
  }

  /// Python's `sorted(items, key=..., reverse=...)`: stable, equal keys keep their order even when reversed.
  private func stableSorted(_ items: [JinjaValue], keys: [JinjaValue], reverse: Bool) throws -> [JinjaValue] {
    var failure: JinjaFailure?
    let order = Array(items.indices).sorted { a, b in
      guard let less = keys[a].pythonLess(keys[b]), let greater = keys[b].pythonLess(keys[a]) else {
        failure = JinjaFailure("'<' not supported between instances of '\(keys[a].typeName)' and '\(keys[b].typeName)'")
        return a < b
      }
      if less == greater { return a < b }
      return reverse ? greater : less
    }
    if let failure { throw failure }
    return order.map { items[$0] }
  }

  func length(_ value: JinjaValue) throws -> Int {
    switch value {
    case .undefined: 0
    case .string(let text): text.unicodeScalars.count
    case .array(let items): items.count
    case .dictionary(let dictionary): dictionary.count
    default: throw JinjaFailure("object of type '\(value.typeName)' has no len()")
    }
  }

  private func toJSON(_ value: JinjaValue, _ arguments: JinjaCallable.Arguments) throws -> String {
    var indent: String?
    switch arguments.argument(1, "indent") ?? arguments.keyword("indent") ?? .none {
    case .int(let width):
      try RenderBudget.checkRepetition(unit: 1, count: width, limit: RenderBudget.maximumBytes)
      indent = String(repeating: " ", count: max(0, width))
    case .string(let text): indent = text
    default: indent = nil
    }
    if arguments.positional.count == 1, arguments.keyword("indent") == nil, case .int(let width) = arguments.positional[0] {
      // jinja2's own tojson takes indent first; transformers' takes ensure_ascii first, so a lone int is a truthy flag.
      _ = width
    }
    var separators: (String, String)?
    if case .array(let pair) = arguments.argument(2, "separators") ?? .none, pair.count == 2 {
      separators = (pair[0].pythonString, pair[1].pythonString)
    }
    return try value.pythonJSON(
      indent: indent, separators: separators, ensureASCII: arguments.argument(0, "ensure_ascii")?.isTruthy ?? false,
      sortKeys: arguments.argument(3, "sort_keys")?.isTruthy ?? false)
  }

  private func integer(_ value: JinjaValue, fallback: JinjaValue, base: Int) -> JinjaValue {
    switch value {
    case .int, .bool: return .int(value.integer ?? 0)
    case .double(let number): return number.isFinite ? .int(Int(number)) : fallback
    case .string(let text):
      let trimmed = PythonStrings.strip(text, characters: nil, leading: true, trailing: true).replacingOccurrences(
        of: "_", with: "")
      if let number = Int(trimmed, radix: base) { return .int(number) }
      if let number = Double(trimmed), number.isFinite, abs(number) < 9.2e18 { return .int(Int(number)) }
      return fallback
    default: return fallback
    }
  }

  private func indent(_ text: String, width: JinjaValue, first: Bool, blank: Bool) -> String {
    let indention: String =
      if case .string(let prefix) = width { prefix } else { String(repeating: " ", count: max(0, width.integer ?? 4)) }
    var lines = PythonStrings.splitLines(text + "\n")
    var result: String
    if blank {
      result = lines.joined(separator: "\n" + indention)
    } else {
      result = lines.isEmpty ? "" : lines.removeFirst()
      if !lines.isEmpty { result += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
    }
    return first ? indention + result : result
  }

  private func jinjaTitle(_ text: String) -> String {
    // jinja2 splits at runs of `-`, whitespace and opening brackets, then capitalizes each piece.
    var result = ""
    var atWordStart = true
    for scalar in text.unicodeScalars {
      let isSeparator = scalar == "-" || PythonStrings.isWhitespace(scalar) || "({[<".unicodeScalars.contains(scalar)
      let piece = String(scalar)
      result += isSeparator ? piece : atWordStart ? piece.uppercased() : piece.lowercased()
      atWordStart = isSeparator
    }
    return result
  }

  private func htmlEscaped(_ text: String) -> String {
    var result = ""
    for character in text.unicodeScalars {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&#34;"
      case "'": result += "&#39;"
      default: result.unicodeScalars.append(character)
      }
    }
    return result
  }

  private func sortKey(_ value: JinjaValue, caseSensitive: Bool) -> JinjaValue {
    if !caseSensitive, case .string(let text) = value { return .string(text.lowercased()) }
    return value
  }

  /// jinja2's attribute getter: `"a.b.0"` walks dictionary keys and list indices.
  func attributePath(_ path: JinjaValue, of value: JinjaValue) throws -> JinjaValue {
    if let index = path.integer { return try item(.int(index), of: value) }
    var current = value
    for part in path.pythonString.split(separator: ".", omittingEmptySubsequences: false) {
      current = try item(Int(part).map { .int($0) } ?? .string(String(part)), of: current)
    }
    return current
  }

  private func attributePathIfGiven(_ path: JinjaValue?, of value: JinjaValue) throws -> JinjaValue {
    guard let path, !path.isUndefined, !(path.pythonString.isEmpty && path.integer == nil) else { return value }
    if case .none = path { return value }
    return try attributePath(path, of: value)
  }

  private func map(_ value: JinjaValue, _ arguments: JinjaCallable.Arguments) throws -> [JinjaValue] {
    let items = try iterate(value)
    if let path = arguments.keyword("attribute") {
      let fallback = arguments.keyword("default")
      return try items.map { item in
        let found = try attributePath(path, of: item)
        if found.isUndefined, let fallback { return fallback }
        return found
      }
    }
    guard case .string(let filter) = arguments.positional.first ?? .none else {
      throw JinjaFailure("map requires a filter argument")
    }
    let rest = JinjaCallable.Arguments(positional: Array(arguments.positional.dropFirst()), keywords: arguments.keywords)
    return try items.map { try applyFilter(filter, to: $0, rest) }
  }

  private func selectOrReject(
    _ items: [JinjaValue], _ arguments: JinjaCallable.Arguments, select: Bool, attribute: Bool
  ) throws -> [JinjaValue] {
    var positional = arguments.positional[...]
    let path = attribute ? positional.popFirst() : nil
    let test = positional.popFirst()
    let rest = JinjaCallable.Arguments(positional: Array(positional), keywords: arguments.keywords)
    return try items.filter { item in
      let subject = try path.map { try attributePath($0, of: item) } ?? item
      let passed: Bool
      if let test {
        passed = try applyTest(test.pythonString, to: subject, rest)
      } else {
        passed = subject.isTruthy
      }
      return passed == select
    }
  }
}
