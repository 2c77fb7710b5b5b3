/* Scalar reference kernels and the ISA dispatch of every public entry point. */
#include "ck_internal.h"
#include <math.h>
#include <stdlib.h>

#if CK_HAVE_X86
#include <cpuid.h>
#endif

int ck_best_isa(void) {
#if CK_HAVE_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return CK_ISA_SCALAR;
  int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
  if (!(fma && osxsave && avx && f16c)) return CK_ISA_SCALAR;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 6) != 6) return CK_ISA_SCALAR; /* the OS saves XMM and YMM state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return CK_ISA_SCALAR;
  if (!((b >> 5) & 1)) return CK_ISA_SCALAR;
  return CK_ISA_AVX2;
#elif CK_HAVE_NEON
  return CK_ISA_NEON;
#else
  return CK_ISA_SCALAR;
#endif
}

#if CK_HAVE_X86
static int ck_detect_avx512(void) {
  if (ck_best_isa() != CK_ISA_AVX2) return 0;
  const char *knob = getenv("BNB_CPU_AVX512"); /* "off": measure the AVX2 kernels on an AVX-512 machine */
  if (knob && strcmp(knob, "off") == 0) return 0;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  if (!(f && bw && vl)) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xE6) == 0xE6; /* the OS saves opmask and ZMM state */
}

static int ck_detect_avx512_vnni(void) {
  if (!ck_has_avx512()) return 0;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (c >> 11) & 1;
}

/* A detection result cached after the first call. Racing first calls detect the same value; the atomics
   make that race well-defined. */
static int ck_cached(int *cache, int (*detect)(void)) {
  int value = __atomic_load_n(cache, __ATOMIC_RELAXED);
  if (value < 0) {
    value = detect();
    __atomic_store_n(cache, value, __ATOMIC_RELAXED);
  }
  return value;
}

int ck_has_avx512(void) {
  static int cached = -1;
  return ck_cached(&cached, ck_detect_avx512);
}

int ck_has_avx512_vnni(void) {
  static int cached = -1;
  return ck_cached(&cached, ck_detect_avx512_vnni);
}
#endif

void ck_cpu_relax(void) {
#if CK_HAVE_X86
  __builtin_ia32_pause();
#elif CK_HAVE_NEON
  __asm__ volatile("yield");
#endif
}

#if CK_HAVE_X86
#define USE_AVX2(isa) ((isa) == CK_ISA_AVX2)
#else
#define USE_AVX2(isa) 0
#endif
#if CK_HAVE_NEON
#define USE_NEON(isa) ((isa) == CK_ISA_NEON)
#else
#define USE_NEON(isa) 0
#endif

void ck_load_floats(int isa, const void *src, int kind, float *dst, long n) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_load_floats(src, kind, dst, n);
    return;
  }
#endif
  (void)isa;
  if (kind == CK_F32) {
    memcpy(dst, src, (size_t)n * 4);
  } else if (kind == CK_F16) {
    const uint16_t *s = src;
    for (long i = 0; i < n; i++) dst[i] = ck_half_to_float(s[i]);
  } else {
    const uint16_t *s = src;
    for (long i = 0; i < n; i++) dst[i] = ck_float((uint32_t)s[i] << 16);
  }
}

void ck_store_floats(int isa, const float *src, int kind, void *dst, long n) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_store_floats(src, kind, dst, n);
    return;
  }
#endif
  (void)isa;
  if (kind == CK_F32) {
    memcpy(dst, src, (size_t)n * 4);
  } else if (kind == CK_F16) {
    uint16_t *d = dst;
    for (long i = 0; i < n; i++) d[i] = ck_float_to_half(src[i]);
  } else {
    uint16_t *d = dst;
    for (long i = 0; i < n; i++) d[i] = ck_float_to_bf16(src[i]);
  }
}

void ck_permute8(const float *x, float *xp, long k) {
  long full = k & ~7L;
  for (long i = 0; i < k; i++) xp[ck_perm_pos(i, full)] = x[i];
}

void ck_decode_nested(const uint8_t *codes, const float *absmax2, const float *code2, long bs2, float offset,
                      long start, long count, float *out) {
  long j = start / bs2, left = bs2 - start % bs2;
  for (long i = 0; i < count; i++) {
    float scaled = code2[codes[start + i]] * absmax2[j];
    out[i] = scaled + offset;
    if (--left == 0) {
      j++;
      left = bs2;
    }
  }
}

