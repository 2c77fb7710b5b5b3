/// The Python methods a template may call on strings, dictionaries and lists (`message.content.strip()`).
///
/// Methods that change a value (`list.append`, `dict.update`) are refused, as transformers'
/// `ImmutableSandboxedEnvironment` refuses them.
enum Methods {
  private static let unsafeList: Set = ["append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"]
  private static let unsafeDictionary: Set = ["clear", "pop", "popitem", "setdefault", "update"]

  /// The bound method `name` of `value`, or `nil` when it has none.
  static func method(_ name: String, of value: JinjaValue) throws -> JinjaValue? {
    switch value {
    case .string(let text): return stringMethod(name, text)
    case .dictionary(let dictionary):
      if unsafeDictionary.contains(name) { return unsafe(name, "dict") }
      return dictionaryMethod(name, dictionary)
    case .array(let items):
      if unsafeList.contains(name) { return unsafe(name, "list") }
      return listMethod(name, items)
    default: return nil
    }
  }

  private static func unsafe(_ name: String, _ type: String) -> JinjaValue {
    .undefined(hint: "access to attribute '\(name)' of '\(type)' object is unsafe.")
  }

  private static func bound(_ name: String, _ body: @escaping @Sendable (JinjaCallable.Arguments) throws -> JinjaValue)
    -> JinjaValue
  {
    .callable(JinjaCallable(name: name, body: body))
  }

  private static func string(_ arguments: JinjaCallable.Arguments, _ index: Int, _ name: String) throws -> String? {
    guard let value = arguments.argument(index, name) else { return nil }
    if case .none = value { return nil }
    guard case .string(let text) = value else {
      throw JinjaFailure("expected a string argument '\(name)', got \(value.typeName)")
    }
    return text
  }

  private static func affixes(_ arguments: JinjaCallable.Arguments) throws -> [String] {
    switch arguments.positional.first {
    case .string(let text): return [text]
    case .array(let items):
      return try items.map { item in
        guard case .string(let text) = item else { throw JinjaFailure("tuple for startswith must only contain str") }
        return text
      }
    default: throw JinjaFailure("startswith first arg must be str or a tuple of str")
    }
  }

  private static func stringMethod(_ name: String, _ text: String) -> JinjaValue? {
    switch name {
    case "strip", "lstrip", "rstrip":
      return bound(name) { arguments in
        .string(
          PythonStrings.strip(
            text, characters: try string(arguments, 0, "chars"), leading: name != "rstrip", trailing: name != "lstrip"))
      }
    case "split":
      return bound(name) { arguments in
        let limit = arguments.argument(1, "maxsplit")?.integer ?? -1
        return .array(
          try PythonStrings.split(text, separator: try string(arguments, 0, "sep"), maxSplit: limit).map { .string($0) })
      }
    case "splitlines": return bound(name) { _ in .array(PythonStrings.splitLines(text).map { .string($0) }) }
    case "startswith":
      return bound(name) { arguments in .bool(try affixes(arguments).contains { text.hasPrefix($0) || $0.isEmpty }) }
    case "endswith":
      return bound(name) { arguments in .bool(try affixes(arguments).contains { text.hasSuffix($0) || $0.isEmpty }) }
    case "lower": return bound(name) { _ in .string(text.lowercased()) }
    case "upper": return bound(name) { _ in .string(text.uppercased()) }
    case "title": return bound(name) { _ in .string(PythonStrings.title(text)) }
    case "capitalize": return bound(name) { _ in .string(PythonStrings.capitalize(text)) }
    case "replace":
      return bound(name) { arguments in
        guard let old = try string(arguments, 0, "old"), let new = try string(arguments, 1, "new") else {
          throw JinjaFailure("replace expected at least 2 arguments")
        }
        return .string(PythonStrings.replace(text, old, new, count: arguments.argument(2, "count")?.integer ?? -1))
      }
    case "format": return bound(name) { arguments in .string(try PythonStrings.format(text, arguments)) }
    case "join":
      return bound(name) { arguments in
        guard case .array(let items) = arguments.positional.first ?? .none else {
          throw JinjaFailure("can only join an iterable")
        }
        return .string(
          try items.map { item in
            guard case .string(let piece) = item else {
              throw JinjaFailure("sequence item: expected str instance, \(item.typeName) found")
            }
            return piece
          }.joined(separator: text))
      }
    case "find", "count":
      return bound(name) { arguments in
        guard let needle = try string(arguments, 0, "sub") else { throw JinjaFailure("\(name) expected a string") }
        let scalars = Array(text.unicodeScalars)
        let pattern = Array(needle.unicodeScalars)
        var found: [Int] = []
        var index = 0
        while index + pattern.count <= scalars.count {
          if Array(scalars[index..<index + pattern.count]) == pattern {
            found.append(index)
            index += max(pattern.count, 1)
          } else {
            index += 1
          }
        }
        return name == "find" ? .int(found.first ?? -1) : .int(found.count)
      }
    case "isdigit":
      return bound(name) { _ in
        .bool(
          !text.isEmpty
            && text.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal || $0.properties.numericType == .digit })
      }
    case "isspace": return bound(name) { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(PythonStrings.isWhitespace)) }
    default: return nil
    }
  }

  private static func dictionaryMethod(_ name: String, _ dictionary: JinjaDictionary) -> JinjaValue? {
    switch name {
    case "items": return bound(name) { _ in .array(dictionary.pairs.map { .array([.string($0.key), $0.value]) }) }
    case "keys": return bound(name) { _ in .array(dictionary.keys.map { .string($0) }) }
    case "values": return bound(name) { _ in .array(dictionary.values) }
    case "get":
      return bound(name) { arguments in
        guard case .string(let key) = arguments.positional.first ?? .none else {
          return arguments.argument(1, "default") ?? .none
        }
        return dictionary[key] ?? arguments.argument(1, "default") ?? .none
      }
    case "copy": return bound(name) { _ in .dictionary(dictionary) }
    default: return nil
    }
  }

  private static func listMethod(_ name: String, _ items: [JinjaValue]) -> JinjaValue? {
    switch name {
    case "index":
      return bound(name) { arguments in
        let needle = arguments.positional.first ?? .none
        guard let index = items.firstIndex(where: { $0.pythonEquals(needle) }) else {
          throw JinjaFailure("\(needle.pythonRepr) is not in list")
        }
        return .int(index)
      }
    case "count":
      return bound(name) { arguments in
        let needle = arguments.positional.first ?? .none
        return .int(items.filter { $0.pythonEquals(needle) }.count)
      }
    case "copy": return bound(name) { _ in .array(items) }
    default: return nil
    }
  }
}
