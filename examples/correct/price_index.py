"""Daily prices as an index of the first day's price, the base sent with the work.

Compare ``examples/broken/price_base.py``, which remembers the first price its
process happened to run.
"""

from __future__ import annotations


def index(base: int, price: int) -> float:
    """Map ``functools.partial(index, prices[0])``: every worker gets the same base."""
    return round(100 * price / base, 2)
