public import Foundation

/// A Hugging Face tokenizer read from `tokenizer.json`: text to token ids and back, as transformers'
/// `PreTrainedTokenizerFast` does.
///
/// ```swift
/// let tokenizer = try Tokenizer.load(directory: modelFolder)
/// let ids = tokenizer.encode("Hello world")
/// let text = tokenizer.decode(ids, skipSpecialTokens: true)
/// ```
///
/// A tokenizer is immutable and safe to share between tasks.
public struct Tokenizer: Sendable {
  let normalizer: Normalizer?
  let preTokenizer: PreTokenizer?
  let model: BPE
  let postProcessor: PostProcessor?
  let decoder: Decoder?
  let addedTokens: [AddedToken]
  let rawMatcher: AddedTokenMatcher
  let normalizedMatcher: AddedTokenMatcher
  /// id → token text (added tokens override the model's).
  let tokensByID: [Int: String]
  let specialIDs: Set<Int>
  let addedIDsByContent: [TokenKey: Int]

  /// What the configuration files said.
  public let configuration: TokenizerConfiguration

  /// Loads `tokenizer.json` and the configuration files of a model folder.
  ///
  /// - Parameter directory: A folder with `tokenizer.json` and optionally `tokenizer_config.json`,
  ///   `special_tokens_map.json`, `generation_config.json`, `chat_template.jinja`.
  /// - Returns: The tokenizer.
  /// - Throws: ``TokenizerError`` naming the file and the key or type at fault.
  public static func load(directory: URL) throws(TokenizerError) -> Tokenizer {
    let configuration = try TokenizerConfiguration.load(directory: directory)
    let url = directory.appending(path: "tokenizer.json")
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw .unreadable(file: url.path, reason: (error as NSError).localizedDescription)
    }
    return try Tokenizer(tokenizerJSON: data, configuration: configuration, file: url.path)
  }

  /// Builds a tokenizer from the contents of a `tokenizer.json`.
  ///
  /// - Parameters:
  ///   - tokenizerJSON: The file's bytes.
  ///   - configuration: What the other configuration files say.
  ///   - file: The name used in errors.
  /// - Throws: ``TokenizerError``.
  public init(
    tokenizerJSON: Data, configuration: TokenizerConfiguration = TokenizerConfiguration(), file: String = "tokenizer.json"
  ) throws(TokenizerError) {
    let root = try JSONNode.parse(tokenizerJSON, file: file)
    _ = try root.members()
    self.configuration = configuration
    model = try BPE.make(try root.required("model"))
    let normalizer = try root["normalizer"].map { (node) throws(TokenizerError) in try Normalizer.make(node) }
    self.normalizer = normalizer
    preTokenizer = try root["pre_tokenizer"].map { (node) throws(TokenizerError) in try PreTokenizer.make(node) }
    decoder = try root["decoder"].map { (node) throws(TokenizerError) in try Decoder.make(node) }

    var added: [AddedToken] = []
    for node in try root["added_tokens"]?.array() ?? [] { added.append(try AddedToken.make(node)) }
    Self.addConfiguredTokens(configuration, to: &added, vocabulary: model.vocabulary)
    addedTokens = added
    var tokensByID: [Int: String] = [:]
    tokensByID.reserveCapacity(model.vocabulary.count + added.count)
    for (key, id) in model.vocabulary { tokensByID[id] = key.string }
    var addedIDs: [TokenKey: Int] = [:]
    for token in added {
      // The Rust library keeps a `normalized` token in its normalized form (what `id_to_token` returns).
      tokensByID[token.id] = token.normalized ? normalizer?.normalize(token.content) ?? token.content : token.content
      addedIDs[TokenKey(token.content)] = token.id
    }
    self.tokensByID = tokensByID
    addedIDsByContent = addedIDs
    specialIDs = Set(added.filter(\.special).map(\.id))
    let raw = added.filter { !$0.normalized }
    rawMatcher = AddedTokenMatcher(tokens: raw, patterns: raw.map(\.content))
    let normalizedTokens = added.filter(\.normalized)
    normalizedMatcher = AddedTokenMatcher(
      tokens: normalizedTokens, patterns: normalizedTokens.map { normalizer?.normalize($0.content) ?? $0.content })

    let vocabulary = model.vocabulary
    let lookUp: (String) -> Int? = { addedIDs[TokenKey($0)] ?? vocabulary[TokenKey($0)] }
    // transformers 5 (`PreTrainedTokenizerFast.from_pretrained`) ignores `add_bos_token`/`add_eos_token` of
    // tokenizer_config.json: the post-processor of tokenizer.json alone decides (none: nothing is added).
    postProcessor = try root["post_processor"].map { (node) throws(TokenizerError) in
      try PostProcessor.make(node, vocabulary: lookUp)
    }
  }

  /// Adds what transformers adds at load: `added_tokens_decoder` entries and named special tokens that
  /// `tokenizer.json`'s `added_tokens` lacks (with the model's id when the model has the text, else the next
  /// free id); a named token already added becomes special.
  private static func addConfiguredTokens(
    _ configuration: TokenizerConfiguration, to added: inout [AddedToken], vocabulary: [TokenKey: Int]
  ) {
    let modelSize = vocabulary.count
    func add(_ token: ConfiguredToken) {
      if let index = added.firstIndex(where: { $0.content == token.content }) {
        if token.special { added[index].special = true }
        return
      }
      let largestAdded = added.map(\.id).max()
      let next = largestAdded.map { $0 >= modelSize ? $0 + 1 : modelSize } ?? modelSize
      added.append(
        AddedToken(
          id: vocabulary[TokenKey(token.content)] ?? next, content: token.content, special: token.special,
          singleWord: token.singleWord, leftStrip: token.leftStrip, rightStrip: token.rightStrip,
          normalized: token.normalized))
    }
    configuration.decoderTokens.forEach(add)
    configuration.namedSpecialTokens.forEach(add)
  }

  // MARK: - Vocabulary

  /// The number of ids (the model's vocabulary plus added tokens).
  public var vocabularySize: Int { tokensByID.count }

  /// The id of a token (added tokens first, then the model's vocabulary).
  ///
  /// - Parameter token: The token text, exactly as in the vocabulary (`Ġthe`, `▁the`, `<|eot_id|>`).
  /// - Returns: The id, or nil when the token is unknown.
  public func id(for token: String) -> Int? {
    let key = TokenKey(token)
    return addedIDsByContent[key] ?? model.vocabulary[key]
  }

  /// The token text of an id.
  ///
  /// - Parameter id: A token id.
  /// - Returns: The token, or nil when the id is out of the vocabulary.
  public func token(for id: Int) -> String? { tokensByID[id] }

  /// Whether an id is a special added token (what `skipSpecialTokens` leaves out).
  ///
  /// - Parameter id: A token id.
  /// - Returns: True for special tokens.
  public func isSpecialToken(_ id: Int) -> Bool { specialIDs.contains(id) }

  /// Whether the decoder turns `<0xNN>` tokens into bytes.
  var usesByteFallback: Bool { decoder?.containsByteFallback ?? false }

  /// The beginning-of-sequence token text.
  public var bosToken: String? { configuration.bosToken }
  /// The end-of-sequence token text.
  public var eosToken: String? { configuration.eosToken }
  /// The padding token text.
  public var padToken: String? { configuration.padToken }
  /// The id of ``bosToken`` (or `bos_token_id` of `generation_config.json`).
  public var bosTokenID: Int? { bosToken.flatMap(id(for:)) ?? configuration.generationBOSTokenID }
  /// The id of ``padToken`` (or `pad_token_id` of `generation_config.json`).
  public var padTokenID: Int? { padToken.flatMap(id(for:)) ?? configuration.generationPadTokenID }
  /// The ids that end generation: `eos_token_id` of `generation_config.json` (one or several), else the id of
  /// ``eosToken``.
  public var eosTokenIDs: [Int] {
    if !configuration.generationEOSTokenIDs.isEmpty { return configuration.generationEOSTokenIDs }
    return eosToken.flatMap(id(for:)).map { [$0] } ?? []
  }
  /// The chat template(s) of the model folder, as written.
  public var chatTemplate: ChatTemplateSource? { configuration.chatTemplate }
}
