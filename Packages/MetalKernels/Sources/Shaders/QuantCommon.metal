// Shared definitions of the quantized-weight kernels: the argument block, activation types and one
// "weight source" per storage layout. The host concatenates QuantCommon, Dequantize, GEMV and GEMM
// (in that order) into one source for makeLibrary(source:); the emulator compiles the same list.
//
// Buffer plan (MetalKernels/Dispatch/KernelBufferIndex.swift mirrors it):
//   0 weights   packed nibbles / 8-bit codes / int8 / fp8 bytes
//   1 scales    absmax (f32, or u8 codes when nested) / SCB (f32) / fp8 scales (f32)
//   2 codebook  16 or 256 f32 entries (codebook layouts)
//   3 nested absmax (f32), 4 nested codebook (256 f32)
//   5 input activations, 6 output, 7 bias (f32), 8 QuantArgs (setBytes)
#include <metal_stdlib>
using namespace metal;

/// Every kernel's arguments; 16 four-byte fields (QuantKernelArguments.swift has the same layout).
struct QuantArgs {
  uint rows;              // N: weight rows (output features), or leading elements for dequantize
  uint columns;           // K: weight columns (input features)
  uint tokens;            // M: activation rows
  uint blocksize;         // codebook layouts: elements per absmax block, over the flat index
  uint nested;            // 1 when absmax holds u8 codes of a double-quantized state
  uint nestedBlocksize;   // absmax codes per nested block (bitsandbytes: 256)
  float nestedOffset;     // the mean added back after decoding nested absmax
  uint scaleRows;         // fp8: rows per scale tile (N per tensor, 1 per row, 128 per tile)
  uint scaleColumns;      // fp8: columns per scale tile
  uint scaleGridColumns;  // fp8: ceil(K / scaleColumns)
  uint fp8Format;         // 0 = E4M3FN, 1 = E5M2
  uint hasBias;           // 1 when buffer 7 holds a bias
  uint vectorized;        // 1 when every 16-column chunk lies in one block/tile and is 16-aligned
  uint elementCount;      // rows * columns
  uint reserved0;
  uint reserved1;
};

// MARK: - Activation and output element types (float32, float16, bfloat16 as ushort bit patterns)

struct F32 {
  typedef float T;
  static float load(device const T* p, uint i) { return p[i]; }
  /// 16 consecutive values from a 16-element-aligned position.
  static void load16(device const T* p, thread float* x) {
    device const float4* v = (device const float4*)p;
    for (uint j = 0; j < 4u; ++j) {
      float4 f = v[j];
      x[4u * j] = f.x;
      x[4u * j + 1u] = f.y;
      x[4u * j + 2u] = f.z;
      x[4u * j + 3u] = f.w;
    }
  }
  static T store(float v) { return v; }
};

struct F16 {
  typedef half T;
  static float load(device const T* p, uint i) { return float(p[i]); }
  static void load16(device const T* p, thread float* x) {
    device const half4* v = (device const half4*)p;
    for (uint j = 0; j < 4u; ++j) {
      float4 f = float4(v[j]);
      x[4u * j] = f.x;
      x[4u * j + 1u] = f.y;
      x[4u * j + 2u] = f.z;
      x[4u * j + 3u] = f.w;
    }
  }
  /// Round to nearest even (IEEE conversion), overflow to ±inf.
  static T store(float v) { return half(v); }
};

/// bfloat16 carried as ushort bit patterns: exact widening, round-to-nearest-even narrowing (NaN kept).
struct BF16 {
  typedef ushort T;
  static float widen(ushort bits) { return as_type<float>(uint(bits) << 16); }
  static float load(device const T* p, uint i) { return widen(p[i]); }
  static void load16(device const T* p, thread float* x) {
    device const ushort4* v = (device const ushort4*)p;
    for (uint j = 0; j < 4u; ++j) {
      uint4 u = uint4(v[j]) << 16;
      float4 f = as_type<float4>(u);
      x[4u * j] = f.x;
      x[4u * j + 1u] = f.y;
      x[4u * j + 2u] = f.z;
      x[4u * j + 3u] = f.w;
    }
  }
  static T store(float v) {
    uint bits = as_type<uint>(v);
    if (isnan(v)) {
      return ushort((bits >> 16) | 0x40u);
    }
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return ushort(bits >> 16);
  }
};

