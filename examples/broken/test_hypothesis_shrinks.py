"""Broken, found by Hypothesis: the module-state bug, shrunk to a minimal input."""

from __future__ import annotations

import pytest_mpcheck
from hypothesis import given, settings, strategies as st

import units


@settings(deadline=None)
@given(values=st.lists(st.integers()))
def test_scaled_any_list(values):
    units.configure(100)
    try:
        pytest_mpcheck.assert_map_equal(units.scaled, values)
    finally:
        units.configure(1)
