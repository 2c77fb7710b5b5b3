/* x86-64 kernels: AVX2 + FMA + F16C, compiled per function (no global -mavx2), chosen at run time. */
#include "ck_internal.h"

#if CK_HAVE_X86
#include <immintrin.h>
#include <math.h>

#define CK_TARGET __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline)) CK_TARGET
/* Software prefetch distance for streamed weights: far enough ahead that DRAM latency overlaps the
   decode work (hardware prefetchers alone leave the compute and the memory phases serialized). */
#define CK_PREFETCH(p) _mm_prefetch((const char *)(p) + 1024, _MM_HINT_T0)

CK_INLINE float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

CK_INLINE float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* ---- conversion ---- */

CK_TARGET void ck_avx2_load_floats(const void *src, int kind, float *dst, long n) {
  long i = 0;
  if (kind == CK_F32) {
    memcpy(dst, src, (size_t)n * 4);
    return;
  }
  const uint16_t *s = src;
  if (kind == CK_F16) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) dst[i] = ck_half_to_float(s[i]);
  } else {
    for (; i + 8 <= n; i += 8) {
      __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i)));
      _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    for (; i < n; i++) dst[i] = ck_float((uint32_t)s[i] << 16);
  }
}

CK_TARGET void ck_avx2_store_floats(const float *src, int kind, void *dst, long n) {
  long i = 0;
  if (kind == CK_F32) {
    memcpy(dst, src, (size_t)n * 4);
    return;
  }
  uint16_t *d = dst;
  if (kind == CK_F16) {
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) d[i] = ck_float_to_half(src[i]);
  } else {
    const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1), quiet = _mm256_set1_epi32(0x00400000);
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(src + i);
      __m256i b = _mm256_castps_si256(v);
      __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), one);
      __m256i rounded = _mm256_add_epi32(b, _mm256_add_epi32(bias, lsb));
      __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(b, quiet), nan);
      r = _mm256_srli_epi32(r, 16);
      __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
      _mm_storeu_si128((__m128i *)(d + i), packed);
    }
    for (; i < n; i++) d[i] = ck_float_to_bf16(src[i]);
  }
}

/* ---- 4-bit codebook: exact byte-plane lookup ---- */

typedef struct {
  __m256i p0, p1, p2, p3;
} cb4_planes;

CK_INLINE cb4_planes cb4_make_planes(const float *code16) {
  uint8_t b[4][16];
  for (int i = 0; i < 16; i++) {
    uint32_t u = ck_bits(code16[i]);
    for (int j = 0; j < 4; j++) b[j][i] = (uint8_t)(u >> (8 * j));
  }
  cb4_planes p;
  p.p0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b[0]));
  p.p1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b[1]));
  p.p2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b[2]));
  p.p3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b[3]));
  return p;
}

/* 16 packed bytes (32 nibbles) → indices: lane 0 holds the high nibbles (even elements), lane 1 the low ones. */
CK_INLINE __m256i cb4_indices_permuted(const uint8_t *p, __m256i shifts, __m256i mask) {
  __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
  return _mm256_and_si256(_mm256_srlv_epi32(v, shifts), mask);
}

/* Looks up 32 indices; f[j] lane 0 = entries 4j..4j+3 of lane 0, lane 1 likewise of lane 1. */
CK_INLINE void cb4_lookup(const cb4_planes *t, __m256i idx, __m256 f[4]) {
  __m256i b0 = _mm256_shuffle_epi8(t->p0, idx), b1 = _mm256_shuffle_epi8(t->p1, idx);
  __m256i b2 = _mm256_shuffle_epi8(t->p2, idx), b3 = _mm256_shuffle_epi8(t->p3, idx);
  __m256i t0 = _mm256_unpacklo_epi8(b0, b1), t1 = _mm256_unpackhi_epi8(b0, b1);
  __m256i t2 = _mm256_unpacklo_epi8(b2, b3), t3 = _mm256_unpackhi_epi8(b2, b3);
  f[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(t0, t2));
  f[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(t0, t2));
  f[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(t1, t3));
  f[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(t1, t3));
}

CK_TARGET void ck_avx2_cb4_decode(const uint8_t *packed, const float *code16, const float *scales, long bs, long e0,
                                  long count, int permuted, float *out) {
  cb4_planes t = cb4_make_planes(code16);
  const __m256i mask = _mm256_set1_epi8(0x0F), shifts = _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0);
  long steps = count / 32;
  long b = e0 / bs, left = (bs - e0 % bs) / 32, per = bs / 32;
  for (long s = 0; s < steps; s++) {
    const uint8_t *p = packed + (e0 >> 1) + 16 * s;
    __m256 f[4];
    __m256 sc = _mm256_set1_ps(scales[b]);
    float *o = out + 32 * s;
    if (permuted) {
      cb4_lookup(&t, cb4_indices_permuted(p, shifts, mask), f);
      _mm256_storeu_ps(o, _mm256_mul_ps(f[0], sc));
      _mm256_storeu_ps(o + 8, _mm256_mul_ps(f[1], sc));
      _mm256_storeu_ps(o + 16, _mm256_mul_ps(f[2], sc));
      _mm256_storeu_ps(o + 24, _mm256_mul_ps(f[3], sc));
    } else {
      __m128i v = _mm_loadu_si128((const __m128i *)p);
      __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm256_castsi256_si128(mask));
      __m128i lo = _mm_and_si128(v, _mm256_castsi256_si128(mask));
      __m256i idx = _mm256_set_m128i(_mm_unpackhi_epi8(hi, lo), _mm_unpacklo_epi8(hi, lo));
      cb4_lookup(&t, idx, f);
      _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_permute2f128_ps(f[0], f[1], 0x20), sc));
      _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_permute2f128_ps(f[2], f[3], 0x20), sc));
      _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_permute2f128_ps(f[0], f[1], 0x31), sc));
      _mm256_storeu_ps(o + 24, _mm256_mul_ps(_mm256_permute2f128_ps(f[2], f[3], 0x31), sc));
    }
    if (--left == 0) {
      b++;
      left = per;
    }
  }
  long done = steps * 32;
  if (done < count) ck_scalar_cb4_decode(packed, code16, scales, bs, e0 + done, count - done, permuted, out + done);
}

CK_INLINE void cb4_gemv_rows(const uint8_t *packed, const cb4_planes *t, const float *scales, long bs, long K, long r0,
                             long r1, const float *xp, long ldx, float *y, long ldy, const int MR) {
  const __m256i mask = _mm256_set1_epi8(0x0F), shifts = _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0);
  const long steps = K / 32, per = bs / 32;
  for (long r = r0; r < r1; r++) {
    const long e = r * K;
    long b = e / bs, left = (bs - e % bs) / 32;
    const uint8_t *row = packed + (e >> 1);
    __m256 acc[4];
    for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
    for (long s = 0; s < steps; s++) {
      __m256 f[4];
      if ((s & 3) == 0) CK_PREFETCH(row + 16 * s);
      cb4_lookup(t, cb4_indices_permuted(row + 16 * s, shifts, mask), f);
      const __m256 sc = _mm256_broadcast_ss(scales + b);
      for (int m = 0; m < MR; m++) {
        const float *xm = xp + m * ldx + 32 * s;
        __m256 d = _mm256_mul_ps(f[0], _mm256_loadu_ps(xm));
        d = _mm256_fmadd_ps(f[1], _mm256_loadu_ps(xm + 8), d);
        d = _mm256_fmadd_ps(f[2], _mm256_loadu_ps(xm + 16), d);
        d = _mm256_fmadd_ps(f[3], _mm256_loadu_ps(xm + 24), d);
        acc[m] = _mm256_fmadd_ps(d, sc, acc[m]);
      }
      if (--left == 0) {
        b++;
        left = per;
      }
    }
    for (int m = 0; m < MR; m++) y[m * ldy + r] = hsum8(acc[m]);
  }
}

CK_TARGET void ck_avx2_cb4_gemv(const uint8_t *packed, const float *code16, const float *scales, long bs, long K,
                                long r0, long r1, const float *xp, long ldx, long M, float *y, long ldy) {
  cb4_planes t = cb4_make_planes(code16);
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *x = xp + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: cb4_gemv_rows(packed, &t, scales, bs, K, r0, r1, x, ldx, ym, ldy, 1); break;
    case 2: cb4_gemv_rows(packed, &t, scales, bs, K, r0, r1, x, ldx, ym, ldy, 2); break;
    case 3: cb4_gemv_rows(packed, &t, scales, bs, K, r0, r1, x, ldx, ym, ldy, 3); break;
    default: cb4_gemv_rows(packed, &t, scales, bs, K, r0, r1, x, ldx, ym, ldy, 4); break;
    }
  }
}

