import QuantCore

/// Typed access to the keys of a JSON object, with errors that name the file and key.
struct ConfigReader {
  let root: JSONValue
  let file: String

  /// Whether `key` holds a value other than `null`.
  func has(_ key: String) -> Bool { root[key].map { !$0.isNull } ?? false }

  /// Whether `key` is written at all (an explicit `null` counts: it overrides a default).
  func isWritten(_ key: String) -> Bool { root[key] != nil }

  func value(_ key: String) -> JSONValue? {
    guard let value = root[key], !value.isNull else { return nil }
    return value
  }

  func fail(_ key: String, _ reason: String) -> LanguageModelError {
    .invalidConfiguration(file: file, key: key, reason: reason)
  }

  func optionalInt(_ key: String) throws(LanguageModelError) -> Int? {
    guard let value = value(key) else { return nil }
    if let number = value.numberValue {
      if let int = number.intValue { return int }
      if let double = number.doubleValue, double == double.rounded(), abs(double) < 1e15 { return Int(double) }
    }
    throw fail(key, "expected an integer, found \(value.kindName)")
  }

  func optionalPositiveInt(_ key: String) throws(LanguageModelError) -> Int? {
    guard let int = try optionalInt(key) else { return nil }
    guard int > 0 else { throw fail(key, "expected a positive integer, found \(int)") }
    return int
  }

  func positiveInt(_ key: String) throws(LanguageModelError) -> Int {
    guard let int = try optionalPositiveInt(key) else { throw fail(key, "required key is missing") }
    return int
  }

  func optionalDouble(_ key: String) throws(LanguageModelError) -> Double? {
    guard let value = value(key) else { return nil }
    guard let double = value.numberValue?.doubleValue else {
      throw fail(key, "expected a number, found \(value.kindName)")
    }
    return double
  }

  func optionalBool(_ key: String) throws(LanguageModelError) -> Bool? {
    guard let value = value(key) else { return nil }
    guard let bool = value.boolValue else { throw fail(key, "expected true or false, found \(value.kindName)") }
    return bool
  }

  func optionalString(_ key: String) throws(LanguageModelError) -> String? {
    guard let value = value(key) else { return nil }
    guard let string = value.stringValue else { throw fail(key, "expected a string, found \(value.kindName)") }
    return string
  }

  func optionalStringList(_ key: String) throws(LanguageModelError) -> [String]? {
    guard let value = value(key) else { return nil }
    guard let elements = value.elements else { throw fail(key, "expected a list of strings, found \(value.kindName)") }
    var result: [String] = []
    for element in elements {
      guard let string = element.stringValue else { throw fail(key, "expected strings, found \(element.kindName)") }
      result.append(string)
    }
    return result
  }

  /// An integer or a list of integers (`eos_token_id`); absent is empty.
  func intList(_ key: String) throws(LanguageModelError) -> [Int] {
    guard let value = value(key) else { return [] }
    if let number = value.numberValue, let int = number.intValue { return [int] }
    guard let elements = value.elements else {
      throw fail(key, "expected an integer or a list of integers, found \(value.kindName)")
    }
    var result: [Int] = []
    for element in elements {
      guard let int = element.numberValue?.intValue else {
        throw fail(key, "expected integers in the list, found \(element.kindName)")
      }
      result.append(int)
    }
    return result
  }

  func doubleList(_ key: String, in object: JSONValue, name: String) throws(LanguageModelError) -> [Double]? {
    guard let value = object[key], !value.isNull else { return nil }
    guard let elements = value.elements else { throw fail("\(name).\(key)", "expected a list of numbers") }
    var result: [Double] = []
    for element in elements {
      guard let double = element.numberValue?.doubleValue else {
        throw fail("\(name).\(key)", "expected numbers, found \(element.kindName)")
      }
      result.append(double)
    }
    return result
  }
}
