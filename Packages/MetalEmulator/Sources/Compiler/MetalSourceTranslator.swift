/// The emulator's token pass: turns preprocessed Metal Shading Language into clang C++.
///
/// What a macro cannot do, this pass does (Docs/metal-emulator.md has the full mapping):
/// - `kernel` functions are recorded and get an `extern "C"` launcher; template kernels get one per
///   `template [[host_name("…")]] kernel …;` instantiation (the statement itself is removed);
/// - `[[buffer(n)]]`, `[[threadgroup(n)]]` and builtin attributes become default arguments that fetch
///   the binding for the current dispatch and thread, typed by the parameter's declared type;
/// - `threadgroup` storage declarations become statics in the `mtlemu_tg` section (one copy shared by
///   a threadgroup's fibers, poisoned before every threadgroup); other uses become the address space;
/// - `1.0h` half literals become `1.0f16`.
///
/// The rewritten text keeps every newline, so clang's diagnostics point at the `.metal` lines.
struct MetalSourceTranslator {
  /// A kernel entry point the library exports.
  struct Entry: Equatable {
    /// The name `makeFunction(name:)` would use.
    var hostName: String
    /// The C++ expression that calls it (`gemv<half, 64>`).
    var callee: String
  }

  /// The translated C++ text (launchers and the function table appended).
  private(set) var output = ""
  /// The kernels found, in source order.
  private(set) var entries: [Entry] = []

  static let builtins: Set<String> = [
    "thread_position_in_grid", "thread_position_in_threadgroup", "threadgroup_position_in_grid",
    "threads_per_threadgroup", "threadgroups_per_grid", "threads_per_grid", "thread_index_in_threadgroup",
    "thread_index_in_simdgroup", "simdgroup_index_in_threadgroup", "threads_per_simdgroup",
    "simdgroups_per_threadgroup",
  ]
  static let builtinAliases: [String: String] = [
    "thread_execution_width": "threads_per_simdgroup",
    "dispatch_threads_per_threadgroup": "threads_per_threadgroup",
  ]
  static let ignoredAttributes: Set<String> = ["max_total_threads_per_threadgroup"]
  static let unsupportedAttributes: Set<String> = [
    "function_constant", "stage_in", "texture", "sampler", "position", "vertex_id", "instance_id", "color",
    "user", "visible", "intersection", "imageblock_data", "quadgroup_index_in_threadgroup",
    "thread_index_in_quadgroup",
  ]

  private let source: SourceTokenizer
  private let objectFormat: EmulatorObjectFormat
  private var edits: [(start: Int, end: Int, text: String)] = []
  /// A `[[host_name("…")]]` seen before a non-template kernel's declaration.
  private var pendingHostName: String?

  /// Translates preprocessed source.
  ///
  /// - Parameters:
  ///   - preprocessed: clang `-E` output of a `.metal` file compiled against the shim.
  ///   - objectFormat: The object format the output is compiled for (section names differ).
  /// - Throws: `MetalEmulatorError.translationFailed` for constructs the emulator refuses.
  init(preprocessed: String, objectFormat: EmulatorObjectFormat = .host) throws(MetalEmulatorError) {
    source = SourceTokenizer(preprocessed)
    self.objectFormat = objectFormat
    try run()
    output = applyEdits() + launchers()
  }

  private func isUserCode(_ token: SourceToken) -> Bool {
    !(source.region(at: token.start)?.isSystem ?? false)
  }

  private func fail(_ message: String, at token: SourceToken) -> MetalEmulatorError {
    .translationFailed(location: source.location(of: token.start), message: message)
  }

  private func text(_ index: Int) -> String {
    index >= 0 && index < source.tokens.count ? source.text(source.tokens[index]) : ""
  }

  private func isAttributeOpen(_ index: Int) -> Bool {
    text(index) == "[" && text(index + 1) == "["
  }

  /// The index of the `]` closing the attribute that opens at `index` (the first `[`).
  private func attributeClose(_ index: Int) throws(MetalEmulatorError) -> Int {
    var depth = 0
    var i = index
    let tokens = source.tokens
    while i < tokens.count {
      switch text(i) {
      case "[": depth += 1
      case "]":
        depth -= 1
        if depth == 0 { return i }
      default: break
      }
      i += 1
    }
    throw fail("unterminated attribute", at: tokens[index])
  }