/* ---- 4-bit fast mode: int8 × int8 with vpmaddubsw ---- */

CK_INLINE void cb4q8_rows(const uint8_t *packed, __m256i table, float codeScale, const float *scales, long bs, long K,
                          long r0, long r1, const int8_t *xq, const float *xs, float *y, long ldy, const int MR) {
  const __m256i mask = _mm256_set1_epi8(0x0F), shifts = _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0);
  const __m256i ones = _mm256_set1_epi16(1);
  const long steps = K / 32, per = bs / 32;
  for (long r = r0; r < r1; r++) {
    const long e = r * K;
    long b = e / bs, left = (bs - e % bs) / 32;
    const uint8_t *row = packed + (e >> 1);
    /* Two accumulators per row (even and odd steps) hide the FMA latency of the short integer chain. */
    __m256 acc[4][2];
    for (int m = 0; m < MR; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
    for (long s = 0; s < steps; s++) {
      if ((s & 3) == 0) CK_PREFETCH(row + 16 * s);
      __m256i w = _mm256_shuffle_epi8(table, cb4_indices_permuted(row + 16 * s, shifts, mask));
      __m256i uw = _mm256_abs_epi8(w);
      const float ws = scales[b] * codeScale;
      const int slot = (int)(s & 1);
      for (int m = 0; m < MR; m++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(xq + m * K + 32 * s));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(uw, _mm256_sign_epi8(q, w)), ones);
        __m256 f = _mm256_cvtepi32_ps(p), c = _mm256_set1_ps(ws * xs[m * steps + s]);
        if (slot)
          acc[m][1] = _mm256_fmadd_ps(f, c, acc[m][1]);
        else
          acc[m][0] = _mm256_fmadd_ps(f, c, acc[m][0]);
      }
      if (--left == 0) {
        b++;
        left = per;
      }
    }
    for (int m = 0; m < MR; m++) y[m * ldy + r] = hsum8(_mm256_add_ps(acc[m][0], acc[m][1]));
  }
}

CK_TARGET void ck_avx2_cb4_gemv_q8(const uint8_t *packed, const int8_t *code8, float codeScale, const float *scales,
                                   long bs, long K, long r0, long r1, const int8_t *xq, const float *xs, long M, float *y,
                                   long ldy) {
  __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)code8));
  long steps = K / 32;
  for (long m0 = 0; m0 < M; m0 += 4) {
    const int8_t *q = xq + m0 * K;
    const float *s = xs + m0 * steps;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: cb4q8_rows(packed, table, codeScale, scales, bs, K, r0, r1, q, s, ym, ldy, 1); break;
    case 2: cb4q8_rows(packed, table, codeScale, scales, bs, K, r0, r1, q, s, ym, ldy, 2); break;
    case 3: cb4q8_rows(packed, table, codeScale, scales, bs, K, r0, r1, q, s, ym, ldy, 3); break;
    default: cb4q8_rows(packed, table, codeScale, scales, bs, K, r0, r1, q, s, ym, ldy, 4); break;
    }
  }
}

/* ---- 8-bit codebook: gathers ---- */

CK_TARGET void ck_avx2_cb8_decode(const uint8_t *codes, const float *code256, const float *scales, long bs, long e0,
                                  long count, float *out) {
  long e = e0, end = e0 + count;
  while (e < end) {
    long b = e / bs, segEnd = (b + 1) * bs < end ? (b + 1) * bs : end;
    __m256 sc = _mm256_set1_ps(scales[b]);
    for (; e + 8 <= segEnd; e += 8) {
      __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(codes + e)));
      _mm256_storeu_ps(out + (e - e0), _mm256_mul_ps(_mm256_i32gather_ps(code256, idx, 4), sc));
    }
    for (; e < segEnd; e++) out[e - e0] = code256[codes[e]] * scales[b];
  }
}

CK_INLINE void cb8_rows(const uint8_t *codes, const float *code256, const float *scales, long bs, long K, long r0,
                        long r1, const float *x, long ldx, float *y, long ldy, const int MR) {
  for (long r = r0; r < r1; r++) {
    __m256 acc[4];
    float tail[4] = {0, 0, 0, 0};
    for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
    long e = r * K, end = e + K;
    while (e < end) {
      long b = e / bs, segEnd = (b + 1) * bs < end ? (b + 1) * bs : end;
      const __m256 sc = _mm256_set1_ps(scales[b]);
      for (; e + 8 <= segEnd; e += 8) {
        __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(codes + e)));
        __m256 w = _mm256_mul_ps(_mm256_i32gather_ps(code256, idx, 4), sc);
        for (int m = 0; m < MR; m++) acc[m] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + m * ldx + (e - r * K)), acc[m]);
      }
      for (; e < segEnd; e++) {
        float w = code256[codes[e]] * scales[b];
        for (int m = 0; m < MR; m++) tail[m] += x[m * ldx + (e - r * K)] * w;
      }
    }
    for (int m = 0; m < MR; m++) y[m * ldy + r] = hsum8(acc[m]) + tail[m];
  }
}

CK_TARGET void ck_avx2_cb8_gemv(const uint8_t *codes, const float *code256, const float *scales, long bs, long K,
                                long r0, long r1, const float *x, long ldx, long M, float *y, long ldy) {
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *xm = x + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: cb8_rows(codes, code256, scales, bs, K, r0, r1, xm, ldx, ym, ldy, 1); break;
    case 2: cb8_rows(codes, code256, scales, bs, K, r0, r1, xm, ldx, ym, ldy, 2); break;
    case 3: cb8_rows(codes, code256, scales, bs, K, r0, r1, xm, ldx, ym, ldy, 3); break;
    default: cb8_rows(codes, code256, scales, bs, K, r0, r1, xm, ldx, ym, ldy, 4); break;
    }
  }
}

/* ---- int8 row-wise ---- */

CK_TARGET void ck_avx2_i8_decode(const int8_t *q, const float *rowScale, long K, long e0, long count, float *out) {
  long e = e0, end = e0 + count;
  const __m256 inv = _mm256_set1_ps(CK_INV127);
  while (e < end) {
    long r = e / K, segEnd = (r + 1) * K < end ? (r + 1) * K : end;
    __m256 sc = _mm256_set1_ps(rowScale[r]);
    for (; e + 8 <= segEnd; e += 8) {
      __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + e))));
      _mm256_storeu_ps(out + (e - e0), _mm256_mul_ps(_mm256_mul_ps(v, sc), inv));
    }
    for (; e < segEnd; e++) out[e - e0] = ((float)q[e] * rowScale[r]) * CK_INV127;
  }
}

CK_INLINE __m256 i8_load8(const int8_t *p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

CK_INLINE void i8_rows(const int8_t *q, const float *rowScale, long K, long r0, long r1, const float *x, long ldx,
                       float *y, long ldy, const int MR) {
  const long K32 = K & ~31L;
  for (long r = r0; r < r1; r++) {
    const int8_t *row = q + r * K;
    __m256 acc[4];
    for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
    for (long k = 0; k < K32; k += 32) {
      if ((k & 63) == 0) CK_PREFETCH(row + k);
      __m256 w0 = i8_load8(row + k), w1 = i8_load8(row + k + 8), w2 = i8_load8(row + k + 16),
             w3 = i8_load8(row + k + 24);
      for (int m = 0; m < MR; m++) {
        const float *xm = x + m * ldx + k;
        __m256 d = _mm256_mul_ps(w0, _mm256_loadu_ps(xm));
        d = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xm + 8), d);
        d = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xm + 16), d);
        d = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xm + 24), d);
        acc[m] = _mm256_add_ps(acc[m], d);
      }
    }
    for (int m = 0; m < MR; m++) {
      float sum = hsum8(acc[m]);
      for (long k = K32; k < K; k++) sum += x[m * ldx + k] * (float)row[k];
      y[m * ldy + r] = (sum * rowScale[r]) * CK_INV127;
    }
  }
}

CK_TARGET void ck_avx2_i8_gemv(const int8_t *q, const float *rowScale, long K, long r0, long r1, const float *x,
                               long ldx, long M, float *y, long ldy) {
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *xm = x + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: i8_rows(q, rowScale, K, r0, r1, xm, ldx, ym, ldy, 1); break;
    case 2: i8_rows(q, rowScale, K, r0, r1, xm, ldx, ym, ldy, 2); break;
    case 3: i8_rows(q, rowScale, K, r0, r1, xm, ldx, ym, ldy, 3); break;
    default: i8_rows(q, rowScale, K, r0, r1, xm, ldx, ym, ldy, 4); break;
    }
  }
}