/* ---- 4-bit codebook ---- */

void ck_cb4_decode(int isa, const uint8_t *packed, const float *code16, const float *scales, long bs, long e0,
                   long count, int permuted, float *out) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && bs % 32 == 0 && e0 % 32 == 0) {
    ck_avx2_cb4_decode(packed, code16, scales, bs, e0, count, permuted, out);
    return;
  }
#endif
  (void)isa;
  ck_scalar_cb4_decode(packed, code16, scales, bs, e0, count, permuted, out);
}

int ck_cb4_gemv_order(int isa, long K, long bs) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && K % 32 == 0 && bs % 32 == 0 && ck_has_avx512()) return 16;
#endif
  (void)isa, (void)K, (void)bs;
  return 8;
}

void ck_permute16i(const float *x, float *xp, long k) {
  long full = k & ~15L;
  for (long g = 0; g < full; g += 16)
    for (int j = 0; j < 8; j++) {
      xp[g + 2 * j] = x[g + j];
      xp[g + 2 * j + 1] = x[g + 8 + j];
    }
  for (long i = full; i < k; i++) xp[i] = x[i];
}

void ck_cb4_gemv(int isa, const uint8_t *packed, const float *code16, const float *scales, long bs, long K, long r0,
                 long r1, const float *xp, long ldx, long M, float *y, long ldy) {
  if (K % 32 == 0 && bs % 32 == 0) {
#if CK_HAVE_X86
    if (ck_cb4_gemv_order(isa, K, bs) == 16) {
      ck_avx512_cb4_gemv(packed, code16, scales, bs, K, r0, r1, xp, ldx, M, y, ldy);
      return;
    }
    if (USE_AVX2(isa)) {
      ck_avx2_cb4_gemv(packed, code16, scales, bs, K, r0, r1, xp, ldx, M, y, ldy);
      return;
    }
#endif
#if CK_HAVE_NEON
    if (USE_NEON(isa)) {
      ck_neon_cb4_gemv(packed, code16, scales, bs, K, r0, r1, xp, ldx, M, y, ldy);
      return;
    }
#endif
  }
  (void)isa;
  long full = K & ~7L;
  for (long r = r0; r < r1; r++) {
    for (long m = 0; m < M; m++) {
      const float *xm = xp + m * ldx;
      float sum = 0;
      for (long k = 0; k < K; k++) {
        long e = r * K + k;
        float w = code16[ck_nibble(packed, e)] * scales[e / bs];
        sum += xm[ck_perm_pos(k, full)] * w;
      }
      y[m * ldy + r] = sum;
    }
  }
}

void ck_quantize_q8(int isa, const float *x, long k, int8_t *q, float *scales) {
  (void)isa;
  for (long g = 0; g < k / 32; g++) {
    const float *xg = x + g * 32;
    float amax = 0;
    for (int i = 0; i < 32; i++) {
      float a = fabsf(xg[i]);
      if (a > amax) amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    scales[g] = d;
    for (int i = 0; i < 32; i++) {
      int pos = (i & 1) ? 16 + (i >> 1) : (i >> 1);
      q[g * 32 + pos] = (int8_t)lrintf(xg[i] * id);
    }
  }
}

void ck_cb4_gemv_q8(int isa, const uint8_t *packed, const int8_t *code8, float codeScale, const float *scales, long bs,
                    long K, long r0, long r1, const int8_t *xq, const float *xs, long M, float *y, long ldy) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && K % 64 == 0 && bs % 64 == 0 && ck_has_avx512_vnni()) {
    ck_avx512vnni_cb4_gemv_q8(packed, code8, codeScale, scales, bs, K, r0, r1, xq, xs, M, y, ldy);
    return;
  }
  if (USE_AVX2(isa)) {
    ck_avx2_cb4_gemv_q8(packed, code8, codeScale, scales, bs, K, r0, r1, xq, xs, M, y, ldy);
    return;
  }
#endif
  (void)isa;
  long steps = K / 32;
  for (long r = r0; r < r1; r++) {
    for (long m = 0; m < M; m++) {
      float sum = 0;
      for (long s = 0; s < steps; s++) {
        long e = r * K + s * 32;
        const int8_t *q = xq + m * K + s * 32;
        int32_t isum = 0;
        for (int i = 0; i < 32; i++) {
          int pos = (i & 1) ? 16 + (i >> 1) : (i >> 1);
          isum += (int32_t)code8[ck_nibble(packed, e + i)] * (int32_t)q[pos];
        }
        sum += (float)isum * (scales[e / bs] * codeScale * xs[m * steps + s]);
      }
      y[m * ldy + r] = sum;
    }
  }
}

