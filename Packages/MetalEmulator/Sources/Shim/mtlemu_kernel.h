// The Metal Shading Language → clang C++ compatibility header of the Metal emulator.
//
// `#include <metal_stdlib>` resolves here (through the `metal_stdlib` file beside it) when a `.metal`
// file is compiled by the emulator. The emulator's token pass has already rewritten `kernel`,
// `threadgroup` and `[[...]]` attributes before clang sees the code (Docs/metal-emulator.md).
// Anything this header does not define is a compile error, never a silent fallback.
#pragma once

#include "mtlemu_abi.h"

// MARK: - Address spaces

#define device __attribute__((address_space(1)))
#define constant __attribute__((address_space(2))) const
#define thread
#define MTLEMU_TG __attribute__((address_space(3)))

// MARK: - Scalar and vector types

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;
typedef _Float16 half;

#define MTLEMU_VECTORS(E)                                    \
  typedef E E##2 __attribute__((ext_vector_type(2)));        \
  typedef E E##3 __attribute__((ext_vector_type(3)));        \
  typedef E E##4 __attribute__((ext_vector_type(4)));
MTLEMU_VECTORS(float)
MTLEMU_VECTORS(half)
MTLEMU_VECTORS(int)
MTLEMU_VECTORS(uint)
MTLEMU_VECTORS(short)
MTLEMU_VECTORS(ushort)
MTLEMU_VECTORS(char)
MTLEMU_VECTORS(uchar)
MTLEMU_VECTORS(long)
MTLEMU_VECTORS(ulong)
#undef MTLEMU_VECTORS

#define NAN __builtin_nanf("")
#define INFINITY __builtin_inff()
#define MAXFLOAT 0x1.fffffep127f
#define HUGE_VALF __builtin_huge_valf()
#define FLT_MAX 0x1.fffffep127f
#define FLT_MIN 0x1p-126f
#define FLT_EPSILON 0x1p-23f
#define HALF_MAX 65504.0f16
#define HALF_MIN 0x1p-14f16
#define M_PI_F 3.14159265358979323846264338327950288f
#define M_LN2_F 0.693147180559945309417232121458176568f
#define M_LOG2E_F 1.44269504088896340735992468100189214f

