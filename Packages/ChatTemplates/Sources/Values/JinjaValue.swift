/// A value in a chat template: what Jinja (on Python objects) sees.
///
/// Dictionaries keep their key order, as Python's `dict` does, because `tojson` and `items()` expose it.
public enum JinjaValue: Sendable {
  /// A name or attribute that does not exist. `hint` says which, for error messages.
  case undefined(hint: String)
  /// Python's `None`.
  case none
  /// A boolean.
  case bool(Bool)
  /// An integer.
  case int(Int)
  /// A floating-point number.
  case double(Double)
  /// A string.
  case string(String)
  /// A list (Python `list`; tuples are lists here too).
  case array([JinjaValue])
  /// A dictionary with string keys, in insertion order.
  case dictionary(JinjaDictionary)
  /// The mutable object `namespace(...)` creates.
  case namespace(JinjaNamespace)
  /// A macro or a function: `raise_exception`, `range`, a bound string method.
  case callable(JinjaCallable)
}

/// An insertion-ordered dictionary with string keys.
public struct JinjaDictionary: Sendable {
  /// The keys, in insertion order.
  public private(set) var keys: [String] = []
  private var storage: [String: JinjaValue] = [:]

  /// An empty dictionary.
  public init() {}

  /// A dictionary holding `pairs` in order; a repeated key keeps its first position and its last value.
  public init(_ pairs: [(String, JinjaValue)]) {
    for (key, value) in pairs { self[key] = value }
  }

  /// The value for `key`, or `nil`. Setting a new key appends it.
  public subscript(key: String) -> JinjaValue? {
    get { storage[key] }
    set {
      if let newValue {
        if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
      } else if storage.removeValue(forKey: key) != nil {
        keys.removeAll { $0 == key }
      }
    }
  }

  /// The number of entries.
  public var count: Int { keys.count }

  /// The entries in order.
  public var pairs: [(key: String, value: JinjaValue)] {
    keys.map { ($0, storage[$0] ?? .none) }
  }

  /// The values in key order.
  public var values: [JinjaValue] { keys.map { storage[$0] ?? .none } }
}

/// The object that `namespace()` returns: attributes that `{% set ns.name = ... %}` may change from inside loops.
public final class JinjaNamespace: @unchecked Sendable {
  // Only the interpreter rendering one template touches a namespace, on one thread.
  package var attributes: JinjaDictionary

  /// A namespace with the given attributes.
  public init(_ attributes: JinjaDictionary = JinjaDictionary()) {
    self.attributes = attributes
  }
}

/// A function a template can call, with positional and keyword arguments.
public struct JinjaCallable: Sendable {
  /// The arguments of one call.
  public struct Arguments: Sendable {
    /// Positional arguments, in order.
    public var positional: [JinjaValue]
    /// Keyword arguments, in order.
    public var keywords: [(name: String, value: JinjaValue)]

    /// Arguments of one call.
    public init(positional: [JinjaValue] = [], keywords: [(name: String, value: JinjaValue)] = []) {
      self.positional = positional
      self.keywords = keywords
    }

    /// The keyword argument `name`, if given.
    public func keyword(_ name: String) -> JinjaValue? {
      keywords.first { $0.name == name }?.value
    }

    /// The argument at `index`, or the keyword `name`, or `nil`.
    public func argument(_ index: Int, _ name: String) -> JinjaValue? {
      index < positional.count ? positional[index] : keyword(name)
    }
  }

  /// The name shown in error messages and by `str()`.
  public var name: String
  package var body: @Sendable (Arguments) throws -> JinjaValue
  /// How `{{ f }}` prints it (Python's `repr`).
  package var display: String

  /// A function named `name` that runs `body`.
  public init(name: String, body: @escaping @Sendable (Arguments) throws -> JinjaValue) {
    self.name = name
    self.body = body
    display = "<function \(name)>"
  }
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
  ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
  /// A string value.
  public init(stringLiteral value: String) { self = .string(value) }
  /// An integer value.
  public init(integerLiteral value: Int) { self = .int(value) }
  /// A boolean value.
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  /// A floating-point value.
  public init(floatLiteral value: Double) { self = .double(value) }
  /// A list value.
  public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
  /// A dictionary value, keys in the order written.
  public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .dictionary(JinjaDictionary(elements)) }
}

extension JinjaValue {
  /// Whether the value is undefined.
  public var isUndefined: Bool {
    if case .undefined = self { return true }
    return false
  }

  /// Python truthiness: empty strings, lists and dictionaries, zero, `None` and undefined are false.
  public var isTruthy: Bool {
    switch self {
    case .undefined, .none: false
    case .bool(let value): value
    case .int(let value): value != 0
    case .double(let value): value != 0
    case .string(let value): !value.isEmpty
    case .array(let value): !value.isEmpty
    case .dictionary(let value): value.count > 0
    case .namespace, .callable: true
    }
  }

  /// The Python type name, as jinja2's error messages spell it.
  package var typeName: String {
    switch self {
    case .undefined: "Undefined"
    case .none: "NoneType"
    case .bool: "bool"
    case .int: "int"
    case .double: "float"
    case .string: "str"
    case .array: "list"
    case .dictionary: "dict"
    case .namespace: "Namespace"
    case .callable: "function"
    }
  }
}
