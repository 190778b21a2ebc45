"""Broken: a function that reads module state the test changed at run time."""

from __future__ import annotations

import units


def test_scaled_after_configure(mpcheck):
    units.configure(100)
    try:
        # fork workers see SCALE = 100; spawn and forkserver workers see 1.
        mpcheck.assert_map_equal(units.scaled, range(10))
    finally:
        units.configure(1)
