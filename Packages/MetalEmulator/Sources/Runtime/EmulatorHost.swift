public import Foundation

/// Whether emulated kernels can run on this machine.
///
/// Linux on x86-64 and AArch64 is the supported host (CI). On macOS the runtime has a Mach-O path
/// (section symbols, the AArch64 context switch, Darwin's signal context) that has been compiled for
/// `arm64-apple-macos15` from Linux but never linked or run on a Mac, so the emulator suites skip
/// there unless `MTLEMU_DARWIN=1` asks to try it. On a Mac the real GPU suite is the check that
/// matters (`MetalKernelsTests`' GPU suite).
public enum EmulatorHost {
  /// `true` where emulated kernels run by default, or where `MTLEMU_DARWIN=1` opts in on macOS.
  public static var isSupported: Bool { unsupportedReason == nil }

  /// Why emulated kernels do not run here, or `nil` when they do.
  public static var unsupportedReason: String? {
    #if os(Linux)
      return nil
    #elseif canImport(Darwin)
      if ProcessInfo.processInfo.environment["MTLEMU_DARWIN"] == "1" { return nil }
      return "the Metal emulator's macOS path is unverified: emulated-kernel tests are skipped "
        + "(MTLEMU_DARWIN=1 runs them; the GPU suite checks the real shaders on a Mac)"
    #else
      return "the Metal emulator runs on Linux only"
    #endif
  }
}
