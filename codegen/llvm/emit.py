"""Render a :class:`~codegen.kernel.Kernel` to LLVM IR for one call :class:`Signature`.

Every rendered kernel is one loop nest, a C function called through the entry points of
:mod:`codegen.llvm.abi`::

    void body(int64 start, int64 stop, PyObject *meta, PyObject *buf_0, ..., PyObject *buf_n)

``buf_i`` are the numpy arrays of the inputs then the outputs; the function reads their data
pointers straight from the array objects (``PyArrayObject.data``), which saves the caller
~1.5 µs per array that ``a.ctypes.data`` costs. ``meta`` is an int64 array: the domain shape,
then each buffer's strides in elements (0 on broadcast axes), as :mod:`codegen.llvm.run`
lays them out. Loads and stores carry scoped-noalias metadata (one scope per buffer), or
for many buffers the loop nest takes the data pointers as ``noalias`` arguments
(:meth:`_Function.begin`): the loop vectorizer needs no runtime overlap checks. Element
accesses claim no alignment: a misaligned array (numpy allows them) is read as it is, and
on the CPUs we target unaligned vector loads cost what aligned ones do. The caller
guarantees that outputs overlap no input, except where ``Signature.alias`` says an output
*is* an input (same memory, same layout), in which case both use one pointer and one
scope.

Loop structures (``Signature.kind``):

* ``flat``: all buffers contiguous with the domain's shape and no reduction: one loop over
  the flattened elements ``[start, stop)``.
* ``inner``: a loop nest over the active axes (extent != 1), kept axes outside and reduced
  axes inside; ``[start, stop)`` bounds the outermost loop when it is a kept axis. Reductions
  accumulate in registers, and only the innermost accumulator carries ``reassoc``, so the
  vectorizer may keep partial results in several vector registers. Float sums run in blocks
  of ``_BLOCK`` values whose sums go into a float64 accumulator: the error does not grow
  with the number of values (numpy's pairwise summation has the same aim). When every
  looped axis is reduced (:func:`splits`), ``meta`` also holds a mode: the reduction whole,
  the partial results of fixed chunks of the outermost loop, or those partials folded
  (:meth:`_Function.split_reduction`), so the pool can share a full reduction out.
* ``tile``: for reductions whose last kept axis is the contiguous one (``x.sum(axis=0)``):
  the last kept axis is cut in tiles of ``_TILE`` accumulators on the stack, and every
  reduced index adds a contiguous row segment into them, vectorized along the kept axis.
  Rows far enough apart are added ``_ROWS`` at a time, in row order (numpy's rounding),
  so each accumulator is loaded and stored once per group, where the kernel only reduces
  and its body is a few plain ops (else LLVM would compile a large body nine times).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import llvmlite.ir as ir
import numpy as np

from codegen.kernel import FLOATS, Kernel, index_axes
from codegen.llvm import abi, vmath
from codegen.llvm.scalar import F64, I8, I64, PTR, _REG, ScalarEmitter, _mem

_BLOCK = 2048    # values per block of a float sum
_TILE = 4096     # kept-axis accumulators per tile of the 'tile' structure
_ROWS = 8        # reduced rows a 'tile' kernel adds into its accumulators per pass
_ROW_GAP = 4096  # the least bytes between reduced rows for which it takes _ROWS at once
_ROW_COST = 4    # the most cost (see cost) of a body whose rows a 'tile' kernel groups
DATA_OFFSET = object.__basicsize__   # PyArrayObject: PyObject_HEAD, then `char *data`


@dataclass(frozen=True)
class Signature:
    """What a compiled specialization assumes about its arguments, beyond the kernel.

    ``loops`` are the domain axes that get a loop, outermost first (``flat``: none);
    ``unit`` gives, per buffer (inputs then outputs), its element stride along the
    innermost loop when it is -1, 0 or 1 (compiled in as a constant), else None;
    ``alias`` gives, per output, the input it shares memory with exactly, or -1.
    """
    kind: str
    loops: tuple[int, ...] = ()
    unit: tuple[int | None, ...] = ()
    alias: tuple[int, ...] = ()

    def symbol(self, k: Kernel) -> str:
        tag = hashlib.sha256(repr(self).encode()).hexdigest()[:12]
        return f"sg_{k.key}_{self.kind}_{tag}"


SCOPED_MAX = 16
"""Up to this many buffers, a kernel's loads and stores carry scoped-noalias metadata;
past it the loop nest is a function of its own taking them as ``noalias`` arguments
(:meth:`_Function.begin`)."""


def _alias_scopes(mod: ir.Module, home: Sequence[int]) -> list[tuple]:
    """Per buffer, the ``alias.scope`` and ``noalias`` metadata of its accesses: its own
    scope, and the scopes of the other buffers. The nodes are kept per module under keys
    of buffer numbers: llvmlite's ``add_metadata`` finds equal nodes by hashing their
    operands recursively, which made a fifth of rendering a kernel of 90 buffers."""
    made = mod.__dict__.setdefault("_sg_scopes", {})

    def node(key, operands):
        got = made.get(key)
        if got is None:
            got = made[key] = ir.values.MDValue(mod, operands(), name=str(len(mod.metadata)))
        return got
    domain = node("domain", lambda: [ir.MetaDataString(mod, "sg.buffers")])
    scope = lambda h: node(("buf", h), lambda: [ir.MetaDataString(mod, f"sg.buf{h}"), domain])
    homes = tuple(sorted(set(home)))
    return [(node(("in", h), lambda: [scope(h)]),
             node(("not", h, homes), lambda: [scope(o) for o in homes if o != h]))
            for h in home]


class _Function(ScalarEmitter):
    """Builds the entry function of one (kernel, signature) pair."""

    def __init__(self, mod: ir.Module, k: Kernel, sig: Signature, name: str,
                 fn_attrs: Sequence[str], vector_bits: int):
        self.sig, self.nin = sig, len(k.inputs)
        self.bufs = (*k.inputs, *k.outputs)
        nbuf = len(self.bufs)
        # ``index`` values are offsets too: of imagined arrays whose strides follow the
        # buffers' in ``meta`` (codegen.kernel.index_strides), moved by the same loops
        self.islot = {ax: nbuf + m for m, ax in enumerate(index_axes(k))}
        self.noffs = nbuf + len(self.islot)
        # An aliased output is its input: the same pointer (and scope).
        home = [i if i < self.nin or not sig.alias or sig.alias[i - self.nin] < 0
                else sig.alias[i - self.nin] for i in range(nbuf)]
        mp = self.begin(mod, k, name, fn_attrs, vector_bits, home)
        b = self.b
        self.red = [j for j, s in enumerate(k.stores) if s.reduce]
        self.ew = [j for j, s in enumerate(k.stores) if not s.reduce]
        if sig.kind == "flat":
            self.flat()
        else:
            nd = k.ndim
            get = lambda i: b.load(b.gep(mp, [ir.Constant(I64, i)], inbounds=True,
                                         source_etype=I64), typ=I64)
            self.mp, self.get = mp, get
            self.shape = [get(a) for a in range(nd)]
            inner = sig.loops[-1] if sig.loops else None
            if sig.kind == "tile":
                inner = [a for a in sig.loops if a not in k.reduce_axes][-1]
            self.strides = [[ir.Constant(I64, sig.unit[i]) if a == inner and sig.unit[i]
                             is not None else get(nd + i * nd + a) for a in range(nd)]
                            for i in range(self.noffs)]
            count = ir.Constant(I64, 1)
            for a in k.reduce_axes:
                count = b.mul(count, self.shape[a])
            self.count = count
            (self.tile if sig.kind == "tile" else self.nest)()
        b.ret_void()

    def begin(self, mod: ir.Module, k: Kernel, name: str, fn_attrs: Sequence[str],
              vector_bits: int, home: list[int]) -> ir.Value:
        """Make the entry function ``self.fn`` and start the loop nest's code: set the
        builder, ``start``/``stop``, the buffers' data pointers ``ptr`` and their
        ``scope`` metadata; return meta's data pointer (None for ``flat``).

        Buffers never overlap (the caller copies what would). Up to :data:`SCOPED_MAX`
        of them, every access says so with scoped-noalias metadata; past it, the loop
        nest is a function of its own (not inlined) taking the pointers as ``noalias``
        arguments, which LLVM's alias analysis tells apart at once, where the metadata
        had it compare lists of all the buffers on every access (a fifth of LLVM's time
        on a long chain's kernel of 87 buffers; with a few buffers, the extra function
        costs more than the metadata)."""
        nbuf, flat = len(home), self.sig.kind == "flat"
        fn = self.fn = ir.Function(
            mod, ir.FunctionType(ir.VoidType(), [I64, I64] + [PTR] * (1 + nbuf)), name)
        entry = ir.IRBuilder(fn.append_basic_block("entry"))
        start, stop, meta, *arrays = fn.args
        data = lambda obj: entry.load(entry.gep(obj, [ir.Constant(I64, DATA_OFFSET)],
                                                inbounds=True, source_etype=I8), typ=PTR)
        homes = sorted(set(home))
        funcs = [fn]
        if len(homes) <= SCOPED_MAX:
            self.scope = _alias_scopes(mod, home)
            pointers = {h: data(arrays[h]) for h in homes}
            mp = None if flat else data(meta)
            builder = entry
        else:
            self.scope = None
            loops = ir.Function(mod, ir.FunctionType(ir.VoidType(), [I64, I64] + [PTR] * (
                1 + len(homes))), f"{name}.loops")
            loops.attributes.add("noinline")
            for a in loops.args[2:]:
                a.add_attribute("noalias")
            entry.call(loops, [start, stop, ir.Constant(PTR, None) if flat else data(meta),
                               *(data(arrays[h]) for h in homes)])
            entry.ret_void()
            funcs.append(loops)
            start, stop, mp, *args = loops.args
            pointers = dict(zip(homes, args))
            builder = ir.IRBuilder(loops.append_basic_block("entry"))
        for f in funcs:       # string attributes llvmlite does not know, e.g. vector width
            for attr in fn_attrs:
                set.add(f.attributes, attr)
        super().__init__(builder, k, vector_bits)
        self.start, self.stop = start, stop
        self.ptr = [pointers[h] for h in home]
        return mp

    # ---- memory ------------------------------------------------------------------------
    def addr(self, i: int, off: ir.Value) -> ir.Value:
        return self.b.gep(self.ptr[i], [off], inbounds=True, source_etype=_mem(self.bufs[i].dtype))

    def scoped(self, i: int, ins: ir.Instruction) -> None:
        if self.scope is not None:
            ins.set_metadata("alias.scope", self.scope[i][0])
            ins.set_metadata("noalias", self.scope[i][1])

    def load(self, i: int, off: ir.Value) -> ir.Value:
        dt = self.bufs[i].dtype
        v = self.b.load(self.addr(i, off), typ=_mem(dt), align=1)
        self.scoped(i, v)
        return self.b.icmp_unsigned("!=", v, ir.Constant(I8, 0)) if dt == "bool" else v

    def store(self, j: int, v: ir.Value, off: ir.Value) -> None:
        i = self.nin + j
        if self.bufs[i].dtype == "bool":
            v = self.b.zext(v, I8)
        self.scoped(i, self.b.store(v, self.addr(i, off), align=1))

    def step(self, offs: list[ir.Value], stage: int = 0,
             reduced: dict[int, ir.Value] | None = None) -> list[ir.Value]:
        """The body at one domain point in pass ``stage`` (``reduced``: the results of
        earlier passes): that pass's elementwise stores done, its reduced values back."""
        stores, stages = self.k.stores, self.k.stages
        ew = [j for j in self.ew if stages[j] == stage]
        red = [j for j in self.red if stages[j] == stage]
        vals = self.body(self.k.body, lambda i: self.load(i, offs[i]), reduced=reduced,
                         needed=[stores[j].value for j in ew + red],
                         index=lambda ax: offs[self.islot[ax]])
        for j in ew:
            self.store(j, vals[stores[j].value], offs[self.nin + j])
        return [vals[stores[j].value] for j in red]

    def finish(self, j: int, acc: ir.Value, offs: list[ir.Value],
               reduced: dict[int, ir.Value] | None = None) -> ir.Value:
        """Epilogue of reduction store ``j``; its loads read at the kept index ``offs``.
        Returns the stored value."""
        s = self.k.stores[j]
        if s.epilogue:   # only what its result needs: the rest may read later stages
            acc = self.body(s.epilogue, lambda i: self.load(i, offs[i]), acc, self.count,
                            reduced, needed=[len(s.epilogue) - 1])[-1]
        self.store(j, acc, offs[self.nin + j])
        return acc

    # ---- loops -------------------------------------------------------------------------
    def loop(self, lo, hi, carry: list[ir.Value], body, step: int = 1) -> list[ir.Value]:
        """``for i in range(lo, hi, step)`` carrying ``carry``: ``body(i, vals)`` returns the
        next values (None when nothing is carried); the values after the loop come back."""
        b = self.b
        pre = b.block
        head, blk, done = (b.append_basic_block(n) for n in ("loop", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64)
        phis = [b.phi(v.type) for v in carry]
        i.add_incoming(lo, pre)
        for p, v in zip(phis, carry):
            p.add_incoming(v, pre)
        b.cbranch(b.icmp_signed("<", i, hi), blk, done)
        b.position_at_end(blk)
        nxt = body(i, phis) or []
        latch = b.block
        i.add_incoming(b.add(i, ir.Constant(I64, step), flags=("nsw",)), latch)
        for p, v in zip(phis, nxt):
            p.add_incoming(v, latch)
        b.branch(head)
        b.position_at_end(done)
        return phis

    def moved(self, offs: list[ir.Value], axis: int, i: ir.Value) -> list[ir.Value]:
        b = self.b
        return [o if isinstance(s, ir.Constant) and s.constant == 0
                else b.add(o, b.mul(i, s, flags=("nsw",)), flags=("nsw",))
                for o, s in zip(offs, (st[axis] for st in self.strides))]

    def kept_loops(self, kept: list[int], offs: list[ir.Value], inner) -> None:
        """Nest the kept axes; the outermost loop of the whole nest takes [start, stop)."""
        if not kept:
            return inner(offs)
        a = kept[0]
        lo, hi = ((self.start, self.stop) if a == self.sig.loops[0]
                  else (ir.Constant(I64, 0), self.shape[a]))
        self.loop(lo, hi, [], lambda i, _: self.kept_loops(kept[1:], self.moved(offs, a, i),
                                                           inner))

    def flat(self) -> None:
        self.loop(self.start, self.stop, [], lambda i, _: self.step([i] * self.noffs))

    def nest(self) -> None:
        red_axes = self.k.reduce_axes
        kept = [a for a in self.sig.loops if a not in red_axes]
        rloops = [a for a in self.sig.loops if a in red_axes]
        zero = [ir.Constant(I64, 0)] * self.noffs
        if not self.red:
            return self.kept_loops(kept, zero, self.step)
        stages = self.k.stages

        if splits(self.k, self.sig):
            return self.split_reduction(rloops)

        def point(offs):
            # one pass over the reduced axes per stage; a stage's results are constants
            # of the passes after it
            known: dict[int, ir.Value] = {}
            for p in range(max(stages) + 1):
                js = [j for j in self.red if stages[j] == p]
                if js:
                    known.update(zip(js, self.reduce_pass(rloops, offs, js, p, known)))
                else:
                    self.each(rloops, offs, lambda o: self.step(o, p, known))
        self.kept_loops(kept, zero, point)

    def each(self, axes: list[int], offs: list[ir.Value], fn) -> None:
        """``fn(offs)`` at every index of ``axes`` (nested loops, outermost first)."""
        if not axes:
            return fn(offs)
        self.loop(ir.Constant(I64, 0), self.shape[axes[0]], [],
                  lambda i, _: self.each(axes[1:], self.moved(offs, axes[0], i), fn))

    def split_reduction(self, rloops: list[int]) -> None:
        """A reduction over every looped axis, in one of three modes read from ``meta``
        (:func:`meta_extra`): 0, the whole reduction and its epilogues; 1, the partial
        results of the chunks of ``chunk`` iterations of the outermost loop that
        ``[start, stop)`` covers, written (in the accumulators' type) to the slots after
        the mode; 2, the partials folded in chunk order, then the epilogues. A call in
        mode 1 split over the pool, then one in mode 2, give the same bits on any number
        of threads: the chunks are fixed by ``chunk``, not by who runs them."""
        b, k, js = self.b, self.k, list(self.red)
        zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
        offs = [zero] * self.noffs
        at = meta_extra(k)
        mode, chunk, parts = (self.get(at + i) for i in range(3))
        whole = b.icmp_signed("==", mode, zero)
        # mode 0 keeps its one partial per store on the stack (calls may share a meta)
        local = b.alloca(I64, len(js))                     # still in the entry block
        slots = b.select(whole, local, b.bitcast(b.gep(
            self.mp, [ir.Constant(I64, at + 3)], inbounds=True, source_etype=I64), local.type))
        parts = b.select(whole, one, parts)
        dts = [k.body[k.stores[j].value].dtype for j in js]
        wide = self.wide(js)

        def slot(m, c, typ):
            """Where partial ``c`` of store ``m`` is kept, as a pointer to ``typ``."""
            return b.bitcast(b.gep(slots, [b.add(b.mul(ir.Constant(I64, m), parts), c)],
                                   inbounds=True), typ.as_pointer())

        with b.if_then(b.icmp_signed("!=", mode, ir.Constant(I64, 2))):
            n = self.shape[rloops[0]]
            size = b.select(whole, n, chunk)
            div = b.select(whole, one, chunk)        # mode 0's meta holds chunk 0
            first = b.select(whole, zero, b.sdiv(self.start, div))
            last = b.select(whole, one, b.sdiv(b.add(self.stop, b.sub(div, one)), div))
            end = b.select(whole, n, self.stop)

            def run(c, _):
                lo = b.mul(c, size)
                hi = self.call("llvm.smin", I64, [b.add(lo, size), end])
                for m, acc in enumerate(self.accumulate(rloops, offs, js, 0, {}, (lo, hi))):
                    v = b.zext(acc, I8) if acc.type == ir.IntType(1) else acc
                    b.store(v, slot(m, c, v.type))
            self.loop(first, last, [], run)
        with b.if_then(b.icmp_signed("!=", mode, one)):
            for m, (j, dt, w) in enumerate(zip(js, dts, wide)):
                s = k.stores[j]
                acc = self.loop(zero, parts, [self.identity(s, dt, w)], lambda c, a: [
                    self.combine(s.reduce, dt, a[0], self.load_slot(slot, m, c, w))])[0]
                self.finish(j, acc if acc.type is _REG[dt] else b.fptrunc(acc, _REG[dt]), offs)

    def load_slot(self, slot, m: int, c: ir.Value, typ: ir.Type) -> ir.Value:
        """Partial ``c`` of store ``m``, of type ``typ``, from its 8-byte ``slot``
        (booleans are kept as a byte)."""
        if typ == ir.IntType(1):
            return self.b.trunc(self.b.load(slot(m, c, I8)), typ)
        return self.b.load(slot(m, c, typ))

    def wide(self, js: list[int]) -> list[ir.Type]:
        """The accumulators' types of reduction stores ``js``: float64 for float sums."""
        types = []
        for j in js:
            s = self.k.stores[j]
            dt = self.k.body[s.value].dtype
            types.append(F64 if s.reduce == "add" and dt in FLOATS else _REG[dt])
        return types

    def reduce_pass(self, rloops: list[int], offs: list[ir.Value], js: list[int],
                    stage: int, known: dict[int, ir.Value]) -> list[ir.Value]:
        """One pass over the reduced axes at kept index ``offs``, computing reduction
        stores ``js`` of ``stage`` (and its elementwise stores); their stored values."""
        dts = [self.k.body[self.k.stores[j].value].dtype for j in js]
        accs = self.accumulate(rloops, offs, js, stage, known)
        b = self.b
        return [self.finish(j, acc if acc.type is _REG[dt] else b.fptrunc(acc, _REG[dt]), offs,
                            known) for j, acc, dt in zip(js, accs, dts)]

    def accumulate(self, rloops: list[int], offs: list[ir.Value], js: list[int], stage: int,
                   known: dict[int, ir.Value], bounds=None) -> list[ir.Value]:
        """The accumulators of reduction stores ``js`` after one pass over the reduced
        axes at kept index ``offs`` (``bounds``: the outermost reduced loop's range, when
        not all of it), doing that stage's elementwise stores on the way."""
        stores = [self.k.stores[j] for j in js]
        dts = [self.k.body[s.value].dtype for s in stores]
        # Float sums run in blocks of _BLOCK values (several vector partial sums each), and
        # the block sums go into a float64 accumulator: error independent of n.
        wide = self.wide(js)
        blocked = any(w is F64 for w in wide)
        b = self.b
        step = lambda o: self.step(o, stage, known)

        def fold(accs, vals, reassoc=False):
            return [self.combine(s.reduce, dt, x, y if y.type is x.type else b.fpext(y, F64),
                                 reassoc) for s, dt, x, y in zip(stores, dts, accs, vals)]

        def ident(types=None):
            return [self.identity(s, dt, t) for s, dt, t in zip(stores, dts, types or wide)]

        def innermost(a, offs, accs, lo=None, hi=None):
            n, z = (hi, lo) if lo is not None else (self.shape[a], ir.Constant(I64, 0))
            run = lambda lo, hi, acc: self.loop(
                lo, hi, acc, lambda i, c: fold(c, step(self.moved(offs, a, i)), True))
            if not blocked:
                return run(z, n, accs)

            def block(c, outer):
                hi = self.call("llvm.smin", I64, [b.add(c, ir.Constant(I64, _BLOCK)), n])
                return fold(outer, run(c, hi, ident([_REG[dt] for dt in dts])))
            return self.loop(z, n, accs, block, _BLOCK)

        def reduce(rs, offs, accs, lo=None, hi=None):
            if not rs:
                return fold(accs, step(offs))
            if len(rs) == 1:
                return innermost(rs[0], offs, accs, lo, hi)
            return self.loop(ir.Constant(I64, 0) if lo is None else lo,
                             self.shape[rs[0]] if hi is None else hi, accs,
                             lambda i, c: reduce(rs[1:], self.moved(offs, rs[0], i), c))

        return reduce(rloops, offs, ident(), *(bounds or ()))

    def tile(self) -> None:
        red_axes = self.k.reduce_axes
        kept = [a for a in self.sig.loops if a not in red_axes]
        rloops = [a for a in self.sig.loops if a in red_axes]
        last = kept.pop()
        stores = [self.k.stores[j] for j in self.red]
        dts = [self.k.body[s.value].dtype for s in stores]
        b = self.b     # still in the entry block: the allocas belong there
        accs = [b.alloca(ir.ArrayType(_REG[dt], _TILE)) for dt in dts]
        # Rows in groups pay where adding a row is little more than the accumulators' loads
        # and stores: a plain sum, not a body LLVM would compile _ROWS + 1 times over
        # (the MLP step's two column reductions with exp and tanh' took 150 of its 270 ms
        # of LLVM that way).
        grouped = not self.ew and cost(self.k) <= _ROW_COST
        zero = ir.Constant(I64, 0)

        def slot(acc, j):
            return b.gep(acc, [zero, j], inbounds=True)

        def tiles(offs):
            lo, hi = ((self.start, self.stop) if last == self.sig.loops[0]
                      else (zero, self.shape[last]))

            def one_tile(t0, _):
                width = self.call("llvm.smin", I64, [ir.Constant(I64, _TILE), b.sub(hi, t0)])
                base = self.moved(offs, last, t0)

                def init(j, _):
                    for acc, s, dt in zip(accs, stores, dts):
                        b.store(self.identity(s, dt), slot(acc, j))

                def row(group):
                    """Add the rows at offsets ``group`` into the tile, in order: each
                    accumulator is loaded and stored once per group, not once per row."""
                    def add(j, _):
                        vals = [self.step(self.moved(roffs, last, j)) for roffs in group]
                        for a, (acc, s, dt) in enumerate(zip(accs, stores, dts)):
                            p = slot(acc, j)
                            v = b.load(p, typ=vals[0][a].type)
                            for row_vals in vals:
                                v = self.combine(s.reduce, dt, v, row_vals[a])
                            b.store(v, p)
                    self.loop(zero, width, [], add)

                def rows(rs, roffs):
                    if not rs:
                        return row([roffs])
                    a, n = rs[0], self.shape[rs[0]]
                    if len(rs) > 1 or not grouped:
                        return self.loop(zero, n, [],
                                         lambda i, _: rows(rs[1:], self.moved(roffs, a, i)))
                    # The innermost reduced loop takes _ROWS rows at a time, then the rest;
                    # only where every input's rows lie _ROW_GAP bytes apart or more: with
                    # closer rows (16384 x 256 float32) it measured slower than one row at
                    # a time (the suspect: accumulator stores aliasing the next rows' loads
                    # modulo 4 KiB).
                    far = ir.Constant(ir.IntType(1), 1)
                    for i, buf in enumerate(self.k.inputs):
                        size = ir.Constant(I64, np.dtype(buf.dtype).itemsize)
                        gap = b.mul(self.strides[i][a], size)
                        gap = self.call("llvm.abs", I64, [gap, ir.Constant(ir.IntType(1), 0)])
                        far = b.and_(far, b.or_(b.icmp_signed("==", gap, zero), b.icmp_signed(
                            ">=", gap, ir.Constant(I64, _ROW_GAP))))
                    whole = b.select(far, b.sub(n, b.srem(n, ir.Constant(I64, _ROWS))), zero)
                    self.loop(zero, whole, [], lambda i, _: row(
                        [self.moved(roffs, a, b.add(i, ir.Constant(I64, u), flags=("nsw",)))
                         for u in range(_ROWS)]), _ROWS)
                    self.loop(whole, n, [], lambda i, _: row([self.moved(roffs, a, i)]))

                def out(j, _):
                    point = self.moved(base, last, j)
                    for jj, acc, dt in zip(self.red, accs, dts):
                        self.finish(jj, b.load(slot(acc, j), typ=_REG[dt]), point)
                self.loop(zero, width, [], init)
                rows(rloops, base)
                self.loop(zero, width, [], out)
            self.loop(lo, hi, [], one_tile, _TILE)
        self.kept_loops(kept, [zero] * self.noffs, tiles)


def cost(k: Kernel) -> int:
    """A kernel's rough cost per domain element, in simple operations: a transcendental
    counts as ten, everything else that computes as one."""
    free = ("load", "const", "reduced")
    n = sum(10 if ins.op in vmath.SUPPORTED or (ins.op == "div" and ins.dtype in FLOATS)
            else 0 if ins.op in free else 1 for ins in k.body)
    return max(1, n)


def splits(k: Kernel, sig: Signature) -> bool:
    """Whether the specialization ``sig`` of ``k`` reduces every axis it loops over in
    one stage, and so takes the modes of :meth:`_Function.split_reduction` (its ``meta``
    ends with a mode, a chunk length, a number of chunks, and a slot per chunk and
    reduction store)."""
    return (sig.kind == "inner" and bool(sig.loops) and sig.loops[0] in k.reduce_axes
            and not any(k.stages))


def meta_extra(k: Kernel) -> int:
    """Where the mode of a split reduction sits in its ``meta``: after the domain's shape
    and the strides of each buffer and index."""
    return k.ndim * (1 + len(k.inputs) + len(k.outputs) + len(index_axes(k)))


def render(mod: ir.Module, k: Kernel, sig: Signature, fn_attrs: Sequence[str] = (),
           vector_bits: int = 256) -> str:
    """Add the loop nest of ``(k, sig)`` and its entry points (:mod:`codegen.llvm.abi`) to
    ``mod``; returns the symbol of its Python entry."""
    name = sig.symbol(k)
    fn = _Function(mod, k, sig, f"{name}.body", fn_attrs, vector_bits).fn
    abi.add_entries(mod, fn, name)
    return name


def render_module(items: Sequence[tuple[Kernel, Signature]], triple: str = "",
                  data_layout: str = "", fn_attrs: Sequence[str] = (),
                  vector_bits: int = 256) -> tuple[str, list[str]]:
    """One LLVM module with an entry function per ``(kernel, signature)``; its IR text and
    the entry names. Helper functions are internal, so modules never clash when linked.

    >>> from codegen.kernel import Buffer, Instr, Store
    >>> k = Kernel("inc", (Buffer("x", "float32", 1),), (Buffer("y", "float32", 1),), 1,
    ...            (Instr("load", "float32", (), 0), Instr("const", "float32", (), 1.0),
    ...             Instr("add", "float32", (0, 1))), (Store(2),))
    >>> text, names = render_module([(k, Signature("flat"))])
    >>> "fadd float" in text and names[0] in text
    True
    """
    mod = ir.Module(name="symgraph")
    mod.triple, mod.data_layout = triple, data_layout
    names = [render(mod, k, sig, fn_attrs, vector_bits) for k, sig in items]
    for g in mod.globals.values():
        if isinstance(g, ir.Function) and not g.is_declaration and g.name not in names:
            g.linkage = "internal"
    vmath.keep_variants(mod)
    return str(mod), names
