public import Foundation

/// What `tokenizer_config.json`, `special_tokens_map.json` and `generation_config.json` add to `tokenizer.json`.
public struct TokenizerConfiguration: Sendable, Equatable {
  /// The beginning-of-sequence token text.
  public var bosToken: String?
  /// The end-of-sequence token text.
  public var eosToken: String?
  /// The padding token text.
  public var padToken: String?
  /// The unknown token text.
  public var unkToken: String?
  /// `add_bos_token`, when the configuration states it (transformers then rebuilds the post-processor).
  public var addBOSToken: Bool?
  /// `add_eos_token`, when the configuration states it.
  public var addEOSToken: Bool?
  /// End-of-sequence ids from `generation_config.json` (`eos_token_id`, a number or a list).
  public var generationEOSTokenIDs: [Int] = []
  /// `bos_token_id` of `generation_config.json`.
  public var generationBOSTokenID: Int?
  /// `pad_token_id` of `generation_config.json`.
  public var generationPadTokenID: Int?
  /// The chat template(s), when the folder has any.
  public var chatTemplate: ChatTemplateSource?
  /// `model_max_length`, when stated.
  public var modelMaxLength: Int?
  /// `added_tokens_decoder` of `tokenizer_config.json`, in id order: transformers adds those that
  /// `tokenizer.json` lacks.
  var decoderTokens: [ConfiguredToken] = []
  /// The named special tokens (bos, eos, unk, sep, pad, cls, mask, then the extra ones), in the order
  /// transformers adds those that `tokenizer.json` lacks.
  var namedSpecialTokens: [ConfiguredToken] = []

  /// An empty configuration (what a bare `tokenizer.json` gets).
  public init() {}

  /// Reads the configuration files of a model folder; absent files are skipped.
  ///
  /// - Parameter directory: The model folder.
  /// - Returns: The configuration.
  /// - Throws: ``TokenizerError`` naming the file when one exists but is malformed.
  public static func load(directory: URL) throws(TokenizerError) -> TokenizerConfiguration {
    var configuration = TokenizerConfiguration()
    let manager = FileManager.default
    func file(_ name: String) -> URL? {
      let url = directory.appending(path: name)
      return manager.fileExists(atPath: url.path) ? url : nil
    }
    let config = try file("tokenizer_config.json").map { (url) throws(TokenizerError) in try JSONNode.read(url) }
    var named = NamedSpecialTokens()
    if let node = config {
      try named.read(node, fromMap: false)
      configuration.decoderTokens = try readAddedTokensDecoder(node)
    }
    // transformers 5 reads special_tokens_map.json only when tokenizer_config.json has no
    // `added_tokens_decoder`; the map's entries then override tokenizer_config.json's.
    if config?["added_tokens_decoder"] == nil, let url = file("special_tokens_map.json") {
      try named.read(try JSONNode.read(url), fromMap: true)
    }
    configuration.bosToken = named.tokens["bos_token"]?.content
    configuration.eosToken = named.tokens["eos_token"]?.content
    configuration.padToken = named.tokens["pad_token"]?.content
    configuration.unkToken = named.tokens["unk_token"]?.content
    configuration.namedSpecialTokens = named.ordered
    if let node = config {
      configuration.addBOSToken = try node.bool("add_bos_token")
      configuration.addEOSToken = try node.bool("add_eos_token")
      // Often 1e30 ("no limit"), which is no integer.
      configuration.modelMaxLength = try node["model_max_length"].flatMap { (length) throws(TokenizerError) in
        let value = try length.double()
        // Only a finite, non-negative length below 10^15 is a real limit; anything else (1e30, -1, a huge
        // negative value) would trap in `Int(_:)` or mean nothing.
        guard value.isFinite, value >= 0, value < 1e15 else { return nil }
        return Int(value)
      }
      if let template = node["chat_template"] { configuration.chatTemplate = try readTemplates(template) }
    }
    if let url = file("chat_template.jinja") {
      configuration.chatTemplate = .single(try readText(url))
    }
    let templateFolder = directory.appending(path: "additional_chat_templates")
    if let names = try? manager.contentsOfDirectory(atPath: templateFolder.path) {
      var named: [NamedChatTemplate] = []
      if case .single(let text) = configuration.chatTemplate { named.append(NamedChatTemplate(name: "default", template: text)) }
      for name in names.sorted() where name.hasSuffix(".jinja") {
        let text = try readText(templateFolder.appending(path: name))
        named.append(NamedChatTemplate(name: String(name.dropLast(6)), template: text))
      }
      if !named.isEmpty { configuration.chatTemplate = .named(named) }
    }
    if let url = file("generation_config.json") {
      let node = try JSONNode.read(url)
      if let eos = node["eos_token_id"] {
        if eos.isArray {
          configuration.generationEOSTokenIDs = try eos.array().map { (id) throws(TokenizerError) in try id.int() }
        } else {
          configuration.generationEOSTokenIDs = [try eos.int()]
        }
      }
      configuration.generationBOSTokenID = try node.int("bos_token_id")
      configuration.generationPadTokenID = try node.int("pad_token_id")
    }
    return configuration
  }