// MARK: - Weight sources: one per storage layout

/// The buffers every weight source may read (unused ones are bound to a small dummy buffer). The
/// codebooks are the threadgroup copies made by `stage_tables`.
struct WeightBuffers {
  device const uchar* weights;
  device const uchar* scales;
  threadgroup const float* code;
  device const float* nestedAbsmax;
  threadgroup const float* nestedCode;
  constant QuantArgs* args;
};

/// Copies the codebook, and the nested codebook when absmax is double-quantized, into threadgroup
/// memory. Lanes index the tables with data-dependent codes; `constant` memory serves one address per
/// access at full speed, so production kernels (llama.cpp's IQ4_NL) stage such tables like this.
/// Every thread of the threadgroup must call it, in uniform control flow: it ends with a barrier.
/// `codeTable` holds `Source::kCodeEntries` floats, `nestedTable` 256 when the source has a codebook.
template <typename Source>
static void stage_tables(constant float* code, constant float* nestedCode, constant QuantArgs& args,
                         threadgroup float* codeTable, threadgroup float* nestedTable, uint tid, uint threads) {
  for (uint i = tid; i < uint(Source::kCodeEntries); i += threads) {
    codeTable[i] = code[i];
  }
  if (uint(Source::kCodeEntries) != 0u && args.nested != 0u) {
    for (uint i = tid; i < 256u; i += threads) {
      nestedTable[i] = nestedCode[i];
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}

/// Threadgroup table sizes for `Source` (a one-float dummy where the source has no codebook).
#define QUANT_CODE_TABLE_SIZE(Source) (Source::kCodeEntries + 1)
#define QUANT_NESTED_TABLE_SIZE(Source) (Source::kCodeEntries != 0 ? 256 : 1)

/// The float32 absmax of a codebook block: plain, or `code2[q] * absmax2[i / 256] + offset` (two roundings).
static float block_scale(thread const WeightBuffers& b, uint block) {
  if (b.args->nested != 0u) {
    float scaled = b.nestedCode[b.scales[block]] * b.nestedAbsmax[block / b.args->nestedBlocksize];
    return scaled + b.args->nestedOffset;
  }
  return ((device const float*)b.scales)[block];
}

/// 4-bit codebook indices, element 2i in the high nibble of byte i, blocks over the flat index.
/// BS is the blocksize when known at compile time, 0 to read it from the arguments.
template <uint BS>
struct Codebook4 {
  enum { kCodeEntries = 16 };
  static uint block_of(thread const WeightBuffers& b, uint flat) { return BS != 0u ? flat / BS : flat / b.args->blocksize; }

  static float weight(thread const WeightBuffers& b, uint row, uint column) {
    uint flat = row * b.args->columns + column;
    uchar byte = b.weights[flat >> 1];
    uint q = (flat & 1u) != 0u ? uint(byte & 0x0Fu) : uint(byte >> 4);
    return b.code[q] * block_scale(b, block_of(b, flat));
  }

  /// Σ w·x over 16 columns starting at a multiple of 16 (one block: blocksizes are multiples of 16).
  static float dot16(thread const WeightBuffers& b, uint row, uint column, thread const float* x) {
    uint flat = row * b.args->columns + column;
    uint2 packed = *((device const uint2*)(b.weights + (flat >> 1)));
    float sum = 0.0f;
    for (uint i = 0; i < 8u; ++i) {
      uint word = i < 4u ? packed.x : packed.y;
      uint byte = (word >> (8u * (i & 3u))) & 0xFFu;
      sum = fma(b.code[byte >> 4], x[2u * i], sum);
      sum = fma(b.code[byte & 0x0Fu], x[2u * i + 1u], sum);
    }
    return sum * block_scale(b, block_of(b, flat));
  }
};

/// 8-bit codebook indices (bitsandbytes' blockwise dynamic map), blocks over the flat index.
template <uint BS>
struct Codebook8 {
  enum { kCodeEntries = 256 };
  static uint block_of(thread const WeightBuffers& b, uint flat) { return BS != 0u ? flat / BS : flat / b.args->blocksize; }

  static float weight(thread const WeightBuffers& b, uint row, uint column) {
    uint flat = row * b.args->columns + column;
    return b.code[b.weights[flat]] * block_scale(b, block_of(b, flat));
  }

  static float dot16(thread const WeightBuffers& b, uint row, uint column, thread const float* x) {
    uint flat = row * b.args->columns + column;
    uint4 packed = *((device const uint4*)(b.weights + flat));
    float sum = 0.0f;
    for (uint i = 0; i < 16u; ++i) {
      uint byte = (packed[i >> 2] >> (8u * (i & 3u))) & 0xFFu;
      sum = fma(b.code[byte], x[i], sum);
    }
    return sum * block_scale(b, block_of(b, flat));
  }
};

/// LLM.int8 weights: `q * SCB[row] * (1/127)` (the bitsandbytes constant, evaluated in that order).
template <uint BS>
struct Int8Rowwise {
  enum { kCodeEntries = 0 };
  static float weight(thread const WeightBuffers& b, uint row, uint column) {
    float q = float(as_type<char>(b.weights[row * b.args->columns + column]));
    return q * ((device const float*)b.scales)[row] * 7.874015718698502e-3f;
  }

  static float dot16(thread const WeightBuffers& b, uint row, uint column, thread const float* x) {
    uint4 packed = *((device const uint4*)(b.weights + row * b.args->columns + column));
    float sum = 0.0f;
    for (uint i = 0; i < 16u; ++i) {
      uint byte = (packed[i >> 2] >> (8u * (i & 3u))) & 0xFFu;
      sum = fma(float(as_type<char>(uchar(byte))), x[i], sum);
    }
    return sum * (((device const float*)b.scales)[row] * 7.874015718698502e-3f);
  }
};

/// Decodes one fp8 byte exactly, entirely in float32 (E4M3FN: bias 7, no infinities, 0x7F/0xFF are
/// NaN; E5M2: bias 15, IEEE infinities and NaNs). Subnormal codes are built as `mantissa · 2^-9` or
/// `mantissa · 2^-16`, never through a subnormal half, which a GPU may flush to zero. NaN codes give
/// the canonical quiet NaN with the code's sign, as `Float8Encoding.decode` does.
static float decode_fp8(uint byte, uint format) {
  uint magnitude = byte & 0x7Fu;
  float value;
  if (format == 1u) {
    uint exponent = magnitude >> 2;
    uint mantissa = magnitude & 3u;
    float normal = as_type<float>(((exponent + 112u) << 23) | (mantissa << 21));
    float special = mantissa == 0u ? INFINITY : NAN;
    value = exponent == 0u ? float(mantissa) * 1.52587890625e-05f : (exponent == 31u ? special : normal);
  } else {
    uint exponent = magnitude >> 3;
    uint mantissa = magnitude & 7u;
    float normal = as_type<float>(((exponent + 120u) << 23) | (mantissa << 20));
    value = exponent == 0u ? float(mantissa) * 1.953125e-03f : (magnitude == 0x7Fu ? NAN : normal);
  }
  return (byte & 0x80u) != 0u ? -value : value;
}

/// fp8 weights with tile scales (a tensor scale is one N×K tile, a row scale a 1×K tile).
template <uint BS>
struct Float8 {
  enum { kCodeEntries = 0 };
  static float scale(thread const WeightBuffers& b, uint row, uint column) {
    uint index = (row / b.args->scaleRows) * b.args->scaleGridColumns + column / b.args->scaleColumns;
    return ((device const float*)b.scales)[index];
  }

  static float weight(thread const WeightBuffers& b, uint row, uint column) {
    uint byte = b.weights[row * b.args->columns + column];
    return decode_fp8(byte, b.args->fp8Format) * scale(b, row, column);
  }

  static float dot16(thread const WeightBuffers& b, uint row, uint column, thread const float* x) {
    uint4 packed = *((device const uint4*)(b.weights + row * b.args->columns + column));
    uint format = b.args->fp8Format;
    float sum = 0.0f;
    for (uint i = 0; i < 16u; ++i) {
      uint byte = (packed[i >> 2] >> (8u * (i & 3u))) & 0xFFu;
      sum = fma(decode_fp8(byte, format), x[i], sum);
    }
    return sum * scale(b, row, column);
  }
};