  /// The index of the `;` ending the statement that contains `index` (brackets balanced).
  private func statementEnd(_ index: Int) throws(MetalEmulatorError) -> Int {
    var depth = 0
    var i = index
    let tokens = source.tokens
    while i < tokens.count {
      switch text(i) {
      case "(", "[", "{": depth += 1
      case ")", "]", "}": depth -= 1
      case ";" where depth == 0: return i
      default: break
      }
      if depth < 0 { break }
      i += 1
    }
    throw fail("statement has no terminating ';'", at: tokens[index])
  }

  private mutating func blank(_ first: Int, _ last: Int) {
    let start = source.tokens[first].start
    let end = source.tokens[last].end
    let newlines = source.bytes[start..<end].filter { $0 == 0x0A }.count
    edits.append((start, end, String(repeating: "\n", count: newlines)))
  }

  private mutating func replace(_ index: Int, with text: String) {
    edits.append((source.tokens[index].start, source.tokens[index].end, text))
  }

  private mutating func run() throws(MetalEmulatorError) {
    let tokens = source.tokens
    var i = 0
    while i < tokens.count {
      let token = tokens[i]
      guard isUserCode(token) else {
        i += 1
        continue
      }
      let word = source.text(token)
      if token.kind == .identifier && word == "template" && isAttributeOpen(i + 1) {
        i = try instantiation(at: i) + 1
        continue
      }
      if token.kind == .punctuation && isAttributeOpen(i) {
        i = try attribute(at: i) + 1
        continue
      }
      if token.kind == .identifier {
        switch word {
        case "kernel":
          try kernel(at: i)
        case "threadgroup":
          try threadgroup(at: i)
        case "static_cast",
          "reinterpret_cast" where text(i + 1) == "<" && Self.isVectorType(text(i + 2)):
          throw fail(
            "\(word) to the vector type \(text(i + 2)): convert with \(text(i + 2))(x) or reinterpret with as_type<\(text(i + 2))>(x)",
            at: token)
        default:
          break
        }
      } else if token.kind == .number {
        try floatLiteral(at: i, word)
      } else if word == "(" && Self.isVectorType(text(i + 1)) && text(i + 2) == ")"
        && !["sizeof", "alignof", "_Alignof", "__alignof__"].contains(text(i - 1))
      {
        throw fail(
          "C-style cast to the vector type \(text(i + 1)): convert with \(text(i + 1))(x) or reinterpret with as_type<\(text(i + 1))>(x)",
          at: token)
      }
      i += 1
    }
  }

  static let vectorElementTypes: Set<String> = [
    "float", "half", "int", "uint", "short", "ushort", "char", "uchar", "long", "ulong", "bool",
  ]

  /// `float4`, `uchar2`, … (the element type followed by 2, 3 or 4).
  static func isVectorType(_ word: String) -> Bool {
    guard let last = word.last, "234".contains(last) else { return false }
    return vectorElementTypes.contains(String(word.dropLast()))
  }

  /// Floating literals need an `f` or `h` suffix (no `double` in Metal); `1.0h` becomes `1.0f16`.
  private mutating func floatLiteral(at index: Int, _ word: String) throws(MetalEmulatorError) {
    let lower = word.lowercased()
    let isHex = lower.hasPrefix("0x")
    let isFloating = isHex ? lower.contains("p") : (lower.contains(".") || lower.contains("e"))
    guard isFloating, let last = lower.last else { return }
    if last == "h" {
      replace(index, with: String(word.dropLast()) + "f16")
    } else if last != "f" {
      throw fail(
        "floating literal \(word) has no f or h suffix (it would be a double): write \(word)f", at: source.tokens[index])
    }
  }

  /// `kernel void name(…)`: a launcher for non-template kernels; the keyword disappears.
  private mutating func kernel(at index: Int) throws(MetalEmulatorError) {
    replace(index, with: "")
    try recordKernel(after: index)
  }

  private mutating func recordKernel(after index: Int) throws(MetalEmulatorError) {
    let tokens = source.tokens
    var i = index + 1
    while isAttributeOpen(i) { i = try attributeClose(i) + 1 }
    guard text(i) == "void", tokens.indices.contains(i + 1), tokens[i + 1].kind == .identifier else {
      throw fail("a kernel must be declared as `kernel void name(...)`", at: tokens[index])
    }
    let name = text(i + 1)
    let hostName = pendingHostName ?? name
    pendingHostName = nil
    if isTemplateDeclaration(before: index) { return }
    entries.append(Entry(hostName: hostName, callee: name))
  }

