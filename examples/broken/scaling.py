"""A function factory that returns a lambda.

The bug: a lambda has no importable name, and ``pickle`` sends functions to
worker processes by name, so ``Pool.map(scaler(3), ...)`` cannot even start.

Fix: ``functools.partial`` of a module-level function, e.g.
``functools.partial(multiply, factor=3)``.
"""

from __future__ import annotations

from collections.abc import Callable


def scaler(factor: int) -> Callable[[int], int]:
    return lambda x: x * factor
