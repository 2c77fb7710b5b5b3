import ChatTemplates
import Testing

/// The `--messages` file: a list, or an object with messages, tools and documents; bad shapes name the file.
@Suite("Chat requests")
struct ChatRequestTests {
  @Test func listOrObject() throws {
    let list = try ChatRequest(json: #"[{"role": "user", "content": "hi"}]"#)
    #expect(list.messages.count == 1)
    #expect(list.variables.isEmpty)
    let object = try ChatRequest(
      json: #"{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}], "documents": null}"#)
    #expect(object.tools != nil)
    #expect(object.documents == nil)
    #expect(object.variables.keys.sorted() == ["tools"])
  }

  @Test(arguments: [
    "[1, 2]", #"{"tools": []}"#, #"{"messages": {}}"#, #"{"messages": [], "tools": 3}"#, "\"text\"", "[{\"role\": ",
  ])
  func malformedRequestsNameTheFile(json: String) {
    do {
      _ = try ChatRequest(json: json, source: "chat.json")
      Issue.record("expected an error for \(json)")
    } catch {
      guard case .invalidRequest(let message) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(message.hasPrefix("chat.json: "))
    }
  }

  @Test func requestRendersWithTools() throws {
    let request = try ChatRequest(
      json: #"{"messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "f", "a": 1}]}"#)
    let template = try ChatTemplate(source: "{{ tools | tojson }}{% for m in messages %}{{ m.content }}{% endfor %}")
    let text = try template.render(orderedMessages: request.messages, addGenerationPrompt: false, context: request.variables)
    #expect(text == #"[{"name": "f", "a": 1}]hi"#)
  }
}