namespace mtlemu {

// MARK: - Type traits (clang builtins: no C++ standard library headers, which keeps compiles fast)

template <class T, class U> constexpr bool is_same_v = __is_same(T, U);
template <class T> using remove_cv_t = __remove_cv(T);
template <class T> using remove_reference_t = __remove_reference_t(T);
template <class T> constexpr bool is_pointer_v = __is_pointer(T);
template <class T> constexpr bool is_reference_v = __is_reference(T);
template <class T> constexpr bool is_arithmetic_v = __is_arithmetic(T) || __is_same(T, _Float16);

template <class T> struct vector_traits {
  using element = T;
  static constexpr int count = 1;
  static constexpr bool is_vector = false;
};
template <class E, int N> struct vector_traits<E __attribute__((ext_vector_type(N)))> {
  using element = E;
  static constexpr int count = N;
  static constexpr bool is_vector = true;
};
template <class T> using element_t = typename vector_traits<remove_cv_t<T>>::element;
template <class T> constexpr int count_v = vector_traits<remove_cv_t<T>>::count;
template <class T> constexpr bool is_vector_v = vector_traits<remove_cv_t<T>>::is_vector;

// MARK: - Vector construction (`float4(a, b)`, `float4(x)`, `float4(h4)`)

template <class E, class A> inline void put_part(E* out, int& at, A a) {
  if constexpr (is_vector_v<A>) {
    static_assert(is_same_v<element_t<A>, E>,
                  "mtlemu: build multi-part vectors from pieces of the target element type (convert first: T(x))");
    for (int i = 0; i < count_v<A>; ++i) out[at++] = a[i];
  } else {
    static_assert(is_arithmetic_v<A>, "mtlemu: vector part must be a number");
    out[at++] = E(a);
  }
}

template <class V, class A> inline V convert_vector(A value) { return __builtin_convertvector(value, V); }

template <class V, class... A> inline V make_vector(A... parts) {
  using E = element_t<V>;
  constexpr int N = count_v<V>;
  if constexpr (sizeof...(A) == 1 && (!is_vector_v<A> && ...)) {
    return V(E(parts...));
  } else if constexpr (sizeof...(A) == 1 && ((count_v<A> == N) && ...)) {
    return convert_vector<V>(parts...);
  } else {
    static_assert(((count_v<A>) + ... + 0) == N, "mtlemu: vector constructor needs exactly as many components as the vector");
    E values[N];
    int at = 0;
    (put_part<E>(values, at, parts), ...);
    V result;
    for (int i = 0; i < N; ++i) result[i] = values[i];
    return result;
  }
}

// MARK: - Attribute bindings (default arguments written by the token pass)

template <class T> inline T bind_buffer(int index) {
  void* raw = mtlemu_buffer_binding(index);
  if constexpr (is_reference_v<T>) {
    return *(remove_reference_t<T>*)raw;
  } else {
    static_assert(is_pointer_v<T>, "mtlemu: [[buffer(n)]] parameters must be pointers or references");
    return (T)raw;
  }
}

template <class T> inline T bind_threadgroup(int index) {
  static_assert(is_pointer_v<T>, "mtlemu: [[threadgroup(n)]] parameters must be threadgroup pointers");
  return (T)mtlemu_threadgroup_binding(index);
}

enum builtin_id {
  b_thread_position_in_grid,
  b_thread_position_in_threadgroup,
  b_threadgroup_position_in_grid,
  b_threads_per_threadgroup,
  b_threadgroups_per_grid,
  b_threads_per_grid,
  b_thread_index_in_threadgroup,
  b_thread_index_in_simdgroup,
  b_simdgroup_index_in_threadgroup,
  b_threads_per_simdgroup,
  b_simdgroups_per_threadgroup,
};

template <class T> inline T bind_builtin(int id) {
  using V = remove_cv_t<T>;
  const mtlemu_thread_info* info = mtlemu_current_thread();
  const uint32_t* values = &info->thread_position_in_grid[0] + 3 * id;
  if constexpr (is_vector_v<V>) {
    static_assert(count_v<V> <= 3, "mtlemu: builtins have at most 3 components");
    V result;
    for (int i = 0; i < count_v<V>; ++i) result[i] = element_t<V>(values[i]);
    return result;
  } else {
    return V(values[0]);
  }
}

}  // namespace mtlemu

// MARK: - The metal namespace

