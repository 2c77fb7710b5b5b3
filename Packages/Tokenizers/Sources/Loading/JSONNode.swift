import Foundation

/// A value read by `JSONSerialization`, with the file and key path it came from so that every error names both.
struct JSONNode {
  /// The decoded value (`NSNull`, `String`, `NSNumber`, `[Any]` or `[String: Any]`).
  let value: Any
  /// The file name used in errors.
  let file: String
  /// Where the value sits (`model.vocab`).
  let path: String

  /// Parses JSON data.
  static func parse(_ data: Data, file: String) throws(TokenizerError) -> JSONNode {
    do {
      let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
      return JSONNode(value: value, file: file, path: "")
    } catch {
      throw .malformedJSON(file: file, reason: (error as NSError).localizedDescription)
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
  var isNull: Bool { value is NSNull }

  /// A member of an object, or nil when absent or null.
  subscript(key: String) -> JSONNode? {
    guard let object = value as? [String: Any], let member = object[key], !(member is NSNull) else { return nil }
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

  /// The value as an object's members.
  func object() throws(TokenizerError) -> [String: JSONNode] {
    guard let object = value as? [String: Any] else { throw mismatch("an object") }
    var result: [String: JSONNode] = [:]
    for (key, member) in object { result[key] = JSONNode(value: member, file: file, path: childPath(key)) }
    return result
  }

  /// The value as an array's elements.
  func array() throws(TokenizerError) -> [JSONNode] {
    guard let array = value as? [Any] else { throw mismatch("an array") }
    return array.enumerated().map { JSONNode(value: $1, file: file, path: "\(path)[\($0)]") }
  }

  /// The value as a string.
  func string() throws(TokenizerError) -> String {
    guard let string = value as? String else { throw mismatch("a string") }
    return string
  }

  /// The value as an integer.
  func int() throws(TokenizerError) -> Int {
    guard let number = value as? NSNumber else { throw mismatch("an integer") }
    let double = number.doubleValue
    guard double == double.rounded(), abs(double) < 1e15 else { throw mismatch("an integer") }
    return number.intValue
  }

  /// The value as a Boolean.
  func bool() throws(TokenizerError) -> Bool {
    if let bool = value as? Bool { return bool }
    throw mismatch("true or false")
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
