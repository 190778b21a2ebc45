"""Program 3: a shared Value incremented 100 times by each of 4 processes."""

from __future__ import annotations

import multiprocessing

import pytest
import pytest_mpcheck

from shared_counter import increment, run


def test_no_update_is_lost_under_stress(mpcheck):
    # The processes' function, 4 processes x 100 increments, released together
    # round after round under every start method: a missing lock fails every run.
    counter = mpcheck.Value("i", 0)
    mpcheck.stress(increment, counter, 100, processes=4, expect=lambda: counter.value == 400)


@pytest.mark.parametrize("method", pytest_mpcheck.available_start_methods())
def test_program_runs_under_every_start_method(method):
    # The real program, once under each start method.
    assert run(processes=4, times=100, context=multiprocessing.get_context(method)) == 400
