public import Foundation
import QuantCore

/// A grid or threadgroup size (Metal's `MTLSize`).
public struct EmulatedSize: Sendable, Hashable, CustomStringConvertible {
  /// Threads or threadgroups along x.
  public var width: Int
  /// … along y.
  public var height: Int
  /// … along z.
  public var depth: Int

  /// Creates a size.
  ///
  /// - Parameters:
  ///   - width: Along x.
  ///   - height: Along y.
  ///   - depth: Along z.
  public init(_ width: Int, _ height: Int = 1, _ depth: Int = 1) {
    self.width = width
    self.height = height
    self.depth = depth
  }

  /// `(w, h, d)`.
  public var description: String { "(\(width), \(height), \(depth))" }

  var isValid: Bool { width > 0 && height > 0 && depth > 0 && width <= Int(UInt32.max) && height <= Int(UInt32.max) }
  var uint32s: [UInt32] { [UInt32(width), UInt32(height), UInt32(depth)] }
}

/// One argument of a dispatch, bound at an index as a compute encoder would bind it.
public enum EmulatedBinding: @unchecked Sendable {
  /// `setBuffer(_:offset:index:)`.
  case buffer(EmulatedBuffer, offset: Int = 0, index: Int)
  /// `setBytes(_:length:index:)`.
  case bytes([UInt8], index: Int)
  /// `setThreadgroupMemoryLength(_:index:)`.
  case threadgroupMemory(length: Int, index: Int)
}

/// The order in which a threadgroup's threads run between synchronization points.
///
/// Some intra-threadgroup races only show in one order; run tests in both.
public enum LaneOrder: String, Sendable, CaseIterable {
  /// Thread 0 first.
  case forward
  /// The last thread first.
  case reverse
}

/// A compiled kernel library (the emulator's `MTLLibrary` plus a compute encoder).
///
/// Dispatches run synchronously on the calling thread, one at a time per process (the runtime's
/// fault handler is process-wide).
public final class EmulatedLibrary: @unchecked Sendable {
  /// The kernels it holds, by host name.
  public let functionNames: [String]
  /// The shared library on disk.
  public let path: URL

  private typealias CountFunction = @convention(c) () -> Int32
  private typealias NameFunction = @convention(c) (Int32) -> UnsafePointer<CChar>?
  private typealias ErrorFunction = @convention(c) () -> UnsafePointer<CChar>?
  private typealias ClearFunction = @convention(c) () -> Void
  private typealias BindBufferFunction = @convention(c) (Int32, UnsafeMutableRawPointer?, UInt64) -> Int32
  private typealias BindBytesFunction = @convention(c) (Int32, UnsafeRawPointer?, UInt64) -> Int32
  private typealias BindThreadgroupFunction = @convention(c) (Int32, UInt64) -> Int32
  private typealias OptionsFunction = @convention(c) (Int32, Int32) -> Void
  private typealias DispatchFunction =
    @convention(c) (Int32, UnsafePointer<UInt32>?, UnsafePointer<UInt32>?, UnsafePointer<UInt32>?) -> Int32

  private let handle: UnsafeMutableRawPointer
  private let toolchain: EmulatorToolchain
  private let lastError: ErrorFunction
  private let clearBindings: ClearFunction
  private let bindBuffer: BindBufferFunction
  private let bindBytes: BindBytesFunction
  private let bindThreadgroup: BindThreadgroupFunction
  private let setOptions: OptionsFunction
  private let dispatchFunction: DispatchFunction
  private let functionIndex: [String: Int32]

  private static let loaded = Locked<[String: EmulatedLibrary]>([:])
  private static let dispatchLock = Locked(())

