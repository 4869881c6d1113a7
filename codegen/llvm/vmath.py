"""Vectorizable math for the LLVM backend: transcendentals as plain LLVM IR.

Each function is emitted once per module as an ``alwaysinline`` internal function (for
example ``sg.exp.f32``) built only from arithmetic, compares, selects, bitcasts, integer ops
and the intrinsics ``llvm.fma/floor/fabs/copysign/minnum/maxnum/sqrt``. After inlining,
LLVM's loop vectorizer widens a loop calling them, which it cannot do with libm calls.

The methods are the classic ones (Cody-Waite range reduction, error-free transformations
where the last bits matter, near-minimax polynomials): the coefficients were fitted for this
file with ``mpmath.chebyfit`` on the reduced intervals named next to each table. Special
values (signed zeros, infinities, NaN, subnormals, overflow and underflow thresholds) follow
numpy. Measured error bounds are in ``docs/backends.md`` (``python -m
codegen.llvm.vmath_accuracy`` prints them); sin/cos/tan are accurate for
``|x| <= TRIG_RANGE[dtype]`` and return bounded values of no meaning beyond.

No fast-math flags are used: every rounding is the one written here, so results do not
depend on whether the backend contracts ``a*b+c``; polynomials use ``llvm.fma`` explicitly.
"""
from __future__ import annotations

import math
import re
from typing import Callable, Sequence

import llvmlite.ir as ir

from codegen.llvm.fpexpr import Emitter, Value, fast_two_sum, two_sum, vector
from codegen.llvm.vmath_tables import PARAMS

TRIG_RANGE: dict[str, float] = {"float32": 2e5, "float64": 1e12}
"""|x| up to which sin/cos/tan meet their error bound (three-part Cody-Waite reduction)."""

# ---- exp family: k = rint(x/ln2), r = x - k*ln2 (Cody-Waite, ln2 in hi/lo), e^r by a
# polynomial on |r| <= ln2/2, then scale by 2^k. k comes from the exp shifter, so the
# powers of two are built from its bits with no float -> int conversion (and NaN, which
# such a conversion would make poison, just flows through the arithmetic).

def _exp_reduce(e: Emitter, x: Value, lo: Value | None = None) -> tuple[Value, Value, Value]:
    """(k, r, kb) for |x| <= exp_clamp: x + lo = k ln2 + r, kb's low bits hold k + bias."""
    t = e.fma(x, e.p.log2e[0], e.p.exp_shifter)
    k = t - e.p.exp_shifter
    r = e.fma(-k, e.p.ln2[1], e.fma(-k, e.p.ln2[0], x))
    return k, (r if lo is None else r + lo), e.bits(t)


def _exp_poly(e: Emitter, r: Value) -> Value:
    """e^r = 1 + r F(r) on |r| <= ln2/2."""
    return e.fma(r, e.poly(r, e.p.poly["exp"]), 1.0)


def _em1(e: Emitter, r: Value) -> Value:
    """e^r - 1 = r + r^2 Q(r) on |r| <= ln2/2 (relative accuracy near 0, for expm1)."""
    return e.fma(r * r, e.poly(r, e.p.poly["expm1"]), r)


def _scale(e: Emitter, x: Value, kb: Value, k_bias: int = 0) -> Value:
    """x * 2^(k + k_bias) for kb from _exp_reduce and |k| <= exp_kmax: two normal powers
    of two of about k/2 each, so overflow is exact and a subnormal result is rounded once
    (x * 2^k1 is exact). The split is integer, on the biased exponents: e1 = k1 + bias
    from (k + bias) >> 1, e2 = k - k1 + bias (the shifter's high bits in kb, halved or not,
    end above the exponent field and are shifted out)."""
    half = e.p.bias - e.p.bias // 2
    e1 = (kb >> 1) + half
    e2 = kb - e1 + (e.p.bias + k_bias)
    return x * e.pow2_bits(e1) * e.pow2_bits(e2)


