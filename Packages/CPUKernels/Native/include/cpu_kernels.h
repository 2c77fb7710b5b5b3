#pragma once
/*
 * _CPUKernelsNative: the SIMD inner loops behind CPUKernels. No stable API: only the Swift module
 * CPUKernels calls these functions, and it owns every decision (threading, blocking, validation).
 *
 * Conventions
 * - `isa` selects the implementation: CK_ISA_SCALAR (portable C, the reference for tests),
 *   CK_ISA_AVX2 (x86-64 AVX2 + FMA + F16C, checked with cpuid by ck_best_isa), CK_ISA_NEON (arm64).
 *   A function asked for an ISA it does not have, or for a shape its SIMD path does not cover,
 *   runs the scalar code.
 * - Weights are row-major [N, K] ("rows" = output features). Outputs y are written as
 *   y[m * ldy + r] for activation row m and weight row r; row ranges [r0, r1) let callers split rows
 *   across threads. Every output element is computed by exactly one call, in an order that does not
 *   depend on the range, so any split gives bit-identical results.
 * - "Permuted" activations (ck_permute8): inside every full group of 8 values, the even positions come
 *   first, then the odd ones ([x0 x2 x4 x6 x1 x3 x5 x7]); a trailing partial group is unchanged. The
 *   4-bit kernels decode nibbles in that order, so a dot product needs no shuffle to undo it.
 * - Block scales of blockwise formats are float32 and indexed by the flat element index / blocksize
 *   (blocks may straddle rows, as in bitsandbytes).
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { CK_ISA_SCALAR = 0, CK_ISA_AVX2 = 1, CK_ISA_NEON = 2 };
enum { CK_F32 = 0, CK_F16 = 1, CK_BF16 = 2 };

/* The fastest ISA this CPU supports (cpuid + OS register-state check on x86-64). */
int ck_best_isa(void);
/* The processors this process may run on (the affinity mask on Linux, else the online processors). */
int ck_available_processors(void);
/* A spin-wait hint to the CPU (`pause` on x86-64, `yield` on arm64). */
void ck_cpu_relax(void);

/* ---- Element conversion ---- */
/* Widens n values of `kind` (CK_F32/CK_F16/CK_BF16) to float32 (exact). */
void ck_load_floats(int isa, const void *src, int kind, float *dst, long n);
/* Narrows n float32 values to `kind` with round-to-nearest-even (NaN stays NaN). */
void ck_store_floats(int isa, const float *src, int kind, void *dst, long n);
/* Permutes k activations into the 4-bit kernels' order (see above). */
void ck_permute8(const float *x, float *xp, long k);

/* ---- Scales ---- */
/* Decodes double-quantized absmax: out[i] = code2[codes[i]] * absmax2[i / bs2], then + offset (not fused). */
void ck_decode_nested(const uint8_t *codes, const float *absmax2, const float *code2, long bs2, float offset,
                      long start, long count, float *out);

/* ---- 4-bit codebook (two codes per byte, element 2i in the high nibble) ---- */
/* Decodes flat elements [e0, e0 + count) to code[nibble] * scales[e / bs]. With `permuted`, the output of
   every full group of 8 (counted from e0, which must then be a multiple of 8) is in permuted order. */
void ck_cb4_decode(int isa, const uint8_t *packed, const float *code16, const float *scales, long bs, long e0,
                   long count, int permuted, float *out);
/* y = x · Wᵀ for rows [r0, r1), M activation rows of length K, permuted in ck_cb4_gemv_order (row stride ldx). Exact mode:
   weights decode exactly; per 32-element step the dot product is scaled once by its block's absmax. */
/* The activation order ck_cb4_gemv wants for these arguments: 8 = ck_permute8, 16 = ck_permute16i. */
int ck_cb4_gemv_order(int isa, long K, long bs);
/* Interleaves the halves of every full group of 16: [x0 x8 x1 x9 … x7 x15]; a partial tail is unchanged. */
void ck_permute16i(const float *x, float *xp, long k);
void ck_cb4_gemv(int isa, const uint8_t *packed, const float *code16, const float *scales, long bs, long K, long r0,
                 long r1, const float *xp, long ldx, long M, float *y, long ldy);

/* ---- 4-bit fast mode: int8 activations, int8 codebook, integer dot products ---- */
/* Quantizes k activations (in natural order) per group of 32 to int8 with one float scale per group
   (scale = max|x| / 127, q = round(x / scale)), written in the q8 order the fast kernel consumes
   (within each 32-group: the 16 even positions, then the 16 odd ones). k must be a multiple of 32. */
void ck_quantize_q8(int isa, const float *x, long k, int8_t *q, float *scales);
/* Fast-mode GEMV for K % 32 == 0 and bs % 32 == 0: weights use code8[i] (int8, code ≈ code8 · codeScale). */
void ck_cb4_gemv_q8(int isa, const uint8_t *packed, const int8_t *code8, float codeScale, const float *scales, long bs,
                    long K, long r0, long r1, const int8_t *xq, const float *xs, long M, float *y, long ldy);

/* ---- 8-bit codebook (one code per byte) ---- */
void ck_cb8_decode(int isa, const uint8_t *codes, const float *code256, const float *scales, long bs, long e0,
                   long count, float *out);
void ck_cb8_gemv(int isa, const uint8_t *codes, const float *code256, const float *scales, long bs, long K, long r0,
                 long r1, const float *x, long ldx, long M, float *y, long ldy);

/* ---- int8 row-wise (LLM.int8 weights): w = (q * rowScale[r]) * (1/127 as float32) ---- */
void ck_i8_decode(int isa, const int8_t *q, const float *rowScale, long K, long e0, long count, float *out);
void ck_i8_gemv(int isa, const int8_t *q, const float *rowScale, long K, long r0, long r1, const float *x, long ldx,
                long M, float *y, long ldy);

