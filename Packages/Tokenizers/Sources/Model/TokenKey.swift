import Foundation

/// A string compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` equality is canonical equivalence (`"é" == "e\u{301}"`), but a vocabulary may hold
/// both spellings as different tokens; the Rust library compares bytes, and so do we.
struct TokenKey: Hashable, Sendable {
  let string: String

  init(_ string: String) { self.string = string }
  init(_ substring: Substring) { self.string = String(substring) }

  static func == (lhs: TokenKey, rhs: TokenKey) -> Bool {
    // `withUTF8` reaches the bytes of small (inline) strings too, where `withContiguousStorageIfAvailable` gives nil.
    var left = lhs.string
    var right = rhs.string
    return left.withUTF8 { leftBytes in
      right.withUTF8 { rightBytes in
        guard leftBytes.count == rightBytes.count else { return false }
        guard let leftStart = leftBytes.baseAddress, let rightStart = rightBytes.baseAddress else { return true }
        return memcmp(leftStart, rightStart, leftBytes.count) == 0
      }
    }
  }

  func hash(into hasher: inout Hasher) {
    var string = string
    string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
  }
}

extension Substring {
  /// The ranges of the non-overlapping occurrences of `literal`, comparing UTF-8 bytes.
  func literalRanges(of literal: String) -> [Range<String.Index>] {
    let needle = Array(literal.utf8)
    guard let first = needle.first else { return [] }
    var result: [Range<String.Index>] = []
    let bytes = utf8
    var index = bytes.startIndex
    while index != bytes.endIndex {
      if bytes[index] == first {
        var candidate = index
        var matched = 0
        while matched < needle.count, candidate != bytes.endIndex, bytes[candidate] == needle[matched] {
          matched += 1
          candidate = bytes.index(after: candidate)
        }
        if matched == needle.count {
          result.append(index..<candidate)
          index = candidate
          continue
        }
      }
      index = bytes.index(after: index)
    }
    return result
  }
}