/* ---- fp8 via F16C: E5M2 is the top byte of a binary16; E4M3FN becomes one after a shift, scaled by 2^-8 ---- */

/* 16 fp8 bytes → two vectors of 8 floats (E4M3 values are 2^-8 too small; callers fold 256 into the scale). */
CK_INLINE void f8_load16(const uint8_t *p, int e5m2, __m256 *lo, __m256 *hi) {
  __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
  __m256i h;
  if (e5m2) {
    h = _mm256_slli_epi16(b, 8);
  } else {
    __m256i mag = _mm256_and_si256(b, _mm256_set1_epi16(0x7F));
    __m256i sign = _mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x80)), 8);
    __m256i nan = _mm256_and_si256(_mm256_cmpeq_epi16(mag, _mm256_set1_epi16(0x7F)), _mm256_set1_epi16(0x7C00));
    h = _mm256_or_si256(_mm256_or_si256(_mm256_slli_epi16(mag, 7), sign), nan);
  }
  *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

CK_TARGET void ck_avx2_f8_decode(const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols,
                                 long gridCols, long K, long e0, long count, float *out) {
  const float unit = e5m2 ? 1.0f : 256.0f;
  const __m256 vunit = _mm256_set1_ps(unit);
  long e = e0, end = e0 + count;
  while (e < end) {
    long r = e / K, c = e % K;
    long segEnd = e + (tileCols - c % tileCols);
    if (segEnd > (r + 1) * K) segEnd = (r + 1) * K;
    if (segEnd > end) segEnd = end;
    float s = scales[(r / tileRows) * gridCols + c / tileCols];
    __m256 sc = _mm256_set1_ps(s);
    for (; e + 16 <= segEnd; e += 16) {
      __m256 lo, hi;
      f8_load16(v + e, e5m2, &lo, &hi);
      _mm256_storeu_ps(out + (e - e0), _mm256_mul_ps(_mm256_mul_ps(lo, vunit), sc));
      _mm256_storeu_ps(out + (e - e0) + 8, _mm256_mul_ps(_mm256_mul_ps(hi, vunit), sc));
    }
    for (; e < segEnd; e++) out[e - e0] = ck_f8_decode1(v[e], e5m2) * s;
  }
}

CK_INLINE void f8_rows(const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                       long K, long r0, long r1, const float *x, long ldx, float *y, long ldy, const int MR) {
  const float unit = e5m2 ? 1.0f : 256.0f;
  for (long r = r0; r < r1; r++) {
    const uint8_t *row = v + r * K;
    const float *srow = scales + (r / tileRows) * gridCols;
    __m256 tot[4];
    for (int m = 0; m < MR; m++) tot[m] = _mm256_setzero_ps();
    for (long c0 = 0; c0 < K; c0 += tileCols) {
      long c1 = c0 + tileCols < K ? c0 + tileCols : K;
      __m256 seg[4];
      for (int m = 0; m < MR; m++) seg[m] = _mm256_setzero_ps();
      for (long k = c0; k < c1; k += 16) {
        __m256 lo, hi;
        if ((k & 63) == 0) CK_PREFETCH(row + k);
        f8_load16(row + k, e5m2, &lo, &hi);
        for (int m = 0; m < MR; m++) {
          const float *xm = x + m * ldx + k;
          __m256 d = _mm256_mul_ps(lo, _mm256_loadu_ps(xm));
          d = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xm + 8), d);
          seg[m] = _mm256_add_ps(seg[m], d);
        }
      }
      const __m256 sc = _mm256_set1_ps(srow[c0 / tileCols] * unit);
      for (int m = 0; m < MR; m++) tot[m] = _mm256_fmadd_ps(seg[m], sc, tot[m]);
    }
    for (int m = 0; m < MR; m++) y[m * ldy + r] = hsum8(tot[m]);
  }
}

CK_TARGET void ck_avx2_f8_gemv(const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols,
                               long gridCols, long K, long r0, long r1, const float *x, long ldx, long M, float *y,
                               long ldy) {
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *xm = x + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: f8_rows(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 1); break;
    case 2: f8_rows(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 2); break;
    case 3: f8_rows(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 3); break;
    default: f8_rows(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 4); break;
    }
  }
}

/* ---- dense float32 ---- */

CK_INLINE void f32_rows(const float *w, long ldw, long K, long r0, long r1, const float *x, long ldx, float *y,
                        long ldy, const int MR) {
  const long K32 = K & ~31L;
  for (long r = r0; r < r1; r++) {
    const float *row = w + r * ldw;
    __m256 acc[4];
    for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
    for (long k = 0; k < K32; k += 32) {
      CK_PREFETCH(row + k);
      CK_PREFETCH(row + k + 16);
      __m256 w0 = _mm256_loadu_ps(row + k), w1 = _mm256_loadu_ps(row + k + 8), w2 = _mm256_loadu_ps(row + k + 16),
             w3 = _mm256_loadu_ps(row + k + 24);
      for (int m = 0; m < MR; m++) {
        const float *xm = x + m * ldx + k;
        __m256 d = _mm256_mul_ps(w0, _mm256_loadu_ps(xm));
        d = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xm + 8), d);
        d = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xm + 16), d);
        d = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xm + 24), d);
        acc[m] = _mm256_add_ps(acc[m], d);
      }
    }
    for (int m = 0; m < MR; m++) {
      float sum = hsum8(acc[m]);
      for (long k = K32; k < K; k++) sum += x[m * ldx + k] * row[k];
      y[m * ldy + r] = sum;
    }
  }
}

CK_TARGET void ck_avx2_f32_gemv(const float *w, long ldw, long K, long r0, long r1, const float *x, long ldx, long M,
                                float *y, long ldy) {
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *xm = x + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: f32_rows(w, ldw, K, r0, r1, xm, ldx, ym, ldy, 1); break;
    case 2: f32_rows(w, ldw, K, r0, r1, xm, ldx, ym, ldy, 2); break;
    case 3: f32_rows(w, ldw, K, r0, r1, xm, ldx, ym, ldy, 3); break;
    default: f32_rows(w, ldw, K, r0, r1, xm, ldx, ym, ldy, 4); break;
    }
  }
}

/* GEMM (ck_gemm_packed below): weight rows are transposed into packed panels [kc][16] with 8×8 AVX
   transposes, and an outer-product microkernel keeps a 6 × 16 block of outputs in 12 registers: per k, two
   panel loads, six broadcasts of packed activations and twelve FMAs. */

CK_INLINE void transpose8x8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* ---- dense half-precision GEMV ---- */

CK_INLINE __m256 half_load8(const uint16_t *p, int kind) {
  __m128i h = _mm_loadu_si128((const __m128i *)p);
  if (kind == CK_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

CK_INLINE void half_rows(const uint16_t *w, int kind, long ldw, long K, long r0, long r1, const float *x, long ldx,
                         float *y, long ldy, const int MR) {
  const long K32 = K & ~31L;
  for (long r = r0; r < r1; r++) {
    const uint16_t *row = w + r * ldw;
    __m256 acc[4];
    for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
    for (long k = 0; k < K32; k += 32) {
      CK_PREFETCH(row + k);
      __m256 w0 = half_load8(row + k, kind), w1 = half_load8(row + k + 8, kind), w2 = half_load8(row + k + 16, kind),
             w3 = half_load8(row + k + 24, kind);
      for (int m = 0; m < MR; m++) {
        const float *xm = x + m * ldx + k;
        __m256 d = _mm256_mul_ps(w0, _mm256_loadu_ps(xm));
        d = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xm + 8), d);
        d = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xm + 16), d);
        d = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xm + 24), d);
        acc[m] = _mm256_add_ps(acc[m], d);
      }
    }
    for (int m = 0; m < MR; m++) {
      float sum = hsum8(acc[m]);
      for (long k = K32; k < K; k++) {
        float wk = kind == CK_F16 ? ck_half_to_float(row[k]) : ck_float((uint32_t)row[k] << 16);
        sum += x[m * ldx + k] * wk;
      }
      y[m * ldy + r] = sum;
    }
  }
}

