import QuantCore
import SafeTensors

/// Where the bytes of one tensor to quantize come from, a range of elements at a time.
protocol TensorChunkSource {
  /// The element type.
  var dtype: DType { get }
  /// The tensor's shape.
  var shape: [Int] { get }
  /// Copies elements `range` (flattened, row-major) into `buffer`, which holds exactly their bytes.
  func read(elements range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(ModelPatcherError)
}

/// A tensor of a safetensors file read with `pread` (its pages never enter this process's mapping).
struct FileChunkSource: TensorChunkSource {
  let reader: TensorByteReader
  let fileName: String

  /// Opens tensor `name` of `file`.
  ///
  /// - Parameters:
  ///   - name: The tensor.
  ///   - file: The file holding it.
  ///   - fileName: The file's name for messages.
  init(tensor name: String, in file: SafeTensorsFile, fileName: String) throws(ModelPatcherError) {
    do {
      reader = try TensorByteReader(tensor: name, in: file)
    } catch {
      throw .invalidInput(file: fileName, tensor: name, message: "cannot be read: \(error)")
    }
    self.fileName = fileName
  }

  var dtype: DType { reader.entry.dtype }
  var shape: [Int] { reader.entry.shape }

  func read(elements range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(ModelPatcherError) {
    let size = dtype.byteSize
    do {
      try reader.read((range.lowerBound * size)..<(range.upperBound * size), into: buffer)
    } catch {
      throw .invalidInput(file: fileName, tensor: reader.entry.name, message: "cannot be read: \(error)")
    }
  }
}

/// A tensor already in memory (tests, and inputs that are not safetensors files).
struct InMemoryChunkSource: TensorChunkSource {
  let tensor: Tensor

  var dtype: DType { tensor.dtype }
  var shape: [Int] { tensor.shape }

  func read(elements range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) {
    let size = dtype.byteSize
    tensor.withUnsafeBytes { bytes in
      buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound * size)..<(range.upperBound * size)]))
    }
  }
}
