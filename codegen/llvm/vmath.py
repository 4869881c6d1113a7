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
from decimal import Decimal
from fractions import Fraction
from typing import Callable

import llvmlite.ir as ir
import numpy as np

# Polynomial coefficients, lowest degree first, fitted in float64 with mpmath.chebyfit.
_POLY: dict[str, dict[str, tuple[float, ...]]] = {
    # B(z) = (asin(sqrt z)/sqrt z - 1)/z on [0, 1/4]
    "asin": {
        "float32": (0.16666666337430908, 0.07500094543497424, 0.04459940152851218,
                    0.03110066273549457, 0.017149238357677253, 0.03369084720283012),
        "float64": (0.16666666666666669, 0.07499999999998433, 0.04464285714635543,
                    0.030381944138531247, 0.02237217294214989, 0.017352392720869973,
                    0.013971212973552933, 0.011479177415184906, 0.01032281435018578,
                    0.005457506718640358, 0.01740087944269402, -0.014851887071247204,
                    0.028757851367421566),
    },
    # A(z) = (atan(sqrt z)/sqrt z - 1)/z on [0, 1]
    "atan": {
        "float32": (-0.3333333308107325, 0.19999949321141888, -0.1428400379473353,
                    0.11088261628735159, -0.08931826777381315, 0.07031914250029966,
                    -0.04896051402709067, 0.026305001110062377, -0.009144629760592396,
                    0.0014886919393047597),
        "float64": (-0.3333333333333333, 0.19999999999999554, -0.14285714285648404,
                    0.11111111107234799, -0.09090908969557403, 0.07692305354678655,
                    -0.06666636435777692, 0.05882074956371294, -0.05261265735709454,
                    0.04752086773576656, -0.04308119655330471, 0.03872640214042632,
                    -0.033750132001619734, 0.027567942297344678, -0.020238706986393514,
                    0.012756172907694298, -0.006575683344151699, 0.002622977891906089,
                    -0.0007518472526973822, 0.0001368724853148122, -1.1832505417555692e-05),
    },
    # C(z) = (cos(sqrt z) - 1 + z/2)/z^2 on [0, 0.62] (z = r^2, |r| <= pi/4)
    "cos": {
        "float32": (0.04166666666427301, -0.0013888887653322967, 2.4800590303711416e-05,
                    -2.7299656316022867e-07),
        "float64": (0.041666666666666664, -0.0013888888888887359, 2.48015872987077e-05,
                    -2.755731724172776e-07, 2.0876140031390975e-09, -1.138218421447753e-11),
    },
    # E(z) = erf(sqrt z)/sqrt z on [0, 1]
    "erf": {
        "float32": (1.1283791658483509, -0.37612626666720334, 0.11283594715160218,
                    -0.026854212010626412, 0.005189087423433974, -0.000801686428716587,
                    7.875875062685488e-05),
        "float64": (1.1283791670955126, -0.3761263890318375, 0.11283791670954879,
                    -0.026866170645076792, 0.0052239776248180145, -0.000854832698083379,
                    0.0001205533111164271, -1.4925595266831182e-05, 1.6461000484121368e-06,
                    -1.6350312701054695e-07, 1.4659775274047436e-08,
                    -1.1372848856791674e-09, 5.957176147748911e-11),
    },
    # F(r) = (e^r - 1)/r on |r| <= 0.35 (ln2/2 and the rounding of k)
    "exp": {
        "float32": (1.0000000114271015, 0.500000001427659, 0.1666649877409487,
                    0.04166645690406264, 0.008369861529408561, 0.001393453165508802),
        "float64": (1.0, 0.5000000000000007, 0.1666666666666667, 0.04166666666656548,
                    0.008333333333325551, 0.001388888893514123, 0.00019841269876840357,
                    2.4801501014878055e-05, 2.755725286336732e-06, 2.762773069846965e-07,
                    2.5106262550879078e-08),
    },
    # Q(r) = (e^r - 1 - r)/r^2 on |r| <= 0.35 (float64: 0.3535)
    "expm1": {
        "float32": (0.500000001427659, 0.16666666682523656, 0.04166645690406264,
                    0.008333310034706868, 0.001393453165508802, 0.00019891969905683137),
        "float64": (0.5, 0.1666666666666667, 0.04166666666666667, 0.008333333333324906,
                    0.0013888888888882872, 0.00019841269879029798, 2.480158732855354e-05,
                    2.7557250166987546e-06, 2.7557269906042465e-07, 2.5107352183430832e-08,
                    2.0916211706480392e-09),
    },
    # P(z) = (2 atanh(sqrt z)/sqrt z - 2)/z on [0, 0.0295] (z = s^2, m in [sqrt .5, sqrt 2])
    "log": {
        "float32": (0.6666666655352537, 0.4000012263369878, 0.2855073084477381,
                    0.2333291280436864),
        "float64": (0.6666666666666666, 0.4000000000000089, 0.2857142857079543,
                    0.2222222239356661, 0.18181795442371984, 0.1538625044794019,
                    0.13268485680654427, 0.13089629160674623),
    },
    # S(z) = (sin(sqrt z)/sqrt z - 1)/z on [0, 0.62]
    "sin": {
        "float32": (-0.16666666663797544, 0.008333331852310973, -0.00019840074665737465,
                    2.7248364773036666e-06),
        "float64": (-0.16666666666666666, 0.008333333333333331, -0.0001984126984126494,
                    2.7557319219243677e-06, -2.505210619936182e-08, 1.6058526388142101e-10,
                    -7.586389554705215e-13),
    },
    # T(z) = (tan(sqrt z)/sqrt z - 1)/z on [0, 0.62]
    "tan": {
        "float32": (0.33333333284708144, 0.1333334335237542, 0.05396489435242046,
                    0.021912000760713517, 0.008602462734587653, 0.004443008032557061,
                    -2.2685558192136668e-05, 0.001800601032318732),
        "float64": (0.3333333333333333, 0.13333333333333364, 0.053968253968213344,
                    0.02186948853834672, 0.0088632354679596, 0.003592129092427828,
                    0.0014558226105892624, 0.0005901178458815507, 0.0002386361358241765,
                    9.885951477133809e-05, 3.3696335899918385e-05, 2.7533261063958122e-05,
                    -1.0736325400050186e-05, 1.9988733292813988e-05,
                    -9.970045634475077e-06, 3.999859598575767e-06),
    },
}
# erfcx(a) = e^(a^2) erfc(a) by pieces (start, mid, coefficients): a polynomial in a - mid
# up to the next piece's start; the last one is K(s) = a erfcx(a) in s = 1/a^2, up to 27.3
# (float64) or 10.1 (float32) where erfc underflows.
_ERFC_PIECES: dict[str, tuple[tuple[float, float | None, tuple[float, ...]], ...]] = {
    "float32": (
        (0.47, 1.2349999999999999, (0.3709794440717954, -0.21205993987367672, 0.1090854345847311,
                  -0.05155963697974745, 0.022704315126887933, -0.009407665888537548,
                  0.0036976740873452553, -0.001384700619832573, 0.0004889793788064891,
                  -0.00016901488582771654, 6.810661931473642e-05, -2.1693815839377382e-05)),
        (2, None, (0.5641895816724375, -0.28209432326681877, 0.4230956332090357,
                  -1.0553670850662267, 3.6203896213585867, -14.836252823618826,
                  62.35076003065593, -232.12973551832508, 678.7950491631522,
                  -1399.8632567963186, 1773.8186371627598, -1027.9965767230262)),
    ),
    "float64": (
        (0.47, 0.985, (0.4317167592847243, -0.2778971513046057, 0.15798806524968736,
                  -0.08151927135577543, 0.03884579148216033, -0.017302466698362964,
                  0.007267620593360399, -0.002898245831772139, 0.001103212139392661,
                  -0.00040257376316538135, 0.00014133510075487002, -4.7883264913067295e-05,
                  1.5696908321234373e-05, -4.988770899691284e-06, 1.533355262450087e-06,
                  -4.6094540512902076e-07, 1.4913988872747574e-07, -4.2448741575106213e-08)),
        (1.5, 2.25, (0.23108725873039188, -0.08848650280874916, 0.03199262741070587,
                  -0.011002060756439959, 0.0036189953543767483, -0.0011437284836579198,
                  0.00034853542170552886, -0.0001027210810813699, 2.9353250462341522e-05,
                  -8.150283936965526e-06, 2.203006148039637e-06, -5.806298566444485e-07,
                  1.4948034958257032e-07, -3.7612103166965675e-08, 9.178735686798168e-09,
                  -2.216644094827292e-09, 6.055280430567816e-10, -1.400353262582745e-10)),
        (3, None, (0.5641895835477562, -0.28209479177374014, 0.42314218758397854,
                  -1.057855447130069, 3.7024903684397286, -16.660800112732502,
                  91.60361543463254, -593.7529050616714, 4386.354182090318,
                  -35279.40505021208, 289470.91719224374, -2244867.4093712736,
                  15281167.734637959, -85436840.1763368, 367718757.3105115,
                  -1126695337.7986505, 2169122584.228181, -1961762625.999977)),
    ),
}