  /// Compiles `.metal` sources (or reuses the cached result) and loads them.
  ///
  /// - Parameters:
  ///   - sources: The `.metal` files, unmodified (they are `#include`d into one translation unit).
  ///   - options: Compile options.
  ///   - toolchain: clang and the cache; detected when `nil`.
  /// - Returns: The loaded library (one instance per compiled file per process).
  /// - Throws: `MetalEmulatorError` when a step fails; compile errors carry clang's messages.
  public static func compile(
    sources: [URL], options: EmulatorCompileOptions = EmulatorCompileOptions(), toolchain: EmulatorToolchain? = nil
  ) throws(MetalEmulatorError) -> EmulatedLibrary {
    let resolved: EmulatorToolchain
    if let toolchain { resolved = toolchain } else { resolved = try EmulatorToolchain.detect() }
    let path = try EmulatorCompiler.library(sources: sources, options: options, toolchain: resolved)
    if let library = loaded.withLock({ $0[path.path] }) { return library }
    let library = try EmulatedLibrary(path: path, toolchain: resolved)
    return loaded.withLock { libraries in
      if let existing = libraries[path.path] { return existing }
      libraries[path.path] = library
      return library
    }
  }

  private static func symbol<T>(_ handle: UnsafeMutableRawPointer, _ name: String, as type: T.Type) throws(MetalEmulatorError)
    -> T
  {
    guard let pointer = dlsym(handle, name) else {
      throw .libraryLoadFailed("symbol \(name) is missing")
    }
    return unsafeBitCast(pointer, to: type)
  }

  private init(path: URL, toolchain: EmulatorToolchain) throws(MetalEmulatorError) {
    guard let handle = dlopen(path.path, RTLD_NOW | RTLD_LOCAL) else {
      throw .libraryLoadFailed(dlerror().map { String(cString: $0) } ?? path.path)
    }
    self.handle = handle
    self.path = path
    self.toolchain = toolchain
    let count = try Self.symbol(handle, "mtlemu_function_count", as: CountFunction.self)
    let name = try Self.symbol(handle, "mtlemu_function_name", as: NameFunction.self)
    lastError = try Self.symbol(handle, "mtlemu_last_error", as: ErrorFunction.self)
    clearBindings = try Self.symbol(handle, "mtlemu_clear_bindings", as: ClearFunction.self)
    bindBuffer = try Self.symbol(handle, "mtlemu_bind_buffer", as: BindBufferFunction.self)
    bindBytes = try Self.symbol(handle, "mtlemu_bind_bytes", as: BindBytesFunction.self)
    bindThreadgroup = try Self.symbol(handle, "mtlemu_bind_threadgroup_memory", as: BindThreadgroupFunction.self)
    setOptions = try Self.symbol(handle, "mtlemu_set_options", as: OptionsFunction.self)
    dispatchFunction = try Self.symbol(handle, "mtlemu_dispatch", as: DispatchFunction.self)
    var names: [String] = []
    var index: [String: Int32] = [:]
    for i in 0..<count() {
      let functionName = name(i).map { String(cString: $0) } ?? ""
      names.append(functionName)
      index[functionName] = i
    }
    functionNames = names
    functionIndex = index
  }

  /// `dispatchThreadgroups(_:threadsPerThreadgroup:)`: runs `function` over whole threadgroups.
  ///
  /// - Parameters:
  ///   - function: The kernel's host name.
  ///   - threadgroups: Threadgroups per grid.
  ///   - threadsPerThreadgroup: Threads per threadgroup (at most 1024).
  ///   - bindings: Buffers, bytes and threadgroup memory by index.
  ///   - laneOrder: The order threads run between synchronization points.
  ///   - strictBarriers: Whether a barrier reached after some threads returned is an error.
  /// - Throws: `MetalEmulatorError.dispatchFailed` with the runtime's report, or `invalidArgument`.
  public func dispatchThreadgroups(
    _ function: String, threadgroups: EmulatedSize, threadsPerThreadgroup: EmulatedSize,
    bindings: [EmulatedBinding], laneOrder: LaneOrder = .forward, strictBarriers: Bool = true
  ) throws(MetalEmulatorError) {
    try run(
      function, groups: threadgroups, size: threadsPerThreadgroup, grid: nil, bindings: bindings,
      laneOrder: laneOrder, strictBarriers: strictBarriers)
  }

