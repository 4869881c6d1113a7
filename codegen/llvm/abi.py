"""How Python and the thread pool call a rendered kernel.

:mod:`codegen.llvm.emit` renders each ``(kernel, signature)`` as an internal function
``void body(int64 start, int64 stop, PyObject *meta, PyObject *buf_0, ...)``. This module
adds its two entry points:

* ``<name>.task(int64 lo, int64 hi, PyObject **argv)``: one chunk, as the pool calls it
  (``argv`` is ``meta, buf_0, ...``);
* ``<name>`` itself: a ``METH_FASTCALL`` C function, ``entry(extent, grain, meta, buf_0,
  ...)`` from Python. It runs ``[0, extent)`` on the calling thread when ``grain`` is 0;
  otherwise it releases the GIL and hands the range to the pool in chunks of ``grain``.
  Python calls it as a builtin function (:func:`python_function`), which costs tens of
  nanoseconds where a ctypes call costs most of a microsecond.

The caller has checked every argument: the entry trusts their count and types.
"""
from __future__ import annotations

import ctypes

import llvmlite.ir as ir

I64, PTR = ir.IntType(64), ir.PointerType()
POOL_RUN = "sg_pool_run"


def _declare(mod: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    if name in mod.globals:
        return mod.globals[name]
    return ir.Function(mod, ir.FunctionType(ret, args), name)


def add_entries(mod: ir.Module, body: ir.Function, name: str) -> None:
    """Add ``name`` (the Python entry) and ``name.task`` (the pool's) calling ``body``."""
    nbuf = len(body.args) - 2          # meta and the buffers
    void = ir.VoidType()
    body.linkage = "internal"
    # one copy of the loop nest, called by both entries
    body.attributes.add("noinline")

    task = ir.Function(mod, ir.FunctionType(void, [I64, I64, PTR]), f"{name}.task")
    task.linkage = "internal"
    b = ir.IRBuilder(task.append_basic_block("entry"))
    lo, hi, argv = task.args
    b.call(body, [lo, hi, *_items(b, argv, 0, nbuf)])
    b.ret_void()

    none = mod.globals.get("_Py_NoneStruct") or ir.GlobalVariable(mod, ir.IntType(8),
                                                                    "_Py_NoneStruct")
    as_int = _declare(mod, "PyLong_AsSsize_t", I64, [PTR])
    save = _declare(mod, "PyEval_SaveThread", PTR, [])
    restore = _declare(mod, "PyEval_RestoreThread", void, [PTR])
    incref = _declare(mod, "Py_IncRef", void, [PTR])
    run = _declare(mod, POOL_RUN, void, [PTR, PTR, I64, I64])

    entry = ir.Function(mod, ir.FunctionType(PTR, [PTR, PTR, I64]), name)
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    _, args, _ = entry.args
    extent, grain = (b.call(as_int, [a]) for a in _items(b, args, 0, 2))
    here = b.icmp_signed("==", grain, ir.Constant(I64, 0))
    with b.if_else(here) as (then, otherwise):
        with then:
            b.call(body, [ir.Constant(I64, 0), extent, *_items(b, args, 2, nbuf)])
        with otherwise:
            state = b.call(save, [])
            b.call(run, [task, b.gep(args, [ir.Constant(I64, 2)], source_etype=PTR),
                         extent, grain])
            b.call(restore, [state])
    b.call(incref, [none])
    b.ret(none)


def _items(b: ir.IRBuilder, array: ir.Value, start: int, n: int) -> list[ir.Value]:
    return [b.load(b.gep(array, [ir.Constant(I64, start + i)], source_etype=PTR), typ=PTR)
            for i in range(n)]


class _MethodDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p),
                ("flags", ctypes.c_int), ("doc", ctypes.c_char_p)]


_METH_FASTCALL = 0x80
_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.restype = ctypes.py_object
_new_function.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]


def python_function(address: int, name: str):
    """The Python entry at ``address`` as a builtin function object.

    The function's ``self`` is its own method table (the ctypes structure), so the table
    lives exactly as long as the function: CPython reads it when the function is freed,
    which at interpreter exit may come after this module's globals are gone. The entry
    ignores ``self``."""
    d = _MethodDef(name.encode(), address, _METH_FASTCALL, None)
    return _new_function(ctypes.addressof(d), d, None)