def _exp_core(e: Emitter, x: Value, lo: Value | None = None, k_bias: int = 0) -> Value:
    """e^(x+lo) * 2^k_bias for finite results and their over/underflow; NaN gives NaN."""
    _, r, kb = _exp_reduce(e, e.clip(x, -e.p.exp_clamp, e.p.exp_clamp), lo)
    return _scale(e, _exp_poly(e, r), kb, k_bias)


def _expm1_core(e: Emitter, x: Value) -> Value:
    """expm1 without NaN/zero handling: 2^k*em1(r) + (2^k - 1) as one fma while 2^k is
    small (2^k - 1 exact), else 2^k*(1 + em1(r)) where the -1 is below rounding."""
    k, r, kb = _exp_reduce(e, e.clamp(x, e.p.expm1_min, e.p.exp_clamp))
    u = _em1(e, r)
    t = e.pow2_bits(kb)            # garbage where k > bias, but not selected there
    return e.sel(k <= e.p.mant + 8, e.fma(t, u, t - 1.0), _scale(e, 1.0 + u, kb))


def _keep_nan(e: Emitter, r: Value, *xs: Value) -> Value:
    nan = e.isnan(xs[0])
    for x in xs[1:]:
        nan = nan | e.isnan(x)
    return e.sel(nan, xs[0] + xs[-1], r)


def _keep_zero(e: Emitter, r: Value, x: Value) -> Value:
    """f(+-0) = +-0 for odd functions whose formula loses the sign of zero."""
    return e.sel(x.eq(0.0), x, r)


def _exp(e: Emitter, x: Value) -> Value:
    return _exp_core(e, x)


def _exp2(e: Emitter, x: Value) -> Value:
    # 2^x = 2^k * e^((x-k) ln2): x - k is exact, the product's rounding is < 2^-55 relative.
    x_ = e.clip(x, -e.p.exp_kmax, e.p.exp_kmax)
    t = x_ + e.p.exp_shifter                     # rounds to k; its bits hold k + bias
    f = x_ - (t - e.p.exp_shifter)
    r = e.fma(f, e.p.ln2[0], f * e.p.ln2[1])
    return _scale(e, _exp_poly(e, r), e.bits(t))


def _expm1(e: Emitter, x: Value) -> Value:
    return _keep_nan(e, _keep_zero(e, _expm1_core(e, x), x), x)


def _sinh(e: Emitter, x: Value) -> Value:
    # |x| < 1: (u + u/(u+1))/2 with u = expm1|x| (no cancellation); else E - 1/(4E) with
    # E = e^|x|/2 scaled by 2^(k-1) so it overflows exactly where sinh does.
    a = e.abs(x)
    u = _expm1_core(e, a)
    big_e = _exp_core(e, a, k_bias=-1)
    r = e.sel(a < 1.0, 0.5 * (u + u / (u + 1.0)), big_e - 0.25 / big_e)
    return _keep_nan(e, e.copysign(r, x), x)


def _cosh(e: Emitter, x: Value) -> Value:
    big_e = _exp_core(e, e.abs(x), k_bias=-1)
    return _keep_nan(e, big_e + 0.25 / big_e, x)


def _tanh(e: Emitter, x: Value) -> Value:
    # tanh|x| = u/(u+2) with u = expm1(2|x|) >= 0: no cancellation at any size, one
    # division. 2|x| <= tanh_clamp, so 2^k is one power of two and 2^k - 1 is exact (or
    # far below tanh's rounding); NaN flows through.
    a = e.abs(x)
    _, r, kb = _exp_reduce(e, e.clip(a + a, None, e.p.tanh_clamp))
    t = e.pow2_bits(kb)
    u = e.fma(t, _em1(e, r), t - 1.0)
    return e.copysign(u / (u + 2.0), x)


