"""Program 1: a Process per worker, each putting its square on a Queue."""

from __future__ import annotations

import multiprocessing

import pytest
import pytest_mpcheck

import squares_process


def test_work_is_the_same_in_parallel(mpcheck):
    # The function each process runs, checked under every start method.
    mpcheck.assert_map_equal(squares_process.work, range(10))


@pytest.mark.parametrize("method", pytest_mpcheck.available_start_methods())
def test_program_runs_under_every_start_method(method):
    # The real program, one process per number, under each start method.
    context = multiprocessing.get_context(method)
    assert squares_process.run(range(4), context) == {0: 0, 1: 1, 2: 4, 3: 9}
