"""Program 3: a shared Value incremented 100 times by each of 4 processes."""

from __future__ import annotations

import multiprocessing

import pytest
import pytest_mpcheck

from shared_counter import run


@pytest.mark.parametrize("method", pytest_mpcheck.available_start_methods())
def test_no_update_is_lost(method):
    # Run the real program under each start method: 4 processes x 100 increments.
    assert run(processes=4, times=100, context=multiprocessing.get_context(method)) == 400