def _sigmoid(e: Emitter, x: Value) -> Value:
    # One division for both signs: 1/(1+e^-|x|) or e^-|x|/(1+e^-|x|), as the reference.
    # A NaN x gives a NaN t, which the division keeps.
    t = _exp_core(e, -e.abs(x))
    return e.sel(x >= 0.0, 1.0, t) / (1.0 + t)


# ---- log family: x = 2^n * m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact),
# s = f/(f+2), log m = 2 atanh s = 2s + s^3 P(s^2).

def _log_split(e: Emitter, x: Value) -> tuple[Value, Value]:
    """(n, f) with x = 2^n (1 + f), for finite x > 0 (subnormals scaled up first)."""
    p = e.p
    sub = x < p.tiny
    ix = e.bits(e.sel(sub, x * 2.0 ** (p.mant + 1), x))
    # The exponent field of bits(x) - bits(sqrt(1/2)) is n; removing it from x gives m.
    n = e.sar(ix - p.sqrt_half_bits, p.mant)
    m = e.from_bits(ix - (n << p.mant))
    return e.int_to_float(n) - e.sel(sub, float(p.mant + 1), 0.0), m - 1.0


def _log_fast(e: Emitter, x: Value) -> tuple[Value, Value, Value]:
    """(n, f, c) with log x = n*ln2 + f - c for finite x > 0, for log, log2, log10. As
    2s = f - s f, log m = f - s (f - s^2 P): f is exact and c = s (f - s^2 P), about f^2/2,
    is small, so the roundings of f + 2 and of the division only touch c (no hi + lo as in
    _log_core: about an ulp in all)."""
    n, f = _log_split(e, x)
    s = f / (f + 2.0)
    z = s * s
    return n, f, s * (f - z * e.poly(z, e.p.poly["log"]))


def _log_core(e: Emitter, x: Value, err: Value | None = None) -> tuple[Value, Value, Value]:
    """(n, hi, lo) with log(x + err) = n*ln2 + hi + lo, for finite x > 0, |err| << x:
    s is kept as a double-length hi + lo, so the error is ~2^-60 relative (enough for
    pow and log1p)."""
    n, f = _log_split(e, x)
    d = f + 2.0
    d_lo = (2.0 - d) + f
    # One division: s = f/d may be 1 ulp off, s_lo carries the exact remainder.
    inv_d = 1.0 / d
    s = f * inv_d
    s_lo = (e.fma(-s, d, f) - s * d_lo) * inv_d
    z = s * s
    lo = e.fma(s * z, e.poly(z, e.p.poly["log"]), s_lo + s_lo)
    if err is not None:
        lo = lo + err / x
    return n, s + s, lo


def _log_specials(e: Emitter, x: Value, r: Value) -> Value:
    r = e.sel(x < math.inf, r, x)                               # +inf, NaN
    return e.sel(x > 0.0, r, e.sel(x.eq(0.0), -math.inf, math.nan))


def _log(e: Emitter, x: Value) -> Value:
    # n*ln2_hi is exact and added last; n*ln2_lo joins the small c.
    n, f, c = _log_fast(e, x)
    return _log_specials(e, x, e.fma(n, e.p.ln2[0], f - e.fma(n, -e.p.ln2[1], c)))


def _log2(e: Emitter, x: Value) -> Value:
    n, f, c = _log_fast(e, x)
    lm = f - c
    return _log_specials(e, x, e.fma(lm, e.p.log2e[0], e.fma(lm, e.p.log2e[1], n)))


def _log10(e: Emitter, x: Value) -> Value:
    n, f, c = _log_fast(e, x)
    lm = f - c
    lo = e.fma(lm, e.p.log10e[0], e.fma(lm, e.p.log10e[1], n * e.p.log10_2[1]))
    return _log_specials(e, x, e.fma(n, e.p.log10_2[0], lo))


