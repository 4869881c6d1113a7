"""Every scalar op of ``SCALAR_OPS`` (and its operator and helper spellings) against numpy:
values on every dtype and many shapes (broadcast, rank-padded, 0-size, strided), result
dtypes (numpy 2 / NEP 50), special values, gradients, and the errors people will meet."""
from __future__ import annotations

import math
import operator

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.elemwise import SCALAR_OPS
from symgraph.types import DTYPES, INTS
from tests.checks import check_grad, check_values, non_contiguous
from tests.conftest import random_array


def numpy_like(f):
    """``f`` as the reference, with our one documented deviation from numpy: where numpy
    computes in float16 (transcendentals of bool/int8/uint8) we compute in float32."""
    def ref(*xs):
        out = np.asarray(f(*xs))
        if out.dtype == np.float16:
            out = np.asarray(f(*(np.asarray(x).astype(np.float32) for x in xs)))
        return out
    return ref


def _in_exp_dtype(f):
    """A transcendental numpy lacks, computed in the float type numpy's exp would use."""
    return lambda x: f(x.astype(np.exp(np.zeros(0, x.dtype)).dtype))


_erf = np.vectorize(math.erf, otypes=[float])
_erfc = np.vectorize(math.erfc, otypes=[float])

# name -> (numpy reference, value domain of each input)
UNARY = {
    **{n: (getattr(np, n), (-3, 3)) for n in (
        "exp", "exp2", "expm1", "arctan", "sinh", "cosh", "tanh", "arcsinh", "square",
        "sign", "floor", "ceil", "round", "trunc", "isnan", "isinf", "isfinite", "invert")},
    **{n: (getattr(np, n), (0.1, 5)) for n in ("log", "log2", "log10")},
    **{n: (getattr(np, n), (-0.95, 0.95)) for n in ("arcsin", "arccos", "arctanh")},
    **{n: (getattr(np, n), (-1.2, 1.2)) for n in ("sin", "cos", "tan")},
    "log1p": (np.log1p, (-0.9, 5)),
    "sqrt": (np.sqrt, (0, 5)),
    "arccosh": (np.arccosh, (1, 5)),
    "neg": (np.negative, (-3, 3)),
    "abs": (np.abs, (-3, 3)),
    "erf": (_in_exp_dtype(lambda x: _erf(x).astype(x.dtype)), (-2, 2)),
    "erfc": (_in_exp_dtype(lambda x: _erfc(x).astype(x.dtype)), (-2, 2)),
    "sigmoid": (_in_exp_dtype(lambda x: 1 / (1 + np.exp(-x))), (-3, 3)),
    "softplus": (_in_exp_dtype(lambda x: np.logaddexp(0, x)), (-3, 3)),
    "rsqrt": (_in_exp_dtype(lambda x: 1 / np.sqrt(x)), (0.1, 5)),
    "log1mexp": (_in_exp_dtype(lambda x: np.log(-np.expm1(x))), (-0.6, -0.01)),
    "xlogx": (_in_exp_dtype(lambda x: np.where(x == 0, 0, x * np.log(np.where(x == 0, 1, x)))),
              (0, 5)),
    # reciprocal is 1 / x (as in Theano): numpy's integer reciprocal truncates to 0
    "reciprocal": (lambda x: np.true_divide(1, x), (0.2, 3)),
}
BINARY = {
    **{n: (getattr(np, n), (-3, 3), (-3, 3)) for n in (
        "add", "multiply", "arctan2", "maximum", "minimum", "less", "less_equal", "greater",
        "greater_equal", "equal", "not_equal", "bitwise_and", "bitwise_or", "bitwise_xor")},
    "sub": (np.subtract, (-3, 3), (-3, 3)),
    "true_divide": (np.true_divide, (-3, 3), (0.5, 3)),
    "floor_divide": (np.floor_divide, (-5, 5), (1, 3)),
    "mod": (np.mod, (-5, 5), (1, 3)),
    "power": (np.power, (0.5, 3), (0, 3)),  # numpy refuses negative integer exponents
}
BINARY["mul"] = BINARY.pop("multiply")
OPS = {**UNARY, **BINARY}
NAMES = sorted(OPS)
BINARY_NAMES = sorted(BINARY)
LOGIC = {"invert", "bitwise_and", "bitwise_or", "bitwise_xor"}
# numpy allows some of these on bools (True + True is True); we refuse them, on purpose
BOOL_ARITH = {"add", "sub", "mul", "floor_divide", "mod", "power", "neg", "abs", "sign",
              "square"}
