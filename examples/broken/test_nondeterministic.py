"""Broken: a function whose result is random, so parallel and sequential cannot agree."""

from __future__ import annotations

from backoff import delay


def test_delays(mpcheck):
    mpcheck.assert_map_equal(delay, range(5))