TRIG_RANGE: dict[str, float] = {"float32": 2e5, "float64": 1e12}
"""|x| up to which sin/cos/tan meet their error bound (three-part Cody-Waite reduction)."""

_LN2 = "0.69314718055994530941723212145817656807550013436025525412068"
_PI = "3.14159265358979323846264338327950288419716939937510582097494"
_LOG2E = "1.44269504088896340735992468100189213742664595415298593413545"
_LOG10E = "0.434294481903251827651128918916605082294397005803666566114454"
_LOG10_2 = "0.301029995663981195213738894724493026768189881462108541310427"
_TWO_OVER_PI = "0.636619772367581343075535053490057448137838582961825794990669"


def _parts(digits: str | Fraction, dtype: str, n: int, bits: int | None = None) -> list[float]:
    """Split a constant into ``n`` parts of ``bits`` significant bits each (the last one is
    just rounded to ``dtype``), so that products of the leading parts by small integers
    are exact: the Cody-Waite representation of ln2 or pi/2."""
    x = Fraction(Decimal(digits)) if isinstance(digits, str) else digits
    bits = bits or np.finfo(dtype).nmant + 1
    out = []
    for i in range(n):
        if i == n - 1:
            out.append(float(np.dtype(dtype).type(float(x))))
            break
        scale = Fraction(2) ** (bits - 1 - math.floor(math.log2(abs(x))))
        hi = Fraction(round(x * scale)) / scale
        out.append(float(hi))
        x -= hi
    return out