TRANSCENDENTAL = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin",
                  "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                  "arcsinh", "arccosh", "arctanh", "erf", "erfc", "sigmoid", "softplus",
                  "rsqrt", "arctan2", "log1mexp", "xlogx"]


def sym(name):
    return getattr(sg, name)


def ref(name):
    return numpy_like(OPS[name][0])


def inputs(rng, name, dtypes, shapes):
    return [random_array(rng, d, s, *dom) for d, s, dom in zip(dtypes, shapes, OPS[name][1:])]


def expected_error(name, dtypes):
    """The error we must raise for ``name`` on ``dtypes``: bool arithmetic is refused, and
    whatever numpy refuses (logic on floats ...) we refuse as well."""
    if name in BOOL_ARITH and all(d == "bool" for d in dtypes):
        return TypeError
    try:
        with np.errstate(all="ignore"):
            OPS[name][0](*(np.ones(1, d) for d in dtypes))
    except TypeError:
        return TypeError
    return None


def check_op_dtypes(rng, name, dtypes):
    err = expected_error(name, dtypes)
    if err is None:
        check_values(sym(name), ref(name), inputs(rng, name, dtypes, [(3, 4)] * len(dtypes)))
    else:
        with pytest.raises(err, match=name if name not in BOOL_ARITH else "bool|" + name):
            sym(name)(*(sg.matrix(dtype=d) for d in dtypes))


def test_every_scalar_op_is_tested():
    assert set(OPS) | {"where", "second"} == set(SCALAR_OPS)


def default_dtype(name):
    return "int32" if name in LOGIC else "float64"


# ------------------------------------------------------------------ values and dtypes
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_each_dtype(name, dtype, rng):
    check_op_dtypes(rng, name, [dtype] * (len(OPS[name]) - 1))


@pytest.mark.parametrize("d2", DTYPES)
@pytest.mark.parametrize("d1", DTYPES)
@pytest.mark.parametrize("name", BINARY_NAMES)
def test_mixed_dtypes(name, d1, d2, rng):
    check_op_dtypes(rng, name, [d1, d2])


@pytest.mark.parametrize("name", TRANSCENDENTAL)
@pytest.mark.parametrize("dtype", DTYPES)
def test_transcendentals_of_small_ints_are_float32(name, dtype):
    """The documented deviation: numpy gives float16 exactly for bool/int8/uint8 inputs;
    we have no float16 and give float32. Every other dtype is numpy's."""
    numpy_dtype = np.sqrt(np.zeros(1, dtype)).dtype.name
    assert (numpy_dtype == "float16") == (dtype in ("bool", "int8", "uint8"))
    args = [sg.vector(dtype=dtype)] * (len(OPS[name]) - 1)
    assert sym(name)(*args).dtype == ("float32" if numpy_dtype == "float16" else numpy_dtype)


