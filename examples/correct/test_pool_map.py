"""Program 2: ``Pool(4).map(square, range(10))``."""

from __future__ import annotations

import pytest

from squares_pool import main, square


def test_square_map(mpcheck):
    # Pool.map(square, ...) equals list(map(square, ...)) under every start method.
    mpcheck.assert_map_equal(square, range(10))


def test_square_imap_unordered(mpcheck):
    # imap_unordered yields results in completion order: compared as a multiset.
    mpcheck.assert_map_equal(square, range(10), via="imap_unordered")


@pytest.mark.mpcheck(processes=2)
def test_square_other_apis(mpcheck):
    # The marker sets this test's processes; a keyword argument overrides it per check.
    mpcheck.assert_map_equal(square, range(10), via="executor")
    mpcheck.assert_map_equal(square, [(3,), (4,)], via="starmap", processes=4)


def test_program(mp_start_method):
    # The program itself, with each start method in turn as multiprocessing's default.
    assert main() == [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