class _P:
    """Per-dtype constants."""

    def __init__(self, dtype: str):
        f64 = dtype == "float64"
        self.mant, self.bias = (52, 1023) if f64 else (23, 127)
        ebits = 11 if f64 else 8          # |exponent| < 2**ebits: e * HI stays exact
        self.ln2 = _parts(_LN2, dtype, 2, self.mant + 1 - ebits)
        self.log10_2 = _parts(_LOG10_2, dtype, 2, self.mant + 1 - ebits)
        self.pio2_3 = _parts(Fraction(Decimal(_PI)) / 2, dtype, 3)
        self.pio2 = _parts(Fraction(Decimal(_PI)) / 2, dtype, 2)
        self.pi = _parts(_PI, dtype, 2)
        self.log2e = _parts(_LOG2E, dtype, 2)
        self.log10e = _parts(_LOG10E, dtype, 2)
        self.two_over_pi = float(Fraction(Decimal(_TWO_OVER_PI)))
        # Adding 1.5*2^mant rounds to an integer k (|k| < 2^(mant-1)) and leaves k in the
        # low mantissa bits; the exp shifter also adds the bias there, so bits << mant is 2^k.
        self.shifter = 1.5 * 2.0 ** self.mant
        self.exp_shifter = self.shifter + self.bias
        self.exp_kmax = 1100.0 if f64 else 160.0    # 2^k beyond overflow and underflow
        self.exp_clamp = self.exp_kmax * math.log(2)
        self.tiny = float(np.finfo(dtype).smallest_normal)
        self.sqrt_half_bits = int(np.array(math.sqrt(0.5), dtype).view(
            np.int64 if f64 else np.int32))
        self.sign_bit = -(1 << (self.mant + ebits))     # as a signed integer
        self.poly = {k: v[dtype] for k, v in _POLY.items()}
        self.erfc = _ERFC_PIECES[dtype]
        self.erfc_max = 27.5 if f64 else 10.5      # erfc underflows to 0 beyond
        self.erf_one = 6.0 if f64 else 4.0          # erf rounds to 1 beyond
        self.tanh_clamp = 40.0 if f64 else 20.0     # 2|x| beyond which tanh rounds to 1
        self.expm1_min = -40.0 if f64 else -18.0    # expm1 rounds to -1 below
        self.big_log = 2.0 ** (28 if f64 else 12)   # asinh/acosh: log(2x) is exact enough


class _V:
    """An IR value with Python operators, so the formulas below read like math.

    Float operands give fadd/fsub/fmul/fdiv and ordered compares; integer ones give
    add/sub/mul, ``>>`` (logical) and ``<<``; ``&``, ``|``, ``~`` act on i1 masks.
    """
    __slots__ = ("e", "v")

    def __init__(self, e: "_E", v: ir.Value):
        self.e, self.v = e, v

    @property
    def isfloat(self) -> bool:
        return isinstance(self.v.type, (ir.FloatType, ir.DoubleType))

    def _o(self, o) -> "_V":
        return o if isinstance(o, _V) else _V(self.e, ir.Constant(self.v.type, o))

    def _bin(self, fop: str, iop: str, o, swap: bool = False) -> "_V":
        a, b = (self._o(o), self) if swap else (self, self._o(o))
        return _V(self.e, getattr(self.e.b, fop if self.isfloat else iop)(a.v, b.v))

    def __add__(self, o): return self._bin("fadd", "add", o)
    def __radd__(self, o): return self._bin("fadd", "add", o, True)
    def __sub__(self, o): return self._bin("fsub", "sub", o)
    def __rsub__(self, o): return self._bin("fsub", "sub", o, True)
    def __mul__(self, o): return self._bin("fmul", "mul", o)
    def __rmul__(self, o): return self._bin("fmul", "mul", o, True)
    def __truediv__(self, o): return self._bin("fdiv", "sdiv", o)
    def __rtruediv__(self, o): return self._bin("fdiv", "sdiv", o, True)
    def __neg__(self): return _V(self.e, self.e.b.fneg(self.v))
    def __and__(self, o): return _V(self.e, self.e.b.and_(self.v, self._o(o).v))
    def __or__(self, o): return _V(self.e, self.e.b.or_(self.v, self._o(o).v))
    def __xor__(self, o): return _V(self.e, self.e.b.xor(self.v, self._o(o).v))
    def __invert__(self): return _V(self.e, self.e.b.not_(self.v))
    def __lshift__(self, n): return _V(self.e, self.e.b.shl(self.v, self._o(n).v))
    def __rshift__(self, n): return _V(self.e, self.e.b.lshr(self.v, self._o(n).v))

    def _cmp(self, op: str, o) -> "_V":
        b = self.e.b
        if self.isfloat:
            return _V(self.e, b.fcmp_ordered(op, self.v, self._o(o).v))
        return _V(self.e, b.icmp_signed(op, self.v, self._o(o).v))

    def __lt__(self, o): return self._cmp("<", o)
    def __le__(self, o): return self._cmp("<=", o)
    def __gt__(self, o): return self._cmp(">", o)
    def __ge__(self, o): return self._cmp(">=", o)
    def eq(self, o) -> "_V": return self._cmp("==", o)


