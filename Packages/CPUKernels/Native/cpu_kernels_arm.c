/* arm64 kernels: NEON is part of the baseline, so no run-time check is needed. The 16-entry lookup is
   vqtbl1q_u8 on the four byte planes of the float32 codebook, giving exact weights as on x86. */
#include "ck_internal.h"

#if CK_HAVE_NEON
#include <arm_neon.h>

/* 16 indices → 16 exact float32 entries f[0..3] (entries 4j..4j+3). */
static inline void cb4_lookup16(const uint8x16_t planes[4], uint8x16_t idx, float32x4_t f[4]) {
  uint8x16_t b0 = vqtbl1q_u8(planes[0], idx), b1 = vqtbl1q_u8(planes[1], idx);
  uint8x16_t b2 = vqtbl1q_u8(planes[2], idx), b3 = vqtbl1q_u8(planes[3], idx);
  uint16x8_t t0 = vreinterpretq_u16_u8(vzip1q_u8(b0, b1)), t1 = vreinterpretq_u16_u8(vzip2q_u8(b0, b1));
  uint16x8_t t2 = vreinterpretq_u16_u8(vzip1q_u8(b2, b3)), t3 = vreinterpretq_u16_u8(vzip2q_u8(b2, b3));
  f[0] = vreinterpretq_f32_u16(vzip1q_u16(t0, t2));
  f[1] = vreinterpretq_f32_u16(vzip2q_u16(t0, t2));
  f[2] = vreinterpretq_f32_u16(vzip1q_u16(t1, t3));
  f[3] = vreinterpretq_f32_u16(vzip2q_u16(t1, t3));
}

void ck_neon_cb4_gemv(const uint8_t *packed, const float *code16, const float *scales, long bs, long K, long r0,
                      long r1, const float *xp, long ldx, long M, float *y, long ldy) {
  uint8_t b[4][16];
  for (int i = 0; i < 16; i++) {
    uint32_t u = ck_bits(code16[i]);
    for (int j = 0; j < 4; j++) b[j][i] = (uint8_t)(u >> (8 * j));
  }
  uint8x16_t planes[4] = {vld1q_u8(b[0]), vld1q_u8(b[1]), vld1q_u8(b[2]), vld1q_u8(b[3])};
  const long steps = K / 32, per = bs / 32;
  for (long r = r0; r < r1; r++) {
    const long e = r * K;
    const uint8_t *row = packed + (e >> 1);
    for (long m = 0; m < M; m++) {
      long blk = e / bs, left = (bs - e % bs) / 32;
      float32x4_t acc = vdupq_n_f32(0);
      for (long s = 0; s < steps; s++) {
        uint8x16_t v = vld1q_u8(row + 16 * s);
        float32x4_t hi[4], lo[4];
        cb4_lookup16(planes, vshrq_n_u8(v, 4), hi);          /* even elements 0, 2, …, 30 */
        cb4_lookup16(planes, vandq_u8(v, vdupq_n_u8(15)), lo); /* odd elements 1, 3, …, 31 */
        const float *xm = xp + m * ldx + 32 * s;
        float32x4_t d = vmulq_f32(hi[0], vld1q_f32(xm));
        d = vfmaq_f32(d, lo[0], vld1q_f32(xm + 4));
        d = vfmaq_f32(d, hi[1], vld1q_f32(xm + 8));
        d = vfmaq_f32(d, lo[1], vld1q_f32(xm + 12));
        d = vfmaq_f32(d, hi[2], vld1q_f32(xm + 16));
        d = vfmaq_f32(d, lo[2], vld1q_f32(xm + 20));
        d = vfmaq_f32(d, hi[3], vld1q_f32(xm + 24));
        d = vfmaq_f32(d, lo[3], vld1q_f32(xm + 28));
        acc = vfmaq_n_f32(acc, d, scales[blk]);
        if (--left == 0) {
          blk++;
          left = per;
        }
      }
      y[m * ldy + r] = vaddvq_f32(acc);
    }
  }
}

void ck_neon_f32_gemv(const float *w, long ldw, long K, long r0, long r1, const float *x, long ldx, long M, float *y,
                      long ldy) {
  const long K16 = K & ~15L;
  for (long r = r0; r < r1; r++) {
    const float *row = w + r * ldw;
    for (long m = 0; m < M; m++) {
      const float *xm = x + m * ldx;
      float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), a2 = vdupq_n_f32(0), a3 = vdupq_n_f32(0);
      for (long k = 0; k < K16; k += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(row + k), vld1q_f32(xm + k));
        a1 = vfmaq_f32(a1, vld1q_f32(row + k + 4), vld1q_f32(xm + k + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(row + k + 8), vld1q_f32(xm + k + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(row + k + 12), vld1q_f32(xm + k + 12));
      }
      float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
      for (long k = K16; k < K; k++) sum += xm[k] * row[k];
      y[m * ldy + r] = sum;
    }
  }
}
#endif
