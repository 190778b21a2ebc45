"""Order line totals with a per-process cache of the expensive computation.

The bug: the cache key is the quantity alone, so a line with the same
quantity as an earlier one gets the earlier line's total.  Run sequentially,
the result looks stable; in a pool each worker has its own cache, filled by
whichever lines that worker happened to run first, so the parallel result
depends on how the lines were shared out.

Fix: key the cache on everything the result depends on
(``(quantity, unit_price)``), or use ``functools.lru_cache``.
"""

from __future__ import annotations

import time

_totals: dict[int, int] = {}


def _compute_total(quantity: int, unit_price: int) -> int:
    time.sleep(0.01)  # stands in for a slow lookup
    return quantity * unit_price


def line_total(line: tuple[int, int]) -> int:
    quantity, unit_price = line
    if quantity not in _totals:  # BUG: unit_price is not part of the key
        _totals[quantity] = _compute_total(quantity, unit_price)
    return _totals[quantity]


def clear_cache() -> None:
    _totals.clear()