class _E:
    """Emits the body of one vmath function in one float type."""

    def __init__(self, b: ir.IRBuilder, dtype: str):
        self.b, self.dtype = b, dtype
        self.ft = ir.DoubleType() if dtype == "float64" else ir.FloatType()
        self.it = ir.IntType(64 if dtype == "float64" else 32)
        self.p = _PARAMS[dtype]

    def f(self, x: float) -> _V:
        return _V(self, ir.Constant(self.ft, x))

    def _intr(self, name: str, *args: _V) -> _V:
        fn = self.b.module.declare_intrinsic(
            name, [self.ft], ir.FunctionType(self.ft, [self.ft] * len(args)))
        return _V(self, self.b.call(fn, [a.v for a in args]))

    def fma(self, a, b, c) -> _V:
        return self._intr("llvm.fma", *(x if isinstance(x, _V) else self.f(x)
                                         for x in (a, b, c)))

    def floor(self, x): return self._intr("llvm.floor", x)
    def abs(self, x): return self._intr("llvm.fabs", x)
    def sqrt(self, x): return self._intr("llvm.sqrt", x)
    def copysign(self, x, s): return self._intr("llvm.copysign", x, s)

    def max(self, x: _V, y: float) -> _V:
        """maxnum: a NaN x gives y (callers restore NaN at the end), so no NaN reaches an
        integer conversion."""
        return self._intr("llvm.maxnum", x, self.f(y))

    def min(self, x: _V, y: float) -> _V:
        return self._intr("llvm.minnum", x, self.f(y))

    def clamp(self, x: _V, lo: float, hi: float) -> _V:
        return self.min(self.max(x, lo), hi)

    def clip(self, x: _V, lo: float | None, hi: float | None) -> _V:
        """Like clamp, but a NaN x stays NaN (one x86 min/max each, operands ordered so);
        for paths without integer conversions, so that NaN needs no select at the end."""
        if lo is not None:
            x = self.sel(x < lo, lo, x)
        return x if hi is None else self.sel(x > hi, hi, x)

    def sel(self, c: _V, a, b) -> _V:
        a = a if isinstance(a, _V) else self.f(a)
        b = b if isinstance(b, _V) else self.f(b)
        return _V(self, self.b.select(c.v, a.v, b.v))

    def isnan(self, x: _V) -> _V:
        return _V(self, self.b.fcmp_unordered("uno", x.v, x.v))

    def signbit(self, x: _V) -> _V:
        return self.bits(x) < 0

    def sar(self, i: _V, n: int) -> _V:
        """Arithmetic (sign-extending) right shift of an integer."""
        return _V(self, self.b.ashr(i.v, ir.Constant(self.it, n)))

    def bits(self, x: _V) -> _V:
        return _V(self, self.b.bitcast(x.v, self.it))

    def from_bits(self, i: _V) -> _V:
        return _V(self, self.b.bitcast(i.v, self.ft))

    def poly(self, x: _V, coefs) -> _V:
        """Horner's rule with fused multiply-adds, lowest coefficient first."""
        acc = self.f(coefs[-1])
        for c in reversed(coefs[:-1]):
            acc = self.fma(acc, x, c)
        return acc

    def int_to_float(self, i: _V) -> _V:
        """A small integer to float through i32 (AVX2 has no vector i64 -> double)."""
        i32 = self.b.trunc(i.v, ir.IntType(32)) if self.it.width == 64 else i.v
        return _V(self, self.b.sitofp(i32, self.ft))

    def pow2_bits(self, kb: _V) -> _V:
        """2^k from an integer whose low exponent-width bits hold k + bias (the higher
        bits, such as a shifter's, are shifted out); k in the normal exponent range."""
        return self.from_bits(kb << self.p.mant)


def _two_sum(a: _V, b: _V) -> tuple[_V, _V]:
    """Knuth's TwoSum: s + t == a + b exactly."""
    s = a + b
    bp = s - a
    return s, (a - (s - bp)) + (b - bp)


def _fast_two_sum(a: _V, b: _V) -> tuple[_V, _V]:
    """Dekker's Fast2Sum for |a| >= |b|: s + t == a + b exactly."""
    s = a + b
    return s, b - (s - a)


# ---- exp family: k = rint(x/ln2), r = x - k*ln2 (Cody-Waite, ln2 in hi/lo), e^r by a
# polynomial on |r| <= ln2/2, then scale by 2^k. k comes from the exp shifter, so the
# powers of two are built from its bits with no float -> int conversion (and NaN, which
# such a conversion would make poison, just flows through the arithmetic).

def _exp_reduce(e: _E, x: _V, lo: _V | None = None) -> tuple[_V, _V, _V]:
    """(k, r, kb) for |x| <= exp_clamp: x + lo = k ln2 + r, kb's low bits hold k + bias."""
    t = e.fma(x, e.p.log2e[0], e.p.exp_shifter)
    k = t - e.p.exp_shifter
    r = e.fma(-k, e.p.ln2[1], e.fma(-k, e.p.ln2[0], x))
    return k, (r if lo is None else r + lo), e.bits(t)