CK_TARGET void ck_avx2_half_gemv(const uint16_t *w, int kind, long ldw, long K, long r0, long r1, const float *x,
                                 long ldx, long M, float *y, long ldy) {
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *xm = x + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: half_rows(w, kind, ldw, K, r0, r1, xm, ldx, ym, ldy, 1); break;
    case 2: half_rows(w, kind, ldw, K, r0, r1, xm, ldx, ym, ldy, 2); break;
    case 3: half_rows(w, kind, ldw, K, r0, r1, xm, ldx, ym, ldy, 3); break;
    default: half_rows(w, kind, ldw, K, r0, r1, xm, ldx, ym, ldy, 4); break;
    }
  }
}

/* ---- packed GEMM: 6 × 16 microkernel over a packed activation panel and a packed weight panel ---- */

/* panel[k * 16 + j] = w[j * ldw + k] (widened to float32) for j < nrows (zero beyond), k < kc. */
/* With `stride` 32, the panel holds 32 rows: call twice (rows 0-15 at panel, rows 16-31 at panel + 16). */
CK_INLINE void pack_b_panel(const void *w, int wkind, long ldw, long nrows, long kc, float *panel, const long stride) {
  const long k8 = kc & ~7L;
  for (int half = 0; half < 2; half++) {
    for (long k = 0; k < k8; k += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; i++) {
        long n = half * 8 + i;
        if (n >= nrows)
          r[i] = _mm256_setzero_ps();
        else if (wkind == CK_F32)
          r[i] = _mm256_loadu_ps((const float *)w + n * ldw + k);
        else
          r[i] = half_load8((const uint16_t *)w + n * ldw + k, wkind);
      }
      transpose8x8(r);
      for (int j = 0; j < 8; j++) _mm256_store_ps(panel + (k + j) * stride + half * 8, r[j]);
    }
  }
  for (long k = k8; k < kc; k++)
    for (long n = 0; n < 16; n++) {
      float v = 0.0f;
      if (n < nrows) {
        if (wkind == CK_F32)
          v = ((const float *)w)[n * ldw + k];
        else if (wkind == CK_F16)
          v = ck_half_to_float(((const uint16_t *)w)[n * ldw + k]);
        else
          v = ck_float((uint32_t)((const uint16_t *)w)[n * ldw + k] << 16);
      }
      panel[k * stride + n] = v;
    }
}

/* panel[k * stride + j] = w[k * ldw + j] (widened) for j < ncols (zero beyond, up to 16), k < kc: a weight
   stored k-major needs no transpose, only a copy of 16 contiguous values per k. */
CK_INLINE void pack_b_panel_kn(const void *w, int wkind, long ldw, long ncols, long kc, float *panel,
                               const long stride) {
  const long esize = wkind == CK_F32 ? 4 : 2;
  for (long k = 0; k < kc; k++) {
    float *dst = panel + k * stride;
    /* Rows are ldw elements apart (an lm_head's are 4 KB): each is on a new page, which the hardware
       prefetchers do not follow, so fetch 8 rows ahead. */
    _mm_prefetch((const char *)w + (k + 8) * ldw * esize, _MM_HINT_T0);
    if (ncols >= 16) {
      if (wkind == CK_F32) {
        const float *row = (const float *)w + k * ldw;
        _mm256_store_ps(dst, _mm256_loadu_ps(row));
        _mm256_store_ps(dst + 8, _mm256_loadu_ps(row + 8));
      } else {
        const uint16_t *row = (const uint16_t *)w + k * ldw;
        _mm256_store_ps(dst, half_load8(row, wkind));
        _mm256_store_ps(dst + 8, half_load8(row + 8, wkind));
      }
    } else {
      for (long j = 0; j < 16; j++) {
        float v = 0.0f;
        if (j < ncols) {
          if (wkind == CK_F32)
            v = ((const float *)w)[k * ldw + j];
          else if (wkind == CK_F16)
            v = ck_half_to_float(((const uint16_t *)w)[k * ldw + j]);
          else
            v = ck_float((uint32_t)((const uint16_t *)w)[k * ldw + j] << 16);
        }
        dst[j] = v;
      }
    }
  }
}

CK_INLINE void gemm_kernel_6x16(const float *a, const float *b, long kc, float *y, long ldy, long mr, long nr,
                                int accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (long k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 t;
    t = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(t, b0, c00);
    c01 = _mm256_fmadd_ps(t, b1, c01);
    t = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(t, b0, c10);
    c11 = _mm256_fmadd_ps(t, b1, c11);
    t = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(t, b0, c20);
    c21 = _mm256_fmadd_ps(t, b1, c21);
    t = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(t, b0, c30);
    c31 = _mm256_fmadd_ps(t, b1, c31);
    t = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(t, b0, c40);
    c41 = _mm256_fmadd_ps(t, b1, c41);
    t = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(t, b0, c50);
    c51 = _mm256_fmadd_ps(t, b1, c51);
    a += 6;
    b += 16;
  }
  __m256 c[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (long m = 0; m < mr; m++) {
    float *ym = y + m * ldy;
    if (nr == 16) {
      __m256 v0 = c[m][0], v1 = c[m][1];
      if (accumulate) {
        v0 = _mm256_add_ps(_mm256_loadu_ps(ym), v0);
        v1 = _mm256_add_ps(_mm256_loadu_ps(ym + 8), v1);
      }
      _mm256_storeu_ps(ym, v0);
      _mm256_storeu_ps(ym + 8, v1);
    } else {
      float tmp[16];
      _mm256_storeu_ps(tmp, c[m][0]);
      _mm256_storeu_ps(tmp + 8, c[m][1]);
      for (long n = 0; n < nr; n++) ym[n] = accumulate ? ym[n] + tmp[n] : tmp[n];
    }
  }
}

/* The packed GEMM over weights stored n-major ([n][k], `kn` 0: panels are transposed) or k-major ([k][n],
   `kn` 1: panels are copied); `nrows` counts output columns either way. */
CK_INLINE void gemm_packed_avx2(const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc,
                                float *y, long ldy, int accumulate, const int kn) {
  float panel[CK_GEMM_KC * 16] __attribute__((aligned(64)));
  const long esize = wkind == CK_F32 ? 4 : 2;
  for (long k0 = 0; k0 < kc; k0 += CK_GEMM_KC) {
    const long kk = kc - k0 < CK_GEMM_KC ? kc - k0 : CK_GEMM_KC;
    const int acc = accumulate || k0 > 0;
    for (long n0 = 0; n0 < nrows; n0 += 16) {
      const long nr = nrows - n0 < 16 ? nrows - n0 : 16;
      if (kn)
        pack_b_panel_kn((const char *)w + (k0 * ldw + n0) * esize, wkind, ldw, nr, kk, panel, 16);
      else
        pack_b_panel((const char *)w + (n0 * ldw + k0) * esize, wkind, ldw, nr, kk, panel, 16);
      for (long m0 = 0; m0 < M; m0 += CK_GEMM_MR) {
        const long mr = M - m0 < CK_GEMM_MR ? M - m0 : CK_GEMM_MR;
        gemm_kernel_6x16(a + m0 * kc + k0 * CK_GEMM_MR, panel, kk, y + m0 * ldy + n0, ldy, mr, nr, acc);
      }
    }
  }
}

CK_TARGET void ck_avx2_gemm_packed(const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc,
                                   float *y, long ldy, int accumulate) {
  gemm_packed_avx2(a, M, w, wkind, ldw, nrows, kc, y, ldy, accumulate, 0);
}

CK_TARGET void ck_avx2_gemm_packed_kn(const float *a, long M, const void *w, int wkind, long ldw, long ncols, long kc,
                                      float *y, long ldy, int accumulate) {
  gemm_packed_avx2(a, M, w, wkind, ldw, ncols, kc, y, ldy, accumulate, 1);
}

/* AVX-512: the same microkernel 32 columns wide (12 zmm accumulators). Each output is the same float32 FMA
   chain over k as in the AVX2 and scalar kernels, so every ISA gives bit-identical results. */
#define CK_TARGET512 __attribute__((target("avx512f,avx512vl,avx512bw,avx2,fma,f16c")))

CK_TARGET512 static inline __attribute__((always_inline)) void gemm_kernel_6x32(const float *a, const float *b,
                                                                                 long kc, float *y, long ldy, long mr,
                                                                                 long nr, int accumulate) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (long k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    __m512 t;
    t = _mm512_set1_ps(a[0]);
    c00 = _mm512_fmadd_ps(t, b0, c00);
    c01 = _mm512_fmadd_ps(t, b1, c01);
    t = _mm512_set1_ps(a[1]);
    c10 = _mm512_fmadd_ps(t, b0, c10);
    c11 = _mm512_fmadd_ps(t, b1, c11);
    t = _mm512_set1_ps(a[2]);
    c20 = _mm512_fmadd_ps(t, b0, c20);
    c21 = _mm512_fmadd_ps(t, b1, c21);
    t = _mm512_set1_ps(a[3]);
    c30 = _mm512_fmadd_ps(t, b0, c30);
    c31 = _mm512_fmadd_ps(t, b1, c31);
    t = _mm512_set1_ps(a[4]);
    c40 = _mm512_fmadd_ps(t, b0, c40);
    c41 = _mm512_fmadd_ps(t, b1, c41);
    t = _mm512_set1_ps(a[5]);
    c50 = _mm512_fmadd_ps(t, b0, c50);
    c51 = _mm512_fmadd_ps(t, b1, c51);
    a += 6;
    b += 32;
  }
  __m512 c[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
  for (long m = 0; m < mr; m++) {
    float *ym = y + m * ldy;
    __m512 v0 = c[m][0], v1 = c[m][1];
    if (accumulate) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ym), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ym + 16), v1);
    }
    _mm512_mask_storeu_ps(ym, m0, v0);
    _mm512_mask_storeu_ps(ym + 16, m1, v1);
  }
}