def _log1p_core(e: Emitter, hi: Value, lo: Value, n_extra: Value | None = None) -> Value:
    """log(hi + lo) + n_extra*ln2 for finite hi > 0: hi + lo is 1 + x as an exact TwoSum,
    so the rounding of 1 + x is corrected by lo/hi. n*ln2 + hi + lo is rounded once at the
    end (n*ln2_hi is exact: ln2_hi has a short mantissa)."""
    n, h, l = _log_core(e, hi, lo)
    if n_extra is not None:
        n = n + n_extra
    s, t = two_sum(n * e.p.ln2[0], h)
    return s + (t + e.fma(n, e.p.ln2[1], l))


def _log1p(e: Emitter, x: Value) -> Value:
    r = _log1p_core(e, *two_sum(e.f(1.0), x))
    r = e.sel(x.eq(math.inf), math.inf, r)
    r = e.sel(x.eq(-1.0), -math.inf, r)
    r = e.sel(x < -1.0, math.nan, r)
    return _keep_nan(e, _keep_zero(e, r, x), x)


def _softplus(e: Emitter, x: Value) -> Value:
    t = _exp_core(e, -e.abs(x))
    r = e.max(x, 0.0) + _log1p_core(e, *two_sum(e.f(1.0), t))
    return _keep_nan(e, r, x)


def _asinh(e: Emitter, x: Value) -> Value:
    # a < 2: log1p(a + a^2/(1 + sqrt(1+a^2))); a < 2^28: log(2a + 1/(a + sqrt(a^2+1)));
    # beyond: log(a) + ln2 (the fdlibm split, all through one log core).
    a = e.abs(x)
    q = e.sqrt(e.fma(a, a, 1.0))
    one_w = two_sum(e.f(1.0), a + a * a / (1.0 + q))
    mid = a + a + 1.0 / (q + a)
    huge = a > e.p.big_log
    hi = e.sel(a < 2.0, one_w[0], e.sel(huge, a, mid))
    lo = e.sel(a < 2.0, one_w[1], 0.0)
    r = e.copysign(_log1p_core(e, hi, lo, e.sel(huge, 1.0, 0.0)), x)
    return _keep_nan(e, e.sel(a.eq(math.inf), x, r), x)


def _acosh(e: Emitter, x: Value) -> Value:
    # x < 2: log1p(t + sqrt(2t + t^2)), t = x-1 exact; x < 2^28: log(2x - 1/(x + sqrt(x^2-1)));
    # beyond: log(x) + ln2.
    t = x - 1.0
    one_w = two_sum(e.f(1.0), t + e.sqrt(e.fma(t, t, t + t)))
    mid = x + x - 1.0 / (x + e.sqrt(e.fma(x, x, -1.0)))
    huge = x > e.p.big_log
    hi = e.sel(x < 2.0, one_w[0], e.sel(huge, x, mid))
    lo = e.sel(x < 2.0, one_w[1], 0.0)
    r = _log1p_core(e, hi, lo, e.sel(huge, 1.0, 0.0))
    r = e.sel(x.eq(math.inf), math.inf, r)
    return _keep_nan(e, e.sel(x < 1.0, math.nan, r), x)


def _atanh(e: Emitter, x: Value) -> Value:
    # atanh a = log1p(2a/(1-a))/2, with 2a + 2a^2/(1-a) near 0 (fdlibm); 1-a is exact.
    a = e.abs(x)
    one_m = 1.0 - a
    w = e.sel(a < 0.5, a + a + (a + a) * a / one_m, (a + a) / one_m)
    r = 0.5 * _log1p_core(e, *two_sum(e.f(1.0), w))
    r = e.sel(a.eq(1.0), math.inf, e.sel(a > 1.0, math.nan, r))
    return _keep_nan(e, e.copysign(r, x), x)


def _in_f64(e: Emitter, impl: Callable[..., Value], *xs: Value) -> Value:
    """A float32 function computed by its float64 implementation and rounded once, where
    float32 arithmetic cannot reach the bound (pow needs log|x| to ~2^-40)."""
    w = Emitter(e.b, "float64", e.lanes)
    return Value(e, e.b.fptrunc(impl(w, *(Value(w, e.b.fpext(v.v, w.ft)) for v in xs)).v, e.ft))