def _exp_poly(e: _E, r: _V) -> _V:
    """e^r = 1 + r F(r) on |r| <= ln2/2."""
    return e.fma(r, e.poly(r, e.p.poly["exp"]), 1.0)


def _em1(e: _E, r: _V) -> _V:
    """e^r - 1 = r + r^2 Q(r) on |r| <= ln2/2 (relative accuracy near 0, for expm1)."""
    return e.fma(r * r, e.poly(r, e.p.poly["expm1"]), r)


def _scale(e: _E, x: _V, kb: _V, k_bias: int = 0) -> _V:
    """x * 2^(k + k_bias) for kb from _exp_reduce and |k| <= exp_kmax: two normal powers
    of two of about k/2 each, so overflow is exact and a subnormal result is rounded once
    (x * 2^k1 is exact). The split is integer, on the biased exponents: e1 = k1 + bias
    from (k + bias) >> 1, e2 = k - k1 + bias (the shifter's high bits in kb, halved or not,
    end above the exponent field and are shifted out)."""
    half = e.p.bias - e.p.bias // 2
    e1 = (kb >> 1) + half
    e2 = kb - e1 + (e.p.bias + k_bias)
    return x * e.pow2_bits(e1) * e.pow2_bits(e2)


def _exp_core(e: _E, x: _V, lo: _V | None = None, k_bias: int = 0) -> _V:
    """e^(x+lo) * 2^k_bias for finite results and their over/underflow; NaN gives NaN."""
    _, r, kb = _exp_reduce(e, e.clip(x, -e.p.exp_clamp, e.p.exp_clamp), lo)
    return _scale(e, _exp_poly(e, r), kb, k_bias)


def _expm1_core(e: _E, x: _V) -> _V:
    """expm1 without NaN/zero handling: 2^k*em1(r) + (2^k - 1) as one fma while 2^k is
    small (2^k - 1 exact), else 2^k*(1 + em1(r)) where the -1 is below rounding."""
    k, r, kb = _exp_reduce(e, e.clamp(x, e.p.expm1_min, e.p.exp_clamp))
    u = _em1(e, r)
    t = e.pow2_bits(kb)            # garbage where k > bias, but not selected there
    return e.sel(k <= e.p.mant + 8, e.fma(t, u, t - 1.0), _scale(e, 1.0 + u, kb))


def _keep_nan(e: _E, r: _V, *xs: _V) -> _V:
    nan = e.isnan(xs[0])
    for x in xs[1:]:
        nan = nan | e.isnan(x)
    return e.sel(nan, xs[0] + xs[-1], r)


def _keep_zero(e: _E, r: _V, x: _V) -> _V:
    """f(+-0) = +-0 for odd functions whose formula loses the sign of zero."""
    return e.sel(x.eq(0.0), x, r)


def _exp(e: _E, x: _V) -> _V:
    return _exp_core(e, x)


def _exp2(e: _E, x: _V) -> _V:
    # 2^x = 2^k * e^((x-k) ln2): x - k is exact, the product's rounding is < 2^-55 relative.
    x_ = e.clip(x, -e.p.exp_kmax, e.p.exp_kmax)
    t = x_ + e.p.exp_shifter                     # rounds to k; its bits hold k + bias
    f = x_ - (t - e.p.exp_shifter)
    r = e.fma(f, e.p.ln2[0], f * e.p.ln2[1])
    return _scale(e, _exp_poly(e, r), e.bits(t))


def _expm1(e: _E, x: _V) -> _V:
    return _keep_nan(e, _keep_zero(e, _expm1_core(e, x), x), x)


def _sinh(e: _E, x: _V) -> _V:
    # |x| < 1: (u + u/(u+1))/2 with u = expm1|x| (no cancellation); else E - 1/(4E) with
    # E = e^|x|/2 scaled by 2^(k-1) so it overflows exactly where sinh does.
    a = e.abs(x)
    u = _expm1_core(e, a)
    big_e = _exp_core(e, a, k_bias=-1)
    r = e.sel(a < 1.0, 0.5 * (u + u / (u + 1.0)), big_e - 0.25 / big_e)
    return _keep_nan(e, e.copysign(r, x), x)


def _cosh(e: _E, x: _V) -> _V:
    big_e = _exp_core(e, e.abs(x), k_bias=-1)
    return _keep_nan(e, big_e + 0.25 / big_e, x)


def _tanh(e: _E, x: _V) -> _V:
    # tanh|x| = u/(u+2) with u = expm1(2|x|) >= 0: no cancellation at any size, one
    # division. 2|x| <= tanh_clamp, so 2^k is one power of two and 2^k - 1 is exact (or
    # far below tanh's rounding); NaN flows through.
    a = e.abs(x)
    _, r, kb = _exp_reduce(e, e.clip(a + a, None, e.p.tanh_clamp))
    t = e.pow2_bits(kb)
    u = e.fma(t, _em1(e, r), t - 1.0)
    return e.copysign(u / (u + 2.0), x)