CK_TARGET512 static inline __attribute__((always_inline)) void gemm_packed_avx512(
    const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc, float *y, long ldy, int accumulate,
    const int kn) {
  float panel[CK_GEMM_KC * 32] __attribute__((aligned(64)));
  const long esize = wkind == CK_F32 ? 4 : 2;
  for (long k0 = 0; k0 < kc; k0 += CK_GEMM_KC) {
    const long kk = kc - k0 < CK_GEMM_KC ? kc - k0 : CK_GEMM_KC;
    const int acc = accumulate || k0 > 0;
    for (long n0 = 0; n0 < nrows; n0 += 32) {
      const long nr = nrows - n0 < 32 ? nrows - n0 : 32;
      if (kn) {
        const char *wb = (const char *)w + (k0 * ldw + n0) * esize;
        pack_b_panel_kn(wb, wkind, ldw, nr < 16 ? nr : 16, kk, panel, 32);
        pack_b_panel_kn(wb + 16 * esize, wkind, ldw, nr > 16 ? nr - 16 : 0, kk, panel + 16, 32);
      } else {
        const char *wb = (const char *)w + (n0 * ldw + k0) * esize;
        pack_b_panel(wb, wkind, ldw, nr < 16 ? nr : 16, kk, panel, 32);
        pack_b_panel(wb + 16 * ldw * esize, wkind, ldw, nr > 16 ? nr - 16 : 0, kk, panel + 16, 32);
      }
      for (long m0 = 0; m0 < M; m0 += CK_GEMM_MR) {
        const long mr = M - m0 < CK_GEMM_MR ? M - m0 : CK_GEMM_MR;
        gemm_kernel_6x32(a + m0 * kc + k0 * CK_GEMM_MR, panel, kk, y + m0 * ldy + n0, ldy, mr, nr, acc);
      }
    }
  }
}

CK_TARGET512 void ck_avx512_gemm_packed(const float *a, long M, const void *w, int wkind, long ldw, long nrows,
                                        long kc, float *y, long ldy, int accumulate) {
  gemm_packed_avx512(a, M, w, wkind, ldw, nrows, kc, y, ldy, accumulate, 0);
}

CK_TARGET512 void ck_avx512_gemm_packed_kn(const float *a, long M, const void *w, int wkind, long ldw, long ncols,
                                           long kc, float *y, long ldy, int accumulate) {
  gemm_packed_avx512(a, M, w, wkind, ldw, ncols, kc, y, ldy, accumulate, 1);
}

/* ---- 4-bit GEMV with AVX-512: a 16-entry float32 table per block, one vpermps per 16 weights ----
   One 64-bit broadcast load puts packed bytes 0-3 (elements 0-7) in the even dword lanes and bytes 4-7
   (elements 8-15) in the odd ones; a per-lane shift brings each lane's nibble to bits 3:0, which is all
   vpermps reads. The table is code16 · absmax (recomputed per block), so every weight is the exact
   dequantized value fl32(code[q] · absmax); lane 2j holds element j and lane 2j + 1 element 8 + j, the
   order of ck_permute16i. */
CK_TARGET512 static inline __attribute__((always_inline)) void cb4_gemv_rows512(
    const uint8_t *packed, const float *code16, const float *scales, long bs, long K, long r0, long r1,
    const float *xp, long ldx, float *y, long ldy, const int MR) {
  const __m512 code = _mm512_loadu_ps(code16);
  const __m512i shifts = _mm512_setr_epi32(4, 4, 0, 0, 12, 12, 8, 8, 20, 20, 16, 16, 28, 28, 24, 24);
  const long steps = K / 32, per = bs / 32;
  for (long r = r0; r < r1; r++) {
    const long e = r * K;
    long b = e / bs, left = (bs - e % bs) / 32;
    const uint8_t *row = packed + (e >> 1);
    __m512 table = _mm512_mul_ps(code, _mm512_set1_ps(scales[b]));
    __m512 a0[4], a1[4];
    for (int m = 0; m < MR; m++) a0[m] = a1[m] = _mm512_setzero_ps();
    for (long s = 0; s < steps; s++) {
      if ((s & 3) == 0) CK_PREFETCH(row + 16 * s);
      uint64_t lo, hi;
      memcpy(&lo, row + 16 * s, 8);
      memcpy(&hi, row + 16 * s + 8, 8);
      const __m512i i0 = _mm512_srlv_epi32(_mm512_set1_epi64((long long)lo), shifts);
      const __m512i i1 = _mm512_srlv_epi32(_mm512_set1_epi64((long long)hi), shifts);
      const __m512 w0 = _mm512_permutexvar_ps(i0, table), w1 = _mm512_permutexvar_ps(i1, table);
      for (int m = 0; m < MR; m++) {
        const float *xm = xp + m * ldx + 32 * s;
        a0[m] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xm), a0[m]);
        a1[m] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xm + 16), a1[m]);
      }
      if (--left == 0) {
        b++;
        left = per;
        if (s + 1 < steps) table = _mm512_mul_ps(code, _mm512_set1_ps(scales[b]));
      }
    }
    for (int m = 0; m < MR; m++) y[m * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0[m], a1[m]));
  }
}

CK_TARGET512 void ck_avx512_cb4_gemv(const uint8_t *packed, const float *code16, const float *scales, long bs, long K,
                                     long r0, long r1, const float *xp, long ldx, long M, float *y, long ldy) {
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *x = xp + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: cb4_gemv_rows512(packed, code16, scales, bs, K, r0, r1, x, ldx, ym, ldy, 1); break;
    case 2: cb4_gemv_rows512(packed, code16, scales, bs, K, r0, r1, x, ldx, ym, ldy, 2); break;
    case 3: cb4_gemv_rows512(packed, code16, scales, bs, K, r0, r1, x, ldx, ym, ldy, 3); break;
    default: cb4_gemv_rows512(packed, code16, scales, bs, K, r0, r1, x, ldx, ym, ldy, 4); break;
    }
  }
}

/* ---- 4-bit GEMV, fast mode, with AVX-512 VNNI: 64 weights (two activation groups of 32) per step ----
   The 32 packed bytes of a step go to the four 128-bit lanes as [hi(b0..15), lo(b0..15), hi(b16..31),
   lo(b16..31)]: each group's even then odd elements, the order ck_quantize_q8 gives the activations. One
   vpshufb looks the nibbles up in the int8 codebook offset by +128 (vpdpbusd multiplies unsigned by signed
   bytes), one vpdpbusd makes 16 int32 sums of 4 products, and the 128·Σx the offset added is subtracted per
   lane from a table made once per call, so the integer dot products are exactly the AVX2 kernel's. Each lane
   is then scaled by its group's activation scale × codeScale (a second per-call table) and the block's absmax
   (blocksizes are multiples of 64, so one absmax covers a step). */
#define CK_TARGET512VNNI __attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c")))