SHAPES = [(), (7,), (3, 4), (2, 3, 4), (0,), (3, 0), (1, 1)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_shapes(name, shape, rng):
    n = len(OPS[name]) - 1
    check_values(sym(name), ref(name), inputs(rng, name, [default_dtype(name)] * n, [shape] * n))


BROADCAST = [((3, 4), (1, 4)), ((3, 4), (3, 1)), ((1, 4), (3, 1)), ((3, 4), ()),
             ((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)), ((2, 1, 4), (3, 1)), ((0, 4), (1, 4)),
             ((0, 4), ()), ((5,), (0, 1))]


@pytest.mark.parametrize("shapes", BROADCAST + [s[::-1] for s in BROADCAST], ids=str)
@pytest.mark.parametrize("name", BINARY_NAMES)
def test_broadcasting(name, shapes, rng):
    """Static-1 axes broadcast; lower ranks get leading broadcast axes (numpy's rule)."""
    dt = default_dtype(name)
    check_values(sym(name), ref(name), inputs(rng, name, [dt, dt], shapes))


@pytest.mark.parametrize("layout", ["strided", "fortran", "mixed"])
@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous(name, layout, rng):
    n = len(OPS[name]) - 1
    xs = inputs(rng, name, [default_dtype(name)] * n, [(3, 4)] * n)
    xs = [non_contiguous(x) if layout == "strided" or (layout == "mixed" and i == 0)
          else np.asfortranarray(x) for i, x in enumerate(xs)]
    check_values(sym(name), ref(name), xs)


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(set(NAMES) - LOGIC))
def test_nan_inf_and_signed_zero(name, dtype):
    """Every pair of special values gives what numpy gives (NaN where numpy has NaN)."""
    if name in UNARY:
        xs = [SPECIALS.astype(dtype)]
    else:
        a, b = np.meshgrid(SPECIALS, SPECIALS)
        xs = [a.astype(dtype), b.astype(dtype)]
    check_values(sym(name), ref(name), xs)


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("name", ["floor_divide", "mod"])
def test_integer_division_by_zero_gives_zero(name, dtype, rand):
    """As numpy (which warns); native code must not trap."""
    x, y = rand(dtype, (4, 5), -5, 5), rand(dtype, (4, 5), -2, 2)
    y[0] = 0
    check_values(sym(name), ref(name), [x, y])


def test_integer_power_of_negative_exponent_truncates():
    """numpy raises; the IR defines C-like truncation toward zero (1, -1 or 0)."""
    b = np.array([2, 1, -1, -1, 0, 3], "int32")
    e = np.array([-1, -3, -3, -2, 2, -2], "int32")
    x, y = sg.ivector("x"), sg.ivector("y")
    f = sg.function([x, y], x ** y)
    np.testing.assert_array_equal(f(b, e), [0, 1, -1, 1, 0, 0])


# ------------------------------------------------------------------ where, second, helpers
@pytest.mark.parametrize("db", DTYPES)
@pytest.mark.parametrize("da", DTYPES)
def test_where_dtypes(da, db, rand):
    c, a, b = rand("bool", (3, 4)), rand(da, (3, 4)), rand(db, (3, 4))
    check_values(sg.where, np.where, [c, a, b])


@pytest.mark.parametrize("shapes", [((3, 4), (1, 4), ()), ((3, 1), (1, 4), (3, 4)),
                                    ((4,), (3, 4), (3, 1)), ((0, 4), (1, 4), ())], ids=str)
def test_where_broadcasts(shapes, rand):
    c, a, b = rand("bool", shapes[0]), rand("float64", shapes[1]), rand("float32", shapes[2])
    check_values(sg.where, np.where, [c, a, b])
    check_values(sg.where, np.where, [non_contiguous(c), a, b])


def test_where_condition_may_be_numeric_and_switch_is_where(rand):
    c, a = rand("int8", (3, 4), -1, 1), rand("float32", (3, 4))
    check_values(sg.where, np.where, [c, a, -a])
    check_values(lambda c, a: sg.switch(c, a, 0.5), lambda c, a: np.where(c, a, 0.5), [c, a])