namespace metal {

template <class T, class U> inline T as_type(U value) {
  static_assert(sizeof(T) == sizeof(U), "mtlemu: as_type needs types of the same size");
  return __builtin_bit_cast(T, value);
}

#define MTLEMU_UNARY(name, builtin) \
  template <class T> inline T name(T x) { return builtin(x); }
MTLEMU_UNARY(abs, __builtin_elementwise_abs)
MTLEMU_UNARY(fabs, __builtin_elementwise_abs)
MTLEMU_UNARY(sqrt, __builtin_elementwise_sqrt)
MTLEMU_UNARY(floor, __builtin_elementwise_floor)
MTLEMU_UNARY(ceil, __builtin_elementwise_ceil)
MTLEMU_UNARY(trunc, __builtin_elementwise_trunc)
MTLEMU_UNARY(round, __builtin_elementwise_round)
MTLEMU_UNARY(rint, __builtin_elementwise_roundeven)
MTLEMU_UNARY(exp, __builtin_elementwise_exp)
MTLEMU_UNARY(exp2, __builtin_elementwise_exp2)
MTLEMU_UNARY(log, __builtin_elementwise_log)
MTLEMU_UNARY(log2, __builtin_elementwise_log2)
MTLEMU_UNARY(sin, __builtin_elementwise_sin)
MTLEMU_UNARY(cos, __builtin_elementwise_cos)
MTLEMU_UNARY(tanh, __builtin_elementwise_tanh)
MTLEMU_UNARY(popcount, __builtin_elementwise_popcount)
#undef MTLEMU_UNARY

template <class T> inline T rsqrt(T x) { return T(1) / __builtin_elementwise_sqrt(x); }
template <class T> inline T fract(T x) { return x - __builtin_elementwise_floor(x); }
template <class T> inline T min(T x, T y) { return __builtin_elementwise_min(x, y); }
template <class T> inline T max(T x, T y) { return __builtin_elementwise_max(x, y); }
template <class T> inline T fmin(T x, T y) { return __builtin_elementwise_min(x, y); }
template <class T> inline T fmax(T x, T y) { return __builtin_elementwise_max(x, y); }
template <class T> inline T fma(T a, T b, T c) { return __builtin_elementwise_fma(a, b, c); }
template <class T> inline T clamp(T x, T lo, T hi) { return min(max(x, lo), hi); }
template <class T> inline T saturate(T x) { return clamp(x, T(0), T(1)); }
template <class T> inline T mix(T a, T b, T t) { return a + (b - a) * t; }
template <class T> inline T precise_divide(T a, T b) { return a / b; }

template <class T> inline auto dot(T a, T b) {
  static_assert(mtlemu::is_vector_v<T>, "mtlemu: dot takes vectors");
  mtlemu::element_t<T> sum = 0;
  for (int i = 0; i < mtlemu::count_v<T>; ++i) sum += a[i] * b[i];
  return sum;
}

template <class T> inline bool isnan(T x) { return x != x; }
template <class T> inline bool isinf(T x) { return x == T(__builtin_huge_valf()) || x == T(-__builtin_huge_valf()); }
template <class T> inline bool isfinite(T x) { return !isnan(x) && !isinf(x); }
inline bool all(bool x) { return x; }
inline bool any(bool x) { return x; }
template <class V> inline bool all(V mask) {
  for (int i = 0; i < mtlemu::count_v<V>; ++i)
    if (!mask[i]) return false;
  return true;
}
template <class V> inline bool any(V mask) {
  for (int i = 0; i < mtlemu::count_v<V>; ++i)
    if (mask[i]) return true;
  return false;
}

/// `select(a, b, c)`: `c ? b : a`, per component for vectors.
template <class T> inline T select(T a, T b, bool c) { return c ? b : a; }
template <class T, class M> inline T select(T a, T b, M c) {
  static_assert(mtlemu::is_vector_v<T> && mtlemu::count_v<T> == mtlemu::count_v<M>, "mtlemu: select mask size");
  T result;
  for (int i = 0; i < mtlemu::count_v<T>; ++i) result[i] = c[i] ? b[i] : a[i];
  return result;
}

namespace fast {
using metal::abs;
using metal::clamp;
using metal::cos;
using metal::exp;
using metal::exp2;
using metal::fma;
using metal::log;
using metal::log2;
using metal::max;
using metal::min;
using metal::rsqrt;
using metal::sin;
using metal::sqrt;
using metal::tanh;
template <class T> inline T divide(T a, T b) { return a / b; }
}  // namespace fast
namespace precise {
using namespace fast;
}  // namespace precise

// MARK: Barriers

enum class mem_flags : int { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4, mem_threadgroup_imageblock = 8 };
inline constexpr mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(int(a) | int(b)); }

inline void threadgroup_barrier(mem_flags, const char* file = __builtin_FILE(), int line = __builtin_LINE(),
                                int column = __builtin_COLUMN()) {
  mtlemu_threadgroup_barrier(file, line, column);
}

inline void simdgroup_barrier(mem_flags, const char* file = __builtin_FILE(), int line = __builtin_LINE(),
                              int column = __builtin_COLUMN()) {
  mtlemu_simd_collective(nullptr, nullptr, [](void* const*, void* const*, int) {}, "simdgroup_barrier", file, line,
                         column);
}