CK_TARGET512VNNI static inline __attribute__((always_inline)) void cb4q8_rows512(
    const uint8_t *packed, __m512i table, const float *scales, long bs, long K, long r0, long r1, const int8_t *xq,
    const int32_t *offsets, const float *laneScales, float *y, long ldy, const int MR) {
  const long chunks = K / 64;
  const __m512i low = _mm512_set1_epi8(0x0F);
  for (long r = r0; r < r1; r++) {
    const uint8_t *row = packed + r * K / 2;
    const long e0 = r * K;
    __m512 acc[4];
    for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_ps();
    for (long c = 0; c < chunks; c++) {
      if ((c & 1) == 0) CK_PREFETCH(row + c * 32 + 256);
      __m512i z = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(row + c * 32)));
      z = _mm512_shuffle_i64x2(z, z, 0x50); /* lanes [b0..15, b0..15, b16..31, b16..31] */
      /* High nibbles in lanes 0 and 2 (16-bit words 0-7 and 16-23), low nibbles in lanes 1 and 3. */
      __m512i idx = _mm512_and_si512(_mm512_mask_srli_epi16(z, (__mmask32)0x00FF00FF, z, 4), low);
      const __m512i w = _mm512_shuffle_epi8(table, idx);
      const __m512 absmax = _mm512_set1_ps(scales[(e0 + c * 64) / bs]);
      for (int m = 0; m < MR; m++) {
        const long at = m * K + c * 64;
        __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512((const void *)(xq + at)));
        dot = _mm512_sub_epi32(dot, _mm512_loadu_si512((const void *)(offsets + at / 4)));
        const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_loadu_ps(laneScales + at / 4));
        acc[m] = _mm512_fmadd_ps(scaled, absmax, acc[m]);
      }
    }
    for (int m = 0; m < MR; m++) y[m * ldy + r] = _mm512_reduce_add_ps(acc[m]);
  }
}

CK_TARGET512VNNI void ck_avx512vnni_cb4_gemv_q8(const uint8_t *packed, const int8_t *code8, float codeScale,
                                                const float *scales, long bs, long K, long r0, long r1,
                                                const int8_t *xq, const float *xs, long M, float *y, long ldy) {
  /* Per activation row and lane of 4 activations: 128 · Σ of the 4 codes, and its group's scale × codeScale. */
  const long lanes = K / 4, steps = K / 32;
  int32_t *offsets = malloc((size_t)(M * lanes) * sizeof(int32_t));
  float *laneScales = malloc((size_t)(M * lanes) * sizeof(float));
  if (!offsets || !laneScales) {
    free(offsets);
    free(laneScales);
    ck_avx2_cb4_gemv_q8(packed, code8, codeScale, scales, bs, K, r0, r1, xq, xs, M, y, ldy);
    return;
  }
  for (long m = 0; m < M; m++) {
    for (long l = 0; l < lanes; l++) {
      const int8_t *q = xq + m * K + l * 4;
      offsets[m * lanes + l] = 128 * ((int32_t)q[0] + q[1] + q[2] + q[3]);
      laneScales[m * lanes + l] = codeScale * xs[m * steps + l / 8];
    }
  }
  uint8_t shifted[16];
  for (int i = 0; i < 16; i++) shifted[i] = (uint8_t)(code8[i] + 128);
  const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)shifted));
  for (long m0 = 0; m0 < M; m0 += 4) {
    const int8_t *q = xq + m0 * K;
    const int32_t *o = offsets + m0 * lanes;
    const float *ls = laneScales + m0 * lanes;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: cb4q8_rows512(packed, table, scales, bs, K, r0, r1, q, o, ls, ym, ldy, 1); break;
    case 2: cb4q8_rows512(packed, table, scales, bs, K, r0, r1, q, o, ls, ym, ldy, 2); break;
    case 3: cb4q8_rows512(packed, table, scales, bs, K, r0, r1, q, o, ls, ym, ldy, 3); break;
    default: cb4q8_rows512(packed, table, scales, bs, K, r0, r1, q, o, ls, ym, ldy, 4); break;
    }
  }
  free(offsets);
  free(laneScales);
}

/* ---- fp8 GEMV with AVX-512: 32 weights per step (the F16C trick on 512-bit vectors) ---- */

/* 32 fp8 bytes → two vectors of 16 floats in element order (E4M3 values 2^-8 too small, as f8_load16). */
CK_TARGET512 static inline __attribute__((always_inline)) void f8_load32(const uint8_t *p, int e5m2, __m512 *lo,
                                                                          __m512 *hi) {
  __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
  __m512i h;
  if (e5m2) {
    h = _mm512_slli_epi16(b, 8);
  } else {
    __m512i mag = _mm512_and_si512(b, _mm512_set1_epi16(0x7F));
    __m512i sign = _mm512_slli_epi16(_mm512_and_si512(b, _mm512_set1_epi16(0x80)), 8);
    h = _mm512_or_si512(_mm512_slli_epi16(mag, 7), sign);
    __mmask32 nan = _mm512_cmpeq_epi16_mask(mag, _mm512_set1_epi16(0x7F));
    h = _mm512_mask_mov_epi16(h, nan, _mm512_or_si512(h, _mm512_set1_epi16(0x7C00)));
  }
  *lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
  *hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}

CK_TARGET512 static inline __attribute__((always_inline)) void f8_rows512(
    const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols, long K, long r0,
    long r1, const float *x, long ldx, float *y, long ldy, const int MR) {
  const float unit = e5m2 ? 1.0f : 256.0f;
  for (long r = r0; r < r1; r++) {
    const uint8_t *row = v + r * K;
    const float *srow = scales + (r / tileRows) * gridCols;
    __m512 tot[4];
    for (int m = 0; m < MR; m++) tot[m] = _mm512_setzero_ps();
    for (long c0 = 0; c0 < K; c0 += tileCols) {
      long c1 = c0 + tileCols < K ? c0 + tileCols : K;
      __m512 s0[4], s1[4];
      for (int m = 0; m < MR; m++) s0[m] = s1[m] = _mm512_setzero_ps();
      for (long k = c0; k < c1; k += 32) {
        __m512 lo, hi;
        if ((k & 63) == 0) CK_PREFETCH(row + k);
        f8_load32(row + k, e5m2, &lo, &hi);
        for (int m = 0; m < MR; m++) {
          const float *xm = x + m * ldx + k;
          s0[m] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xm), s0[m]);
          s1[m] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xm + 16), s1[m]);
        }
      }
      const __m512 sc = _mm512_set1_ps(srow[c0 / tileCols] * unit);
      for (int m = 0; m < MR; m++) tot[m] = _mm512_fmadd_ps(_mm512_add_ps(s0[m], s1[m]), sc, tot[m]);
    }
    for (int m = 0; m < MR; m++) y[m * ldy + r] = _mm512_reduce_add_ps(tot[m]);
  }
}

CK_TARGET512 void ck_avx512_f8_gemv(const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols,
                                    long gridCols, long K, long r0, long r1, const float *x, long ldx, long M, float *y,
                                    long ldy) {
  for (long m0 = 0; m0 < M; m0 += 4) {
    const float *xm = x + m0 * ldx;
    float *ym = y + m0 * ldy;
    switch (M - m0 >= 4 ? 4 : M - m0) {
    case 1: f8_rows512(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 1); break;
    case 2: f8_rows512(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 2); break;
    case 3: f8_rows512(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 3); break;
    default: f8_rows512(v, e5m2, scales, tileRows, tileCols, gridCols, K, r0, r1, xm, ldx, ym, ldy, 4); break;
    }
  }
}

/* ---- quantize ---- */

CK_TARGET float ck_avx2_absmax(const float *x, long n) {
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absMask), m0);
    m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i + 8), absMask), m1);
  }
  float am = hmax8(_mm256_max_ps(m0, m1));
  for (; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > am) am = a;
  }
  return am;
}