def _pow(e: Emitter, x: Value, y: Value) -> Value:
    """C99/numpy pow; float32 goes through float64."""
    if e.dtype == "float32":
        return _in_f64(e, _pow, x, y)
    a = e.abs(x)
    # |x|^y = exp(y log|x|) with log as a double-length hi + lo and the product y*log
    # likewise (fma gives the product's error), so exp's argument is good to ~2^-60.
    n, h, l = _log_core(e, a)
    lh, lt = two_sum(n * e.p.ln2[0], h)
    ll = lt + e.fma(n, e.p.ln2[1], l)
    lh, ll = fast_two_sum(lh, ll)
    ph = y * lh
    pl = e.fma(y, lh, -ph) + y * ll
    pl = e.sel(e.abs(ph) < 2.0 * e.p.exp_clamp, pl, 0.0)    # over/underflow decided by ph
    mag = _exp_core(e, ph, pl)
    y_int = e.floor(y).eq(y)
    y_odd = y_int & ~e.floor(y * 0.5).eq(y * 0.5)
    mag = e.sel(a.eq(0.0), e.sel(y < 0.0, math.inf, 0.0), mag)
    mag = e.sel(a.eq(math.inf), e.sel(y < 0.0, 0.0, math.inf), mag)
    y_inf = e.abs(y).eq(math.inf)
    mag = e.sel(y_inf, e.sel(a.eq(1.0), 1.0, e.sel((a < 1.0) ^ (y > 0.0), math.inf, 0.0)),
                mag)
    r = e.sel(e.signbit(x) & y_odd, -mag, mag)
    r = e.sel((x < 0.0) & (x > -math.inf) & ~y_int & ~y_inf, math.nan, r)
    r = _keep_nan(e, r, x, y)
    return e.sel(y.eq(0.0) | x.eq(1.0), 1.0, r)


# ---- trigonometric: k = rint(|x| 2/pi), r = |x| - k pi/2 with pi/2 = c1 + c2 + c3
# (Cody-Waite, one fma each: the first is exact, the others round at the size of r, so r
# is good to about an ulp down to the smallest |r| an input in TRIG_RANGE can give); then
# sin/cos/tan polynomials on |r| <= pi/4 and the quadrant k mod 4.

def _trig_reduce(e: Emitter, a: Value, shift: int = 0) -> tuple[Value, Value, Value]:
    """(q, k, r) for a = |x|: r = a - k (c1 + c2), q the shifter's bits, whose two low
    bits are k + shift mod 4; r is NaN for an infinite or NaN a."""
    c1, c2, _ = e.p.pio2_3
    t = e.fma(a, e.p.two_over_pi, e.p.shifter + shift)
    k = t - (e.p.shifter + shift)
    return e.bits(t), k, e.fma(-k, c2, e.fma(-k, c1, a))


def _trig_clip(e: Emitter, r: Value) -> Value:
    """Bounds the polynomials' argument beyond TRIG_RANGE (a no-op inside it, where the
    rounding of a*2/pi can leave |r| at most a few percent above pi/4); NaN stays."""
    return e.clip(r, -0.9, 0.9)


def _sin_poly(e: Emitter, r: Value, z: Value) -> Value:
    return e.fma(r * z, e.poly(z, e.p.poly["sin"]), r)


def _cos_poly(e: Emitter, z: Value) -> Value:
    # 1 - z/2 + z^2 C(z) by Horner: cos >= 0.7 here, so its roundings stay below an ulp.
    return e.fma(z, e.fma(z, e.poly(z, e.p.poly["cos"]), -0.5), 1.0)


