/// The object-file format emulated kernels are compiled into: it decides the name of the section that
/// holds threadgroup storage (the runtime finds the section through linker-defined symbols).
public enum EmulatorObjectFormat: Sendable, Hashable, CaseIterable {
  /// ELF (Linux): section `mtlemu_tg`, bounded by `__start_mtlemu_tg` / `__stop_mtlemu_tg`.
  case elf
  /// Mach-O (macOS): section `__DATA,mtlemu_tg`, bounded by `section$start$__DATA$mtlemu_tg` / `section$end$…`.
  case machO

  /// The format of the platform this code runs on.
  public static var host: EmulatorObjectFormat {
    #if canImport(Darwin)
      .machO
    #else
      .elf
    #endif
  }

  /// The `__attribute__((section(…)))` argument for threadgroup storage.
  var threadgroupSection: String {
    switch self {
    case .elf: "mtlemu_tg"
    case .machO: "__DATA,mtlemu_tg"
    }
  }
}
