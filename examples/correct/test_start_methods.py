"""Choosing start methods: for one test with the marker, for one check with a keyword."""

from __future__ import annotations

import pytest

from squares_pool import square


@pytest.mark.mpcheck(start_methods="spawn,forkserver")
def test_square_without_fork(mpcheck):
    # The workers of macOS's default (spawn) and of Python 3.14's on Linux (forkserver).
    mpcheck.assert_map_equal(square, range(10))


def test_square_under_forkserver(mpcheck):
    # start_methods= overrides the marker, the command line and the ini for this check.
    mpcheck.assert_map_equal(square, range(10), start_methods="forkserver")