def _sincos(e: Emitter, x: Value, shift: int) -> Value:
    # cos x = sin(x + pi/2): quadrant k + 1. Bit 0 of the quadrant picks the polynomial,
    # bit 1 the sign (moved to the sign bit), xor the sign of x for sin (odd).
    q, k, r = _trig_reduce(e, e.abs(x), shift)
    r = _trig_clip(e, e.fma(-k, e.p.pio2_3[2], r))
    z = r * r
    v = e.sel((q & 1).eq(1), _cos_poly(e, z), _sin_poly(e, r, z))
    sign = q << (e.ibits - 2)
    if shift == 0:
        sign = sign ^ e.bits(x)
    return e.from_bits(e.bits(v) ^ (sign & e.p.sign_bit))


def _sin(e: Emitter, x: Value) -> Value:
    return _sincos(e, x, 0)


def _cos(e: Emitter, x: Value) -> Value:
    return _sincos(e, x, 1)


def _tan(e: Emitter, x: Value) -> Value:
    # tan has period pi: odd quadrants give -1/tan(r). tan magnifies the error of r (up to
    # 2x near pi/4), so k c3 is kept apart and enters with the polynomial's small term.
    q, k, r = _trig_reduce(e, e.abs(x))
    r = _trig_clip(e, r)
    z = r * r
    t = r + e.fma(r * z, e.poly(z, e.p.poly["tan"]), k * -e.p.pio2_3[2])
    v = e.sel((q & 1).eq(1), -1.0 / t, t)
    return e.sel(e.signbit(x), -v, v)


def _atan_01(e: Emitter, t: Value) -> Value:
    """atan t for t in [0, 1]: t + t^3 A(t^2)."""
    z = t * t
    return e.fma(t * z, e.poly(z, e.p.poly["atan"]), t)


def _atan(e: Emitter, x: Value) -> Value:
    # |x| > 1: atan|x| = pi/2 - atan(1/|x|), pi/2 as hi + lo.
    a = e.abs(x)
    inv = a > 1.0
    p = _atan_01(e, e.sel(inv, 1.0 / a, a))
    r = e.sel(inv, e.p.pio2[0] - (p - e.p.pio2[1]), p)
    return e.copysign(r, x)


def _atan2(e: Emitter, y: Value, x: Value) -> Value:
    # atan(min/max) in [0, pi/4], then reflected by pi/2 - . and pi - . as the octant says;
    # 0/0 and inf/inf are the only ratios fixed by hand (C99 Annex F values).
    ax, ay = e.abs(x), e.abs(y)
    hi = e._intr("llvm.maxnum", ax, ay)
    t = e._intr("llvm.minnum", ax, ay) / hi
    t = e.sel(hi.eq(0.0), 0.0, e.sel(ax.eq(math.inf) & ay.eq(math.inf), 1.0, t))
    th = _atan_01(e, t)
    th = e.sel(ay > ax, e.p.pio2[0] - (th - e.p.pio2[1]), th)
    th = e.sel(e.signbit(x), e.p.pi[0] - (th - e.p.pi[1]), th)
    return _keep_nan(e, e.copysign(th, y), y, x)


def _asin_core(e: Emitter, a: Value) -> tuple[Value, Value]:
    """(small, p): p = asin a for a <= 1/2, else p = asin(sqrt((1-a)/2)), so that
    asin a = pi/2 - 2p (fdlibm's reduction; 1-a is exact there)."""
    small = a <= 0.5
    z = e.sel(small, a * a, (1.0 - a) * 0.5)
    s = e.sel(small, a, e.sqrt(z))
    return small, e.fma(s * z, e.poly(z, e.p.poly["asin"]), s)


def _asin(e: Emitter, x: Value) -> Value:
    small, p = _asin_core(e, e.abs(x))
    r = e.sel(small, p, e.p.pio2[0] - ((p + p) - e.p.pio2[1]))
    return e.copysign(r, x)


