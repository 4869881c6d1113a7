"""Per-step profiles of compiled functions (``sg.function(..., profile=True)``): counts,
times and bytes per step, the summary and its plain-data form, the sum of the steps'
times against the calls', the critical path, the pictures and graphs drawn from a
profile, and a function compiled without a profile running the unobserved runner."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import symgraph as sg
from symgraph.bench.kernels import MLP_SOURCE, _mlp_data

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
HERE = os.path.basename(__file__)


@pytest.fixture(scope="module")
def mlp():
    """An MLP training step (784-256-10, batch 32: about a millisecond here), profiled,
    with its data."""
    x, y, w1, b1, w2, b2 = _mlp_data(32, (784, 256, 10))
    ns: dict = {}
    exec(MLP_SOURCE.replace("fusion=fusion)", "fusion=fusion, profile=True)"), ns)
    return ns["build_step"](w1, b1, w2, b2), x, y


def test_every_step_is_counted_and_timed():
    x = sg.dmatrix("x")
    f = sg.function([x], (sg.exp(x) * 2).T, profile=True)
    assert f.profile is not None and f.profile.calls == 0
    for _ in range(3):
        f(np.ones((50, 40)))
    rows = f.profile.rows()
    assert f.profile.calls == 3 and [r["calls"] for r in rows] == [3, 3]
    assert [r["kind"] for r in rows] == ["kernel", "view"]
    assert all(r["seconds"] > 0 and r["per_call"] == pytest.approx(r["seconds"] / 3)
               for r in rows)
    assert 0 < f.profile.step_seconds < f.profile.seconds


def test_a_kernel_moves_the_bytes_of_its_arguments_and_outputs_and_a_view_none():
    x = sg.dvector("x")
    m = sg.dmatrix("m")
    f = sg.function([x, m], [sg.exp(x) * 2, m.T], profile=True)
    f(np.ones(1000), np.ones((4, 5)))
    f(np.ones(1000), np.ones((4, 5)))
    kernel, view = sorted(f.profile.rows(), key=lambda r: r["kind"])
    assert kernel["kind"] == "kernel" and kernel["bytes"] == 2 * 8000
    assert kernel["gbps"] == pytest.approx(2 * 16000 / kernel["seconds"] / 1e9)
    assert kernel["copy_share"] == pytest.approx(
        kernel["gbps"] * 1e9 / sg.compile.profiling.copy_bandwidth())
    assert kernel["members"] == ["exp", "mul"] and kernel["kernel"]
    assert view["kind"] == "view" and view["bytes"] == 0 and view["gbps"] is None


def test_the_summary_shows_top_steps_totals_by_kind_and_user_lines(mlp):
    f, x, y = mlp
    f.profile.reset()
    for _ in range(3):
        f(x, y)
    text = f.profile.summary(top=3)
    assert str(f.profile) == f.profile.summary()
    assert "3 calls" in text and "ms per call" in text
    top = text.split("top steps by time")[1].split("by kind")[0].splitlines()[1:4]
    slowest = sorted(f.profile.rows(), key=lambda r: -r["seconds"])[:3]
    assert [int(line.split()[0]) for line in top] == [r["step"] for r in slowest]
    assert "more steps" in text and "<string>:" in text      # MLP_SOURCE's own lines
    for total in ("kernels", "library calls", "views", "outside steps", "profiler",
                  "critical path", "copy bandwidth"):
        assert total in text
    v = sg.dvector("v")
    assert "no calls yet" in sg.function([v], v * 2, profile=True).profile.summary()


def test_a_user_line_and_sub_programs_show_in_the_rows():
    a, y = sg.dvector("a"), sg.dvector("y")
    op = sg.OpFromGraph([a], [sg.exp(a) * 2], name="twice_exp")
    f = sg.function([y], op(y) + 1, profile=True)
    f(np.ones(10))
    rows = f.profile.rows()
    assert [r["kind"] for r in rows] == ["program", "kernel"]
    assert all(os.path.basename(r["line"]).startswith(HERE + ":") for r in rows)
    assert "sub-programs" in f.profile.kinds() and "sub-programs" in f.profile.summary()


def test_to_dict_is_plain_data_that_json_writes_and_reads(mlp):
    f, x, y = mlp
    f(x, y)
    d = f.profile.to_dict()
    assert json.loads(json.dumps(d)) == json.loads(json.dumps(d, sort_keys=True))
    assert json.loads(json.dumps(d))["rows"] == [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()} for r in d["rows"]]
    assert d["calls"] == f.profile.calls and len(d["rows"]) == len(f._program.steps)
    assert set(d["kinds"]) >= {"kernels", "library calls", "views"}
    assert d["critical_path"]["steps"] and 0 < d["critical_path"]["share"] <= 1.0
    assert d["copy_bandwidth"] > 1e8
    assert set(d["compile_cache"]) == {"hits", "misses", "modules_compiled"}
    assert all(isinstance(n, int) and n >= 0 for n in d["compile_cache"].values())


def test_the_compile_cache_counts_are_those_of_the_compile():
    """A kernel no earlier test made (its constant is this run's own): its module is
    looked up in the disk cache during the compile, and only then."""
    x = sg.dvector("x")
    unique = float(np.random.default_rng().uniform(2, 3))
    f = sg.function([x], sg.exp(x) * unique, profile=True)
    counts = f.profile.compile_cache
    assert counts["hits"] + counts["misses"] == 1, counts
    f(np.ones(3))
    assert f.profile.compile_cache == counts


def test_steps_and_what_is_outside_them_add_up_to_the_call_time(mlp):
    """The steps' times, the profiler's own time and the time outside steps add up to the
    calls' time; that time is what a stopwatch around the calls reads (within a few
    percent: the stopwatch also times the loop), and the steps are most of it."""
    f, x, y = mlp
    f(x, y)
    f.profile.reset()
    watch = 0.0
    for _ in range(20):
        t0 = time.perf_counter()
        f(x, y)
        watch += time.perf_counter() - t0
    p = f.profile
    assert p.calls == 20
    assert p.step_seconds + p.outside_seconds + p.profiler_seconds == \
        pytest.approx(p.seconds, rel=1e-9)
    assert 0.95 * watch <= p.seconds <= watch
    assert p.step_seconds > 0.8 * p.seconds, p.summary()
    assert sum(k["seconds"] for k in p.kinds().values()) == pytest.approx(p.step_seconds)


def test_reset_starts_counting_afresh(mlp):
    f, x, y = mlp
    f(x, y)
    f.profile.reset()
    assert f.profile.calls == 0 and f.profile.seconds == 0 and f.profile.step_seconds == 0
    assert all(r["calls"] == 0 and r["bytes"] == 0 for r in f.profile.rows())
    f(x, y)
    assert all(r["calls"] == 1 for r in f.profile.rows())


def test_a_function_without_profile_runs_the_unobserved_runner():
    x = sg.dvector("x")
    plain = sg.function([x], sg.exp(x) * 2)
    profiled = sg.function([x], sg.exp(x) * 2, profile=True)
    assert plain.profile is None
    names = plain._runner.run.__code__.co_names
    assert "after" not in names and "clock" not in names
    assert {"after", "clock"} <= set(profiled._runner.run.__code__.co_names)
    assert plain._call.__name__ == "call" and profiled._call.__name__ == "profiled"
    assert plain(np.ones(3)).tolist() == profiled(np.ones(3)).tolist()


@pytest.mark.parametrize("profile", [False, True])
def test_the_profile_holds_no_value_a_step_saw(profile):
    """A large output the caller dropped is handed out again by the next call (the plan
    counts its references): the profile must not keep it alive."""
    x = sg.dvector("x")
    f = sg.function([x], sg.exp(x) * 2, profile=profile)
    a = np.linspace(0, 1, 300_000)
    out = f(a)
    where, first = out.ctypes.data, out.copy()
    del out
    again = f(a)
    assert again.ctypes.data == where and np.array_equal(again, first)


def test_a_pickled_profiled_function_loads_profiled():
    x = sg.dvector("x")
    f = sg.function([x], sg.exp(x).sum(), profile=True, backend="numpy")
    f(np.ones(4))
    g = pickle.loads(pickle.dumps(f))
    assert g.profile is not None and g.profile.calls == 0
    g(np.ones(4))
    assert g.profile.calls == 1
    plain = pickle.loads(pickle.dumps(sg.function([x], x * 2, backend="numpy")))
    assert plain.profile is None


def test_the_critical_path_follows_the_costlier_of_two_parallel_branches():
    x, y = sg.dmatrix("x"), sg.dvector("y")
    f = sg.function([x, y], [sg.dot(x, x).sum(), sg.exp(y).sum()], profile=True)
    dot, total, small = [r["label"] for r in f.profile.rows()]
    assert dot == "dot" and small.startswith("fused{exp")
    for _ in range(3):
        f(np.ones((300, 300)), np.ones(3))
    path = f.profile.critical_path()
    assert [r["label"] for r in path.steps] == [dot, total]
    assert path.seconds == pytest.approx(sum(r["per_call"] for r in path.steps))
    assert 0.5 < path.share <= 1.0 and "critical path: 2 steps" in str(path)
    # the same graph, with the small branch made the costly one
    f.profile.step_times[:] = [1e-3, 1e-3, 5e-3]
    f.profile.seconds = 9e-3
    path = f.profile.critical_path()
    assert [r["label"] for r in path.steps] == [small]
    assert path.seconds == pytest.approx(5e-3 / 3) and path.share == pytest.approx(5 / 9)


def test_SYMGRAPH_PROFILE_makes_functions_profiled():
    code = ("import symgraph as sg; x = sg.dvector('x'); "
            "f = sg.function([x], x * 2, backend='numpy'); f([1.0]); "
            "print(sg.config.profile, f.profile.calls)")
    env = {**os.environ, "SYMGRAPH_PROFILE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env)
    assert out.stdout.split() == ["True", "1"], out.stderr


def test_import_symgraph_loads_neither_networkx_nor_the_profiler():
    code = ("import sys, symgraph; print(sorted(m for m in ('networkx', "
            "'symgraph.compile.profiling') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_debugprint_shows_each_steps_time():
    x = sg.dvector("x")
    f = sg.function([x], sg.exp(x) * 2, profile=True)
    assert " ms " not in sg.debugprint(f, file="str")       # no call yet
    f(np.ones(5))
    first = sg.debugprint(f, file="str").splitlines()[1]
    assert first.startswith("fused{exp, mul}") and first.endswith("%") and " ms " in first


@needs_dot
def test_the_heat_picture_labels_and_shades_steps_by_their_time(mlp):
    f, x, y = mlp
    f(x, y)
    svg = sg.to_svg(f, profile=True)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text or "" for t in root.iter(ns + "text")]
    timed = [t for t in texts if " ms " in t and t.endswith("%") and "profile" not in t]
    assert len(timed) == len(f._program.steps)
    assert any(t.startswith("profile: ") for t in texts)
    fills = {p.get("fill") for p in root.iter(ns + "polygon")}
    assert "#d7301f" in fills                 # the slowest step, fully red
    assert "ms" in sg.to_dot(f, profile=True)


def test_the_heat_picture_says_what_it_needs():
    x = sg.dvector("x")
    with pytest.raises(TypeError, match="compiled function"):
        sg.to_dot(sg.exp(x), profile=True)
    with pytest.raises(ValueError, match="not profiled"):
        sg.to_dot(sg.function([x], sg.exp(x)), profile=True)
    f = sg.function([x], sg.exp(x), profile=True)
    with pytest.raises(ValueError, match="has not run"):
        sg.to_dot(f, profile=True)
    f(np.ones(2))
    with pytest.raises(ValueError, match="before=True"):
        sg.to_dot(f, before=True, profile=True)


def test_to_networkx_gives_ops_shapes_lines_and_times(mlp):
    import networkx as nx
    f, x, y = mlp
    f(x, y)
    g = sg.to_networkx(f, optimized=True)
    nodes = [d for _, d in g.nodes(data=True) if d["kind"] == "node"]
    assert len(nodes) == len(f._program.steps)
    assert all({"op", "types", "shapes", "built_at", "time", "calls", "share"} <= set(d)
               for d in nodes)
    dots = [d for d in nodes if d["op"] == "dot"]
    assert dots and all(d["shapes"] == [(None, None)] and d["time"] > 0 for d in dots)
    assert sum(d["share"] for d in nodes) == pytest.approx(
        f.profile.step_seconds / f.profile.seconds)
    assert any(d.get("labels") for d in nodes)            # fused members
    written = sg.to_networkx(f, optimized=False)
    assert written.number_of_nodes() > g.number_of_nodes()
    assert not any("time" in d for _, d in written.nodes(data=True))
    assert nx.is_isomorphic(written, sg.to_networkx(f, before=True))
    heaviest = max(nx.DiGraph(g).nodes(data=True), key=lambda nd: nd[1].get("time", 0))
    assert heaviest[1]["op"] == max(f.profile.rows(), key=lambda r: r["seconds"])["label"]


def test_on_a_device_each_step_waits_for_its_queued_work():
    """A device backend queues its work: the profile waits for it after every step and
    call (so that a step's time is its work's), which a fake stream counts here."""
    from types import SimpleNamespace
    from symgraph.compile.profiling import Profile
    x = sg.dvector("x")
    f = sg.function([x], sg.exp(x) * 2, backend="numpy")
    waits = []
    stream = SimpleNamespace(synchronize=lambda: waits.append(1))
    device = SimpleNamespace(host=False, xp=SimpleNamespace(
        cuda=SimpleNamespace(get_current_stream=lambda: stream)))
    p = Profile(SimpleNamespace(name=None, backend="fake", _program=f._program,
                                _backend=device))
    call = p.wrap_call(lambda fn, a: p.after(0, time.perf_counter(), (a,), (a,)))
    call(None, np.ones(3))
    assert len(waits) == 2 and p.calls == 1 and p.step_calls == [1]
    assert p.step_bytes == [48]