  /// Whether `template <…>` directly precedes the token at `index`.
  private func isTemplateDeclaration(before index: Int) -> Bool {
    var i = index - 1
    while i >= 0 && text(i) == "]" {  // skip attributes such as [[kernel]]
      var depth = 0
      while i >= 0 {
        if text(i) == "]" { depth += 1 }
        if text(i) == "[" { depth -= 1 }
        i -= 1
        if depth == 0 { break }
      }
    }
    guard text(i) == ">" else { return false }
    var depth = 0
    while i >= 0 {
      if text(i) == ">" { depth += 1 }
      if text(i) == "<" {
        depth -= 1
        if depth == 0 { return text(i - 1) == "template" }
      }
      i -= 1
    }
    return false
  }

  /// `template [[host_name("x")]] kernel void f<T>(…);`, `… kernel f_t f<T>;` or `… [[kernel]] decltype(f<T>) f<T>;`.
  private mutating func instantiation(at index: Int) throws(MetalEmulatorError) -> Int {
    let tokens = source.tokens
    var i = index + 1
    var hostName = ""
    while isAttributeOpen(i) {
      let close = try attributeClose(i)
      if text(i + 2) == "host_name" {
        for j in (i + 3)..<close where tokens[j].kind == .literal {
          hostName += String(text(j).dropFirst().dropLast())
        }
      }
      i = close + 1
    }
    if text(i) == "kernel" { i += 1 }
    while isAttributeOpen(i) { i = try attributeClose(i) + 1 }
    if text(i) == "decltype" {
      var depth = 0
      i += 1
      repeat {
        if text(i) == "(" { depth += 1 }
        if text(i) == ")" { depth -= 1 }
        i += 1
      } while depth > 0 && i < tokens.count
    } else if text(i) == "void" {
      i += 1
    } else if tokens.indices.contains(i + 1), tokens[i].kind == .identifier, tokens[i + 1].kind == .identifier {
      i += 1  // a typedef of the kernel's function type: `kernel kernel_t name<…>;`
    } else {
      throw fail("cannot read this kernel instantiation (expected `kernel void name<...>(...)`)", at: tokens[index])
    }
    let nameStart = i
    while text(i + 1) == ":" && text(i + 2) == ":" { i += 3 }
    guard tokens.indices.contains(i), tokens[i].kind == .identifier else {
      throw fail("cannot find the instantiated kernel's name", at: tokens[index])
    }
    var nameEnd = i
    if text(i + 1) == "<" {
      var depth = 0
      var j = i + 1
      repeat {
        if text(j) == "<" { depth += 1 }
        if text(j) == ">" { depth -= 1 }
        j += 1
      } while depth > 0 && j < tokens.count
      nameEnd = j - 1
    }
    let callee = source.text(from: tokens[nameStart], to: tokens[nameEnd])
    let end = try statementEnd(i)
    if hostName.isEmpty { hostName = source.text(tokens[i]) }
    entries.append(Entry(hostName: hostName, callee: callee))
    // Keep the statement as a plain C++ explicit instantiation (attributes and `kernel` removed), so
    // clang checks that it names the template with matching types, as Metal's compiler would.
    var j = index + 1
    while j < end {
      if isAttributeOpen(j) {
        let close = try attributeClose(j)
        blank(j, close)
        j = close + 1
      } else {
        if text(j) == "kernel" { replace(j, with: "") }
        j += 1
      }
    }
    return end
  }

  /// `[[…]]` outside an instantiation.
  private mutating func attribute(at index: Int) throws(MetalEmulatorError) -> Int {
    let tokens = source.tokens
    let close = try attributeClose(index)
    let name = text(index + 2)
    guard close == index + 4 || text(index + 3) == "(" else { return close }  // e.g. [[maybe_unused]]
    var argument = ""
    if text(index + 3) == "(" {
      argument = source.text(from: tokens[index + 4], to: tokens[close - 3])
    }
    let binding: String
    if name == "kernel" {
      blank(index, close)
      try recordKernel(after: close)
      return close
    } else if name == "host_name" {
      pendingHostName = ((index + 3)..<close).filter { tokens[$0].kind == .literal }
        .map { String(text($0).dropFirst().dropLast()) }.joined()
      blank(index, close)
      return close
    } else if Self.ignoredAttributes.contains(name) {
      blank(index, close)
      return close
    } else if Self.unsupportedAttributes.contains(name) {
      throw fail("the emulator does not support [[\(name)]] (textures, function constants, stages)", at: tokens[index])
    } else if name == "buffer" {
      binding = "::mtlemu::bind_buffer<\(try parameterType(before: index))>(\(argument))"
    } else if name == "threadgroup" {
      binding = "::mtlemu::bind_threadgroup<\(try parameterType(before: index))>(\(argument))"
    } else if let builtin = Self.builtinAliases[name] ?? (Self.builtins.contains(name) ? name : nil) {
      binding = "::mtlemu::bind_builtin<\(try parameterType(before: index))>(::mtlemu::b_\(builtin))"
    } else {
      return close
    }
    // Replace the whole attribute with the default argument.
    let start = tokens[index].start
    let end = tokens[close].end
    edits.append((start, end, " = " + binding))
    return close
  }

