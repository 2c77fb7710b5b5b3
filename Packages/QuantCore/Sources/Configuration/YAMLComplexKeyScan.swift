/// Finds explicit (`? key`) and collection (`[a]: b`, `{a: b}: c`) mapping keys in YAML text before Yams reads it.
///
/// Configuration files never need such keys, and Yams' duplicate-key check compares nested collection keys
/// in time exponential in their depth (a 1.6 KB file of nested `? -` keys did not finish in 100 s). The scan
/// is textual: it skips comments, quoted scalars and block scalars (`|` or `>` content: the lines indented
/// deeper than the line that opens them, and blank lines), and reports the first `?` that starts a node (at a
/// line's start after indentation and block indicators, or after `[`, `{` or `,`) followed by a space, tab
/// or line end, and the first `]` or `}` followed by optional spaces and a `:` that ends the line or is
/// followed by a space.
enum YAMLComplexKeyScan {
  /// The 1-based line and column of the first complex key, or `nil`.
  ///
  /// - Parameter text: The YAML source.
  /// - Returns: The location.
  static func firstComplexKey(in text: String) -> (line: Int, column: Int)? {
    let bytes = Array(text.utf8)
    var line = 1
    var lineStart = 0
    var index = 0
    var atNodeStart = true
    var quote: UInt8? = nil
    func isBlank(_ at: Int) -> Bool { at >= bytes.count || [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) }
    while index < bytes.count {
      let byte = bytes[index]
      if byte == 0x0A {
        line += 1
        lineStart = index + 1
        atNodeStart = true
        if quote == nil {
          index += 1
          continue
        }
      }
      if let open = quote {
        if byte == open {
          // '' inside a single-quoted scalar is an escaped quote.
          if open == 0x27, index + 1 < bytes.count, bytes[index + 1] == 0x27 {
            index += 2
            continue
          }
          quote = nil
        } else if open == 0x22, byte == 0x5C {
          index += 1
        }
        index += 1
        continue
      }
      switch byte {
      case 0x20, 0x09, 0x0D:
        break
      case 0x23 where index == lineStart || isBlank(index - 1):
        // A comment: skip to the line's end.
        while index < bytes.count, bytes[index] != 0x0A { index += 1 }
        continue
      case 0x3F where atNodeStart && isBlank(index + 1):
        return (line, index - lineStart + 1)
      case 0x2D where atNodeStart && isBlank(index + 1):
        break  // `- `: the next node still starts here.
      case 0x3A where isBlank(index + 1):
        atNodeStart = true  // `: `: a value starts here.
      case 0x5B, 0x7B, 0x2C:
        atNodeStart = true
        index += 1
        continue
      case 0x5D, 0x7D:
        var next = index + 1
        while next < bytes.count, bytes[next] == 0x20 || bytes[next] == 0x09 { next += 1 }
        if next < bytes.count, bytes[next] == 0x3A, isBlank(next + 1) { return (line, index - lineStart + 1) }
        atNodeStart = false
      case 0x7C where atNodeStart, 0x3E where atNodeStart:
        // A block scalar header (`|`, `>`, with chomping/indentation indicators and an optional comment):
        // its content is every following line indented deeper than this one, or blank.
        guard let end = blockScalarHeaderEnd(bytes, from: index + 1) else {
          atNodeStart = false
          break
        }
        var indent = 0
        while lineStart + indent < bytes.count, bytes[lineStart + indent] == 0x20 { indent += 1 }
        index = end
        while index < bytes.count {
          // `index` is at a line feed (or the end): look at the next line.
          let next = index + 1
          var spaces = 0
          while next + spaces < bytes.count, bytes[next + spaces] == 0x20 { spaces += 1 }
          var rest = next + spaces
          while rest < bytes.count, bytes[rest] == 0x09 || bytes[rest] == 0x0D { rest += 1 }
          let blank = rest >= bytes.count || bytes[rest] == 0x0A
          guard next < bytes.count, blank || spaces > indent else { break }
          line += 1
          lineStart = next
          index = next
          while index < bytes.count, bytes[index] != 0x0A { index += 1 }
        }
        // Back at the line feed that ends the scalar: the loop's line handling takes it from here.
        continue
      case 0x22 where atNodeStart, 0x27 where atNodeStart:
        quote = byte
        atNodeStart = false
      default:
        atNodeStart = false
      }
      index += 1
    }
    return nil
  }

  /// When `bytes[from...]` completes a block scalar header (`[+-]?[1-9]?[+-]?`, then blanks and an optional
  /// comment up to the line's end), the index of that line feed (or the end of the text); otherwise `nil`.
  private static func blockScalarHeaderEnd(_ bytes: [UInt8], from: Int) -> Int? {
    var index = from
    var indicators = 0
    while index < bytes.count, indicators < 2,
      bytes[index] == 0x2B || bytes[index] == 0x2D || (0x31...0x39).contains(bytes[index])
    {
      index += 1
      indicators += 1
    }
    var sawBlank = false
    while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0D {
      index += 1
      sawBlank = true
    }
    if index < bytes.count, bytes[index] == 0x23, sawBlank {
      while index < bytes.count, bytes[index] != 0x0A { index += 1 }
    }
    return index >= bytes.count || bytes[index] == 0x0A ? index : nil
  }
}