// MARK: SIMD-group functions

namespace detail {
template <class T> inline void fill_undefined(T* out) { __builtin_memset((void*)out, 0xFF, sizeof(T)); }

/// A pairwise tree over the active lanes, in lane order.
template <class T, class Op> inline T tree_reduce(void* const* inputs, int lanes, Op op, int& active) {
  T values[32];
  active = 0;
  for (int l = 0; l < lanes; ++l)
    if (inputs[l]) values[active++] = *(const T*)inputs[l];
  int n = active;
  while (n > 1) {
    int half_n = n / 2;
    for (int i = 0; i < half_n; ++i) values[i] = op(values[2 * i], values[2 * i + 1]);
    if (n & 1) values[half_n] = values[n - 1];
    n = half_n + (n & 1);
  }
  return values[0];
}

template <class T, class Op> inline void reduce_all(void* const* in, void* const* out, int lanes, Op op) {
  int active = 0;
  T result = tree_reduce<T>(in, lanes, op, active);
  for (int l = 0; l < lanes; ++l)
    if (out[l]) *(T*)out[l] = result;
}

template <class T> struct shuffle_input {
  T value;
  int lane;
};

template <class T> inline void shuffle_from(void* const* in, void* const* out, int lanes, int kind) {
  for (int l = 0; l < lanes; ++l) {
    if (!out[l]) continue;
    const shuffle_input<T>* mine = (const shuffle_input<T>*)in[l];
    int source;
    switch (kind) {
    case 0: source = mine->lane; break;           // shuffle / broadcast
    case 1: source = l - mine->lane; break;       // shuffle_up
    case 2: source = l + mine->lane; break;       // shuffle_down
    default: source = l ^ mine->lane; break;      // shuffle_xor
    }
    if (kind == 1 && source < 0) source = l;      // Metal: lanes below delta keep their value
    if (kind == 2 && source >= lanes) source = l; // Metal: lanes past the end keep their value
    if (source < 0 || source >= lanes || !in[source]) {
      fill_undefined((T*)out[l]);
    } else {
      *(T*)out[l] = ((const shuffle_input<T>*)in[source])->value;
    }
  }
}

template <class T> inline void prefix(void* const* in, void* const* out, int lanes, bool inclusive, bool product) {
  T running = product ? T(1) : T(0);
  for (int l = 0; l < lanes; ++l) {
    if (!in[l]) continue;
    T value = *(const T*)in[l];
    T next = product ? running * value : running + value;
    *(T*)out[l] = inclusive ? next : running;
    running = next;
  }
}
}  // namespace detail

