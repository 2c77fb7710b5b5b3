/// Finds stop strings in streamed text and holds back the text that could be the start of one, so that no
/// part of a stop string is ever shown.
struct StopStringMatcher: Sendable {
  private let stopStrings: [String]
  private var pending = ""

  init(stopStrings: [String]) {
    self.stopStrings = stopStrings
  }

  /// Adds a piece of text.
  ///
  /// - Returns: the text that can be shown now, and the stop string found (if any); after a match the text
  ///   up to the earliest stop string is returned and everything after it is dropped.
  mutating func append(_ text: String) -> (text: String, match: String?) {
    guard !stopStrings.isEmpty else { return (text, nil) }
    pending += text
    var earliest: (range: Range<String.Index>, stop: String)?
    for stop in stopStrings {
      if let range = pending.firstRange(of: stop), earliest.map({ range.lowerBound < $0.range.lowerBound }) ?? true {
        earliest = (range, stop)
      }
    }
    if let earliest {
      let shown = String(pending[..<earliest.range.lowerBound])
      pending = ""
      return (shown, earliest.stop)
    }
    let held = heldSuffixLength()
    let cut = pending.index(pending.endIndex, offsetBy: -held)
    let shown = String(pending[..<cut])
    pending = String(pending[cut...])
    return (shown, nil)
  }

  /// The text held back, released at the end of the generation.
  mutating func flush() -> String {
    defer { pending = "" }
    return pending
  }

  /// The length (in characters) of the longest suffix of `pending` that is a proper prefix of a stop string.
  private func heldSuffixLength() -> Int {
    var longest = 0
    for stop in stopStrings {
      var length = min(stop.count - 1, pending.count)
      while length > longest {
        if stop.hasPrefix(pending.suffix(length)) {
          longest = length
          break
        }
        length -= 1
      }
    }
    return longest
  }
}
