"""Two locks taken in one order by every process: no deadlock, no lost update."""

from __future__ import annotations

from ordered_transfers import pay_back


def test_transfers(mpcheck):
    balances = mpcheck.Array("i", [100, 100], lock=False)
    locks = [mpcheck.Lock(), mpcheck.Lock()]
    ticket = mpcheck.Value("i", 0)
    mpcheck.stress(
        pay_back, balances, locks, ticket, processes=2, expect=lambda: sum(balances) == 200
    )
