"""Broken: a function that ends its worker process."""

from __future__ import annotations

from ratios import ratio

PAIRS = [(1, 2), (3, 4), (5, 0), (7, 8)]


def test_ratios(mpcheck):
    # A plain Pool.map would wait forever for the lost task; the check names
    # the dead worker and how it ended.
    mpcheck.assert_map_equal(ratio, PAIRS)
