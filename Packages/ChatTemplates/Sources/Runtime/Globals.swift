import Foundation

/// The functions every template sees: jinja2's `range`, `namespace`, `dict`, and transformers'
/// `raise_exception` and `strftime_now`.
enum Globals {
  static func functions(now: Date) -> [String: JinjaValue] {
    [
      "range": .callable(JinjaCallable(name: "range", body: range)),
      "namespace": .callable(
        JinjaCallable(name: "namespace") { arguments in
          var attributes = JinjaDictionary()
          for value in arguments.positional {
            guard case .dictionary(let dictionary) = value else { throw JinjaFailure("namespace() takes a dictionary") }
            for pair in dictionary.pairs { attributes[pair.key] = pair.value }
          }
          for keyword in arguments.keywords { attributes[keyword.name] = keyword.value }
          for key in attributes.keys where key.hasPrefix("_") {
            throw JinjaFailure(
              "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(key)'. "
                + "Please rename the attribute.")
          }
          return .namespace(JinjaNamespace(attributes))
        }),
      "dict": .callable(
        JinjaCallable(name: "dict") { arguments in
          var dictionary = JinjaDictionary()
          if case .dictionary(let base) = arguments.positional.first ?? .none { dictionary = base }
          for keyword in arguments.keywords { dictionary[keyword.name] = keyword.value }
          return .dictionary(dictionary)
        }),
      "raise_exception": .callable(
        JinjaCallable(name: "raise_exception") { arguments in
          throw ChatTemplateError.raised(message: (arguments.argument(0, "message") ?? .none).pythonString)
        }),
      "strftime_now": .callable(
        JinjaCallable(name: "strftime_now") { arguments in
          guard case .string(let format) = arguments.argument(0, "format") ?? .none else {
            throw JinjaFailure("strftime_now() argument must be str")
          }
          return .string(try Strftime.format(now, format))
        }),
    ]
  }

  private static func range(_ arguments: JinjaCallable.Arguments) throws -> JinjaValue {
    let numbers = try arguments.positional.map { value in
      guard let number = value.integer else {
        throw JinjaFailure("'\(value.typeName)' object cannot be interpreted as an integer")
      }
      return number
    }
    let (start, stop, step): (Int, Int, Int)
    switch numbers.count {
    case 1: (start, stop, step) = (0, numbers[0], 1)
    case 2: (start, stop, step) = (numbers[0], numbers[1], 1)
    case 3: (start, stop, step) = (numbers[0], numbers[1], numbers[2])
    default: throw JinjaFailure("range expected at most 3 arguments, got \(numbers.count)")
    }
    guard step != 0 else { throw JinjaFailure("range() arg 3 must not be zero") }
    // The length is judged in floating point and the values are built with checked additions: extreme
    // bounds must neither overflow (Python's integers do not) nor run long.
    let span = step > 0 ? (Double(stop) - Double(start)) / Double(step) : (Double(start) - Double(stop)) / -Double(step)
    // jinja2's sandbox refuses ranges longer than MAX_RANGE.
    let tooBig = JinjaFailure("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
    guard span <= 100_000 else { throw tooBig }
    var values: [JinjaValue] = []
    var current = start
    while step > 0 ? current < stop : current > stop {
      values.append(.int(current))
      let (next, overflow) = current.addingReportingOverflow(step)
      if overflow { break }
      current = next
    }
    guard values.count <= 100_000 else { throw tooBig }
    return .array(values)
  }
}

/// Python's `datetime.strftime` for the directives chat templates use, in the local time zone.
enum Strftime {
  private static let months = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
  ]
  private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

  static func format(_ date: Date, _ format: String) throws -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone.current
    let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
    let year = parts.year ?? 1970
    let month = parts.month ?? 1
    let day = parts.day ?? 1
    let hour = parts.hour ?? 0
    let weekday = (parts.weekday ?? 1) - 1
    let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    var result = ""
    var scalars = Array(format.unicodeScalars)[...]
    while let scalar = scalars.popFirst() {
      guard scalar == "%", let directive = scalars.popFirst() else {
        result.unicodeScalars.append(scalar)
        continue
      }
      switch directive {
      case "d": result += two(day)
      case "m": result += two(month)
      case "Y": result += "\(year)"
      case "y": result += two(year % 100)
      case "B": result += months[month - 1]
      case "b", "h": result += String(months[month - 1].prefix(3))
      case "A": result += weekdays[weekday]
      case "a": result += String(weekdays[weekday].prefix(3))
      case "H": result += two(hour)
      case "I": result += two(hour % 12 == 0 ? 12 : hour % 12)
      case "p": result += hour < 12 ? "AM" : "PM"
      case "M": result += two(parts.minute ?? 0)
      case "S": result += two(parts.second ?? 0)
      case "j": result += String(repeating: "0", count: 3 - String(dayOfYear).count) + "\(dayOfYear)"
      case "e": result += day < 10 ? " \(day)" : "\(day)"
      case "w": result += "\(weekday)"
      case "%": result += "%"
      case "-":
        // glibc's "no padding" flag: %-d, %-m, %-H ...
        guard let next = scalars.popFirst() else { throw JinjaFailure("Invalid format string") }
        switch next {
        case "d": result += "\(day)"
        case "m": result += "\(month)"
        case "H": result += "\(hour)"
        case "I": result += "\(hour % 12 == 0 ? 12 : hour % 12)"
        case "M": result += "\(parts.minute ?? 0)"
        case "S": result += "\(parts.second ?? 0)"
        case "j": result += "\(dayOfYear)"
        default: throw JinjaFailure("unsupported strftime directive %-\(next)")
        }
      default: throw JinjaFailure("unsupported strftime directive %\(directive)")
      }
    }
    return result
  }
}