  private static func readAddedTokensDecoder(_ node: JSONNode) throws(TokenizerError) -> [ConfiguredToken] {
    guard let decoder = node["added_tokens_decoder"] else { return [] }
    var entries: [(index: Int, token: ConfiguredToken)] = []
    for (key, entry) in try decoder.members() {
      guard let index = Int(key) else { throw entry.mismatch("an entry keyed by a token id") }
      let special = try entry.bool("special") ?? false
      entries.append((index, try ConfiguredToken(entry, special: special)))
    }
    return entries.sorted { $0.index < $1.index }.map(\.token)
  }

  private static func readTemplates(_ node: JSONNode) throws(TokenizerError) -> ChatTemplateSource {
    if let text = node.stringValue { return .single(text) }
    var named: [NamedChatTemplate] = []
    for entry in try node.array() {
      named.append(
        NamedChatTemplate(name: try entry.required("name").string(), template: try entry.required("template").string()))
    }
    return .named(named)
  }

  private static func readText(_ url: URL) throws(TokenizerError) -> String {
    do {
      return try String(contentsOf: url, encoding: .utf8)
    } catch {
      throw .unreadable(file: url.path, reason: (error as NSError).localizedDescription)
    }
  }
}

/// A token named by a configuration file, with the flags it was given.
struct ConfiguredToken: Sendable, Equatable {
  var content: String
  var special: Bool
  var singleWord = false
  var leftStrip = false
  var rightStrip = false
  var normalized: Bool

  /// A token given as text (transformers makes it special and not normalized).
  init(content: String) {
    self.content = content
    special = true
    normalized = false
  }

  /// A token given as an `AddedToken` object (`{"content": …, "lstrip": …}`) or as text.
  init(_ node: JSONNode, special: Bool) throws(TokenizerError) {
    if let text = node.stringValue {
      self.init(content: text)
      self.special = special
      return
    }
    self.init(content: try node.required("content").string())
    self.special = special
    singleWord = try node.bool("single_word") ?? false
    leftStrip = try node.bool("lstrip") ?? false
    rightStrip = try node.bool("rstrip") ?? false
    normalized = try node.bool("normalized") ?? !special
  }
}

/// The special tokens that `tokenizer_config.json` and `special_tokens_map.json` name.
private struct NamedSpecialTokens {
  static let attributes = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
  var tokens: [String: ConfiguredToken] = [:]
  var extras: [ConfiguredToken] = []
  var hasExtraKey = false

  /// Reads one file; a map's values override what is there (transformers' legacy merge).
  mutating func read(_ node: JSONNode, fromMap: Bool) throws(TokenizerError) {
    for key in Self.attributes {
      guard let entry = node[key] else { continue }
      tokens[key] = try ConfiguredToken(entry, special: true)
    }
    if let list = node["extra_special_tokens"], list.isArray {
      hasExtraKey = true
      for entry in try list.array() {
        let token = try ConfiguredToken(entry, special: true)
        if !extras.contains(where: { $0.content == token.content }) { extras.append(token) }
      }
    }
    // `additional_special_tokens` is the older name: used only when no extra tokens are given.
    if let list = node["additional_special_tokens"], list.isArray, !hasExtraKey || (!fromMap && extras.isEmpty) {
      extras = try list.array().map { (entry) throws(TokenizerError) in try ConfiguredToken(entry, special: true) }
      hasExtraKey = !extras.isEmpty
    }
  }

  /// The tokens in the order transformers adds them.
  var ordered: [ConfiguredToken] { Self.attributes.compactMap { tokens[$0] } + extras }
}
