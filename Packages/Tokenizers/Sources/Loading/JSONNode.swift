import Foundation

/// A parsed JSON value with the file and key path it came from, so that every error names both.
struct JSONNode {
  /// The value.
  let value: JSONValue
  /// The file name used in errors.
  let file: String
  /// Where the value sits (`model.vocab`).
  let path: String

  /// Parses JSON data.
  static func parse(_ data: Data, file: String) throws(TokenizerError) -> JSONNode {
    let result: Result<JSONValue, JSONSyntaxError> = data.withUnsafeBytes { raw in
      let bytes = raw.bindMemory(to: UInt8.self)
      do throws(JSONSyntaxError) {
        return .success(try JSONParser.parse(bytes))
      } catch {
        return .failure(error)
      }
    }
    switch result {
    case .success(let value): return JSONNode(value: value, file: file, path: "")
    case .failure(let error): throw .malformedJSON(file: file, reason: "\(error.message) at byte \(error.offset)")
    }
  }

  /// Reads a file and parses it.
  static func read(_ url: URL) throws(TokenizerError) -> JSONNode {
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw .unreadable(file: url.path, reason: (error as NSError).localizedDescription)
    }
    return try parse(data, file: url.path)
  }

  private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

  /// Whether the value is JSON `null`.
  var isNull: Bool {
    if case .null = value { return true }
    return false
  }

  /// A member of an object, or nil when absent or null.
  subscript(key: String) -> JSONNode? {
    guard case .object(let object) = value, let member = object[key] else { return nil }
    if case .null = member { return nil }
    return JSONNode(value: member, file: file, path: childPath(key))
  }

  /// The error for a value of the wrong type.
  func mismatch(_ expected: String) -> TokenizerError {
    .invalidValue(file: file, key: path.isEmpty ? "(top level)" : path, expected: expected)
  }

  /// A required member.
  func required(_ key: String) throws(TokenizerError) -> JSONNode {
    guard let node = self[key] else {
      throw TokenizerError.invalidValue(file: file, key: childPath(key), expected: "a value")
    }
    return node
  }

  /// The value as an object's members, in file order.
  func members() throws(TokenizerError) -> [(key: String, node: JSONNode)] {
    guard case .object(let object) = value else { throw mismatch("an object") }
    return zip(object.keys, object.values).map { ($0, JSONNode(value: $1, file: file, path: childPath($0))) }
  }

  /// The value as an array's elements.
  func array() throws(TokenizerError) -> [JSONNode] {
    guard case .array(let array) = value else { throw mismatch("an array") }
    return array.enumerated().map { JSONNode(value: $1, file: file, path: "\(path)[\($0)]") }
  }

  /// Whether the value is an array.
  var isArray: Bool {
    if case .array = value { return true }
    return false
  }

  /// The value as a string.
  func string() throws(TokenizerError) -> String {
    guard case .string(let string) = value else { throw mismatch("a string") }
    return string
  }

  /// The value as a string, or nil for any other type.
  var stringValue: String? {
    if case .string(let string) = value { return string }
    return nil
  }

  /// The value as an integer.
  func int() throws(TokenizerError) -> Int {
    switch value {
    case .int(let int): return int
    case .double(let double) where double == double.rounded() && abs(double) < 1e15: return Int(double)
    default: throw mismatch("an integer")
    }
  }

  /// The value as a number.
  func double() throws(TokenizerError) -> Double {
    switch value {
    case .int(let int): return Double(int)
    case .double(let double): return double
    default: throw mismatch("a number")
    }
  }

  /// The value as a Boolean.
  func bool() throws(TokenizerError) -> Bool {
    guard case .bool(let bool) = value else { throw mismatch("true or false") }
    return bool
  }

  /// An optional string member (absent or null gives nil).
  func string(_ key: String) throws(TokenizerError) -> String? { try self[key]?.string() }
  /// An optional integer member.
  func int(_ key: String) throws(TokenizerError) -> Int? { try self[key]?.int() }
  /// An optional Boolean member.
  func bool(_ key: String) throws(TokenizerError) -> Bool? { try self[key]?.bool() }

  /// The `type` member of a component object.
  func typeName() throws(TokenizerError) -> String { try required("type").string() }
}
