/* The scalar helpers and reference kernels. The dispatch file (cpu_kernels.c) and the x86 and arm64
   files call them; they call nothing of those files, so the call graph between the C files has no cycle. */
#include "ck_internal.h"
#include <math.h>

/* ---- scalar element conversion (bit-exact with QuantCore's HalfPrecision) ---- */

float ck_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  if (exp == 0x1F) return ck_float(sign | 0x7F800000u | (man << 13));
  if (exp == 0) {
    float m = (float)man * 0x1p-24f;
    return sign ? -m : m;
  }
  return ck_float(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t ck_float_to_half(float f) {
  uint32_t bits = ck_bits(f);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
  int exp = (int)((bits >> 23) & 0xFF);
  uint32_t man = bits & 0x7FFFFF;
  if (exp == 0xFF) return man == 0 ? (uint16_t)(sign | 0x7C00) : (uint16_t)(sign | 0x7E00 | (man >> 13));
  int unbiased = exp - 127;
  if (unbiased > 15) return (uint16_t)(sign | 0x7C00);
  if (unbiased >= -14) {
    uint32_t combined = ((uint32_t)(unbiased + 15) << 10) | (man >> 13);
    uint32_t rest = man & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (combined & 1))) combined++;
    return (uint16_t)(sign | combined);
  }
  if (unbiased < -25) return sign;
  uint32_t sig = man | 0x800000;
  uint32_t shift = (uint32_t)(-unbiased - 1);
  uint32_t result = sig >> shift, rest = sig & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (result & 1))) result++;
  return (uint16_t)(sign | result);
}

uint16_t ck_float_to_bf16(float f) {
  uint32_t bits = ck_bits(f);
  if (f != f) return (uint16_t)((bits >> 16) | 0x0040);
  uint32_t lsb = (bits >> 16) & 1;
  return (uint16_t)((bits + 0x7FFF + lsb) >> 16);
}

float ck_f8_decode1(uint8_t b, int e5m2) {
  if (e5m2) return ck_half_to_float((uint16_t)((uint16_t)b << 8));
  int exp = (b >> 3) & 0xF, man = b & 7;
  float mag;
  if (exp == 0xF && man == 7)
    mag = NAN;
  else if (exp == 0)
    mag = (float)man / 8.0f * 0x1p-6f;
  else
    mag = ldexpf(1.0f + (float)man / 8.0f, exp - 7);
  return (b & 0x80) ? -mag : mag;
}

/* ---- 4-bit codebook ---- */

void ck_scalar_cb4_decode(const uint8_t *packed, const float *code16, const float *scales, long bs, long e0, long count,
                          int permuted, float *out) {
  long full = permuted ? (count & ~7L) : 0;
  for (long i = 0; i < count; i++) {
    long e = e0 + i;
    out[ck_perm_pos(i, full)] = code16[ck_nibble(packed, e)] * scales[e / bs];
  }
}

/* ---- 4-bit encoder (reference) ---- */

static inline float ck_block_absmax(const float *x, long len) {
  float am = 0;
  for (long i = 0; i < len; i++) {
    float a = fabsf(x[i]);
    if (a > am || a != a) am = a;
  }
  return am;
}

static inline uint8_t ck_q4_code(float v, const float *t15, const uint8_t *map) {
  int pos = 0;
  for (int t = 0; t < 15; t++) pos += !(t15[t] >= v);
  return map[pos];
}

void ck_scalar_quantize_4bit(const float *x, long n, long bs, const float *t15, const uint8_t *map, uint8_t *packed,
                             float *absmax) {
  const uint8_t pad = ck_q4_code(0.0f, t15, map);
  long blocks = (n + bs - 1) / bs;
  for (long b = 0; b < blocks; b++) {
    long start = b * bs, len = n - start < bs ? n - start : bs;
    int tail = len < bs;
    float am = ck_block_absmax(x + start, len);
    float divisor = am < 1e-38f ? 1e-38f : am;
    float s = 1.0f / divisor;
    absmax[b] = tail ? (divisor != divisor ? ck_float(0xFFFFFFFFu) : divisor) : am;
    for (long i = 0; i < len; i += 2) {
      float v0 = tail ? x[start + i] / divisor : x[start + i] * s;
      uint8_t lo = pad;
      if (i + 1 < len) lo = ck_q4_code(tail ? x[start + i + 1] / divisor : x[start + i + 1] * s, t15, map);
      packed[(start + i) >> 1] = (uint8_t)((ck_q4_code(v0, t15, map) << 4) | lo);
    }
  }
}

/* ---- 8-bit encoder (reference) ---- */

/* #{t in t255 : !(t >= v)} for sorted thresholds, after torch's clamp to [-1, 1] (NaN kept, and → 255). */
static inline uint8_t ck_q8_code(float v, const float *t255, const uint8_t *map) {
  v = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
  int pos = t255[127] >= v ? 0 : 128;
  for (int step = 64; step >= 1; step >>= 1) pos += t255[pos + step - 1] >= v ? 0 : step;
  return map[pos];
}

void ck_scalar_quantize_8bit_blocks(const float *x, long n, long bs, const float *t255, const uint8_t *map,
                                    uint8_t *codes, float *absmax) {
  long blocks = (n + bs - 1) / bs;
  for (long b = 0; b < blocks; b++) {
    long start = b * bs, len = n - start < bs ? n - start : bs;
    int tail = len < bs;
    float am = ck_block_absmax(x + start, len);
    float divisor = am < 1e-38f ? 1e-38f : am;
    float s = 1.0f / divisor;
    absmax[b] = tail ? (divisor != divisor ? ck_float(0xFFFFFFFFu) : divisor) : am;
    if (tail)
      for (long i = 0; i < len; i++) codes[start + i] = ck_q8_code(x[start + i] / divisor, t255, map);
    else
      for (long i = 0; i < len; i++) codes[start + i] = ck_q8_code(x[start + i] * s, t255, map);
  }
}
