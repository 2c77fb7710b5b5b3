/// The `BPE` model of `tokenizer.json`: splits a piece into characters and applies the merges by rank.
struct BPE: Sendable {
  /// Token → id.
  let vocabulary: [TokenKey: Int]
  /// Merge of the pair `(left << 32) | right` → (rank, merged id).
  let merges: [UInt64: (rank: Int32, id: Int32)]
  let unknownID: Int?
  let fuseUnknown: Bool
  let byteFallback: Bool
  let ignoreMerges: Bool
  let continuingSubwordPrefix: String?
  let endOfWordSuffix: String?
  /// The id of `<0xNN>` for each byte, or -1 (only with `byte_fallback`).
  let byteTokenIDs: [Int]
  private let cache = WordCache()

  static func make(_ node: JSONNode) throws(TokenizerError) -> BPE {
    let type = try node.string("type") ?? "BPE"
    guard type == "BPE" else { throw .unsupported(file: node.file, component: "model", type: type) }
    // Dropout is random by design: encoding would not be reproducible.
    if let dropout = try node["dropout"]?.double(), dropout > 0 {
      throw .unsupported(file: node.file, component: "model.dropout", type: "\(dropout)")
    }
    var vocabulary: [TokenKey: Int] = [:]
    let vocabNode = try node.required("vocab")
    guard case .object(let rawVocabulary) = vocabNode.value else { throw vocabNode.mismatch("an object of token → id") }
    vocabulary.reserveCapacity(rawVocabulary.keys.count)
    for (token, value) in zip(rawVocabulary.keys, rawVocabulary.values) {
      // Merges keep ids as Int32 (an id beyond it once trapped there): the file must stay within.
      guard case .int(let id) = value, id >= 0, id <= Int(Int32.max) else {
        throw TokenizerError.invalidValue(
          file: node.file, key: "model.vocab.\(token)", expected: "an integer id in 0…\(Int32.max)")
      }
      vocabulary[TokenKey(token)] = id
    }
    let prefix = try node.string("continuing_subword_prefix")
    let suffix = try node.string("end_of_word_suffix")
    let merges = try parseMerges(node, vocabulary: vocabulary, prefix: prefix)
    var unknownID: Int?
    if let unknown = try node.string("unk_token") {
      guard let id = vocabulary[TokenKey(unknown)] else {
        throw .unknownToken(file: node.file, key: "model.unk_token", token: unknown)
      }
      unknownID = id
    }
    let byteFallback = try node.bool("byte_fallback") ?? false
    var byteTokenIDs = [Int](repeating: -1, count: 256)
    if byteFallback {
      for byte in 0..<256 { byteTokenIDs[byte] = vocabulary[TokenKey(byteToken(UInt8(byte)))] ?? -1 }
    }
    return BPE(
      vocabulary: vocabulary, merges: merges, unknownID: unknownID, fuseUnknown: try node.bool("fuse_unk") ?? false,
      byteFallback: byteFallback, ignoreMerges: try node.bool("ignore_merges") ?? false,
      continuingSubwordPrefix: prefix, endOfWordSuffix: suffix, byteTokenIDs: byteTokenIDs)
  }

  /// `<0xNN>`, the byte-fallback token of a byte (Rust's `{:#04X}`: lowercase `x`, uppercase digits).
  static func byteToken(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return "<0x\(digits[Int(byte >> 4)])\(digits[Int(byte & 15)])>"
  }

