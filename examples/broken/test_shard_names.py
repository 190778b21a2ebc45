"""Broken, found in code as it is: a pool call whose results depend on the worker."""

from __future__ import annotations

from shards import shard_names


def test_shard_names(mpcheck, mp_start_method):
    # The library makes its own Pool; leaving the block compares each of its
    # calls with a sequential run and reports the first that differs.
    with mpcheck.instrument():
        shard_names(["apple", "pear", "fig"])
