"""Broken: a worker process killed while running the function."""

from __future__ import annotations

from crash import load


def test_load_executor(mpcheck):
    # ProcessPoolExecutor.map: the executor's own BrokenProcessPool is reported
    # as a finding naming the worker and the item.
    mpcheck.assert_map_equal(load, [10, 100, 10_000], via="executor")