/* ---- 8-bit codebook ---- */

void ck_cb8_decode(int isa, const uint8_t *codes, const float *code256, const float *scales, long bs, long e0,
                   long count, float *out) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_cb8_decode(codes, code256, scales, bs, e0, count, out);
    return;
  }
#endif
  (void)isa;
  for (long i = 0; i < count; i++) out[i] = code256[codes[e0 + i]] * scales[(e0 + i) / bs];
}

void ck_cb8_gemv(int isa, const uint8_t *codes, const float *code256, const float *scales, long bs, long K, long r0,
                 long r1, const float *x, long ldx, long M, float *y, long ldy) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_cb8_gemv(codes, code256, scales, bs, K, r0, r1, x, ldx, M, y, ldy);
    return;
  }
#endif
  (void)isa;
  for (long r = r0; r < r1; r++)
    for (long m = 0; m < M; m++) {
      float sum = 0;
      for (long k = 0; k < K; k++) {
        long e = r * K + k;
        sum += x[m * ldx + k] * (code256[codes[e]] * scales[e / bs]);
      }
      y[m * ldy + r] = sum;
    }
}

/* ---- int8 row-wise ---- */

void ck_i8_decode(int isa, const int8_t *q, const float *rowScale, long K, long e0, long count, float *out) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_i8_decode(q, rowScale, K, e0, count, out);
    return;
  }
#endif
  (void)isa;
  for (long i = 0; i < count; i++) out[i] = ((float)q[e0 + i] * rowScale[(e0 + i) / K]) * CK_INV127;
}

void ck_i8_gemv(int isa, const int8_t *q, const float *rowScale, long K, long r0, long r1, const float *x, long ldx,
                long M, float *y, long ldy) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_i8_gemv(q, rowScale, K, r0, r1, x, ldx, M, y, ldy);
    return;
  }
#endif
  (void)isa;
  for (long r = r0; r < r1; r++)
    for (long m = 0; m < M; m++) {
      float sum = 0;
      for (long k = 0; k < K; k++) sum += x[m * ldx + k] * (((float)q[r * K + k] * rowScale[r]) * CK_INV127);
      y[m * ldy + r] = sum;
    }
}

/* ---- fp8 ---- */

void ck_f8_decode(int isa, const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                  long K, long e0, long count, float *out) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_f8_decode(v, e5m2, scales, tileRows, tileCols, gridCols, K, e0, count, out);
    return;
  }
#endif
  (void)isa;
  for (long i = 0; i < count; i++) {
    long e = e0 + i, r = e / K, c = e % K;
    out[i] = ck_f8_decode1(v[e], e5m2) * scales[(r / tileRows) * gridCols + c / tileCols];
  }
}

void ck_f8_gemv(int isa, const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                long K, long r0, long r1, const float *x, long ldx, long M, float *y, long ldy) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && K % 32 == 0 && tileCols % 32 == 0 && ck_has_avx512()) {
    ck_avx512_f8_gemv(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, x, ldx, M, y, ldy);
    return;
  }
  if (USE_AVX2(isa) && K % 16 == 0 && tileCols % 16 == 0) {
    ck_avx2_f8_gemv(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, x, ldx, M, y, ldy);
    return;
  }
#endif
  (void)isa;
  for (long r = r0; r < r1; r++)
    for (long m = 0; m < M; m++) {
      float sum = 0;
      for (long k = 0; k < K; k++)
        sum += x[m * ldx + k] * (ck_f8_decode1(v[r * K + k], e5m2) * scales[(r / tileRows) * gridCols + k / tileCols]);
      y[m * ldy + r] = sum;
    }
}

/* ---- dense float32 ---- */

void ck_f32_gemv(int isa, const float *w, long ldw, long K, long r0, long r1, const float *x, long ldx, long M,
                 float *y, long ldy) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_f32_gemv(w, ldw, K, r0, r1, x, ldx, M, y, ldy);
    return;
  }
#endif
#if CK_HAVE_NEON
  if (USE_NEON(isa)) {
    ck_neon_f32_gemv(w, ldw, K, r0, r1, x, ldx, M, y, ldy);
    return;
  }
