"""Running balance of a ledger sorted by account, entry by entry.

The bug: the balance lives in module globals and starts again from zero when
the account changes, which assumes that this process ran the entry before.
Sequentially it did; in a pool, a worker that takes a chunk starting in the
middle of an account carries on from whatever its own globals hold.

Fix: make each task self-contained, one account's entries per task, as
``examples/correct/accounts.py`` does.
"""

from __future__ import annotations

_account: str | None = None
_balance = 0


def running_balance(entry: tuple[str, int]) -> int:
    global _account, _balance
    account, amount = entry
    if account != _account:  # BUG: assumes this process ran the previous entry
        _account, _balance = account, 0
    _balance += amount
    return _balance


def close_books() -> None:
    global _account, _balance
    _account, _balance = None, 0
