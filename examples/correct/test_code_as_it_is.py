"""Code as it is: under each start method, its own pools supervised and checked."""

from __future__ import annotations

from lengths import lengths, total_length

WORDS = ["apple", "pear", "fig"]


def test_lengths(mpcheck, mp_start_method):
    # mp_start_method makes each start method the default in turn; instrument()
    # checks every call of the pools the code makes against a sequential run.
    with mpcheck.instrument():
        assert lengths(WORDS) == [5, 4, 3]
        assert total_length(WORDS) == 12