  /// `dispatchThreads(_:threadsPerThreadgroup:)`: runs `function` over exactly `threads` threads; the
  /// threadgroups at the grid's edges are partial, as with non-uniform threadgroup sizes on Apple GPUs.
  ///
  /// - Parameters:
  ///   - function: The kernel's host name.
  ///   - threads: Threads per grid.
  ///   - threadsPerThreadgroup: Threads per (full) threadgroup.
  ///   - bindings: Buffers, bytes and threadgroup memory by index.
  ///   - laneOrder: The order threads run between synchronization points.
  ///   - strictBarriers: Whether a barrier reached after some threads returned is an error.
  /// - Throws: `MetalEmulatorError.dispatchFailed` with the runtime's report, or `invalidArgument`.
  public func dispatchThreads(
    _ function: String, threads: EmulatedSize, threadsPerThreadgroup: EmulatedSize,
    bindings: [EmulatedBinding], laneOrder: LaneOrder = .forward, strictBarriers: Bool = true
  ) throws(MetalEmulatorError) {
    guard threads.isValid, threadsPerThreadgroup.isValid else {
      throw .invalidArgument("invalid grid \(threads) or threadgroup \(threadsPerThreadgroup)")
    }
    let groups = EmulatedSize(
      (threads.width + threadsPerThreadgroup.width - 1) / threadsPerThreadgroup.width,
      (threads.height + threadsPerThreadgroup.height - 1) / threadsPerThreadgroup.height,
      (threads.depth + threadsPerThreadgroup.depth - 1) / threadsPerThreadgroup.depth)
    try run(
      function, groups: groups, size: threadsPerThreadgroup, grid: threads, bindings: bindings,
      laneOrder: laneOrder, strictBarriers: strictBarriers)
  }

  private func run(
    _ function: String, groups: EmulatedSize, size: EmulatedSize, grid: EmulatedSize?,
    bindings: [EmulatedBinding], laneOrder: LaneOrder, strictBarriers: Bool
  ) throws(MetalEmulatorError) {
    guard let index = functionIndex[function] else {
      throw .unknownFunction(function, available: functionNames)
    }
    guard groups.isValid, size.isValid, size.width * size.height * size.depth <= 1024 else {
      throw .invalidArgument("invalid threadgroups \(groups) or threadgroup size \(size) (at most 1024 threads)")
    }
    try Self.dispatchLock.withLock { (_) throws(MetalEmulatorError) in
      clearBindings()
      for binding in bindings {
        let status: Int32
        switch binding {
        case .buffer(let buffer, let offset, let slot):
          guard offset >= 0, offset <= buffer.length else {
            throw .invalidArgument("offset \(offset) is outside a \(buffer.length)-byte buffer at index \(slot)")
          }
          status = bindBuffer(Int32(slot), buffer.contents + offset, UInt64(buffer.length - offset))
        case .bytes(let bytes, let slot):
          status = bytes.withUnsafeBytes { bindBytes(Int32(slot), $0.baseAddress, UInt64($0.count)) }
        case .threadgroupMemory(let length, let slot):
          guard length >= 0, length <= 32 * 1024 else {
            throw .invalidArgument("threadgroup memory length \(length) at index \(slot) (at most 32 KiB)")
          }
          status = bindThreadgroup(Int32(slot), UInt64(length))
        }
        guard status == 0 else { throw .invalidArgument("cannot bind index \(binding)") }
      }
      setOptions(laneOrder == .reverse ? 1 : 0, strictBarriers ? 1 : 0)
      let groupSizes = groups.uint32s
      let threadgroupSizes = size.uint32s
      let result: Int32
      if let grid {
        let gridSizes = grid.uint32s
        result = dispatchFunction(index, groupSizes, threadgroupSizes, gridSizes)
      } else {
        result = dispatchFunction(index, groupSizes, threadgroupSizes, nil)
      }
      clearBindings()
      if result != 0 {
        let report = lastError().map { String(cString: $0) } ?? "unknown error"
        throw .dispatchFailed(toolchain.symbolicate(report, library: path))
      }
    }
  }
}