def _sigmoid(e: _E, x: _V) -> _V:
    # One division for both signs: 1/(1+e^-|x|) or e^-|x|/(1+e^-|x|), as the reference.
    # A NaN x gives a NaN t, which the division keeps.
    t = _exp_core(e, -e.abs(x))
    return e.sel(x >= 0.0, 1.0, t) / (1.0 + t)


# ---- log family: x = 2^n * m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact),
# s = f/(f+2), log m = 2 atanh s = 2s + s^3 P(s^2).

def _log_split(e: _E, x: _V) -> tuple[_V, _V]:
    """(n, f) with x = 2^n (1 + f), for finite x > 0 (subnormals scaled up first)."""
    p = e.p
    sub = x < p.tiny
    ix = e.bits(e.sel(sub, x * 2.0 ** (p.mant + 1), x))
    # The exponent field of bits(x) - bits(sqrt(1/2)) is n; removing it from x gives m.
    n = e.sar(ix - p.sqrt_half_bits, p.mant)
    m = e.from_bits(ix - (n << p.mant))
    return e.int_to_float(n) - e.sel(sub, float(p.mant + 1), 0.0), m - 1.0


def _log_fast(e: _E, x: _V) -> tuple[_V, _V, _V]:
    """(n, f, c) with log x = n*ln2 + f - c for finite x > 0, for log, log2, log10. As
    2s = f - s f, log m = f - s (f - s^2 P): f is exact and c = s (f - s^2 P), about f^2/2,
    is small, so the roundings of f + 2 and of the division only touch c (no hi + lo as in
    _log_core: about an ulp in all)."""
    n, f = _log_split(e, x)
    s = f / (f + 2.0)
    z = s * s
    return n, f, s * (f - z * e.poly(z, e.p.poly["log"]))


def _log_core(e: _E, x: _V, err: _V | None = None) -> tuple[_V, _V, _V]:
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


def _log_specials(e: _E, x: _V, r: _V) -> _V:
    r = e.sel(x < math.inf, r, x)                               # +inf, NaN
    return e.sel(x > 0.0, r, e.sel(x.eq(0.0), -math.inf, math.nan))


def _log(e: _E, x: _V) -> _V:
    # n*ln2_hi is exact and added last; n*ln2_lo joins the small c.
    n, f, c = _log_fast(e, x)
    return _log_specials(e, x, e.fma(n, e.p.ln2[0], f - e.fma(n, -e.p.ln2[1], c)))


def _log2(e: _E, x: _V) -> _V:
    n, f, c = _log_fast(e, x)
    lm = f - c
    return _log_specials(e, x, e.fma(lm, e.p.log2e[0], e.fma(lm, e.p.log2e[1], n)))


def _log10(e: _E, x: _V) -> _V:
    n, f, c = _log_fast(e, x)
    lm = f - c
    lo = e.fma(lm, e.p.log10e[0], e.fma(lm, e.p.log10e[1], n * e.p.log10_2[1]))
    return _log_specials(e, x, e.fma(n, e.p.log10_2[0], lo))


def _log1p_core(e: _E, hi: _V, lo: _V, n_extra: _V | None = None) -> _V:
    """log(hi + lo) + n_extra*ln2 for finite hi > 0: hi + lo is 1 + x as an exact TwoSum,
    so the rounding of 1 + x is corrected by lo/hi. n*ln2 + hi + lo is rounded once at the
    end (n*ln2_hi is exact: ln2_hi has a short mantissa)."""
    n, h, l = _log_core(e, hi, lo)
    if n_extra is not None:
        n = n + n_extra
    s, t = _two_sum(n * e.p.ln2[0], h)
    return s + (t + e.fma(n, e.p.ln2[1], l))


def _log1p(e: _E, x: _V) -> _V:
    r = _log1p_core(e, *_two_sum(e.f(1.0), x))
    r = e.sel(x.eq(math.inf), math.inf, r)
    r = e.sel(x.eq(-1.0), -math.inf, r)
    r = e.sel(x < -1.0, math.nan, r)
    return _keep_nan(e, _keep_zero(e, r, x), x)


def _softplus(e: _E, x: _V) -> _V:
    t = _exp_core(e, -e.abs(x))
    r = e.max(x, 0.0) + _log1p_core(e, *_two_sum(e.f(1.0), t))
    return _keep_nan(e, r, x)


def _asinh(e: _E, x: _V) -> _V:
    # a < 2: log1p(a + a^2/(1 + sqrt(1+a^2))); a < 2^28: log(2a + 1/(a + sqrt(a^2+1)));
    # beyond: log(a) + ln2 (the fdlibm split, all through one log core).
    a = e.abs(x)
    q = e.sqrt(e.fma(a, a, 1.0))
    one_w = _two_sum(e.f(1.0), a + a * a / (1.0 + q))
    mid = a + a + 1.0 / (q + a)
    huge = a > e.p.big_log
    hi = e.sel(a < 2.0, one_w[0], e.sel(huge, a, mid))
    lo = e.sel(a < 2.0, one_w[1], 0.0)
    r = e.copysign(_log1p_core(e, hi, lo, e.sel(huge, 1.0, 0.0)), x)
    return _keep_nan(e, e.sel(a.eq(math.inf), x, r), x)


