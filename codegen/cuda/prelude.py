"""The CUDA C helpers every rendered kernel source starts with: numpy-exact integer and
float division, wrapping integer arithmetic, bit-exact predicates, warp reductions. The
source is guarded, so several kernels' sources can be concatenated into one unit."""
from __future__ import annotations

from string import Template

_PRELUDE = r"""#ifndef SYMGRAPH_CUDA_PRELUDE
#define SYMGRAPH_CUDA_PRELUDE
// symgraph CUDA prelude: the semantics of codegen.kernel.OPCODES (numpy's) in device code.
#define SG_INF_F __int_as_float(0x7f800000)
#define SG_NAN_F __int_as_float(0x7fc00000)
#define SG_INF __longlong_as_double(0x7ff0000000000000LL)
#define SG_NAN __longlong_as_double(0x7ff8000000000000LL)

// N elements moved by one 16-byte (or narrower) vector load or store.
template <typename T, int N> struct alignas(sizeof(T) * N) sg_vec { T v[N]; };
template <typename T, int N> __device__ __forceinline__ sg_vec<T, N> sg_splat(T x) {
  sg_vec<T, N> r;
#pragma unroll
  for (int e = 0; e < N; ++e) r.v[e] = x;
  return r;
}

// Unsigned type in which integer arithmetic wraps as numpy's (signed overflow is UB in C++).
template <typename T> struct sg_wide { typedef unsigned type; };
template <> struct sg_wide<long long> { typedef unsigned long long type; };

template <typename T> struct sg_lim;
template <> struct sg_lim<signed char> { static constexpr signed char lo = -128, hi = 127; };
template <> struct sg_lim<short> { static constexpr short lo = -32768, hi = 32767; };
template <> struct sg_lim<int> { static constexpr int lo = -2147483647 - 1, hi = 2147483647; };
template <> struct sg_lim<long long> {
  static constexpr long long lo = -9223372036854775807LL - 1, hi = 9223372036854775807LL;
};
template <> struct sg_lim<unsigned char> { static constexpr unsigned char lo = 0, hi = 255; };
template <> struct sg_lim<unsigned> { static constexpr unsigned lo = 0, hi = 4294967295u; };

// float -> integer: NaN gives 0 and out-of-range values saturate; a C++ cast is UB there.
template <typename To, typename From> __device__ __forceinline__ To sg_ftoi(From a) {
  if (a != a) return 0;
  if (a <= (From)sg_lim<To>::lo) return sg_lim<To>::lo;
  if (a >= (From)sg_lim<To>::hi) return sg_lim<To>::hi;
  return (To)a;
}

// max/min propagate NaN like numpy (fmaxf/fminf return the other operand).
template <typename T> __device__ __forceinline__ T sg_max(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T sg_min(T a, T b) { return (a < b || a != a) ? a : b; }

// sign: NaN stays NaN and zero gives +0, as numpy.
template <typename T> __device__ __forceinline__ T sg_sign(T a) {
  return a > 0 ? (T)1 : a < 0 ? (T)-1 : a == 0 ? (T)0 : a;
}
__device__ __forceinline__ unsigned char sg_sign(unsigned char a) { return a > 0; }
__device__ __forceinline__ unsigned sg_sign(unsigned a) { return a > 0; }

// abs(MIN) wraps to MIN, as numpy.
template <typename T> __device__ __forceinline__ T sg_abs(T a) {
  return a < 0 ? (T)(0u - (typename sg_wide<T>::type)a) : a;
}
__device__ __forceinline__ unsigned char sg_abs(unsigned char a) { return a; }
__device__ __forceinline__ unsigned sg_abs(unsigned a) { return a; }

// Integer floor division and modulo: x // 0 == x % 0 == 0 and MIN // -1 wraps to MIN,
// never a trap.
template <typename T> __device__ __forceinline__ T sg_floordiv(T a, T b) {
  if (b == 0) return 0;
  if (b == (T)-1) return (T)(0u - (typename sg_wide<T>::type)a);
  const T q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? (T)(q - 1) : q;
}
template <typename T> __device__ __forceinline__ T sg_mod(T a, T b) {
  if (b == 0 || b == (T)-1) return 0;
  const T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;
}
__device__ __forceinline__ unsigned char sg_floordiv(unsigned char a, unsigned char b) { return b ? a / b : 0; }
__device__ __forceinline__ unsigned char sg_mod(unsigned char a, unsigned char b) { return b ? a % b : 0; }
__device__ __forceinline__ unsigned sg_floordiv(unsigned a, unsigned b) { return b ? a / b : 0; }
__device__ __forceinline__ unsigned sg_mod(unsigned a, unsigned b) { return b ? a % b : 0; }

// Integer power by squaring, wrapping; a negative exponent truncates toward zero (C-like).
template <typename T> __device__ __forceinline__ T sg_ipow_unsigned(T a, T b) {
  typename sg_wide<T>::type r = 1, x = a;
  for (typename sg_wide<T>::type e = b; e; e >>= 1) {
    if (e & 1) r *= x;
    x *= x;
  }
  return (T)r;
}
template <typename T> __device__ __forceinline__ T sg_ipow(T a, T b) {
  if (b < 0) return a == 1 ? (T)1 : a == (T)-1 ? ((b & 1) ? (T)-1 : (T)1) : (T)0;
  return sg_ipow_unsigned(a, b);
}
__device__ __forceinline__ unsigned char sg_ipow(unsigned char a, unsigned char b) { return sg_ipow_unsigned(a, b); }
__device__ __forceinline__ unsigned sg_ipow(unsigned a, unsigned b) { return sg_ipow_unsigned(a, b); }

// Warp shuffles; __shfl_down_sync has no overloads narrower than 32 bits.
template <typename T> __device__ __forceinline__ T sg_shfl_down(T v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ bool sg_shfl_down(bool v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }
__device__ __forceinline__ signed char sg_shfl_down(signed char v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }
__device__ __forceinline__ unsigned char sg_shfl_down(unsigned char v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }
__device__ __forceinline__ short sg_shfl_down(short v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }

// Block-wide reduction with combiner f: a shuffle tree per warp, then one over the warps'
// results. blockDim.x must be a multiple of 32; the result is valid in thread 0. T is
// deduced from v alone: an identity literal like 0 is an int even where T is char.
template <typename T> struct sg_same { typedef T type; };
template <typename T, typename F>
__device__ __forceinline__ T sg_block_reduce(T v, F f, typename sg_same<T>::type identity,
                                             T* smem /* [32] */) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v = f(v, sg_shfl_down(v, d));
  if ((threadIdx.x & 31) == 0) smem[threadIdx.x >> 5] = v;
  __syncthreads();
  v = threadIdx.x < (blockDim.x >> 5) ? smem[threadIdx.x] : identity;
  __syncthreads();  // smem is free again for the next reduction
  if (threadIdx.x < 32) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v = f(v, sg_shfl_down(v, d));
  }
  return v;
}
"""