#define MTLEMU_SITE const char *file = __builtin_FILE(), int line = __builtin_LINE(), int column = __builtin_COLUMN()
#define MTLEMU_REDUCTION(name, expr)                                                                     \
  template <class T> inline T name(T x, MTLEMU_SITE) {                                                   \
    T result;                                                                                            \
    mtlemu_simd_collective(&x, &result,                                                                  \
                           [](void* const* in, void* const* out, int lanes) {                           \
                             detail::reduce_all<T>(in, out, lanes, [](T a, T b) { return expr; });     \
                           },                                                                            \
                           #name, file, line, column);                                                  \
    return result;                                                                                       \
  }
MTLEMU_REDUCTION(simd_sum, a + b)
MTLEMU_REDUCTION(simd_product, a * b)
MTLEMU_REDUCTION(simd_min, __builtin_elementwise_min(a, b))
MTLEMU_REDUCTION(simd_max, __builtin_elementwise_max(a, b))
MTLEMU_REDUCTION(simd_and, a & b)
MTLEMU_REDUCTION(simd_or, a | b)
MTLEMU_REDUCTION(simd_xor, a ^ b)
#undef MTLEMU_REDUCTION

#define MTLEMU_SHUFFLE(name, kind, argtype)                                                          \
  template <class T> inline T name(T x, argtype lane, MTLEMU_SITE) {                                 \
    detail::shuffle_input<T> input{x, int(lane)};                                                    \
    T result;                                                                                        \
    mtlemu_simd_collective(&input, &result,                                                          \
                           [](void* const* in, void* const* out, int lanes) {                       \
                             detail::shuffle_from<T>(in, out, lanes, kind);                          \
                           },                                                                        \
                           #name, file, line, column);                                              \
    return result;                                                                                   \
  }
MTLEMU_SHUFFLE(simd_shuffle, 0, ushort)
MTLEMU_SHUFFLE(simd_broadcast, 0, ushort)
MTLEMU_SHUFFLE(simd_shuffle_up, 1, ushort)
MTLEMU_SHUFFLE(simd_shuffle_down, 2, ushort)
MTLEMU_SHUFFLE(simd_shuffle_xor, 3, ushort)
#undef MTLEMU_SHUFFLE

#define MTLEMU_PREFIX(name, inclusive, product)                                                      \
  template <class T> inline T name(T x, MTLEMU_SITE) {                                               \
    T result;                                                                                        \
    mtlemu_simd_collective(&x, &result,                                                              \
                           [](void* const* in, void* const* out, int lanes) {                       \
                             detail::prefix<T>(in, out, lanes, inclusive, product);                  \
                           },                                                                        \
                           #name, file, line, column);                                              \
    return result;                                                                                   \
  }
MTLEMU_PREFIX(simd_prefix_inclusive_sum, true, false)
MTLEMU_PREFIX(simd_prefix_exclusive_sum, false, false)
MTLEMU_PREFIX(simd_prefix_inclusive_product, true, true)
MTLEMU_PREFIX(simd_prefix_exclusive_product, false, true)
#undef MTLEMU_PREFIX

template <class T> inline T simd_broadcast_first(T x, MTLEMU_SITE) {
  T result;
  mtlemu_simd_collective(&x, &result,
                         [](void* const* in, void* const* out, int lanes) {
                           int first = 0;
                           while (first < lanes && !in[first]) ++first;
                           for (int l = 0; l < lanes; ++l)
                             if (out[l]) *(T*)out[l] = *(const T*)in[first];
                         },
                         "simd_broadcast_first", file, line, column);
  return result;
}

inline bool simd_all(bool x, MTLEMU_SITE) {
  int value = x ? 1 : 0;
  return simd_min(value, file, line, column) != 0;
}
inline bool simd_any(bool x, MTLEMU_SITE) {
  int value = x ? 1 : 0;
  return simd_max(value, file, line, column) != 0;
}
inline bool simd_is_first(MTLEMU_SITE) {
  int lane = int(mtlemu_current_thread()->thread_index_in_simdgroup[0]);
  return simd_min(lane, file, line, column) == lane;
}

// MARK: Atomics (threadgroups run one fiber at a time, so plain operations are atomic)

enum memory_order { memory_order_relaxed, memory_order_acquire, memory_order_release, memory_order_acq_rel, memory_order_seq_cst };
template <class T> struct _atomic {
  T value;
};
typedef _atomic<int> atomic_int;
typedef _atomic<uint> atomic_uint;
typedef _atomic<float> atomic_float;

template <class P> inline auto atomic_load_explicit(P object, memory_order) { return object->value; }
template <class P, class V> inline void atomic_store_explicit(P object, V value, memory_order) { object->value = value; }
template <class P, class V> inline auto atomic_exchange_explicit(P object, V value, memory_order) {
  auto old = object->value;
  object->value = value;
  return old;
}
#define MTLEMU_ATOMIC_RMW(name, expr)                                   \
  template <class P, class V> inline auto name(P object, V operand, memory_order) { \
    auto old = object->value;                                          \
    object->value = (expr);                                            \
    return old;                                                        \
  }
MTLEMU_ATOMIC_RMW(atomic_fetch_add_explicit, old + operand)
MTLEMU_ATOMIC_RMW(atomic_fetch_sub_explicit, old - operand)
MTLEMU_ATOMIC_RMW(atomic_fetch_max_explicit, old > operand ? old : operand)
MTLEMU_ATOMIC_RMW(atomic_fetch_min_explicit, old < operand ? old : operand)
MTLEMU_ATOMIC_RMW(atomic_fetch_and_explicit, old & operand)
MTLEMU_ATOMIC_RMW(atomic_fetch_or_explicit, old | operand)
#undef MTLEMU_ATOMIC_RMW

// MARK: simdgroup_matrix (functional: every lane holds the whole 8×8 tile, products accumulate in float)

template <class T, int Rows, int Columns> struct simdgroup_matrix {
  static_assert(Rows == 8 && Columns == 8, "mtlemu: only 8×8 simdgroup matrices");
  T elements[64];
};
typedef simdgroup_matrix<float, 8, 8> simdgroup_float8x8;
typedef simdgroup_matrix<half, 8, 8> simdgroup_half8x8;

template <class T, int R, int C> inline simdgroup_matrix<T, R, C> make_filled_simdgroup_matrix(T value) {
  simdgroup_matrix<T, R, C> m;
  for (int i = 0; i < 64; ++i) m.elements[i] = value;
  return m;
}

template <class T, class P>
inline void simdgroup_load(thread simdgroup_matrix<T, 8, 8>& m, P source, ulong elements_per_row = 8,
                           ulong2 origin = ulong2(0), bool transpose = false) {
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) {
      ulong row = transpose ? origin[1] + ulong(c) : origin[1] + ulong(r);
      ulong column = transpose ? origin[0] + ulong(r) : origin[0] + ulong(c);
      m.elements[r * 8 + c] = T(source[row * elements_per_row + column]);
    }
}

template <class T, class P>
inline void simdgroup_store(thread const simdgroup_matrix<T, 8, 8>& m, P destination, ulong elements_per_row = 8,
                            ulong2 origin = ulong2(0), bool transpose = false) {
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) {
      ulong row = transpose ? origin[1] + ulong(c) : origin[1] + ulong(r);
      ulong column = transpose ? origin[0] + ulong(r) : origin[0] + ulong(c);
      destination[row * elements_per_row + column] = m.elements[r * 8 + c];
    }
}

namespace detail {
template <class T> struct mma_operands {
  const simdgroup_matrix<T, 8, 8>* a;
  const simdgroup_matrix<T, 8, 8>* b;
  const simdgroup_matrix<T, 8, 8>* c;
};

/// Computes d = a·b + c once per SIMD-group (float accumulation) and gives every lane the result.
/// Every lane must pass the same operands: a lane-dependent operand is reported as an error.
template <class T> inline void mma_combine(void* const* in, void* const* out, int lanes) {
  int first = 0;
  while (first < lanes && !in[first]) ++first;
  const mma_operands<T>* ops = (const mma_operands<T>*)in[first];
  for (int l = first + 1; l < lanes; ++l) {
    if (!in[l]) continue;
    const mma_operands<T>* other = (const mma_operands<T>*)in[l];
    if (__builtin_memcmp(other->a, ops->a, sizeof(*ops->a)) != 0 || __builtin_memcmp(other->b, ops->b, sizeof(*ops->b)) != 0 ||
        __builtin_memcmp(other->c, ops->c, sizeof(*ops->c)) != 0) {
      mtlemu_kernel_error("simdgroup_multiply_accumulate: lanes hold different matrices (a simdgroup_load from lane-dependent addresses?)",
                          __FILE__, __LINE__);
    }
  }
  simdgroup_matrix<T, 8, 8> result;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      float sum = float(ops->c->elements[i * 8 + j]);
      for (int k = 0; k < 8; ++k) sum += float(ops->a->elements[i * 8 + k]) * float(ops->b->elements[k * 8 + j]);
      result.elements[i * 8 + j] = T(sum);
    }
  for (int l = 0; l < lanes; ++l)
    if (out[l]) *(simdgroup_matrix<T, 8, 8>*)out[l] = result;
}
}  // namespace detail