CK_TARGET static int ck_avx2_has_nan(const float *x, long n) {
  __m256 acc = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    acc = _mm256_or_ps(acc, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  int found = _mm256_movemask_ps(acc) != 0;
  for (; i < n; i++) found |= x[i] != x[i];
  return found;
}

/* Sorted positions of 8 normalized values: #{t : !(t >= v)} (NaN → 15), by 15 compares. Used when the
   thresholds are not sorted (a codebook holding NaN), where the binary search below would not apply. */
CK_INLINE __m256i q4_positions(__m256 v, const __m256 *thr) {
  __m256i cnt = _mm256_setzero_si256();
  /* !(t >= v): true when v > t or v is NaN. */
  for (int t = 0; t < 15; t++) cnt = _mm256_sub_epi32(cnt, _mm256_castps_si256(_mm256_cmp_ps(v, thr[t], _CMP_NLE_UQ)));
  return cnt;
}

/* The same count by a branch-free 4-step binary search over sorted thresholds t0 ≤ … ≤ t14. The predicate
   P(k) = !(t_k >= v) is monotone in k (true for every k when v is NaN), so the count of true P(k) is found by
   testing t7, then t3/t11, then t1/t5/t9/t13, then the even thresholds: pos = 8·P(7) + 4·P(i+3) + 2·P(i+1)
   + P(i). Lookups: a blend for step 2, `vpermps` of {t1, t5, t9, t13} and {t0, t2, …, t14} for steps 3-4. */
typedef struct {
  __m256 t7, t3, t11, odd, even;
} q4_search;

CK_INLINE __m256i q4_positions_search(__m256 v, const q4_search *q) {
  const __m256i two = _mm256_set1_epi32(2);
  __m256i m1 = _mm256_castps_si256(_mm256_cmp_ps(v, q->t7, _CMP_NLE_UQ));
  __m256 thr2 = _mm256_blendv_ps(q->t3, q->t11, _mm256_castsi256_ps(m1));
  __m256i m2 = _mm256_castps_si256(_mm256_cmp_ps(v, thr2, _CMP_NLE_UQ));
  __m256i i3 = _mm256_sub_epi32(_mm256_and_si256(m1, two), m2); /* 2·P(7) + P(step 2), 0…3 */
  __m256i m3 = _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_permutevar8x32_ps(q->odd, i3), _CMP_NLE_UQ));
  __m256i i4 = _mm256_sub_epi32(_mm256_add_epi32(i3, i3), m3); /* 0…7 */
  __m256i m4 = _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_permutevar8x32_ps(q->even, i4), _CMP_NLE_UQ));
  return _mm256_sub_epi32(_mm256_add_epi32(i4, i4), m4); /* 0…15 */
}

/* 32 int32 positions → 32 bytes in element order → nibble codes → 16 packed bytes, high nibble first. */
CK_INLINE void q4_pack32(const __m256i p[4], __m256i table, uint8_t *dst) {
  const __m256i lowByte = _mm256_set1_epi16(0x00FF);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i w01 = _mm256_packs_epi32(p[0], p[1]), w23 = _mm256_packs_epi32(p[2], p[3]);
  __m256i bytes = _mm256_packus_epi16(w01, w23);
  bytes = _mm256_permutevar8x32_epi32(bytes, order);
  bytes = _mm256_shuffle_epi8(table, bytes);
  __m256i pairs =
      _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(bytes, lowByte), 4), _mm256_srli_epi16(bytes, 8));
  __m256i out = _mm256_packus_epi16(pairs, pairs);
  out = _mm256_permute4x64_epi64(out, 0x08);
  _mm_storeu_si128((__m128i *)dst, _mm256_castsi256_si128(out));
}

/* Lane-wise maximum of the |x| bit patterns of one block (bs % 32 == 0). For non-negative floats the integer
   order is the float order, and every NaN pattern (> 0x7F800000) exceeds infinity, so the result's lanes are
   both the absmax and the NaN test in a single pass. */
#ifndef Q4_PREFETCH
#define Q4_PREFETCH 4096
#endif
CK_INLINE __m256i q4_absbits(const float *x, long bs) {
  const __m256i absMask = _mm256_set1_epi32(0x7FFFFFFF);
  __m256i m0 = _mm256_setzero_si256(), m1 = m0, m2 = m0, m3 = m0;
  for (long i = 0; i < bs; i += 32) {
    _mm_prefetch((const char *)(x + i) + Q4_PREFETCH, _MM_HINT_T0);
    _mm_prefetch((const char *)(x + i) + Q4_PREFETCH + 64, _MM_HINT_T0);
    m0 = _mm256_max_epi32(m0, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i)), absMask));
    m1 = _mm256_max_epi32(m1, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 8)), absMask));
    m2 = _mm256_max_epi32(m2, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 16)), absMask));
    m3 = _mm256_max_epi32(m3, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 24)), absMask));
  }
  return _mm256_max_epi32(_mm256_max_epi32(m0, m1), _mm256_max_epi32(m2, m3));
}

/* Lane j of the result = the maximum over the 8 lanes of v[j]. */
CK_INLINE __m256i q4_reduce8(const __m256i v[8]) {
  __m256i a = _mm256_max_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
  __m256i b = _mm256_max_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
  __m256i c = _mm256_max_epi32(_mm256_unpacklo_epi32(v[4], v[5]), _mm256_unpackhi_epi32(v[4], v[5]));
  __m256i d = _mm256_max_epi32(_mm256_unpacklo_epi32(v[6], v[7]), _mm256_unpackhi_epi32(v[6], v[7]));
  __m256i u = _mm256_max_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
  __m256i w = _mm256_max_epi32(_mm256_unpacklo_epi64(c, d), _mm256_unpackhi_epi64(c, d));
  return _mm256_max_epi32(_mm256_permute2x128_si256(u, w, 0x20), _mm256_permute2x128_si256(u, w, 0x31));
}

CK_TARGET static void q4_block_search(const float *xb, long bs, __m256 s, const q4_search *q, __m256i table,
                                      uint8_t *dst) {
  for (long i = 0; i < bs; i += 32) {
    __m256i p[4];
    for (int j = 0; j < 4; j++) p[j] = q4_positions_search(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8 * j), s), q);
    q4_pack32(p, table, dst + (i >> 1));
  }
}

CK_TARGET void ck_avx2_quantize_4bit(const float *x, long n, long bs, const float *t15, const uint8_t *map,
                                     uint8_t *packed, float *absmax) {
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)map));
  long full = n / bs;
  int sorted = 1;
  for (int t = 0; t < 14; t++) sorted &= t15[t] <= t15[t + 1]; /* false for NaN as well */
  if (!sorted) {
    __m256 thr[15];
    for (int t = 0; t < 15; t++) thr[t] = _mm256_set1_ps(t15[t]);
    for (long b = 0; b < full; b++) {
      const float *xb = x + b * bs;
      float am = ck_avx2_absmax(xb, bs);
      if (am != am || ck_avx2_has_nan(xb, bs)) {
        /* NaN propagation rules are subtle; the scalar code implements them exactly. */
        ck_scalar_quantize_4bit(xb, bs, bs, t15, map, packed + ((b * bs) >> 1), absmax + b);
        continue;
      }
      absmax[b] = am;
      const __m256 s = _mm256_set1_ps(1.0f / (am > 1e-38f ? am : 1e-38f));
      for (long i = 0; i < bs; i += 32) {
        __m256i p[4];
        for (int j = 0; j < 4; j++) p[j] = q4_positions(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8 * j), s), thr);
        q4_pack32(p, table, packed + ((b * bs + i) >> 1));
      }
    }
  } else {
    q4_search q;
    q.t7 = _mm256_set1_ps(t15[7]);
    q.t3 = _mm256_set1_ps(t15[3]);
    q.t11 = _mm256_set1_ps(t15[11]);
    q.odd = _mm256_setr_ps(t15[1], t15[5], t15[9], t15[13], t15[1], t15[5], t15[9], t15[13]);
    q.even = _mm256_setr_ps(t15[0], t15[2], t15[4], t15[6], t15[8], t15[10], t15[12], t15[14]);
    const __m256i nanBits = _mm256_set1_epi32(0x7F800000);
    const __m256 one = _mm256_set1_ps(1.0f), tiny = _mm256_set1_ps(1e-38f);
    long b = 0;
    /* Groups of 8 blocks: one pass for the 8 absmax values (and NaN flags), one vector division for the 8
       scales, then the blocks again (L1/L2-resident) for the codes. */
    for (; b + 8 <= full; b += 8) {
      const float *xg = x + b * bs;
      __m256i m[8];
      for (int j = 0; j < 8; j++) m[j] = q4_absbits(xg + j * bs, bs);
      __m256i bits = q4_reduce8(m);
      int nanLanes = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(bits, nanBits)));
      __m256 am = _mm256_castsi256_ps(bits);
      __m256 scales = _mm256_div_ps(one, _mm256_max_ps(am, tiny)); /* = fl32(1 / max(absmax, 1e-38)) */
      _mm256_storeu_ps(absmax + b, am);
      for (int j = 0; j < 8; j++) {
        const float *xb = xg + j * bs;
        uint8_t *dst = packed + (((b + j) * bs) >> 1);
        if (nanLanes >> j & 1) {
          /* NaN propagation rules are subtle; the scalar code implements them exactly. */
          ck_scalar_quantize_4bit(xb, bs, bs, t15, map, dst, absmax + b + j);
          continue;
        }
        __m256 s = _mm256_permutevar8x32_ps(scales, _mm256_set1_epi32(j));
        q4_block_search(xb, bs, s, &q, table, dst);
      }
    }
    for (; b < full; b++) {
      const float *xb = x + b * bs;
      __m256i v[8];
      v[0] = q4_absbits(xb, bs);
      for (int j = 1; j < 8; j++) v[j] = v[0];
      __m256i bits = q4_reduce8(v); /* every lane holds the block's maximum */
      if (_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(bits, nanBits)))) {
        ck_scalar_quantize_4bit(xb, bs, bs, t15, map, packed + ((b * bs) >> 1), absmax + b);
        continue;
      }
      __m256 am = _mm256_castsi256_ps(bits);
      absmax[b] = _mm256_cvtss_f32(am);
      q4_block_search(xb, bs, _mm256_div_ps(one, _mm256_max_ps(am, tiny)), &q, table, packed + ((b * bs) >> 1));
    }
  }
  if (full * bs < n)
    ck_scalar_quantize_4bit(x + full * bs, n - full * bs, bs, t15, map, packed + ((full * bs) >> 1), absmax + full);
}

