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
    if let url = file("special_tokens_map.json") { try configuration.readSpecialTokens(try JSONNode.read(url)) }
    if let url = file("tokenizer_config.json") {
      let node = try JSONNode.read(url)
      try configuration.readSpecialTokens(node)
      configuration.addBOSToken = try node.bool("add_bos_token")
      configuration.addEOSToken = try node.bool("add_eos_token")
      // Often 1e30 ("no limit"), which is no integer.
      configuration.modelMaxLength = try node["model_max_length"].flatMap { (length) throws(TokenizerError) in
        let value = try length.double()
        return value < 1e15 ? Int(value) : nil
      }
      if let template = node["chat_template"] { configuration.chatTemplate = try readTemplates(template) }
    }
    if let url = file("chat_template.jinja") {
      configuration.chatTemplate = .single(try readText(url))
    }
    let templateFolder = directory.appending(path: "chat_templates")
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

  private mutating func readSpecialTokens(_ node: JSONNode) throws(TokenizerError) {
    func token(_ key: String) throws(TokenizerError) -> String? {
      guard let entry = node[key] else { return nil }
      if let text = entry.stringValue { return text }
      // An AddedToken object: {"content": ..., "lstrip": ...}.
      return try entry.required("content").string()
    }
    if let value = try token("bos_token") { bosToken = value }
    if let value = try token("eos_token") { eosToken = value }
    if let value = try token("pad_token") { padToken = value }
    if let value = try token("unk_token") { unkToken = value }
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
