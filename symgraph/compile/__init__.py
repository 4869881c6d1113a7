"""Compiling graphs: :mod:`.lower` (each node's rule gives one step of a
:class:`codegen.program.Program`) and :mod:`.function` (``sg.function``: clone, rewrite,
lower, build for a backend, and the compiled :class:`~.function.Function` that checks its
inputs, runs and applies updates)."""