def _acos(e: Emitter, x: Value) -> Value:
    small, p = _asin_core(e, e.abs(x))
    ps = e.copysign(p, x)
    r_small = e.p.pio2[0] - (ps - e.p.pio2[1])
    r_big = e.sel(x > 0.0, p + p, e.p.pi[0] - ((p + p) - e.p.pi[1]))
    return e.sel(small, r_small, r_big)


# ---- erf, erfc: erf = x E(x^2) for |x| < 1; elsewhere through erfc(a) = e^(-a^2) G(a),
# with e^(-a^2) from the double-length a^2 and G = erfcx as per-lane selected
# polynomials: in a - mid on the first pieces, as K(1/a^2)/a on the last one.

def _erfc_core(e: Emitter, a: Value) -> Value:
    """erfc a for a >= 0.47 (smaller a works but is less accurate)."""
    a = e.min(a, e.p.erfc_max)
    pieces = e.p.erfc                   # (start, mid, coefficients); piece i ends at i+1's start
    inv = 1.0 / a
    v, coefs = inv * inv, [e.f(c) for c in pieces[-1][2]]
    for (_, mid, cs), (end, _, _) in reversed(list(zip(pieces, pieces[1:]))):
        inside = a < end
        v = e.sel(inside, a - mid, v)
        coefs = [e.sel(inside, c, prev) for c, prev in zip(cs, coefs)]
    g = coefs[-1]
    for c in reversed(coefs[:-1]):
        g = e.fma(g, v, c)
    last = a >= pieces[-1][0]
    h = a * a
    ex = _exp_core(e, -h, -e.fma(a, a, -h))
    return (ex * g) / e.sel(last, a, 1.0)


def _erf(e: Emitter, x: Value) -> Value:
    a = e.abs(x)
    small = a * e.poly(a * a, e.p.poly["erf"])
    big = 1.0 - _erfc_core(e, e.min(a, e.p.erf_one))
    return _keep_nan(e, e.copysign(e.sel(a < 1.0, small, big), x), x)


def _erfc(e: Emitter, x: Value) -> Value:
    # x < 0.47: 1 - erf x (erf < 1/2 there, so no cancellation); beyond: erfc directly;
    # x <= -1: 2 - erfc|x|. float32 goes through float64 (3.8 ulp in float32 arithmetic).
    if e.dtype == "float32":
        return _in_f64(e, _erfc, x)
    a = e.abs(x)
    ec = _erfc_core(e, e.max(a, 0.47))
    erf_small = e.copysign(a * e.poly(a * a, e.p.poly["erf"]), x)
    r = e.sel(x < 0.47, e.sel(x > -1.0, 1.0 - erf_small, 2.0 - ec), ec)
    return _keep_nan(e, r, x)


_IMPLS: dict[str, tuple[int, Callable[..., Value]]] = {
    "exp": (1, _exp), "exp2": (1, _exp2), "expm1": (1, _expm1), "log": (1, _log),
    "log2": (1, _log2), "log10": (1, _log10), "log1p": (1, _log1p), "sin": (1, _sin),
    "cos": (1, _cos), "tan": (1, _tan), "tanh": (1, _tanh), "sigmoid": (1, _sigmoid),
    "softplus": (1, _softplus), "erf": (1, _erf), "erfc": (1, _erfc), "pow": (2, _pow),
    "atan": (1, _atan), "atan2": (2, _atan2), "sinh": (1, _sinh), "cosh": (1, _cosh),
    "asin": (1, _asin), "acos": (1, _acos), "asinh": (1, _asinh), "acosh": (1, _acosh),
    "atanh": (1, _atanh),
}

SUPPORTED: frozenset[str] = frozenset(_IMPLS)
"""Opcode names (see ``codegen.kernel.OPCODES``) that :func:`emit` implements."""

