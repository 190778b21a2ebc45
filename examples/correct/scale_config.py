"""A setting the program chooses at run time, handed to the workers the two safe ways.

``spawn`` and ``forkserver`` workers import this module afresh and see
``SCALE = 1``, whatever the parent set; only ``fork`` workers copy the
parent's value.  So the setting travels with the work (``scaled_by``), or
each worker sets it when it starts (``run``, with a ``Pool`` initializer).
Compare ``examples/broken/units.py``, which relies on ``fork``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from multiprocessing.context import BaseContext

SCALE = 1


def configure(scale: int) -> None:
    global SCALE
    SCALE = scale


def scaled(x: int) -> int:
    return x * SCALE


def scaled_by(scale: int, x: int) -> int:
    """The setting as an argument: map ``functools.partial(scaled_by, scale)``."""
    return x * scale


def run(values: Iterable[int], scale: int, context: BaseContext | None = None) -> list[int]:
    """Scale ``values`` in a pool whose workers each call ``configure(scale)`` first."""
    ctx = context if context is not None else multiprocessing.get_context()
    with ctx.Pool(2, initializer=configure, initargs=(scale,)) as pool:
        return pool.map(scaled, values)