template <class T>
inline void simdgroup_multiply_accumulate(thread simdgroup_matrix<T, 8, 8>& d, thread const simdgroup_matrix<T, 8, 8>& a,
                                          thread const simdgroup_matrix<T, 8, 8>& b,
                                          thread const simdgroup_matrix<T, 8, 8>& c, MTLEMU_SITE) {
  detail::mma_operands<T> operands{&a, &b, &c};
  simdgroup_matrix<T, 8, 8> result;
  mtlemu_simd_collective(&operands, &result, &detail::mma_combine<T>, "simdgroup_multiply_accumulate", file, line, column);
  d = result;
}

template <class T>
inline void simdgroup_multiply(thread simdgroup_matrix<T, 8, 8>& d, thread const simdgroup_matrix<T, 8, 8>& a,
                               thread const simdgroup_matrix<T, 8, 8>& b) {
  simdgroup_matrix<T, 8, 8> zero = make_filled_simdgroup_matrix<T, 8, 8>(T(0));
  simdgroup_multiply_accumulate(d, a, b, zero);
}

#undef MTLEMU_SITE
}  // namespace metal

// MARK: - Constructor syntax for every vector type (after all internal uses of the type names)

#define float2(...) ::mtlemu::make_vector<float2>(__VA_ARGS__)
#define float3(...) ::mtlemu::make_vector<float3>(__VA_ARGS__)
#define float4(...) ::mtlemu::make_vector<float4>(__VA_ARGS__)
#define half2(...) ::mtlemu::make_vector<half2>(__VA_ARGS__)
#define half3(...) ::mtlemu::make_vector<half3>(__VA_ARGS__)
#define half4(...) ::mtlemu::make_vector<half4>(__VA_ARGS__)
#define int2(...) ::mtlemu::make_vector<int2>(__VA_ARGS__)
#define int3(...) ::mtlemu::make_vector<int3>(__VA_ARGS__)
#define int4(...) ::mtlemu::make_vector<int4>(__VA_ARGS__)
#define uint2(...) ::mtlemu::make_vector<uint2>(__VA_ARGS__)
#define uint3(...) ::mtlemu::make_vector<uint3>(__VA_ARGS__)
#define uint4(...) ::mtlemu::make_vector<uint4>(__VA_ARGS__)
#define short2(...) ::mtlemu::make_vector<short2>(__VA_ARGS__)
#define short3(...) ::mtlemu::make_vector<short3>(__VA_ARGS__)
#define short4(...) ::mtlemu::make_vector<short4>(__VA_ARGS__)
#define ushort2(...) ::mtlemu::make_vector<ushort2>(__VA_ARGS__)
#define ushort3(...) ::mtlemu::make_vector<ushort3>(__VA_ARGS__)
#define ushort4(...) ::mtlemu::make_vector<ushort4>(__VA_ARGS__)
#define char2(...) ::mtlemu::make_vector<char2>(__VA_ARGS__)
#define char3(...) ::mtlemu::make_vector<char3>(__VA_ARGS__)
#define char4(...) ::mtlemu::make_vector<char4>(__VA_ARGS__)
#define uchar2(...) ::mtlemu::make_vector<uchar2>(__VA_ARGS__)
#define uchar3(...) ::mtlemu::make_vector<uchar3>(__VA_ARGS__)
#define uchar4(...) ::mtlemu::make_vector<uchar4>(__VA_ARGS__)
#define long2(...) ::mtlemu::make_vector<long2>(__VA_ARGS__)
#define long3(...) ::mtlemu::make_vector<long3>(__VA_ARGS__)
#define long4(...) ::mtlemu::make_vector<long4>(__VA_ARGS__)
#define ulong2(...) ::mtlemu::make_vector<ulong2>(__VA_ARGS__)
#define ulong3(...) ::mtlemu::make_vector<ulong3>(__VA_ARGS__)
#define ulong4(...) ::mtlemu::make_vector<ulong4>(__VA_ARGS__)
