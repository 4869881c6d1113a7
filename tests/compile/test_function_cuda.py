"""Whole functions on the GPU (backend="cuda"): values against the numpy reference, shared
variables resident on the device, CuPy inputs used in place. Skipped without CuPy and a GPU
(the op tests also run on cuda there, through tests.checks.BACKENDS)."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from codegen.cuda import available

ok, why = available()
pytestmark = pytest.mark.skipif(not ok, reason=f"needs CuPy and an NVIDIA GPU: {why}")


def test_fused_expression_matches_the_reference():
    import cupy
    x, y = sg.fvector("x"), sg.fvector("y")
    e = sg.exp(-x * x) * sg.sin(y) + sg.tanh(x * y)
    a, b = (np.random.default_rng(i).standard_normal(1 << 20, dtype=np.float32) for i in (1, 2))
    got = sg.function([x, y], e, backend="cuda")(a, b)
    assert isinstance(got, cupy.ndarray)
    np.testing.assert_allclose(got.get(), sg.function([x, y], e, backend="numpy")(a, b),
                               rtol=2e-6, atol=1e-6)


def test_cupy_inputs_are_used_in_place_and_numpy_inputs_copied():
    import cupy
    x = sg.dmatrix("x")
    f = sg.function([x], (x * 2).sum(axis=0), backend="cuda")
    host = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(f(cupy.asarray(host)).get(), (host * 2).sum(axis=0))
    np.testing.assert_allclose(f(host).get(), (host * 2).sum(axis=0))
    z = sg.fmatrix("z")
    with pytest.raises(TypeError, match="expected dtype float32, got float64"):
        sg.function([z], z * 2, backend="cuda")(cupy.zeros((3, 4)))


def test_training_keeps_shared_variables_on_the_device():
    import cupy
    rng = np.random.default_rng(0)
    data_x = rng.standard_normal((256, 20)).astype("float32")
    data_y = rng.integers(0, 3, 256)

    def train(backend):
        w = sg.shared(np.zeros((20, 3), "float32"), name="w")
        b = sg.shared(np.zeros(3, "float32"), name="b")
        x, y = sg.fmatrix("x"), sg.lvector("y")
        cost = sg.categorical_crossentropy(sg.softmax(sg.dot(x, w) + b), y).mean()
        gw, gb = sg.grad(cost, [w, b])
        step = sg.function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)],
                           backend=backend)
        costs = [float(step(data_x, data_y)) for _ in range(20)]
        return costs, w
    ref, _ = train("numpy")
    got, w = train("cuda")
    assert isinstance(w.get_value(borrow=True), cupy.ndarray)
    assert isinstance(w.get_value(), np.ndarray)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
