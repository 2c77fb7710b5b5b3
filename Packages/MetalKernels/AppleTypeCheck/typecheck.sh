#!/bin/sh
# Type-checks the Apple-only host code of MetalKernels (Sources/Apple, `#if canImport(Metal)`) on Linux
# against Metal.swift, a stand-in declaring the Metal API it uses. It catches Swift errors (types,
# typed throws, optionals, missing members) in code no Linux build compiles; it cannot catch a
# signature that differs from Apple's SDK. Run after `swift build` (it uses that build's modules); after
# `swift test` it also type-checks the GPU test suite. Exit status 0 when the code type-checks.
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
modules=$(swift build --show-bin-path --package-path "$root")/Modules
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here="$root/Packages/MetalKernels"
# SwiftPM names the package after the checkout's directory (`package` access needs the same name).
package=$(basename "$root" | tr -c 'A-Za-z0-9_\n' '_')
swiftc -emit-module -module-name Metal -parse-as-library "$here/AppleTypeCheck/Metal.swift" -o "$work/Metal.swiftmodule"
# A resource accessor like the one SwiftPM generates (Bundle.module).
printf 'import Foundation\nextension Foundation.Bundle { static var module: Bundle { Bundle.main } }\n' >"$work/bundle.swift"
# -emit-sil runs the mandatory SIL diagnostics too (exclusivity, definite initialization), not only types.
swiftc -emit-sil -wmo -o /dev/null -module-name MetalKernels -parse-as-library -swift-version 6 -package-name "$package" \
  -enable-upcoming-feature InternalImportsByDefault -enable-upcoming-feature MemberImportVisibility \
  -I "$work" -I "$modules" $(find "$root/.build/checkouts" -name module.modulemap -path '*CYaml*' | sed 's/^/-Xcc -fmodule-map-file=/') \
  $(find "$here/Sources" -name '*.swift') "$work/bundle.swift"
echo "MetalKernels' Apple host code type-checks against the Metal stand-in"
# The GPU test suite (`#if canImport(Metal)`) uses only public API: type-check it as it is, with the
# condition forced on, when the test modules have been built (`swift build --build-tests`, `swift test`).
if [ -e "$modules/TestSupport.swiftmodule" ]; then
  swiftc -typecheck -D BNB_TYPECHECK_GPU_TESTS -module-name MetalKernelsTests -swift-version 6 \
    -package-name "$package" -enable-upcoming-feature InternalImportsByDefault \
    -enable-upcoming-feature MemberImportVisibility -I "$modules" -I "$modules/.." \
    $(find "$root/.build/checkouts" -name module.modulemap -path '*CYaml*' | sed 's/^/-Xcc -fmodule-map-file=/') \
    "$root"/Tests/MetalKernelsTests/*.swift
  echo "the GPU test suite type-checks"
else
  echo "test modules not built: the GPU test suite was not type-checked"
fi