  /// The declared type of the parameter whose name precedes the attribute at `index`.
  private func parameterType(before index: Int) throws(MetalEmulatorError) -> String {
    let tokens = source.tokens
    let nameIndex = index - 1
    guard nameIndex > 0, tokens[nameIndex].kind == .identifier else {
      throw fail("an attribute binding must follow a parameter name", at: tokens[index])
    }
    var i = nameIndex - 1
    var depth = 0
    while i >= 0 {
      let t = text(i)
      if t == ")" || t == "]" || t == ">" { depth += 1 }
      if t == "(" || t == "[" || t == "<" {
        if depth == 0 { break }
        depth -= 1
      }
      if t == "," && depth == 0 { break }
      i -= 1
    }
    guard i + 1 <= nameIndex - 1 else {
      throw fail("cannot read the parameter's type", at: tokens[index])
    }
    var typeText = source.text(from: tokens[i + 1], to: tokens[nameIndex - 1])
    // The `threadgroup` qualifier has not been rewritten yet inside this range.
    typeText = typeText.replacingThreadgroupQualifier()
    return typeText
  }

  /// `threadgroup T name[N];` (storage) or `threadgroup T*` (address space).
  private mutating func threadgroup(at index: Int) throws(MetalEmulatorError) {
    let tokens = source.tokens
    let previous = index > 0 ? text(index - 1) : ";"
    let qualifier = "__attribute__((address_space(3)))"
    guard ["", ";", "{", "}"].contains(previous) || (index > 0 && !isUserCode(tokens[index - 1])) else {
      replace(index, with: qualifier)
      return
    }
    let end = try statementEnd(index)
    var depth = 0
    var sawInitializer = false
    for j in (index + 1)..<end {
      switch text(j) {
      case "(", "[", "{": depth += 1
      case ")", "]", "}": depth -= 1
      case "*", "&":
        if depth == 0 {
          replace(index, with: qualifier)
          return
        }
      case "=" where depth == 0: sawInitializer = true
      default: break
      }
    }
    if sawInitializer {
      throw fail("threadgroup variables cannot have initializers", at: tokens[index])
    }
    replace(index, with: "static __attribute__((section(\"\(objectFormat.threadgroupSection)\"), aligned(16))) " + qualifier)
  }

  private func applyEdits() -> String {
    var result: [UInt8] = []
    result.reserveCapacity(source.bytes.count + edits.count * 40)
    var position = 0
    for edit in edits.sorted(by: { $0.start < $1.start }) where edit.start >= position {
      result += source.bytes[position..<edit.start]
      result += Array(edit.text.utf8)
      position = edit.end
    }
    result += source.bytes[position...]
    return String(decoding: result, as: UTF8.self)
  }

  private func launchers() -> String {
    var text = "\n# 1 \"<mtlemu launchers>\"\n// Launchers written by the Metal emulator's token pass.\n"
    if objectFormat == .machO {
      // ld64 defines section$start/section$end only for sections that exist: keep one always present.
      text += "__attribute__((section(\"\(objectFormat.threadgroupSection)\"), used)) static char mtlemu_tg_anchor;\n"
    }
    for (index, entry) in entries.enumerated() {
      text += "extern \"C\" void mtlemu_k_\(index)(void) { \(entry.callee)(); }\n"
    }
    let names = entries.map { "\"\($0.hostName)\"" }
    let functions = entries.indices.map { "mtlemu_k_\($0)" }
    text += "extern \"C\" const int mtlemu_kernel_count = \(entries.count);\n"
    text += "extern \"C\" const char* const mtlemu_kernel_names[] = {\((names + ["nullptr"]).joined(separator: ", "))};\n"
    text +=
      "extern \"C\" void (*const mtlemu_kernel_functions[])(void) = {\((functions + ["nullptr"]).joined(separator: ", "))};\n"
    return text
  }
}

extension String {
  fileprivate func replacingThreadgroupQualifier() -> String {
    var words = split(separator: " ", omittingEmptySubsequences: false).map(String.init)
    for index in words.indices where words[index] == "threadgroup" {
      words[index] = "__attribute__((address_space(3)))"
    }
    return words.joined(separator: " ")
  }
}
