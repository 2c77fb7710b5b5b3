// swift-tools-version: 6.1
//
// swift-bitsandbytes: 4-bit and 8-bit weight quantization for Swift, bit-identical to bitsandbytes.
//
// The manifest is a table: every library module is one row of `modules`, and its target, test target
// and product are derived from that row. Adding a module is one line.

import PackageDescription

/// One library module of the monorepo: `Packages/<name>/Sources`, tested by `Tests/<name>Tests`.
struct Module {
  var name: String
  var dependencies: [Target.Dependency] = []
  var resources: [Resource]? = nil
  var exclude: [String] = []
  var testDependencies: [Target.Dependency] = []
  var testResources: [Resource]? = nil
  var hasTests = true
  /// Whether the module is a library product (modules only our own tests use are not).
  var isProduct = true
}

let yams = Target.Dependency.product(name: "Yams", package: "Yams")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let modules: [Module] = [
  Module(name: "QuantCore", dependencies: [yams]),
  Module(name: "DoubleQuant", dependencies: ["QuantCore"], testDependencies: ["FormatConformance"]),
  // The shared blockwise 4-bit codebook machinery: NF4, FP4 and any third-party 16-entry codebook.
  Module(name: "Blockwise4Bit", dependencies: ["QuantCore", "DoubleQuant"], testDependencies: ["FormatConformance"]),
  Module(
    name: "FormatNF4", dependencies: ["QuantCore", "DoubleQuant", "Blockwise4Bit"], testDependencies: ["FormatConformance"]),
  Module(
    name: "FormatFP4", dependencies: ["QuantCore", "DoubleQuant", "Blockwise4Bit"], testDependencies: ["FormatConformance"]),
  Module(name: "FormatFP8", dependencies: ["QuantCore"], testDependencies: ["FormatConformance", "SafeTensors", "BitsAndBytes"]),
  Module(name: "FormatINT8", dependencies: ["QuantCore"], testDependencies: ["FormatConformance"]),
  Module(name: "CPUKernels", dependencies: ["QuantCore", "_CPUKernelsNative"]),
  Module(
    name: "QuantizedLinear",
    dependencies: ["QuantCore", "DoubleQuant", "Blockwise4Bit", "FormatNF4", "FormatFP4", "FormatINT8", "FormatFP8"],
    testDependencies: ["CPUKernels"]
  ),
  Module(
    name: "MetalKernels", dependencies: ["QuantCore"], resources: [.copy("Shaders")],
    testDependencies: ["MetalEmulator", "FormatNF4", "FormatFP4", "FormatConformance"]
  ),
  // Test machinery for the Metal shaders on Linux: a target, not a product.
  Module(name: "MetalEmulator", dependencies: ["QuantCore"], resources: [.copy("Shim")], testResources: [.copy("Kernels")], isProduct: false),
  Module(name: "SafeTensors", dependencies: ["QuantCore"]),
  Module(name: "FormatConformance", dependencies: ["QuantCore"]),
  // Knows no format by name: formats declare their config.json entries and checkpoint markers.
  Module(
    name: "ModelPatcher", dependencies: ["QuantCore", "DoubleQuant", "SafeTensors", "_CPUKernelsNative", "_ModelPatcherNative"],
    testDependencies: ["FormatConformance", "BitsAndBytes"]),
  Module(name: "BNBPatchKit", dependencies: ["ModelPatcher", "BitsAndBytes", argumentParser]),
  // Decoder-only language models (Llama, Mistral, Qwen2/3, Phi-3, Gemma 2) on the layers and backends.
  Module(
    name: "LanguageModels",
    dependencies: ["QuantCore", "SafeTensors", "QuantizedLinear", "CPUKernels", "ModelPatcher", "BitsAndBytes"],
    testDependencies: ["BitsAndBytes", "ModelPatcher", "SafeTensors", "CPUKernels"]
  ),
  // A Jinja interpreter for the chat templates in tokenizer_config.json, identical to transformers' rendering.
  Module(name: "ChatTemplates", testDependencies: ["bnb-tokenizer"]),
  // Logits processors, sampling and stopping as transformers' `generate` applies them; knows no model.
  Module(name: "TextGeneration"),
  // Hugging Face tokenizer.json (BPE) encode/decode, identical to transformers; Foundation only.
  Module(name: "Tokenizers", testDependencies: ["bnb-tokenizer"]),
  // `bnb-generate` and `bnb-chat` as a library (the executables are one line each).
  Module(
    name: "BNBGenerateKit",
    dependencies: [
      "LanguageModels", "TextGeneration", "Tokenizers", "ChatTemplates", "QLoRA", "BNBPatchKit", "BitsAndBytes", "ModelPatcher",
      "QuantCore", "SafeTensors",
      argumentParser,
    ],
    testDependencies: ["LanguageModels", "BNBPatchKit", "SafeTensors", "QuantCore", "Tokenizers", "QLoRA"]
  ),
  // QLoRA: LoRA adapters over frozen quantized linears, hand-written backward passes, AdamW, PEFT files.
  Module(name: "QLoRA", dependencies: ["QuantCore", "SafeTensors", "LanguageModels", "Tokenizers", "ChatTemplates", "CPUKernels"], testDependencies: ["SafeTensors", "FormatNF4", "LanguageModels", "CPUKernels"]),
  // The umbrella assembles the application: it re-exports every module and owns the list of built-in
  // plugins (`StandardRegistry`) with the bundled `registry.yaml`.
  Module(
    name: "BitsAndBytes",
    dependencies: [
      "QuantCore", "DoubleQuant", "Blockwise4Bit", "FormatNF4", "FormatFP4", "FormatFP8", "FormatINT8", "CPUKernels",
      "QuantizedLinear",
      "MetalKernels", "SafeTensors", "ModelPatcher",
    ],
    resources: [.copy("Resources/registry.yaml")],
    testDependencies: ["FormatConformance"]
  ),
]

