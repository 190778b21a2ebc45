"""The guide's programs as users write them, with no context: run under each start method."""

from __future__ import annotations

import multiprocessing

import squares_pool


def test_pool_map_under_each_start_method(mp_start_method):
    # Pool() takes no context: mp_start_method makes each method the default in turn.
    assert multiprocessing.get_start_method() == mp_start_method
    assert squares_pool.main() == [x * x for x in range(10)]