@pytest.mark.parametrize("dtype", DTYPES)
def test_second_fill_zeros_ones_like(dtype, rand):
    x = rand(dtype, (3, 4))
    check_values(sg.second, lambda x, y: np.broadcast_to(y, x.shape), [x, rand("float32", (1, 4))])
    # the fill value is a weak scalar: it takes x's dtype where it can, as x + 2 would
    check_values(lambda x: sg.fill(x, 2), lambda x: np.full(x.shape, 2, np.result_type(x, 2)),
                 [x])
    check_values(sg.zeros_like, np.zeros_like, [x])
    check_values(sg.ones_like, np.ones_like, [x])
    check_values(lambda x: sg.zeros_like(x, "float32"),
                 lambda x: np.zeros_like(x, "float32"), [x])


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8", "float32", "float64"])
def test_clip_and_relu(dtype, rand):
    x = rand(dtype, (3, 4))
    check_values(lambda x: sg.clip(x, 1, 2), lambda x: np.clip(x, 1, 2), [x])
    check_values(lambda x: x.clip(0, 2), lambda x: np.clip(x, 0, 2), [x])
    check_values(lambda x: sg.clip(x, 0.5, 2.5), lambda x: np.clip(x, 0.5, 2.5), [x])
    check_values(sg.relu, lambda x: np.maximum(x, 0), [x])
    lo, hi = rand(dtype, (1, 4), -3, 0), rand(dtype, (3, 1), 0, 3)
    check_values(sg.clip, np.clip, [x, lo, hi])


@pytest.mark.parametrize("to", DTYPES)
@pytest.mark.parametrize("frm", DTYPES)
def test_cast_every_pair(frm, to, rand):
    # [0, 100] holds in every dtype, so no cast here is undefined behaviour in C
    x = rand(frm, (3, 4), 0, 100)
    check_values(lambda x: sg.cast(x, to), lambda x: x.astype(to), [x])
    check_values(lambda x: x.astype(np.dtype(to)), lambda x: x.astype(to), [non_contiguous(x)])


def test_cast_to_the_same_dtype_is_the_variable_and_bad_dtypes_are_refused():
    x = sg.fvector("x")
    assert sg.cast(x, "float32") is x
    for bad in ("float16", "complex64", "uint64", "banana"):
        with pytest.raises(TypeError, match="dtype|not"):
            x.astype(bad)


# ------------------------------------------------------------------ operators, NEP 50
BINOPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
          operator.mod, operator.pow, operator.lt, operator.le, operator.gt, operator.ge,
          operator.eq, operator.ne]
BITOPS = [operator.and_, operator.or_, operator.xor]


@pytest.mark.parametrize("op", BINOPS + BITOPS, ids=lambda o: o.__name__)
def test_operators(op, rand):
    """Each operator, with a tensor, a Python scalar or a numpy value on either side."""
    dt = "int32" if op in BITOPS else "float64"
    a, b = rand(dt, (3, 4), 0.5, 3), rand(dt, (3, 4), 0.5, 3)
    two = 2 if op in BITOPS else 2.5
    check_values(op, op, [a, b])
    check_values(lambda x: op(x, two), lambda x: op(x, two), [a])
    check_values(lambda x: op(two, x), lambda x: op(two, x), [a])
    for v in (np.ones(4, dt), np.asarray(3, dt), np.array(3, dt)[()]):
        check_values(lambda x: op(v, x), lambda x: op(v, x), [a])
        check_values(lambda x: op(x, v), lambda x: op(x, v), [a])


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "uint8"])
def test_unary_operators(dtype, rand):
    x = rand(dtype, (3, 4))
    check_values(operator.invert, operator.invert, [x])
    if dtype != "bool":
        for op in (operator.neg, operator.pos, abs):
            check_values(op, op, [x])


def test_pos_is_identity():
    x = sg.dvector()
    assert +x is x


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e300 into float32
@pytest.mark.parametrize("scalar", [True, 1, -1, 2, 300, 2 ** 40, 0.1, 1.5, 1e300],
                         ids=repr)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", [operator.add, operator.mul, operator.truediv, np.maximum,
                                operator.lt, operator.eq], ids=lambda o: o.__name__)