def emit(builder: ir.IRBuilder, name: str, args: list[ir.Value], dtype: str,
         lanes: Sequence[int] = ()) -> ir.Value:
    """Emit ``name(*args)`` for scalar ``float``/``double`` args; return the result value.

    Without ``lanes`` the function body (``sg.<name>.f32`` or ``.f64``) is defined once per
    module as an ``alwaysinline`` internal function, each call site one ``call`` to it:
    after inlining, the loop vectorizer widens the formulas with the rest of the loop.

    With ``lanes`` the function stays out of line (``sg_vm_<name>_f64``, ``noinline``)
    and gets a vector variant of each width in ``lanes`` (``sg_vm_<name>_f64_v8``), which
    the call site names in its ``vector-function-abi-variant`` attribute: the vectorizer
    then calls the variant once per vector of elements. LLVM's time grows with the code
    it optimizes, so a kernel with many transcendentals compiles in a fraction of the time
    this way (the variants are compiled once per module), for the cost of a call.

    >>> m = ir.Module(); d = ir.DoubleType()
    >>> fn = ir.Function(m, ir.FunctionType(d, [d]), "f")
    >>> b = ir.IRBuilder(fn.append_basic_block())
    >>> _ = b.ret(emit(b, "exp", [fn.args[0]], "float64"))
    >>> "sg.exp.f64" in m.globals
    True
    """
    if name not in _IMPLS or dtype not in PARAMS:
        raise KeyError(f"vmath has no {name!r} for {dtype!r}; it has {sorted(SUPPORTED)} "
                       "for float32 and float64")
    arity, impl = _IMPLS[name]
    if len(args) != arity:
        raise ValueError(f"vmath {name} takes {arity} arguments, got {len(args)}")
    tag = "f32" if dtype == "float32" else "f64"
    if not lanes:
        fn = _define(builder.module, f"sg.{name}.{tag}", impl, arity, dtype, 0)
        return builder.call(fn, args)
    scalar = f"sg_vm_{name}_{tag}"
    variants = []
    for n in lanes:
        _define(builder.module, f"{scalar}_v{n}", impl, arity, dtype, n)
        variants.append(f"_ZGV_LLVM_N{n}{'v' * arity}_{scalar}({scalar}_v{n})")
    call = builder.call(_define(builder.module, scalar, impl, arity, dtype, 0), args)
    call.attributes.add("nounwind")
    call.attributes.add("readnone")
    set.add(call.attributes, f'"vector-function-abi-variant"="{",".join(variants)}"')
    return call


def _define(module: ir.Module, fname: str, impl: Callable[..., Value], arity: int,
            dtype: str, lanes: int) -> ir.Function:
    """The function ``fname`` computing ``impl`` (on vectors of ``lanes``), defined once
    per module: ``sg.*`` names inline always, the others never (see :func:`emit`)."""
    fn = module.globals.get(fname)
    if fn is not None:
        return fn
    ft = vector(ir.DoubleType() if dtype == "float64" else ir.FloatType(), lanes)
    fn = ir.Function(module, ir.FunctionType(ft, [ft] * arity), fname)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("readnone")
    fn.attributes.add("alwaysinline" if fname.startswith("sg.") else "noinline")
    e = Emitter(ir.IRBuilder(fn.append_basic_block("entry")), dtype, lanes)
    e.b.ret(impl(e, *(Value(e, a) for a in fn.args)).v)
    return fn


_VARIANT = re.compile(r"sg_vm_\w+_f(32|64)_v\d+")


def keep_variants(module: ir.Module) -> None:
    """List the module's vector variants in ``llvm.compiler.used``, so that no pass
    deletes one (or changes its calling convention) before the vectorizer calls it."""
    fns = [g for name, g in module.globals.items() if _VARIANT.fullmatch(name)]
    if fns:
        arr = ir.ArrayType(ir.PointerType(), len(fns))
        g = ir.GlobalVariable(module, arr, "llvm.compiler.used")
        g.linkage, g.section = "appending", "llvm.metadata"
        g.initializer = ir.Constant(arr, fns)