let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

var targets: [Target] = modules.flatMap { module -> [Target] in
  var result: [Target] = [
    .target(
      name: module.name,
      dependencies: module.dependencies,
      path: "Packages/\(module.name)/Sources",
      exclude: module.exclude,
      resources: module.resources,
      swiftSettings: swiftSettings
    )
  ]
  if module.hasTests {
    result.append(
      .testTarget(
        name: "\(module.name)Tests",
        dependencies: [.target(name: module.name), "TestSupport"] + module.testDependencies,
        path: "Tests/\(module.name)Tests",
        resources: module.testResources,
        swiftSettings: swiftSettings
      )
    )
  }
  return result
}

targets += [
  // Hand-written SIMD kernels (AVX2/FMA/F16C chosen at run time, NEON on arm64). No API of its own.
  .target(name: "_CPUKernelsNative", path: "Packages/CPUKernels/Native"),
  // No-replace rename and process checks for ModelPatcher's output transactions (renameat2, renamex_np).
  .target(name: "_ModelPatcherNative", path: "Packages/ModelPatcher/Native"),
  // Fixtures and helpers shared by every test target (seeded random data comes from FormatConformance).
  .target(
    name: "TestSupport",
    dependencies: ["QuantCore", "SafeTensors", "FormatConformance", "DoubleQuant", "Blockwise4Bit"],
    path: "Tests/TestSupport",
    swiftSettings: swiftSettings
  ),
  .executableTarget(
    name: "bnb-patch",
    dependencies: ["BNBPatchKit"],
    path: "Tools/bnb-patch",
    swiftSettings: swiftSettings
  ),
  // Fuzz targets (Tools/fuzz): the harness library, the libFuzzer/replay driver, and the replay of the
  // committed corpora and crash inputs in `swift test`.
  .target(
    name: "FuzzHarnesses",
    dependencies: [
      "QuantCore", "SafeTensors", "ModelPatcher", "BitsAndBytes", "Tokenizers", "ChatTemplates", "LanguageModels", "QLoRA",
    ],
    path: "Tools/fuzz/Harnesses",
    swiftSettings: swiftSettings
  ),
  .executableTarget(
    name: "bnb-fuzz",
    dependencies: ["FuzzHarnesses"],
    path: "Tools/fuzz/Driver",
    swiftSettings: swiftSettings
  ),
  .testTarget(
    name: "FuzzRegressionTests",
    dependencies: ["FuzzHarnesses", "TestSupport"],
    path: "Tests/FuzzRegressionTests",
    swiftSettings: swiftSettings
  ),
  .executableTarget(
    name: "bnb-generate",
    dependencies: ["BNBGenerateKit"],
    path: "Tools/bnb-generate",
    swiftSettings: swiftSettings
  ),
  .executableTarget(
    name: "bnb-lora",
    dependencies: ["BNBGenerateKit"],
    path: "Tools/bnb-lora",
    swiftSettings: swiftSettings
  ),
  .executableTarget(
    name: "bnb-chat",
    dependencies: ["BNBGenerateKit"],
    path: "Tools/bnb-chat",
    swiftSettings: swiftSettings
  ),
  .executableTarget(
    name: "bnb-tokenizer",
    dependencies: ["Tokenizers", "ChatTemplates", argumentParser],
    path: "Tools/bnb-tokenizer",
    swiftSettings: swiftSettings
  ),
  .executableTarget(
    name: "bnb-bench",
    dependencies: ["BitsAndBytes", "CPUKernels", "LanguageModels", "ModelPatcher", "QLoRA", argumentParser],
    path: "Tools/bnb-bench",
    swiftSettings: swiftSettings
  ),
]

let package = Package(
  name: "swift-bitsandbytes",
  platforms: [.macOS(.v15)],
  products: modules.filter(\.isProduct).map { .library(name: $0.name, targets: [$0.name]) } + [
    .executable(name: "bnb-patch", targets: ["bnb-patch"]),
    .executable(name: "bnb-bench", targets: ["bnb-bench"]),
    .executable(name: "bnb-generate", targets: ["bnb-generate"]),
    .executable(name: "bnb-chat", targets: ["bnb-chat"]),
    .executable(name: "bnb-lora", targets: ["bnb-lora"]),
    .executable(name: "bnb-tokenizer", targets: ["bnb-tokenizer"]),
  ],
  dependencies: [
    .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: targets
)