_FLOAT_PRELUDE = Template(r"""
// $T helpers. floordiv and mod follow numpy's npy_divmod exactly.
__device__ __forceinline__ bool sg_isinf($T x) { return fabs$f(x) == $INF; }
__device__ __forceinline__ bool sg_isfinite($T x) { return fabs$f(x) < $INF; }
__device__ __forceinline__ $T sg_sigmoid($T x) {  // exp of -|x| only: never overflows
  const $T e = exp$f(-fabs$f(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
__device__ __forceinline__ $T sg_softplus($T x) { return log1p$f(exp$f(-fabs$f(x))) + (x > 0 ? x : ($T)0); }
__device__ __forceinline__ $T sg_floordiv($T a, $T b) {
  if (b == 0) return a / b;
  const $T mod = fmod$f(a, b);
  $T div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
  if (div == 0) return copysign$f(($T)0, a / b);
  const $T fl = floor$f(div);
  return div - fl > ($T)0.5 ? fl + 1 : fl;
}
__device__ __forceinline__ $T sg_mod($T a, $T b) {
  $T mod = fmod$f(a, b);
  if (b == 0) return mod;
  if (mod == 0) return copysign$f(($T)0, b);
  return ((b < 0) != (mod < 0)) ? mod + b : mod;
}
""")

PRELUDE = (_PRELUDE + _FLOAT_PRELUDE.substitute(T="float", f="f", INF="SG_INF_F")
           + _FLOAT_PRELUDE.substitute(T="double", f="", INF="SG_INF") + "#endif\n")
"""Helpers every rendered source starts with, guarded so sources can be concatenated."""