/* ---- fp8 (E4M3FN or E5M2) with a grid of scales ----
   The multiplier of element (r, c) is scales[(r / tileRows) * gridCols + c / tileCols]: a tensor scale is
   tileRows = N, tileCols = K; row scales are tileRows = 1, tileCols = K. */
void ck_f8_decode(int isa, const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                  long K, long e0, long count, float *out);
void ck_f8_gemv(int isa, const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                long K, long r0, long r1, const float *x, long ldx, long M, float *y, long ldy);

/* ---- dense float32 ---- */
/* y[m, r] = Σ_k x[m, k] · w[r, k] for rows [r0, r1) of a dense [N, K] matrix (row stride ldw). */
void ck_f32_gemv(int isa, const float *w, long ldw, long K, long r0, long r1, const float *x, long ldx, long M,
                 float *y, long ldy);

/* ---- dense GEMV for half-precision weights ---- */
/* y[m, r] = Σ_k x[m, k] · w[r, k] for rows [r0, r1) of a dense [N, K] matrix of `kind` (CK_F16 or CK_BF16,
   widened exactly to float32), accumulated in float32. */
void ck_half_gemv(int isa, const uint16_t *w, int kind, long ldw, long K, long r0, long r1, const float *x, long ldx,
                  long M, float *y, long ldy);

/* ---- packed GEMM (blocked as in BLIS: an activation block packed once, weight panels of 16 rows) ---- */
enum { CK_GEMM_MR = 6, CK_GEMM_NR = 16, CK_GEMM_KC = 256 };
/* Packs activation rows [0, rows) (row stride ldx) and columns [0, kc) into panels of CK_GEMM_MR rows:
   a[(p * kc + k) * CK_GEMM_MR + i] = x[(CK_GEMM_MR * p + i) * ldx + k], zero for rows ≥ `rows`. */
void ck_gemm_pack_a(const float *x, long ldx, long rows, long kc, float *a);
/* y[m, n] (+)= Σ_{k < kc} a[m, k] · w[n, k] for m < M, n < nrows, with `a` packed by ck_gemm_pack_a (the same
   kc) and weights w of `wkind` (CK_F32, CK_F16, CK_BF16; row stride ldw, in elements). Every output is one
   float32 accumulator over k in order, added to y when `accumulate` (else stored), whatever M, nrows or the
   position of the output in its tile: results do not depend on how callers split rows. */
void ck_gemm_packed(int isa, const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc, float *y,
                    long ldy, int accumulate);
/* The same with the weights stored k-major: y[m, n] (+)= Σ_{k < kc} a[m, k] · w[k, n] for n < ncols, w's rows
   (one per k) ldw elements apart. Computes x·W for a W stored [K, N] without transposing it (the input
   gradient dY·W of a frozen layer). Same accumulation order guarantee as ck_gemm_packed. */
void ck_gemm_packed_kn(int isa, const float *a, long M, const void *w, int wkind, long ldw, long ncols, long kc,
                       float *y, long ldy, int accumulate);

/* ---- quantize ---- */
/* Blockwise 4-bit encoder over n elements starting at a block boundary, bit-identical to QuantCore's
   BlockwiseCodebookQuantizer (bitsandbytes' default backend): absmax = max|x| per block (NaN propagates);
   full blocks multiply by fl32(1 / max(absmax, 1e-38)); a trailing partial block divides by
   max(absmax, 1e-38) and stores that divisor; the sorted position is #{t in thresholds15 : !(t >= v)} and
   the nibble is indexMap[position]. Writes ceil(n/2) bytes (element 2i in the high nibble; an odd n pads
   the last low nibble with the code of 0.0) and ceil(n/bs) absmax values. */
void ck_quantize_4bit(int isa, const float *x, long n, long bs, const float *thresholds15, const uint8_t *indexMap,
                      uint8_t *packed, float *absmax);
/* Blockwise 8-bit encoder over n elements starting at a block boundary, bit-identical to QuantCore's
   BlockwiseCodebookQuantizer.quantize (bitsandbytes' default backend): absmax and normalisation as for
   ck_quantize_4bit (any positive bs), then torch's clamp to [-1, 1] (NaN kept) and the sorted position
   #{t in thresholds255 : !(t >= v)} by binary search over the 255 sorted midpoints (ties to the lower
   position, NaN to 255); the code is indexMap[position]. Writes n codes and ceil(n/bs) absmax values. */
void ck_quantize_8bit_blocks(int isa, const float *x, long n, long bs, const float *thresholds255,
                             const uint8_t *indexMap, uint8_t *codes, float *absmax);
/* LLM.int8 row-wise encoder for rows [r0, r1) of [N, K]: rowStats[r] = max|x[r, :]| (elements with
   |x| >= threshold excluded when threshold > 0, and encoded as 0); q = round_half_even(x · fl32(fl32(1 / stat) · 127))
   (torch's 127.0 / t); non-finite products encode as 0. */
void ck_quantize_i8_rows(int isa, const float *x, long K, long r0, long r1, float threshold, int8_t *q,
                         float *rowStats);
/* fp8 encoder: out[i] = encode(x[i] · multiplier) with round-to-nearest-even. E4M3FN saturates to ±448
   (infinities included); E5M2 overflows to ±inf. NaN encodes as sign | 0x7F. */
void ck_f8_encode(int isa, const float *x, long n, float multiplier, int e5m2, uint8_t *out);
/* max |x[i]| over n values (NaN ignored). */
float ck_absmax(int isa, const float *x, long n);

#ifdef __cplusplus
}
#endif
