"""Property-based: the parallel map equals the sequential one for any input."""

from __future__ import annotations

import pytest_mpcheck
from hypothesis import given, settings, strategies as st

from squares_pool import square


# deadline=None: the first check of a test starts the worker pools (spawn and
# forkserver workers import your modules afresh), which can take longer than
# Hypothesis' default 200 ms deadline; later examples reuse the warm pools.
@settings(deadline=None, max_examples=25)
@given(numbers=st.lists(st.integers()))
def test_square_any_list(mpcheck, numbers):
    # The mpcheck fixture is session-scoped, so @given accepts it.
    mpcheck.assert_map_equal(square, numbers)


@settings(deadline=None, max_examples=25)
@given(pairs=st.lists(st.tuples(st.integers(), st.integers()), max_size=20))
def test_max_of_any_pairs(pairs):
    # The module-level function works too, with the running test's settings.
    pytest_mpcheck.assert_map_equal(max, pairs, via="starmap")