def _acosh(e: _E, x: _V) -> _V:
    # x < 2: log1p(t + sqrt(2t + t^2)), t = x-1 exact; x < 2^28: log(2x - 1/(x + sqrt(x^2-1)));
    # beyond: log(x) + ln2.
    t = x - 1.0
    one_w = _two_sum(e.f(1.0), t + e.sqrt(e.fma(t, t, t + t)))
    mid = x + x - 1.0 / (x + e.sqrt(e.fma(x, x, -1.0)))
    huge = x > e.p.big_log
    hi = e.sel(x < 2.0, one_w[0], e.sel(huge, x, mid))
    lo = e.sel(x < 2.0, one_w[1], 0.0)
    r = _log1p_core(e, hi, lo, e.sel(huge, 1.0, 0.0))
    r = e.sel(x.eq(math.inf), math.inf, r)
    return _keep_nan(e, e.sel(x < 1.0, math.nan, r), x)


def _atanh(e: _E, x: _V) -> _V:
    # atanh a = log1p(2a/(1-a))/2, with 2a + 2a^2/(1-a) near 0 (fdlibm); 1-a is exact.
    a = e.abs(x)
    one_m = 1.0 - a
    w = e.sel(a < 0.5, a + a + (a + a) * a / one_m, (a + a) / one_m)
    r = 0.5 * _log1p_core(e, *_two_sum(e.f(1.0), w))
    r = e.sel(a.eq(1.0), math.inf, e.sel(a > 1.0, math.nan, r))
    return _keep_nan(e, e.copysign(r, x), x)


def _in_f64(e: _E, impl: Callable[..., _V], *xs: _V) -> _V:
    """A float32 function computed by its float64 implementation and rounded once, where
    float32 arithmetic cannot reach the bound (pow needs log|x| to ~2^-40)."""
    w = _E(e.b, "float64")
    return _V(e, e.b.fptrunc(impl(w, *(_V(w, e.b.fpext(v.v, w.ft)) for v in xs)).v, e.ft))


def _pow(e: _E, x: _V, y: _V) -> _V:
    """C99/numpy pow; float32 goes through float64."""
    if e.dtype == "float32":
        return _in_f64(e, _pow, x, y)
    a = e.abs(x)
    # |x|^y = exp(y log|x|) with log as a double-length hi + lo and the product y*log
    # likewise (fma gives the product's error), so exp's argument is good to ~2^-60.
    n, h, l = _log_core(e, a)
    lh, lt = _two_sum(n * e.p.ln2[0], h)
    ll = lt + e.fma(n, e.p.ln2[1], l)
    lh, ll = _fast_two_sum(lh, ll)
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

def _trig_reduce(e: _E, a: _V, shift: int = 0) -> tuple[_V, _V, _V]:
    """(q, k, r) for a = |x|: r = a - k (c1 + c2), q the shifter's bits, whose two low
    bits are k + shift mod 4; r is NaN for an infinite or NaN a."""
    c1, c2, _ = e.p.pio2_3
    t = e.fma(a, e.p.two_over_pi, e.p.shifter + shift)
    k = t - (e.p.shifter + shift)
    return e.bits(t), k, e.fma(-k, c2, e.fma(-k, c1, a))


def _trig_clip(e: _E, r: _V) -> _V:
    """Bounds the polynomials' argument beyond TRIG_RANGE (a no-op inside it, where the
    rounding of a*2/pi can leave |r| at most a few percent above pi/4); NaN stays."""
    return e.clip(r, -0.9, 0.9)


def _sin_poly(e: _E, r: _V, z: _V) -> _V:
    return e.fma(r * z, e.poly(z, e.p.poly["sin"]), r)


def _cos_poly(e: _E, z: _V) -> _V:
    # 1 - z/2 + z^2 C(z) by Horner: cos >= 0.7 here, so its roundings stay below an ulp.
    return e.fma(z, e.fma(z, e.poly(z, e.p.poly["cos"]), -0.5), 1.0)


def _sincos(e: _E, x: _V, shift: int) -> _V:
    # cos x = sin(x + pi/2): quadrant k + 1. Bit 0 of the quadrant picks the polynomial,
    # bit 1 the sign (moved to the sign bit), xor the sign of x for sin (odd).
    q, k, r = _trig_reduce(e, e.abs(x), shift)
    r = _trig_clip(e, e.fma(-k, e.p.pio2_3[2], r))
    z = r * r
    v = e.sel((q & 1).eq(1), _cos_poly(e, z), _sin_poly(e, r, z))
    sign = q << (e.it.width - 2)
    if shift == 0:
        sign = sign ^ e.bits(x)
    return e.from_bits(e.bits(v) ^ (sign & e.p.sign_bit))


def _sin(e: _E, x: _V) -> _V:
    return _sincos(e, x, 0)


def _cos(e: _E, x: _V) -> _V:
    return _sincos(e, x, 1)


def _tan(e: _E, x: _V) -> _V:
    # tan has period pi: odd quadrants give -1/tan(r). tan magnifies the error of r (up to
    # 2x near pi/4), so k c3 is kept apart and enters with the polynomial's small term.
    q, k, r = _trig_reduce(e, e.abs(x))
    r = _trig_clip(e, r)
    z = r * r
    t = r + e.fma(r * z, e.poly(z, e.p.poly["tan"]), k * -e.p.pio2_3[2])
    v = e.sel((q & 1).eq(1), -1.0 / t, t)
    return e.sel(e.signbit(x), -v, v)


