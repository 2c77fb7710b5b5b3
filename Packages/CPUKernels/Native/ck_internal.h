#pragma once
/* Internal declarations shared by the dispatch (cpu_kernels.c), scalar (ck_scalar.c), x86 and arm64 files.
   Calls go dispatch → {scalar, x86, arm64} and {x86, arm64} → scalar, never back. */
#include "cpu_kernels.h"
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define CK_HAVE_X86 1
#else
#define CK_HAVE_X86 0
#endif

#if defined(__aarch64__)
#define CK_HAVE_NEON 1
#else
#define CK_HAVE_NEON 0
#endif

#define CK_INV127 7.874015718698502e-3f

static inline uint32_t ck_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float ck_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
/* Position of natural index k (relative to a group-aligned start) in the permuted order, for k < full. */
static inline long ck_perm_pos(long k, long full) {
  if (k >= full) return k;
  return (k & ~7L) + ((k & 1) ? 4 : 0) + ((k & 7) >> 1);
}
static inline unsigned ck_nibble(const uint8_t *packed, long e) {
  uint8_t b = packed[e >> 1];
  return (e & 1) ? (b & 0x0F) : (b >> 4);
}
float ck_half_to_float(uint16_t h);
uint16_t ck_float_to_half(float f);
uint16_t ck_float_to_bf16(float f);
float ck_f8_decode1(uint8_t b, int e5m2);

/* Scalar implementations (the reference), in ck_scalar.c. */
void ck_scalar_cb4_decode(const uint8_t *packed, const float *code16, const float *scales, long bs, long e0, long count,
                          int permuted, float *out);
void ck_scalar_quantize_4bit(const float *x, long n, long bs, const float *t15, const uint8_t *map, uint8_t *packed,
                             float *absmax);
void ck_scalar_quantize_8bit_blocks(const float *x, long n, long bs, const float *t255, const uint8_t *map,
                                    uint8_t *codes, float *absmax);

#if CK_HAVE_X86
void ck_avx2_load_floats(const void *src, int kind, float *dst, long n);
void ck_avx2_store_floats(const float *src, int kind, void *dst, long n);
void ck_avx2_cb4_decode(const uint8_t *packed, const float *code16, const float *scales, long bs, long e0, long count,
                        int permuted, float *out);
void ck_avx2_cb4_gemv(const uint8_t *packed, const float *code16, const float *scales, long bs, long K, long r0,
                      long r1, const float *xp, long ldx, long M, float *y, long ldy);
void ck_avx2_cb4_gemv_q8(const uint8_t *packed, const int8_t *code8, float codeScale, const float *scales, long bs,
                         long K, long r0, long r1, const int8_t *xq, const float *xs, long M, float *y, long ldy);
void ck_avx2_cb8_decode(const uint8_t *codes, const float *code256, const float *scales, long bs, long e0, long count,
                        float *out);
void ck_avx2_cb8_gemv(const uint8_t *codes, const float *code256, const float *scales, long bs, long K, long r0,
                      long r1, const float *x, long ldx, long M, float *y, long ldy);
void ck_avx2_i8_decode(const int8_t *q, const float *rowScale, long K, long e0, long count, float *out);
void ck_avx2_i8_gemv(const int8_t *q, const float *rowScale, long K, long r0, long r1, const float *x, long ldx, long M,
                     float *y, long ldy);
void ck_avx2_f8_decode(const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                       long K, long e0, long count, float *out);
void ck_avx2_f8_gemv(const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                     long K, long r0, long r1, const float *x, long ldx, long M, float *y, long ldy);
void ck_avx2_f32_gemv(const float *w, long ldw, long K, long r0, long r1, const float *x, long ldx, long M, float *y,
                      long ldy);
void ck_avx2_half_gemv(const uint16_t *w, int kind, long ldw, long K, long r0, long r1, const float *x, long ldx,
                       long M, float *y, long ldy);
void ck_avx2_gemm_packed(const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc, float *y,
                         long ldy, int accumulate);
void ck_avx512_gemm_packed(const float *a, long M, const void *w, int wkind, long ldw, long nrows, long kc, float *y,
                           long ldy, int accumulate);
void ck_avx512_cb4_gemv(const uint8_t *packed, const float *code16, const float *scales, long bs, long K, long r0,
                        long r1, const float *xp, long ldx, long M, float *y, long ldy);
void ck_avx512_f8_gemv(const uint8_t *v, int e5m2, const float *scales, long tileRows, long tileCols, long gridCols,
                       long K, long r0, long r1, const float *x, long ldx, long M, float *y, long ldy);
/* Whether the CPU and OS support AVX-512 F/BW/VL (cached after the first call). */
int ck_has_avx512(void);
/* Whether they also support AVX-512 VNNI (`vpdpbusd`; cached). */
int ck_has_avx512_vnni(void);
void ck_avx512vnni_cb4_gemv_q8(const uint8_t *packed, const int8_t *code8, float codeScale, const float *scales,
                               long bs, long K, long r0, long r1, const int8_t *xq, const float *xs, long M, float *y,
                               long ldy);
void ck_avx2_quantize_4bit(const float *x, long n, long bs, const float *t15, const uint8_t *map, uint8_t *packed,
                           float *absmax);
void ck_avx2_quantize_8bit_blocks(const float *x, long n, long bs, const float *t255, const uint8_t *map,
                                  uint8_t *codes, float *absmax);
void ck_avx2_gemm_packed_kn(const float *a, long M, const void *w, int wkind, long ldw, long ncols, long kc, float *y,
                            long ldy, int accumulate);
void ck_avx512_gemm_packed_kn(const float *a, long M, const void *w, int wkind, long ldw, long ncols, long kc,
                              float *y, long ldy, int accumulate);
void ck_avx2_quantize_i8_rows(const float *x, long K, long r0, long r1, int8_t *q, float *rowStats);
float ck_avx2_absmax(const float *x, long n);
void ck_avx2_f8_encode(const float *x, long n, float multiplier, int e5m2, uint8_t *out);
#endif

#if CK_HAVE_NEON
void ck_neon_cb4_gemv(const uint8_t *packed, const float *code16, const float *scales, long bs, long K, long r0,
                      long r1, const float *xp, long ldx, long M, float *y, long ldy);
void ck_neon_f32_gemv(const float *w, long ldw, long K, long r0, long r1, const float *x, long ldx, long M, float *y,
                      long ldy);
#endif
