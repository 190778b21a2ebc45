"""Running balances of a ledger, one account's entries per task.

Compare ``examples/broken/ledger.py``, which carries the balance from one
task to the next in module globals.
"""

from __future__ import annotations

import itertools


def by_account(ledger: list[tuple[str, int]]) -> list[tuple[int, ...]]:
    """The amounts of each account, in ledger order (the ledger is sorted by account)."""
    return [
        tuple(amount for _, amount in entries)
        for _, entries in itertools.groupby(ledger, key=lambda entry: entry[0])
    ]


def running_balances(amounts: tuple[int, ...]) -> list[int]:
    """One account's balance after each of its entries: all it needs is in the task."""
    return list(itertools.accumulate(amounts))
