"""Daily prices as an index: each day's price as a percentage of the first day's.

The bug: the base price is remembered in a module global the first time the
function runs, on the assumption that it sees the first day first.  Run
sequentially it does; in a pool each worker remembers the first price *it*
ran, so every worker that did not start with day 0 divides by the wrong base.

Fix: send the base with the work, ``functools.partial(index, prices[0])``, as
``examples/correct/price_index.py`` does.
"""

from __future__ import annotations

_base: int | None = None


def index(price: int) -> float:
    global _base
    if _base is None:  # BUG: the first price this process ran, not the first day's
        _base = price
    return round(100 * price / _base, 2)


def forget_base() -> None:
    global _base
    _base = None