def test_python_scalars_are_weak(op, dtype, scalar, rand):
    """NEP 50: a Python scalar takes the tensor's dtype if its kind allows (f32 * 0.1 is
    float32, i32 * 0.1 float64); an int that does not fit is an OverflowError for
    arithmetic and exact for comparisons and true division, as in numpy 2."""
    x = rand(dtype, (3, 4), 0, 3)
    sym_op = {np.maximum: sg.maximum}.get(op, op)
    try:
        with np.errstate(all="ignore"):
            op(x, scalar)
    except (OverflowError, TypeError) as e:
        with pytest.raises(type(e)):
            sym_op(sg.matrix(dtype=dtype), scalar)
        return
    if dtype == "bool" and isinstance(scalar, bool) and op in (operator.add, operator.mul):
        with pytest.raises(TypeError, match="bool"):
            sym_op(sg.matrix(dtype=dtype), scalar)
        return
    check_values(lambda v: sym_op(v, scalar), lambda v: op(v, scalar), [x])
    check_values(lambda v: sym_op(scalar, v), lambda v: op(scalar, v), [x])


def test_nep50_examples():
    assert (sg.fvector() * 0.1).dtype == "float32"
    assert (sg.ivector() * 0.1).dtype == "float64"
    assert (sg.bvector() + 1).dtype == "int8"
    assert (sg.fvector() * np.float64(0.1)).dtype == "float64"  # numpy scalars are strong
    with pytest.raises(OverflowError, match="300.*int8"):
        sg.bvector() + 300


@pytest.mark.parametrize("name", sorted(BOOL_ARITH))
def test_bool_arithmetic_is_a_clear_type_error(name):
    b = sg.vector(dtype="bool")
    with pytest.raises(TypeError, match=f"{name} of bool.*astype"):
        sym(name)(*[b] * (len(OPS[name]) - 1))


@pytest.mark.parametrize("op", [operator.add, operator.mul, operator.sub, operator.neg,
                                abs], ids=lambda o: o.__name__)
def test_bool_operators_are_refused(op):
    b = sg.vector(dtype="bool")
    with pytest.raises(TypeError, match="bool"):
        op(b, b) if op not in (operator.neg, abs) else op(b)
    # one bool operand with a number is fine: it promotes, as in numpy
    assert (b + sg.ivector()).dtype == "int32"


def test_run_time_broadcast_of_a_non_static_axis_is_a_clear_error():
    x, y = sg.dmatrix("x"), sg.dmatrix("y")
    f = sg.function([x, y], x + y)
    with pytest.raises(ValueError, match=r"(?s)\(3, 4\).*\(1, 4\).*broadcast"):
        f(np.ones((3, 4)), np.ones((1, 4)))
    # the same data with the axis declared broadcastable works
    r = sg.drow("r")
    np.testing.assert_array_equal(sg.function([x, r], x + r)(np.ones((3, 4)), np.ones((1, 4))),
                                  np.full((3, 4), 2.0))


def test_static_shape_mismatch_is_a_build_time_error():
    a, b = sg.tensor("a", "float64", (3, None)), sg.tensor("b", "float64", (4, None))
    with pytest.raises(ValueError, match="axis 0"):
        a + b
    assert (a + sg.dmatrix()).type.shape == (3, None)  # the static size wins
    assert (a + sg.tensor("c", "float64", (1, 5))).type.shape == (3, 5)


def test_wrong_arity_is_a_type_error():
    with pytest.raises(TypeError, match="takes 2 inputs"):
        sg.add(sg.dvector())


# ------------------------------------------------------------------ gradients
def _signed(rng, shape, lo, hi):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def _off_integer(rng, shape):
    """Values whose fractional part is in (0.1, 0.4): away from floor/round's jumps."""
    return rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.4, shape)


def _ratio_off_integer(rng, shape):
    y = rng.uniform(1, 2, shape)
    return [y * _off_integer(rng, shape), y]


def _untied(rng, shape):
    x = rng.uniform(-2, 2, shape)
    return [x, x + _signed(rng, shape, 0.2, 1)]


