// swift-format-ignore-file
// A stand-in for Apple's `Metal` module, declaring only the API the MetalKernels host code uses, with
// Apple's signatures (macOS 15 SDK). typecheck.sh compiles it as a module named `Metal` so that the
// `#if canImport(Metal)` sources can be type-checked on Linux. Nothing here runs; keep it in step with
// the SDK when the host code uses more API.
import Foundation

public protocol MTLFunction: AnyObject {}
public protocol MTLLibrary: AnyObject { func makeFunction(name: String) -> MTLFunction? }
public protocol MTLBuffer: AnyObject {
  var length: Int { get }
  func contents() -> UnsafeMutableRawPointer
}
public protocol MTLComputePipelineState: AnyObject {
  var maxTotalThreadsPerThreadgroup: Int { get }
  var threadExecutionWidth: Int { get }
}
public struct MTLSize {
  public var width: Int
  public var height: Int
  public var depth: Int
  public init(width: Int, height: Int, depth: Int) { (self.width, self.height, self.depth) = (width, height, depth) }
}
public protocol MTLComputeCommandEncoder: AnyObject {
  func setComputePipelineState(_ state: MTLComputePipelineState)
  func setBuffer(_ buffer: MTLBuffer?, offset: Int, index: Int)
  func setBytes(_ bytes: UnsafeRawPointer, length: Int, index: Int)
  func dispatchThreadgroups(_ threadgroupsPerGrid: MTLSize, threadsPerThreadgroup: MTLSize)
  func endEncoding()
}
public protocol MTLCommandBuffer: AnyObject {
  var error: Error? { get }
  func makeComputeCommandEncoder() -> MTLComputeCommandEncoder?
  func commit()
  func waitUntilCompleted()
}
public protocol MTLCommandQueue: AnyObject { func makeCommandBuffer() -> MTLCommandBuffer? }
public struct MTLResourceOptions: OptionSet {
  public let rawValue: UInt
  public init(rawValue: UInt) { self.rawValue = rawValue }
  public static let storageModeShared = MTLResourceOptions(rawValue: 0 << 4)
}
public enum MTLGPUFamily: Int {
  case apple1 = 1001, apple7 = 1007, apple8 = 1008, apple9 = 1009, mac2 = 2002, metal3 = 5001
}
public enum MTLLanguageVersion: UInt {
  case version3_0 = 196608
}
public enum MTLMathMode: Int { case safe = 0, relaxed = 1, fast = 2 }
open class MTLCompileOptions {
  public init() {}
  open var languageVersion: MTLLanguageVersion = .version3_0
  @available(macOS, introduced: 10.11, deprecated: 15.0)
  open var fastMathEnabled: Bool = true
  @available(macOS 15.0, iOS 18.0, tvOS 18.0, visionOS 2.0, macCatalyst 18.0, *)
  open var mathMode: MTLMathMode {
    get { .fast }
    set {}
  }
}
public protocol MTLDevice: AnyObject {
  var name: String { get }
  func supportsFamily(_ gpuFamily: MTLGPUFamily) -> Bool
  func makeCommandQueue() -> MTLCommandQueue?
  func makeBuffer(length: Int, options: MTLResourceOptions) -> MTLBuffer?
  func makeBuffer(bytes pointer: UnsafeRawPointer, length: Int, options: MTLResourceOptions) -> MTLBuffer?
  func makeBuffer(
    bytesNoCopy pointer: UnsafeMutableRawPointer, length: Int, options: MTLResourceOptions,
    deallocator: ((UnsafeMutableRawPointer, Int) -> Void)?
  ) -> MTLBuffer?
  func makeLibrary(source: String, options: MTLCompileOptions?) throws -> MTLLibrary
  func makeComputePipelineState(function: MTLFunction) throws -> MTLComputePipelineState
}
extension MTLDevice {
  public func makeBuffer(length: Int) -> MTLBuffer? { makeBuffer(length: length, options: []) }
}
public func MTLCreateSystemDefaultDevice() -> MTLDevice? { nil }

/// Foundation re-exports Objective-C's `autoreleasepool` on Apple platforms.
public func autoreleasepool<Result>(invoking body: () throws -> Result) rethrows -> Result { try body() }
