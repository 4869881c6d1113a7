"""A compiled function on a device backend, without a GPU: a stand-in backend whose arrays
live in "device memory" (a numpy subclass) and which counts every transfer. What the CUDA
backend must do is checked here on every machine: constants go to the device once, shared
variables stay there between calls, a call moves only its host inputs, and results stay
on the device."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from codegen.backend import NumpyBackend, register
from codegen.interpret import interpret
from codegen.lib import Entry, Library
from codegen.lib.numpy import LIBRARY


class DeviceArray(np.ndarray):
    """An array in the stand-in's device memory."""


class CountingDevice(NumpyBackend):
    name = "counting_device"
    host = False

    def __init__(self):
        self.uploads = self.downloads = 0
        # numpy's entries, with results in "device memory" (numpy functions return plain
        # arrays for subclasses; CuPy's return CuPy arrays)
        self._lib = Library("device", {n: Entry(_on_device(LIBRARY.entry(n).fn),
                                                LIBRARY.entry(n).view, LIBRARY.entry(n).out)
                                       for n in LIBRARY.names()})

    @property
    def lib(self):
        return self._lib

    def compile_kernels(self, kernels, examples=None):
        def runner(k):
            def run(inputs, outputs=None, shape=None):
                assert all(isinstance(a, DeviceArray) for a in inputs), "a host array"
                outs = interpret(k, inputs, outputs, shape)
                return outs if outputs is not None else [o.view(DeviceArray) for o in outs]
            return run
        return [runner(k) for k in kernels]

    def empty(self, shape, dtype):
        return np.empty(shape, dtype).view(DeviceArray)

    def is_array(self, a) -> bool:
        return isinstance(a, DeviceArray)

    def to_device(self, a):
        self.uploads += 1
        return np.array(a, copy=True).view(DeviceArray)

    def to_host(self, a):
        self.downloads += 1
        return np.array(a).view(np.ndarray)


def _on_device(fn):
    return lambda *args, **kw: np.asarray(fn(*args, **kw)).view(DeviceArray)


@pytest.fixture
def device():
    d = CountingDevice()
    register(d)
    return d


def test_a_training_step_moves_nothing_but_its_inputs(device):
    x = sg.dmatrix("x")
    w = sg.shared(np.ones((3, 2)), name="w")
    cost = ((sg.dot(x, w) + np.arange(2.0)) ** 2).sum()
    step = sg.function([x], cost, updates=[(w, w - 0.01 * sg.grad(cost, w))],
                       backend=device.name)
    constants = device.uploads
    assert constants >= 1                       # at build time, once
    data = np.ones((4, 3))
    for _ in range(3):
        out = step(data)
    assert isinstance(out, DeviceArray) and isinstance(w.get_value(borrow=True), DeviceArray)
    # per call one upload (the host input); the shared value went once, at the first call
    assert device.uploads == constants + 3 + 1 and device.downloads == 0
    on_device = device.to_device(data)
    before = device.uploads
    step(on_device)                              # a device input is used as it is
    assert device.uploads == before and device.downloads == 0
    v = sg.shared(np.ones((3, 2)), name="v")
    cost_v = ((sg.dot(x, v) + np.arange(2.0)) ** 2).sum()
    ref = sg.function([x], cost_v, updates=[(v, v - 0.01 * sg.grad(cost_v, v))],
                      backend="numpy")
    for _ in range(4):
        ref(data)
    np.testing.assert_allclose(np.asarray(w.get_value()), v.get_value(), rtol=1e-12)


def test_device_results_match_the_reference(device):
    x = sg.dmatrix("x")
    exprs = [sg.softmax(x), x[1:, ::-1].T, sg.argmax(x, axis=1), sg.sort(x, axis=0),
             sg.set_subtensor(x[:, [0]], 0.0), x.reshape((-1,))]
    data = np.random.default_rng(0).standard_normal((3, 4))
    got = sg.function([x], exprs, backend=device.name)(data)
    want = sg.function([x], exprs, backend="numpy")(data)
    for g, e in zip(got, want):
        assert isinstance(g, DeviceArray)
        np.testing.assert_allclose(np.asarray(g), e, rtol=1e-12)


def test_a_python_op_runs_on_the_host_and_returns_to_the_device(device):
    class Double(sg.Op):
        def make_node(self, x):
            return sg.Apply(self, [x], [x.type()])

        def perform(self, node, inputs):
            assert type(inputs[0]) is np.ndarray
            return [inputs[0] * 2]
    x = sg.dvector("x")
    f = sg.function([x], Double()(x) + 1, backend=device.name)
    out = f(np.ones(3))
    assert isinstance(out, DeviceArray) and np.asarray(out).tolist() == [3.0] * 3
    assert device.downloads == 1