#endif
  (void)isa;
  for (long r = r0; r < r1; r++)
    for (long m = 0; m < M; m++) {
      float sum = 0;
      for (long k = 0; k < K; k++) sum += x[m * ldx + k] * w[r * ldw + k];
      y[m * ldy + r] = sum;
    }
}

/* ---- dense half-precision GEMV and packed GEMM ---- */

static inline float ck_half_load(const uint16_t *w, int kind, long i) {
  return kind == CK_F16 ? ck_half_to_float(w[i]) : ck_float((uint32_t)w[i] << 16);
}

void ck_half_gemv(int isa, const uint16_t *w, int kind, long ldw, long K, long r0, long r1, const float *x, long ldx,
                  long M, float *y, long ldy) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_half_gemv(w, kind, ldw, K, r0, r1, x, ldx, M, y, ldy);
    return;
  }
#endif
  (void)isa;
  for (long r = r0; r < r1; r++)
    for (long m = 0; m < M; m++) {
      float sum = 0;
      for (long k = 0; k < K; k++) sum += x[m * ldx + k] * ck_half_load(w, kind, r * ldw + k);
      y[m * ldy + r] = sum;
    }
}

void ck_gemm_pack_a(const float *x, long ldx, long rows, long kc, float *a) {
  const long panels = (rows + CK_GEMM_MR - 1) / CK_GEMM_MR;
  for (long p = 0; p < panels; p++) {
    float *dst = a + p * kc * CK_GEMM_MR;
    for (int i = 0; i < CK_GEMM_MR; i++) {
      const long row = p * CK_GEMM_MR + i;
      if (row < rows) {
        const float *src = x + row * ldx;
        for (long k = 0; k < kc; k++) dst[k * CK_GEMM_MR + i] = src[k];
      } else {
        for (long k = 0; k < kc; k++) dst[k * CK_GEMM_MR + i] = 0.0f;
      }
    }
  }
}

static float ck_weight_load(const void *w, int wkind, long i) {
  return wkind == CK_F32 ? ((const float *)w)[i] : ck_half_load(w, wkind, i);
}

/* The portable packed GEMM; `kn` picks the weight layout ([n][k] when 0, [k][n] when 1). */
static void gemm_packed_scalar(const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc,
                               float *y, long ldy, int accumulate, int kn) {
  for (long m = 0; m < M; m++) {
    const float *ap = a + (m / CK_GEMM_MR) * kc * CK_GEMM_MR + m % CK_GEMM_MR;
    for (long n = 0; n < nrows; n++) {
      float sum = 0;
      for (long k = 0; k < kc; k++)
        sum = fmaf(ap[k * CK_GEMM_MR], ck_weight_load(w, wkind, kn ? k * ldw + n : n * ldw + k), sum);
      y[m * ldy + n] = accumulate ? y[m * ldy + n] + sum : sum;
    }
  }
}

void ck_gemm_packed(int isa, const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc, float *y,
                    long ldy, int accumulate) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && ck_has_avx512()) {
    ck_avx512_gemm_packed(a, M, w, wkind, ldw, nrows, kc, y, ldy, accumulate);
    return;
  }
  if (USE_AVX2(isa)) {
    ck_avx2_gemm_packed(a, M, w, wkind, ldw, nrows, kc, y, ldy, accumulate);
    return;
  }
#endif
  (void)isa;
  gemm_packed_scalar(a, M, w, wkind, ldw, nrows, kc, y, ldy, accumulate, 0);
}

void ck_gemm_packed_kn(int isa, const float *a, long M, const void *w, int wkind, long ldw, long ncols, long kc,
                       float *y, long ldy, int accumulate) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && ck_has_avx512()) {
    ck_avx512_gemm_packed_kn(a, M, w, wkind, ldw, ncols, kc, y, ldy, accumulate);
    return;
  }
  if (USE_AVX2(isa)) {
    ck_avx2_gemm_packed_kn(a, M, w, wkind, ldw, ncols, kc, y, ldy, accumulate);
    return;
  }
#endif
  (void)isa;
  gemm_packed_scalar(a, M, w, wkind, ldw, ncols, kc, y, ldy, accumulate, 1);
}

/* ---- quantize ---- */

