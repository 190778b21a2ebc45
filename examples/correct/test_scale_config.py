"""A setting chosen at run time, passed to the workers so every start method agrees."""

from __future__ import annotations

import functools
import multiprocessing

import pytest
import pytest_mpcheck

from scale_config import run, scaled_by


def test_setting_travels_with_the_work(mpcheck):
    # A partial of a module-level function pickles, with its arguments.
    mpcheck.assert_map_equal(functools.partial(scaled_by, 100), range(10))


@pytest.mark.parametrize("method", pytest_mpcheck.available_start_methods())
def test_each_worker_sets_it_at_start(method):
    # Pool(initializer=configure, initargs=(100,)) under each start method.
    assert run(range(4), 100, multiprocessing.get_context(method)) == [0, 100, 200, 300]