  private static func parseMerges(
    _ node: JSONNode, vocabulary: [TokenKey: Int], prefix: String?
  ) throws(TokenizerError) -> [UInt64: (rank: Int32, id: Int32)] {
    guard let mergesNode = node["merges"] else { return [:] }
    guard case .array(let list) = mergesNode.value else { throw mergesNode.mismatch("an array of merges") }
    var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
    merges.reserveCapacity(list.count)
    for (rank, entry) in list.enumerated() {
      func key() -> String { "model.merges[\(rank)]" }
      let left: String
      let right: String
      if case .string(let string) = entry {
        // Split at the first space byte (not by Character: "a \u{301}" has no space Character).
        var text = string
        let parts = text.withUTF8 { bytes -> (String, String)? in
          guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else { return nil }
          return (
            String(decoding: UnsafeBufferPointer(rebasing: bytes[..<space]), as: UTF8.self),
            String(decoding: UnsafeBufferPointer(rebasing: bytes[(space + 1)...]), as: UTF8.self)
          )
        }
        guard let parts else { throw TokenizerError.invalidValue(file: node.file, key: key(), expected: "\"left right\"") }
        (left, right) = parts
      } else if case .array(let pair) = entry, pair.count == 2, case .string(let first) = pair[0],
        case .string(let second) = pair[1]
      {
        left = first
        right = second
      } else {
        throw TokenizerError.invalidValue(file: node.file, key: key(), expected: "\"left right\" or [left, right]")
      }
      guard let leftID = vocabulary[TokenKey(left)] else {
        throw TokenizerError.unknownToken(file: node.file, key: key(), token: left)
      }
      guard let rightID = vocabulary[TokenKey(right)] else {
        throw TokenizerError.unknownToken(file: node.file, key: key(), token: right)
      }
      // The Rust library drops the prefix's length in bytes from the right part, unconditionally.
      var rightPart = right[...]
      if let prefix, let cut = right.utf8.index(right.startIndex, offsetBy: prefix.utf8.count, limitedBy: right.endIndex) {
        rightPart = Substring(right.utf8[cut...])
      }
      let merged = left + rightPart
      guard let mergedID = vocabulary[TokenKey(merged)] else {
        throw TokenizerError.unknownToken(file: node.file, key: key(), token: merged)
      }
      let pairKey = UInt64(UInt32(truncatingIfNeeded: leftID)) << 32 | UInt64(UInt32(truncatingIfNeeded: rightID))
      // A repeated pair takes its last rank, as the Rust library's map does.
      merges[pairKey] = (Int32(rank), Int32(mergedID))
    }
    return merges
  }

  /// The ids of one pre-tokenized piece.
  func tokenize(_ piece: Substring, into ids: inout [Int]) {
    if piece.isEmpty { return }
    let key = TokenKey(piece)
    if let cached = cache.lookUp(key) {
      ids.append(contentsOf: cached)
      return
    }
    var result: [Int] = []
    if ignoreMerges, let id = vocabulary[key] {
      result = [id]
    } else {
      result = mergeWord(piece)
    }
    cache.store(key, result)
    ids.append(contentsOf: result)
  }

  private func mergeWord(_ word: Substring) -> [Int] {
    var symbols: [Int] = []
    symbols.reserveCapacity(word.unicodeScalars.count)
    var pendingUnknown = false
    let scalars = word.unicodeScalars
    var index = scalars.startIndex
    while index != scalars.endIndex {
      let next = scalars.index(after: index)
      var piece = String(scalars[index..<next])
      if index != scalars.startIndex, let prefix = continuingSubwordPrefix { piece = prefix + piece }
      if next == scalars.endIndex, let suffix = endOfWordSuffix { piece += suffix }
      index = next
      if let id = vocabulary[TokenKey(piece)] {
        if pendingUnknown, let unknownID { symbols.append(unknownID) }
        pendingUnknown = false
        symbols.append(id)
        continue
      }
      if byteFallback {
        let bytes = Array(piece.utf8)
        if bytes.allSatisfy({ byteTokenIDs[Int($0)] >= 0 }) {
          // A pending unknown stays pending, as in the Rust library.
          symbols.append(contentsOf: bytes.map { byteTokenIDs[Int($0)] })
          continue
        }
      }
      if let unknownID {
        if pendingUnknown && !fuseUnknown { symbols.append(unknownID) }
        pendingUnknown = true
      }
    }
    if pendingUnknown, let unknownID { symbols.append(unknownID) }
    return BPEMerger.merge(symbols, merges: merges)
  }
}
