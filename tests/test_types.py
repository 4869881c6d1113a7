"""Types: TensorType, the constructors (Theano's names), floatX, constant(), and dtype
promotion against numpy 2."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg
from symgraph.types import DTYPES, TensorType, as_dtype, result_dtype

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ TensorType
@pytest.mark.parametrize("spelling,name", [(np.float32, "float32"), ("f4", "float32"),
                                           (float, "float64"), (int, "int64"), (bool, "bool"),
                                           ("uint8", "uint8"), (np.dtype("int16"), "int16")])
def test_dtype_spellings(spelling, name):
    assert as_dtype(spelling) == name
    assert TensorType(spelling, ()).dtype == name


@pytest.mark.parametrize("bad", ["float16", "complex64", "uint64", "uint32", object, "nope"])
def test_unsupported_dtypes(bad):
    with pytest.raises(TypeError, match="supported"):
        TensorType(bad, ())


def test_tensor_type_basics():
    t = TensorType("float32", (None, 1, 3))
    assert t.ndim == 3 and t.broadcastable == (False, True, False)
    assert t == TensorType(np.float32, [None, 1, np.int64(3)])
    assert hash(t) == hash(TensorType("float32", (None, 1, 3)))
    assert t != TensorType("float64", (None, 1, 3)) and t != TensorType("float32", (None, 1))
    assert str(t) == "float32(?, 1, 3)" and repr(t) == "TensorType(float32, (?, 1, 3))"
    assert str(TensorType("int8", (4,))) == "int8(4,)" and str(TensorType("bool", ())) == "bool()"
    v = t("v")
    assert v.type == t and v.name == "v" and v.dtype == "float32" and v.ndim == 3
    assert t.with_dtype("int8") == TensorType("int8", (None, 1, 3))
    assert t.accepts_shape((7, 1, 3)) and not t.accepts_shape((7, 2, 3))
    assert not t.accepts_shape((1, 3))


@pytest.mark.parametrize("shape", [(-1,), (2.0,), ("a",), (None, -3)])
def test_bad_static_shapes(shape):
    with pytest.raises(ValueError, match="shape"):
        TensorType("float32", shape)


def test_filter():
    t = TensorType("float64", (None, 2))
    out = t.filter([[1, 2]])
    assert out.dtype == np.float64 and out.shape == (1, 2)
    assert t.filter(np.ones((3, 2), "float32")).dtype == np.float64
    with pytest.raises(ValueError, match=r"expected shape \(\?, 2\)"):
        t.filter(np.ones((3, 3)))
    with pytest.raises(TypeError, match="rank 2"):
        t.filter(np.ones(2))
    b = TensorType("bool", (None,))
    assert b.filter([True, False]).dtype == np.bool_
    with pytest.raises(TypeError, match="bool"):
        b.filter([1, 0])
    with pytest.raises(TypeError, match="int8"):
        TensorType("int8", ()).filter(np.int16(3))    # numpy ints are strong: unsafe


# ------------------------------------------------------------------ constructors
KINDS = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
         "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4}
PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
            "d": "float64"}


@pytest.mark.parametrize("prefix,kind", list(itertools.product(PREFIXES, KINDS)))
def test_theano_constructors(prefix, kind):
    v = getattr(sg, prefix + kind)("v")
    assert v.type == TensorType(PREFIXES[prefix], KINDS[kind]) and v.name == "v"
    assert getattr(sg, prefix + kind)().name is None


@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_unprefixed_constructors_use_floatx(kind, floatx):
    with sg.config.change(floatX=floatx):
        assert getattr(sg, kind)("v").type == TensorType(floatx, KINDS[kind])
        assert getattr(sg, kind)("v", dtype="int8").dtype == "int8"
        assert sg.tensor("t", shape=(2, None)).type == TensorType(floatx, (2, None))


def test_config_change_restores_and_validates():
    old = sg.config.floatX
    with pytest.raises(ValueError, match="boom"):
        with sg.config.change(floatX="float64"):
            assert sg.constant(1.5).dtype == "float64"
            assert sg.shared(1.5).dtype == "float64"
            raise ValueError("boom")
    assert sg.config.floatX == old
    with pytest.raises(ValueError, match="floatX"):
        sg.config.floatX = "float16"
    with pytest.raises(ValueError, match="backend"):
        sg.config.backend = "tpu"


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60)


def test_floatx_from_the_environment():
    code = ("import symgraph as sg; "
            "print(sg.config.floatX, sg.vector().dtype, sg.constant(.5).dtype)")
    r = _run(code, SYMGRAPH_FLOATX="float64")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float64"] * 3
    r = _run(code, SYMGRAPH_FLOATX="float16")     # a bad setting warns, never breaks import
    assert r.returncode == 0 and "SYMGRAPH_FLOATX='float16'" in r.stderr
    assert r.stdout.split() == ["float32"] * 3


# ------------------------------------------------------------------ constant()
@pytest.mark.parametrize("value,dtype", [(2, "int64"), (True, "bool"), ([1, 2], "int64"),
                                         (np.int8(3), "int8"), (np.float32(1.5), "float32"),
                                         (np.arange(3, dtype="uint8"), "uint8"),
                                         (np.float64(1.5), "float64"),
                                         ([[True, False]], "bool")])
def test_constant_dtypes(value, dtype):
    c = sg.constant(value)
    assert c.dtype == dtype and c.type.shape == np.shape(value)
    np.testing.assert_array_equal(c.data, np.asarray(value))


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_python_floats_become_floatx(floatx):
    with sg.config.change(floatX=floatx):
        assert sg.constant(2.5).dtype == floatx
        assert sg.constant([1.0, 2.0]).dtype == floatx
        assert sg.constant(2.5, dtype="float64").dtype == "float64"


def test_constant_errors_and_immutability():
    with pytest.raises(TypeError, match="does not fit"):
        sg.constant(300, dtype="int8")
    with pytest.raises(TypeError, match="does not fit"):
        sg.constant(1.5, dtype="int32")
    with pytest.raises(TypeError, match="symbolic"):
        sg.constant(sg.dvector())
    with pytest.raises(TypeError):
        sg.constant(object())
    with pytest.raises(TypeError, match="supported"):
        sg.constant(np.ones(2, "complex64"))
    c = sg.constant(np.arange(3.0))
    with pytest.raises(ValueError):
        c.data[0] = 5
    assert sg.constant(1.0, dtype="float64").data.shape == ()
    assert repr(sg.constant(2)) == "2" and repr(sg.constant(7, name="seven")) == "seven"


def test_constants_take_part_in_graphs():
    x = sg.dvector("x")
    c = sg.constant(np.array([1.0, 2.0]))
    np.testing.assert_array_equal((x * c + c.sum()).eval({x: np.ones(2)}), [4.0, 5.0])


# ------------------------------------------------------------------ promotion
@pytest.mark.parametrize("a,b", list(itertools.product(DTYPES, DTYPES)))
def test_promotion_of_two_dtypes_is_numpys(a, b):
    assert result_dtype(a, b) == np.result_type(a, b).name
    assert sg.maximum(sg.tensor("x", a), sg.tensor("y", b)).dtype == np.result_type(a, b)


@pytest.mark.parametrize("scalar", [True, 0, -1, 7, 2.5])
@pytest.mark.parametrize("a", DTYPES)
def test_promotion_with_weak_python_scalars_is_numpys(a, scalar):
    """NEP 50: the dtype numpy 2 gives an array of ``a`` combined with ``scalar``."""
    try:
        want = np.maximum(np.zeros(1, a), scalar).dtype
    except OverflowError:                          # uint8 and -1
        with pytest.raises(OverflowError):
            sg.maximum(sg.tensor("x", a), scalar)
        return
    assert result_dtype(a, scalar) == want.name
    assert sg.maximum(sg.tensor("x", a), scalar).dtype == want.name
    assert sg.maximum(scalar, sg.tensor("x", a)).dtype == want.name


def test_promotion_of_three_and_of_scalars_alone():
    assert result_dtype("int8", "uint8", "float32") == "float32"
    assert result_dtype(1, 2.0) == "float64"
    assert result_dtype() == "float64"
