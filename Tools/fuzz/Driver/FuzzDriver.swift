// The fuzzing driver: one executable for every target.
//
// Built normally it replays files: `bnb-fuzz TARGET PATH...` runs each file (or each file in each folder)
// through the target and exits 0 unless one crashes. Built by `Tools/fuzz/run.sh` with
// `--sanitize fuzzer -Xswiftc -DFUZZING`, libFuzzer provides `main`; the target comes from the
// environment variable `BNB_FUZZ_TARGET`.
import Foundation
import FuzzHarnesses

#if FUZZING
  nonisolated(unsafe) private var selectedTarget = FuzzTarget.json

  /// libFuzzer's start-up hook: reads the target from `BNB_FUZZ_TARGET`.
  ///
  /// - Parameters:
  ///   - argc: The argument count (unused).
  ///   - argv: The arguments (unused).
  /// - Returns: 0; exits with status 64 for an unknown target.
  @_cdecl("LLVMFuzzerInitialize")
  public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> CInt
  {
    let name = ProcessInfo.processInfo.environment["BNB_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
      let choices = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
      FileHandle.standardError.write(Data("BNB_FUZZ_TARGET must be one of: \(choices) (found '\(name)')\n".utf8))
      exit(64)
    }
    selectedTarget = target
    return 0
  }

  /// libFuzzer's per-input hook: runs the selected target on one input.
  ///
  /// - Parameters:
  ///   - data: The input bytes.
  ///   - count: Their number.
  /// - Returns: 0 (the input is always acceptable to keep).
  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    selectedTarget.run(UnsafeRawBufferPointer(start: data, count: count))
    return 0
  }
#else
  @main
  struct FuzzDriver {
    static func main() {
      let arguments = CommandLine.arguments.dropFirst()
      guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count >= 2 else {
        let choices = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
        FileHandle.standardError.write(Data("usage: bnb-fuzz (\(choices)) FILE-OR-FOLDER...\n".utf8))
        exit(64)
      }
      var count = 0
      for path in arguments.dropFirst() {
        for file in FuzzCorpus.files(at: URL(filePath: path)) {
          guard let data = FileManager.default.contents(atPath: file.path) else {
            FileHandle.standardError.write(Data("cannot read \(file.path)\n".utf8))
            exit(66)
          }
          target.run(data)
          count += 1
        }
      }
      print("\(target.rawValue): \(count) inputs replayed")
    }
  }
#endif
