/*
 * The reference C NF4 GEMV of `/work/shared/spec/cpu-performance.md` §6 ("variant B": exact byte-plane
 * lookup, AVX2 + FMA), rebuilt from its description, with a timing harness. `bnb-bench` is compared with it
 * in the same run (Docs/performance.md).
 *
 * Layout: W is N×K row-major NF4, two codes per byte (high nibble first), one fp32 absmax per 64 elements;
 * x is fp32, permuted once per call into the decode order. Per 32 nibbles: 4 vpshufb on the byte planes of
 * the fp32 codebook, 4 unpack_epi8 and 4 unpack_epi16 give 32 exact fp32 codes; per 64 weights 8 FMAs, then
 * one FMA applies the block's absmax.
 *
 * Build: gcc -O3 -mavx2 -mfma -mf16c -o nf4_gemv_reference Tools/bench/nf4_gemv_reference.c
 * Run:   ./nf4_gemv_reference N K REPEATS COLD_MIB   (COLD_MIB 0 = one hot copy)
 * Prints one JSON line: median seconds and weight GB/s (packed nibbles + fp32 absmax).
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const float nf4[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                              -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                              0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
                              0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
                              0.7229568362236023f, 1.0f};

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* Decode order of 16 packed bytes: lane 0 of the index vector holds the high nibbles (even elements), lane 1
   the low ones; after the unpacks, f[j] holds elements in the order given by permute(). */
static void permute(const float *x, float *xp, long k) {
  for (long g = 0; g < k; g += 32) {
    /* f[j] lane 0 = entries 4j..4j+3 of the even elements, lane 1 = the same of the odd elements. */
    for (int j = 0; j < 4; j++)
      for (int i = 0; i < 4; i++) {
        xp[g + 8 * j + i] = x[g + 2 * (4 * j + i)];
        xp[g + 8 * j + 4 + i] = x[g + 2 * (4 * j + i) + 1];
      }
  }
}

static void gemv(const uint8_t *w, const float *absmax, long n, long k, const float *xp, float *y) {
  uint8_t planes[4][16];
  for (int i = 0; i < 16; i++) {
    uint32_t u;
    memcpy(&u, &nf4[i], 4);
    for (int j = 0; j < 4; j++) planes[j][i] = (uint8_t)(u >> (8 * j));
  }
  const __m256i p0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[0]));
  const __m256i p1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[1]));
  const __m256i p2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[2]));
  const __m256i p3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)planes[3]));
  const __m256i mask = _mm256_set1_epi8(0x0F), shifts = _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0);
  for (long r = 0; r < n; r++) {
    const uint8_t *row = w + r * k / 2;
    const float *scale = absmax + r * k / 64;
    __m256 acc = _mm256_setzero_ps();
    for (long b = 0; b < k / 64; b++) {
      _mm_prefetch((const char *)(row + 32 * b) + 1024, _MM_HINT_T0);
      __m256 d = _mm256_setzero_ps();
      for (int h = 0; h < 2; h++) {
        const long s = 2 * b + h;
        __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(row + 16 * s)));
        __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(v, shifts), mask);
        __m256i b0 = _mm256_shuffle_epi8(p0, idx), b1 = _mm256_shuffle_epi8(p1, idx);
        __m256i b2 = _mm256_shuffle_epi8(p2, idx), b3 = _mm256_shuffle_epi8(p3, idx);
        __m256i t0 = _mm256_unpacklo_epi8(b0, b1), t1 = _mm256_unpackhi_epi8(b0, b1);
        __m256i t2 = _mm256_unpacklo_epi8(b2, b3), t3 = _mm256_unpackhi_epi8(b2, b3);
        const float *xs = xp + 32 * s;
        d = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(t0, t2)), _mm256_loadu_ps(xs), d);
        d = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(t0, t2)), _mm256_loadu_ps(xs + 8), d);
        d = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(t1, t3)), _mm256_loadu_ps(xs + 16), d);
        d = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(t1, t3)), _mm256_loadu_ps(xs + 24), d);
      }
      acc = _mm256_fmadd_ps(d, _mm256_broadcast_ss(scale + b), acc);
    }
    y[r] = hsum8(acc);
  }
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 4096, k = argc > 2 ? atol(argv[2]) : 4096;
  int repeats = argc > 3 ? atoi(argv[3]) : 11;
  long coldMiB = argc > 4 ? atol(argv[4]) : 160;
  if (n <= 0 || k <= 0 || k % 64 != 0 || repeats <= 0) {
    fprintf(stderr, "usage: nf4_gemv_reference N K REPEATS COLD_MIB (K a multiple of 64)\n");
    return 64;
  }
  const size_t bytes = (size_t)n * k / 2, scales = (size_t)n * k / 64;
  const size_t weightBytes = bytes + scales * 4;
  long copies = coldMiB > 0 ? (long)(((size_t)coldMiB << 20) / weightBytes) + 1 : 1;
  uint8_t **w = malloc(sizeof(uint8_t *) * copies);
  float **a = malloc(sizeof(float *) * copies);
  uint64_t state = 0x12345678;
  for (long c = 0; c < copies; c++) {
    w[c] = aligned_alloc(64, (bytes + 63) / 64 * 64);
    a[c] = aligned_alloc(64, (scales * 4 + 63) / 64 * 64);
    for (size_t i = 0; i < bytes; i++) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      w[c][i] = (uint8_t)(state >> 56);
    }
    for (size_t i = 0; i < scales; i++) a[c][i] = 0.01f + (float)(i % 97) * 0.001f;
  }
  float *x = malloc(sizeof(float) * k), *xp = aligned_alloc(64, sizeof(float) * k), *y = malloc(sizeof(float) * n);
  for (long i = 0; i < k; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
  double *samples = malloc(sizeof(double) * repeats);
  long index = 0;
  for (int i = -2; i < repeats; i++) {
    double start = now();
    permute(x, xp, k);
    gemv(w[index % copies], a[index % copies], n, k, xp, y);
    double t = now() - start;
    index++;
    if (i >= 0) samples[i] = t;
  }
  qsort(samples, repeats, sizeof(double), compare);
  double median = samples[repeats / 2];
  printf("{\"kernel\": \"nf4 variant B (C, AVX2)\", \"n\": %ld, \"k\": %ld, \"copies\": %ld, \"seconds\": %.9f, "
         "\"weightGBps\": %.3f, \"check\": %.6g}\n",
         n, k, copies, median, weightBytes / median / 1e9, (double)y[0] + y[n - 1]);
  return 0;
}
