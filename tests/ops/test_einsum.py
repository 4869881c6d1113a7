"""einsum against numpy on every backend: the contractions a layer writes (matrix
products, batched, attention, traces, outer products, broadcasting '...'), implicit
outputs, several operands, dtypes, gradients, the ops it lowers onto, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort
from symgraph.ops.blas import Dot, MatMul
from tests.checks import check_grad, check_values, non_contiguous

CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bi,ij->bj", [(2, 3), (3, 4)]), ("i,i->", [(3,), (3,)]), ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]), ("ij->i", [(2, 3)]), ("i,j->ij", [(2,), (3,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...ij,jk->...ik", [(2, 3, 4), (4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("bii->b", [(2, 3, 3)]),
    ("ij,jk", [(2, 3), (3, 4)]), ("ba", [(2, 3)]), ("ijk,jkl->il", [(2, 3, 4), (3, 4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("bi,bi->b", [(2, 3), (2, 3)]),
    ("bi,bi->bi", [(2, 3), (2, 3)]), ("ij,ij->", [(2, 3), (2, 3)]),
    ("i,ij->j", [(3,), (3, 4)]), ("ij,j->i", [(2, 3), (3,)]),
    ("bi,bij->bj", [(2, 3), (2, 3, 4)]), ("bij,bj->bi", [(2, 3, 4), (2, 4)]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]), ("bik,bjk->bij", [(2, 3, 4), (2, 5, 4)]),
    ("ij,kl->ijkl", [(2, 3), (2, 2)]), ("ij,jk->ki", [(0, 3), (3, 4)]),
    ("i...->...", [(3, 2, 2)]), ("...,...", [(2, 3), (3,)]),
    ("ij,j...->i...", [(2, 3), (3, 2, 2)]), ("ij, jk -> ik", [(2, 3), (3, 2)]),
    ("ij,jk->ik", [(2, 1), (3, 4)]),     # a static-1 axis broadcasts, as numpy's
]


@pytest.mark.parametrize("spec,shapes", CASES, ids=[f"{s}-{i}" for i, (s, _) in
                                                    enumerate(CASES)])
def test_values_and_gradients(rand, spec, shapes):
    xs = [rand("float64", s) for s in shapes]
    check_values(lambda *vs: sg.einsum(spec, *vs), lambda *vs: np.einsum(spec, *vs), xs)
    if all(x.size for x in xs):
        check_grad(lambda *vs: sg.einsum(spec, *vs), xs)


DTYPE_CASES = [("ij,jk->ik", [(2, 3), (3, 4)]), ("ij->i", [(2, 3)]),
               ("ij,ij->", [(2, 3), (2, 3)]), ("i,j->ij", [(2,), (3,)]),
               ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)])]


@pytest.mark.parametrize("dtype", ["float32", "int32", "int8", "bool"])
def test_dtypes(rand, dtype):
    for spec, shapes in DTYPE_CASES:
        xs = [rand(dtype, s) for s in shapes]
        check_values(lambda *vs: sg.einsum(spec, *vs), lambda *vs: np.einsum(spec, *vs), xs)


def test_non_contiguous_operands(rand):
    a, b = non_contiguous(rand("float64", (3, 4))), rand("float64", (3, 4)).T
    check_values(lambda u, v: sg.einsum("ij,jk->ik", u, v), lambda u, v: u @ v, [a, b])
    check_values(lambda u, v: sg.einsum("ij,kj->j", u, v),
                 lambda u, v: np.einsum("ij,kj->j", u, v), [a, b.T])


def op_types(out):
    return {type(n.op).__name__ for n in toposort([out])}


def test_lowers_onto_existing_ops():
    a, b, t = sg.dmatrix("a"), sg.dmatrix("b"), sg.dtensor3("t")
    assert sg.einsum("ij,jk->ik", a, b).owner.op == Dot()
    assert sg.einsum("bi,ij->bj", a, b).owner.op == Dot()
    assert sg.einsum("bij,bjk->bik", t, t).owner.op == MatMul()
    assert op_types(sg.einsum("bi,bi->b", a, b)) == {"Elemwise", "Reduce"}
    assert op_types(sg.einsum("ij->ji", a)) == {"DimShuffle"}
    assert sg.einsum("ij->ij", a) is a
    assert "MatMul" in op_types(sg.grad(sg.einsum("bij,bjk->bik", t, t).sum(), t))
    out = sg.einsum("ijk,jkl->il", sg.tensor("x", "float32", (2, 3, 4)),
                    sg.tensor("y", "float32", (3, 4, 5)))
    assert out.type == sg.TensorType("float32", (2, 5))
    assert np.einsum("ij,jk", a, b).owner.op == Dot()


@pytest.mark.parametrize("args,error,match", [
    (("ij,jk->ik", (2, 3)), ValueError, "names 2 operands, got 1"),
    (("ijk->i", (2, 3)), ValueError, "operand 0 has rank 2, its subscripts 'ijk' name 3"),
    (("i->i", (2, 3)), ValueError, r"add '\.\.\.' for the others"),
    (("i1->i", (2,)), ValueError, "may hold only letters"),
    (("ij->k", (2, 3)), ValueError, "output label 'k' must appear in an operand"),
    (("ij->ii", (2, 3)), ValueError, "once in the output"),
    (("...i->i", (2, 3)), ValueError, r"the output needs '\.\.\.'"),
    (("ij,jk->ik", (2, 3), (4, 5)), ValueError, "axis 'j' has size 3 in operand 0 and 4"),
    (("i->i->i", (2,)), ValueError, "more than one output"),
])
def test_errors(args, error, match):
    spec, *shapes = args
    with pytest.raises(error, match=match):
        sg.einsum(spec, *(sg.tensor(None, "float64", s) for s in shapes))


def test_the_sublist_form_is_refused():
    with pytest.raises(TypeError, match="is not supported"):
        sg.einsum(sg.dmatrix(), [0, 1])