/* 8 sorted positions #{t : !(t >= v)} over 255 sorted thresholds after the clamp to [-1, 1]: an 8-step
   binary search with gathers. max(-1, v) and min(1, v) with the constant first keep a NaN v (→ 255). */
CK_INLINE __m256i q8_positions(__m256 v, const float *t255) {
  v = _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(_mm256_set1_ps(-1.0f), v));
  __m256i pos = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(_mm256_set1_ps(t255[127]), v, _CMP_NGE_UQ)),
                                 _mm256_set1_epi32(128));
  for (int step = 64; step >= 1; step >>= 1) {
    __m256 t = _mm256_i32gather_ps(t255, _mm256_add_epi32(pos, _mm256_set1_epi32(step - 1)), 4);
    __m256i up = _mm256_castps_si256(_mm256_cmp_ps(t, v, _CMP_NGE_UQ));
    pos = _mm256_add_epi32(pos, _mm256_and_si256(up, _mm256_set1_epi32(step)));
  }
  return pos;
}

CK_TARGET void ck_avx2_quantize_8bit_blocks(const float *x, long n, long bs, const float *t255, const uint8_t *map,
                                            uint8_t *codes, float *absmax) {
  long full = n / bs;
  int sorted = 1;
  for (int t = 0; t < 254; t++) sorted &= t255[t] <= t255[t + 1]; /* false for NaN as well */
  if (!sorted || bs < 8) {
    ck_scalar_quantize_8bit_blocks(x, n, bs, t255, map, codes, absmax);
    return;
  }
  int32_t lanes[8];
  for (long b = 0; b < full; b++) {
    const float *xb = x + b * bs;
    uint8_t *dst = codes + b * bs;
    if (ck_avx2_has_nan(xb, bs)) {
      /* NaN propagation rules are subtle; the scalar code implements them exactly. */
      ck_scalar_quantize_8bit_blocks(xb, bs, bs, t255, map, dst, absmax + b);
      continue;
    }
    float am = ck_avx2_absmax(xb, bs);
    absmax[b] = am;
    const __m256 s = _mm256_set1_ps(1.0f / (am > 1e-38f ? am : 1e-38f));
    long i = 0;
    for (; i + 8 <= bs; i += 8) {
      _mm256_storeu_si256((__m256i *)lanes, q8_positions(_mm256_mul_ps(_mm256_loadu_ps(xb + i), s), t255));
      for (int j = 0; j < 8; j++) dst[i + j] = map[lanes[j]];
    }
    if (i < bs) {
      float rest[8] = {0};
      for (long j = i; j < bs; j++) rest[j - i] = xb[j];
      _mm256_storeu_si256((__m256i *)lanes, q8_positions(_mm256_mul_ps(_mm256_loadu_ps(rest), s), t255));
      for (long j = i; j < bs; j++) dst[j] = map[lanes[j - i]];
    }
  }
  if (full * bs < n)
    ck_scalar_quantize_8bit_blocks(x + full * bs, n - full * bs, bs, t255, map, codes + full * bs, absmax + full);
}

/* fp8 encoding of 8 floats with round-to-nearest-even on the bit pattern (the scalar algorithm, lane-wise):
   normal values round their mantissa with (mag + half - 1 + lsb) >> shift, subnormals round mag · 2^k as an
   integer, overflow saturates (E4M3FN) or becomes infinity (E5M2), NaN becomes sign | 0x7F. */
CK_INLINE __m256i f8_encode8(__m256 v, int e5m2) {
  const int mbits = e5m2 ? 2 : 3, bias = e5m2 ? 15 : 7, shift = 23 - mbits;
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(bits, 24), _mm256_set1_epi32(0x80));
  const __m256i mag = _mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7F800000));
  const __m256 magf = _mm256_castsi256_ps(mag);
  const __m256 minNormal = _mm256_set1_ps(e5m2 ? 0x1p-14f : 0x1p-6f);
  const __m256i sub = _mm256_castps_si256(_mm256_cmp_ps(magf, minNormal, _CMP_LT_OQ));
  const __m256i subCode = _mm256_cvtps_epi32(_mm256_mul_ps(magf, _mm256_set1_ps(e5m2 ? 0x1p16f : 0x1p9f)));
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(mag, shift), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_add_epi32(mag, _mm256_add_epi32(_mm256_set1_epi32((1 << (shift - 1)) - 1), lsb));
  rounded = _mm256_sub_epi32(_mm256_srli_epi32(rounded, shift), _mm256_set1_epi32((127 - bias) << mbits));
  __m256i code = _mm256_blendv_epi8(rounded, subCode, sub);
  const __m256i maxCode = _mm256_set1_epi32(e5m2 ? 0x7B : 0x7E);
  /* Infinity rounds far beyond maxCode as well, so one comparison covers overflow. */
  const __m256i over = _mm256_cmpgt_epi32(code, maxCode);
  code = _mm256_blendv_epi8(code, _mm256_set1_epi32(e5m2 ? 0x7C : 0x7E), over);
  code = _mm256_blendv_epi8(code, _mm256_set1_epi32(0x7F), nan);
  return _mm256_or_si256(code, sign);
}

CK_TARGET void ck_avx2_f8_encode(const float *x, long n, float multiplier, int e5m2, uint8_t *out) {
  const __m256 mul = _mm256_set1_ps(multiplier);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  long i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm_prefetch((const char *)(x + i) + 2048, _MM_HINT_T0);
    _mm_prefetch((const char *)(x + i) + 2048 + 64, _MM_HINT_T0);
    __m256i c[4];
    for (int j = 0; j < 4; j++) c[j] = f8_encode8(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), mul), e5m2);
    __m256i bytes = _mm256_packus_epi16(_mm256_packus_epi32(c[0], c[1]), _mm256_packus_epi32(c[2], c[3]));
    _mm256_storeu_si256((__m256i *)(out + i), _mm256_permutevar8x32_epi32(bytes, order));
  }
  if (i < n) ck_f8_encode(CK_ISA_SCALAR, x + i, n - i, multiplier, e5m2, out + i);
}

CK_TARGET void ck_avx2_quantize_i8_rows(const float *x, long K, long r0, long r1, int8_t *q, float *rowStats) {
  for (long r = r0; r < r1; r++) {
    const float *xr = x + r * K;
    if (r + 1 < r1)
      for (long i = 0; i < K; i += 16) _mm_prefetch((const char *)(xr + K + i), _MM_HINT_T0); /* next row */
    float stat = ck_avx2_absmax(xr, K);
    if (ck_avx2_has_nan(xr, K)) {
      ck_quantize_i8_rows(CK_ISA_SCALAR, x, K, r, r + 1, 0.0f, q, rowStats);
      continue;
    }
    rowStats[r] = stat;
    float scale = (1.0f / stat) * 127.0f;
    const __m256 sc = _mm256_set1_ps(scale);
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), limit = _mm256_set1_ps(128.0f);
    long k = 0;
    for (; k + 8 <= K; k += 8) {
      __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + k), sc);
      v = _mm256_and_ps(v, _mm256_cmp_ps(_mm256_and_ps(v, absMask), limit, _CMP_LT_OQ)); /* non-finite → 0 */
      __m256i i32 = _mm256_cvtps_epi32(v);                         /* round half to even */
      __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
      _mm_storel_epi64((__m128i *)(q + r * K + k), _mm_packs_epi16(i16, i16));
    }
    for (; k < K; k++) {
      float v = xr[k] * scale;
      q[r * K + k] = !(fabsf(v) < 128.0f) ? 0 : (int8_t)lrintf(v);
    }
  }
}

#endif
