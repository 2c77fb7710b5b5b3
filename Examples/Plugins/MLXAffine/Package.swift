// swift-tools-version: 6.1
//
// An example third-party plugin for swift-bitsandbytes: MLX's affine quantization (`affine4`,
// `affine8`), written against the package's public products only.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("InternalImportsByDefault"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "MLXAffinePlugin",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "MLXAffine", targets: ["MLXAffine"]),
    .executable(name: "bnb-patch-mlx", targets: ["bnb-patch-mlx"]),
  ],
  dependencies: [
    // A real plugin would write `.package(url: "https://github.com/…/swift-bitsandbytes", branch: "main")` until the
    // first release is tagged (CHANGELOG.md), then `from: "0.2.0"`. A path dependency is named after its folder.
    .package(name: "swift-bitsandbytes", path: "../../..")
  ],
  targets: [
    .target(
      name: "MLXAffine",
      dependencies: [.product(name: "QuantCore", package: "swift-bitsandbytes")],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "bnb-patch-mlx",
      dependencies: ["MLXAffine", .product(name: "BNBPatchKit", package: "swift-bitsandbytes")],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "MLXAffineTests",
      dependencies: [
        "MLXAffine",
        .product(name: "QuantCore", package: "swift-bitsandbytes"),
        .product(name: "FormatConformance", package: "swift-bitsandbytes"),
        .product(name: "SafeTensors", package: "swift-bitsandbytes"),
        .product(name: "BNBPatchKit", package: "swift-bitsandbytes"),
      ],
      swiftSettings: swiftSettings
    ),
  ]
)
