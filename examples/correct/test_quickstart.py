"""The two kinds of check at a glance (the README and the docs' home page show them)."""

from __future__ import annotations

from counter import worker
from squares_pool import square


def test_square(mpcheck):
    mpcheck.assert_map_equal(square, range(10))  # Pool.map vs map, every start method


def test_counter(mpcheck):
    counter = mpcheck.Value("i", 0)  # a drop-in for multiprocessing.Value
    mpcheck.stress(worker, counter, processes=4, expect=lambda: counter.value == 400)
