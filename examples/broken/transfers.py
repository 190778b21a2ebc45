"""Money moved between two accounts, each guarded by its own lock, locks taken in the wrong order.

The bug: ``transfer`` takes the lock of the account it pays from, then the
lock of the account it pays into.  A process paying from account 0 to
account 1 holds lock 0 and waits for lock 1, while another, paying from 1 to
0, holds lock 1 and waits for lock 0: both wait forever.  Run once, the
program almost always finishes; under ``stress`` the opposite orders are
reported as a potential deadlock in every run, and a deadlock that does
happen is reported at once, with the cycle, never as a hang.

Fix: take the two locks in one order everywhere, e.g. the lower account
number first (``examples/correct/ordered_transfers.py``).
"""

from __future__ import annotations

from typing import Any


def transfer(balances: Any, locks: Any, source: int, target: int, amount: int) -> None:
    with locks[source]:
        if balances[source] < amount:
            return
        with locks[target]:  # BUG: which lock comes first depends on the direction
            balances[source] -= amount
            balances[target] += amount


def pay_back(balances: Any, locks: Any, ticket: Any) -> None:
    """Each process takes a ticket: the first pays from account 0 to 1, the next back."""
    with ticket.get_lock():
        mine = ticket.value
        ticket.value += 1
    source, target = (1, 0) if mine % 2 else (0, 1)
    transfer(balances, locks, source, target, 10)
