"""Money moved between two accounts, each guarded by its own lock, locks taken in one order.

Whatever the direction of a transfer, the lock of the lower account number is
taken first, so no process can hold one lock while another holds the second
and waits for the first: no deadlock can happen, and ``stress`` finds none.
"""

from __future__ import annotations

from typing import Any


def transfer(balances: Any, locks: Any, source: int, target: int, amount: int) -> None:
    first, second = sorted((source, target))
    with locks[first], locks[second]:
        if balances[source] < amount:
            return
        balances[source] -= amount
        balances[target] += amount


def pay_back(balances: Any, locks: Any, ticket: Any) -> None:
    """Each process takes a ticket: the first pays from account 0 to 1, the next back."""
    with ticket.get_lock():
        mine = ticket.value
        ticket.value += 1
    source, target = (1, 0) if mine % 2 else (0, 1)
    transfer(balances, locks, source, target, 10)