GRAD_POINTS = {
    **{n: (lambda rng, s: [_signed(rng, s, 0.2, 2)]) for n in ("abs", "sign", "reciprocal")},
    **{n: (lambda rng, s: [_off_integer(rng, s)]) for n in ("floor", "ceil", "round",
                                                             "trunc")},
    **{n: _ratio_off_integer for n in ("floor_divide", "mod")},
    **{n: _untied for n in ("maximum", "minimum")},
    "power": lambda rng, s: [rng.uniform(0.5, 2, s), rng.uniform(-2, 2, s)],
    "arctan2": lambda rng, s: [_signed(rng, s, 0.3, 2), _signed(rng, s, 0.3, 2)],
    "arccosh": lambda rng, s: [rng.uniform(1.2, 4, s)],
    "sqrt": lambda rng, s: [rng.uniform(0.2, 4, s)],
}
NO_GRAD = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "isnan",
           "isinf", "isfinite"} | LOGIC
GRAD_NAMES = sorted(set(OPS) - NO_GRAD)


def grad_points(rng, name, shape=(3, 4)):
    if name in GRAD_POINTS:
        return GRAD_POINTS[name](rng, shape)
    return [rng.uniform(*dom, shape) for dom in OPS[name][1:]]


@pytest.mark.parametrize("name", GRAD_NAMES)
def test_grad(name, rng):
    check_grad(sym(name), grad_points(rng, name))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "true_divide", "power", "arctan2"])
def test_grad_through_broadcasting(name, rng):
    """A broadcast input's gradient is summed over the axes it was broadcast on."""
    x, y = grad_points(rng, name, (3, 4))
    check_grad(lambda a, b: sym(name)(a, b), [x, y[0]])                     # rank padding
    check_grad(lambda a, b: sym(name)(a, b.dimshuffle(0, "x")), [x, y[:, 0]])
    check_grad(lambda a, b: sym(name)(b.dimshuffle("x", 0), a), [x, y[0]])
    check_grad(lambda a, b: sym(name)(a, b), [x, y[0, 0]])                  # scalar


def test_grad_of_non_differentiable_ops_is_disconnected():
    x = sg.dvector("x")
    for cost in ((x < 1).astype("float64").sum(), sg.isnan(x).astype("float64").sum()):
        with pytest.raises(sg.DisconnectedInputError):
            sg.grad(cost, x)
        g = sg.grad(cost, x, disconnected_inputs="ignore")
        np.testing.assert_array_equal(g.eval({x: np.ones(3)}), np.zeros(3))


def test_grad_of_where_clip_relu_second(rng):
    c = rng.random((3, 4)) < 0.5
    check_grad(lambda a, b: sg.where(c, a, b), [rng.normal(size=(3, 4)), rng.normal(size=4)])
    x = _signed(rng, (3, 4), 0.2, 3)
    x[np.abs(x - 1) < 0.1] = 0.5
    check_grad(lambda a: sg.clip(a, -1, 1), [x])
    check_grad(lambda a, lo, hi: sg.clip(a, lo, hi.dimshuffle(0, "x")),
               [x, np.full(4, -1.0), np.full(3, 1.0)])
    check_grad(sg.relu, [x])
    check_grad(lambda a, b: sg.second(a, b) * a, [x, x[0]])


def test_grad_of_cast_is_cast_back():
    x, w = sg.dvector("x"), sg.fvector("w")
    g = sg.grad((x.astype("float32") * w).sum(), x)
    assert g.dtype == "float64"
    np.testing.assert_array_equal(g.eval({x: np.ones(2), w: np.array([2, 3], "float32")}),
                                  [2.0, 3.0])


# ---- regressions found by a differential fuzzer -----------------------------------------
@pytest.mark.parametrize("name", ["arcsin", "arccos", "arctan", "arcsinh", "arccosh",
                                  "arctanh", "erf", "erfc", "sqrt", "log", "exp", "tanh"])
def test_gradients_pass_ops_of_bool_inputs(name):
    """The op of a bool input has no gradient to give it, and computing the rule in bool
    arithmetic failed ("mul of bool tensors")."""
    x = sg.dvector("x")
    c = getattr(sg, name)(x > 0)                  # a constant as far as x is concerned
    g = sg.function([x], sg.grad((x * c).sum(), x))
    a = np.array([0.5, -0.5])
    np.testing.assert_allclose(g(a), sg.function([x], c.astype("float64"))(a), rtol=1e-15)


