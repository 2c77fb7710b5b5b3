import BNBPatchKit
import Foundation
import MLXAffine
import QuantCore
import SafeTensors
import Testing

@Suite("bnb-patch jobs through the plugin")
struct BNBPatchJobTests {
  func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlx-affine-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test("the example job writes MLX's bytes for every projection and MLX's config block")
  func exampleJob() async throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("tiny-llama-affine4")
    let console = Console.capturing()
    let status = await BNBPatch.run(
      arguments: [
        "--config", repositoryRoot.appendingPathComponent("Examples/Plugins/MLXAffine/affine4.yaml").path,
        "--output", output.path, "--quiet",
      ],
      plugins: [MLXAffinePlugin()], console: console)
    #expect(status == 0, "\(console.capturedError)")
    let written = try SafeTensorsFile(contentsOf: output.appendingPathComponent("model.safetensors"))
    let reference = try fixture("mlx/tiny-llama-affine4-g64.safetensors")
    for name in reference.tensorNames {
      let expected = try #require(try reference.tensor(named: name))
      let actual = try #require(try written.tensor(named: name), "\(name) missing")
      #expect(actual.dtype == expected.dtype && actual.shape == expected.shape, "\(name)")
      #expect(actual.bytes == expected.bytes, "\(name)")
    }
    let downProj = try #require(try written.tensor(named: "model.layers.0.mlp.down_proj.weight"))
    #expect(downProj.dtype == .float16)
    let config = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("config.json")))
    let quantization = try #require((config as? [String: Any])?["quantization"] as? [String: Any])
    #expect(quantization["group_size"] as? Int == 64 && quantization["bits"] as? Int == 4)
    #expect((config as? [String: Any])?["quantization_config"] != nil)
  }

  @Test("a job naming a plugin this program lacks fails with line:column and the installed plugins")
  func missingPlugin() async throws {
    let folder = try temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let job = folder.appendingPathComponent("job.yaml")
    let model = repositoryRoot.appendingPathComponent("Examples/tiny-llama").path
    try "model: \(model)\noutput: \(folder.path)/out\nplugins: [mlx-affine, gguf]\nformat: affine4\n"
      .write(to: job, atomically: true, encoding: .utf8)
    let console = Console.capturing()
    let status = await BNBPatch.run(arguments: ["--config", job.path, "--quiet"], plugins: [MLXAffinePlugin()], console: console)
    #expect(status != 0)
    #expect(console.capturedError.contains("job.yaml:3:23"), "\(console.capturedError)")
    #expect(console.capturedError.contains("gguf"))
    #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("out").path))
  }
}