def _atan_01(e: _E, t: _V) -> _V:
    """atan t for t in [0, 1]: t + t^3 A(t^2)."""
    z = t * t
    return e.fma(t * z, e.poly(z, e.p.poly["atan"]), t)


def _atan(e: _E, x: _V) -> _V:
    # |x| > 1: atan|x| = pi/2 - atan(1/|x|), pi/2 as hi + lo.
    a = e.abs(x)
    inv = a > 1.0
    p = _atan_01(e, e.sel(inv, 1.0 / a, a))
    r = e.sel(inv, e.p.pio2[0] - (p - e.p.pio2[1]), p)
    return e.copysign(r, x)


def _atan2(e: _E, y: _V, x: _V) -> _V:
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


def _asin_core(e: _E, a: _V) -> tuple[_V, _V]:
    """(small, p): p = asin a for a <= 1/2, else p = asin(sqrt((1-a)/2)), so that
    asin a = pi/2 - 2p (fdlibm's reduction; 1-a is exact there)."""
    small = a <= 0.5
    z = e.sel(small, a * a, (1.0 - a) * 0.5)
    s = e.sel(small, a, e.sqrt(z))
    return small, e.fma(s * z, e.poly(z, e.p.poly["asin"]), s)


def _asin(e: _E, x: _V) -> _V:
    small, p = _asin_core(e, e.abs(x))
    r = e.sel(small, p, e.p.pio2[0] - ((p + p) - e.p.pio2[1]))
    return e.copysign(r, x)


def _acos(e: _E, x: _V) -> _V:
    small, p = _asin_core(e, e.abs(x))
    ps = e.copysign(p, x)
    r_small = e.p.pio2[0] - (ps - e.p.pio2[1])
    r_big = e.sel(x > 0.0, p + p, e.p.pi[0] - ((p + p) - e.p.pi[1]))
    return e.sel(small, r_small, r_big)


# ---- erf, erfc: erf = x E(x^2) for |x| < 1; elsewhere through erfc(a) = e^(-a^2) G(a),
# with e^(-a^2) from the double-length a^2 and G = erfcx as per-lane selected
# polynomials: in a - mid on the first pieces, as K(1/a^2)/a on the last one.

def _erfc_core(e: _E, a: _V) -> _V:
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


def _erf(e: _E, x: _V) -> _V:
    a = e.abs(x)
    small = a * e.poly(a * a, e.p.poly["erf"])
    big = 1.0 - _erfc_core(e, e.min(a, e.p.erf_one))
    return _keep_nan(e, e.copysign(e.sel(a < 1.0, small, big), x), x)


def _erfc(e: _E, x: _V) -> _V:
    # x < 0.47: 1 - erf x (erf < 1/2 there, so no cancellation); beyond: erfc directly;
    # x <= -1: 2 - erfc|x|. float32 goes through float64 (3.8 ulp in float32 arithmetic).
    if e.dtype == "float32":
        return _in_f64(e, _erfc, x)
    a = e.abs(x)
    ec = _erfc_core(e, e.max(a, 0.47))
    erf_small = e.copysign(a * e.poly(a * a, e.p.poly["erf"]), x)
    r = e.sel(x < 0.47, e.sel(x > -1.0, 1.0 - erf_small, 2.0 - ec), ec)
    return _keep_nan(e, r, x)


_IMPLS: dict[str, tuple[int, Callable[..., _V]]] = {
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

_PARAMS = {dt: _P(dt) for dt in ("float32", "float64")}


def emit(builder: ir.IRBuilder, name: str, args: list[ir.Value], dtype: str) -> ir.Value:
    """Emit ``name(*args)`` for scalar ``float``/``double`` args; return the result value.

    The function body (``sg.<name>.f32`` or ``.f64``) is defined once per module as an
    ``alwaysinline`` internal function; each call site is one ``call`` to it.

    >>> m = ir.Module(); d = ir.DoubleType()
    >>> fn = ir.Function(m, ir.FunctionType(d, [d]), "f")
    >>> b = ir.IRBuilder(fn.append_basic_block())
    >>> _ = b.ret(emit(b, "exp", [fn.args[0]], "float64"))
    >>> "sg.exp.f64" in m.globals
    True
    """
    if name not in _IMPLS or dtype not in _PARAMS:
        raise KeyError(f"vmath has no {name!r} for {dtype!r}; it has {sorted(SUPPORTED)} "
                       "for float32 and float64")
    arity, impl = _IMPLS[name]
    if len(args) != arity:
        raise ValueError(f"vmath {name} takes {arity} arguments, got {len(args)}")
    module = builder.module
    fname = f"sg.{name}.{'f32' if dtype == 'float32' else 'f64'}"
    fn = module.globals.get(fname)
    if fn is None:
        ft = ir.DoubleType() if dtype == "float64" else ir.FloatType()
        fn = ir.Function(module, ir.FunctionType(ft, [ft] * arity), fname)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        e = _E(ir.IRBuilder(fn.append_basic_block("entry")), dtype)
        e.b.ret(impl(e, *(_V(e, a) for a in fn.args)).v)
    return builder.call(fn, args)