def test_powers_of_bool_have_numpys_dtypes():
    """numpy's operator squares ``b ** 2`` in int8, where ``np.power(b, 2)`` and ``b ** 3``
    give int64; ``b ** 2`` was rewritten to a square of bool, which does not compile.
    (Two bool tensors are refused, as every arithmetic of bools: see above.)"""
    b = sg.vector("b", dtype="bool")
    a = np.array([True, False])
    for expr, want in [(lambda t: t ** 2, a ** 2), (lambda t: t ** 3, a ** 3),
                       (lambda t: t ** 0.5, a ** 0.5), (lambda t: sg.power(t, 2),
                                                        np.power(a, 2))]:
        got = sg.function([b], expr(b))(a)
        assert got.dtype == want.dtype and expr(b).dtype == want.dtype.name
        np.testing.assert_array_equal(got, want)


def test_gradient_constants_take_the_graphs_precision():
    """``x ** np.float32(c)`` in a float64 graph: the gradient's ``c - 1`` is float64."""
    x = sg.dvector("x")
    c = np.float32(0.3)
    g = sg.function([x], sg.grad((x ** c).sum(), x))(np.array([2.0, 5.0]))
    exact = float(c) * np.array([2.0, 5.0]) ** (float(c) - 1)
    np.testing.assert_allclose(g, exact, rtol=1e-15)


def test_a_python_scalar_written_many_times_is_one_constant():
    """``y * 1.0001`` in a loop makes one weak constant, not one per step for the merge
    pass to find equal; constants that compare equal but differ stay apart (-0.0 and
    0.0, True and 1), the dtype still follows the other operand and sg.config.floatX,
    and an out-of-range int still fails each time."""
    x, i8 = sg.dvector("x"), sg.bvector("i")
    y = x
    for _ in range(50):
        y = y * 1.0001
    consts = {id(n.inputs[1]) for n in sg.graph.toposort([y])}
    assert len(consts) == 1
    assert (x * 0.0).owner.inputs[1] is not (x * -0.0).owner.inputs[1]
    assert (x + True).owner.inputs[1] is not (x + 1).owner.inputs[1]
    assert (sg.fvector("f") * 2.0).owner.inputs[1].dtype == "float32"
    assert (x * 2.0).owner.inputs[1].dtype == "float64"
    with sg.config.change(floatX="float32"):
        assert (sg.tanh(0.5)).dtype == "float32"
    with sg.config.change(floatX="float64"):
        assert (sg.tanh(0.5)).dtype == "float64"
    for _ in range(2):
        with pytest.raises(OverflowError):
            i8 + 300


def test_output_types_worked_out_once_still_check_every_node():
    # make_node keeps the output type per op and input types: each node still gets
    # fresh variables, and inputs that do not broadcast fail every time
    a, b = sg.TensorType("float32", (3, None))("a"), sg.TensorType("float64", (1, 4))("b")
    first, second = a + b, a + b
    assert first is not second and first.type == second.type
    assert first.type.dtype == "float64" and first.type.shape == (3, 4)
    c = sg.TensorType("float32", (2, 5))("c")
    for _ in range(2):
        with pytest.raises(ValueError, match="shapes do not broadcast on axis 0"):
            a + c
    with pytest.raises(TypeError, match="one rank"):
        first.owner.op.make_node(a, sg.fvector("v"))


def test_an_unpickled_elemwise_starts_with_empty_tables():
    # its kernels and output types are worked out again, also for a state pickled before
    # the type table existed
    import pickle
    x = sg.dvector("x")
    op = (x * 2).owner.op
    again = pickle.loads(pickle.dumps(op))
    assert again == op and again._types == {} and again._kernels == {}
    old = type(op).__new__(type(op))
    old.__setstate__({"scalar": op.scalar, "_kernels": {}})
    assert old.make_node(x, x).outputs[0].type == (x * 2).type