void ck_quantize_8bit_blocks(int isa, const float *x, long n, long bs, const float *thresholds255,
                             const uint8_t *indexMap, uint8_t *codes, float *absmax) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_quantize_8bit_blocks(x, n, bs, thresholds255, indexMap, codes, absmax);
    return;
  }
#endif
  (void)isa;
  ck_scalar_quantize_8bit_blocks(x, n, bs, thresholds255, indexMap, codes, absmax);
}

/* Matches QuantCore's BlockwiseCodebookQuantizer: NaN propagates into absmax (a later NaN replaces an
   earlier one); full blocks multiply by fl32(1 / max(absmax, 1e-38)), a partial tail block divides and
   stores the divisor (the all-ones NaN if it is NaN); the sorted position is #{t : !(t >= v)} (NaN → 15).
   No clamp: every midpoint of a codebook in [-1, 1] lies inside it, so clamping never changes a position. */
void ck_quantize_4bit(int isa, const float *x, long n, long bs, const float *thresholds15, const uint8_t *indexMap,
                      uint8_t *packed, float *absmax) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && bs % 32 == 0 && bs <= 4096) {
    ck_avx2_quantize_4bit(x, n, bs, thresholds15, indexMap, packed, absmax);
    return;
  }
#endif
  (void)isa;
  ck_scalar_quantize_4bit(x, n, bs, thresholds15, indexMap, packed, absmax);
}

void ck_quantize_i8_rows(int isa, const float *x, long K, long r0, long r1, float threshold, int8_t *q,
                         float *rowStats) {
#if CK_HAVE_X86
  if (USE_AVX2(isa) && !(threshold > 0)) {
    ck_avx2_quantize_i8_rows(x, K, r0, r1, q, rowStats);
    return;
  }
#endif
  (void)isa;
  for (long r = r0; r < r1; r++) {
    const float *xr = x + r * K;
    float stat = 0;
    for (long k = 0; k < K; k++) {
      float a = fabsf(xr[k]);
      if (threshold > 0 && a >= threshold) continue;
      if (a > stat || a != a) stat = a;
    }
    rowStats[r] = stat;
    float scale = (1.0f / stat) * 127.0f; /* torch evaluates 127.0 / t as t.reciprocal() * 127 */
    for (long k = 0; k < K; k++) {
      float a = fabsf(xr[k]);
      float v = xr[k] * scale;
      /* Non-finite products become 0, as torch's float → int8 cast does on x86-64. */
      q[r * K + k] = (threshold > 0 && a >= threshold) || !(fabsf(v) < 128.0f) ? 0 : (int8_t)lrintf(v);
    }
  }
}

static inline uint8_t ck_f8_encode1(float f, int e5m2) {
  uint32_t bits = ck_bits(f);
  uint8_t sign = (uint8_t)((bits >> 24) & 0x80);
  if (f != f) return sign | 0x7F;
  uint32_t mag = bits & 0x7FFFFFFF;
  uint32_t mbits = e5m2 ? 2 : 3, bias = e5m2 ? 15 : 7, maxCode = e5m2 ? 0x7B : 0x7E;
  float magf = ck_float(mag);
  uint32_t code;
  if (magf < (e5m2 ? 0x1p-14f : 0x1p-6f)) {
    code = (uint32_t)nearbyintf(magf * (e5m2 ? 0x1p16f : 0x1p9f));
  } else if (mag >= 0x7F800000u) {
    code = 0xFFFFFFFFu;
  } else {
    uint32_t shift = 23 - mbits, combined = mag >> shift, rest = mag & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (combined & 1))) combined++;
    code = combined - ((127 - bias) << mbits);
  }
  if (code <= maxCode) return sign | (uint8_t)code;
  return e5m2 ? (sign | 0x7C) : (sign | 0x7E);
}

void ck_f8_encode(int isa, const float *x, long n, float multiplier, int e5m2, uint8_t *out) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) {
    ck_avx2_f8_encode(x, n, multiplier, e5m2, out);
    return;
  }
#endif
  (void)isa;
  for (long i = 0; i < n; i++) out[i] = ck_f8_encode1(x[i] * multiplier, e5m2);
}

float ck_absmax(int isa, const float *x, long n) {
#if CK_HAVE_X86
  if (USE_AVX2(isa)) return ck_avx2_absmax(x, n);
#endif
  (void)isa;
  float am = 0;
  for (long i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > am) am = a;
  }
  return am;
}
