"""Scaling by a module-level setting that the program changes at run time.

The bug: ``configure()`` changes a module global in the parent process.
Workers started with ``fork`` copy the parent's memory and see the change;
workers started with ``spawn`` or ``forkserver`` import this module afresh
and see ``SCALE = 1``.  The code works under fork (Linux's default before
Python 3.14) and breaks under forkserver (the default since) and spawn
(macOS and Windows).

Fix: pass the scale with the work (a module-level ``scaled_by(scale, x)``
mapped as ``functools.partial(scaled_by, 100)``), or set it in every worker
with ``Pool(initializer=configure, initargs=(100,))``.
"""

from __future__ import annotations

SCALE = 1


def configure(scale: int) -> None:
    global SCALE
    SCALE = scale


def scaled(x: int) -> int:
    return x * SCALE
