"""Broken: a per-worker cache whose key leaves out part of the input."""

from __future__ import annotations

import pytest

import pricing

LINES = [(quantity, price) for price in (5, 7, 9) for quantity in (1, 2, 3, 4)]


@pytest.fixture(autouse=True)
def empty_cache():
    # Each test starts with an empty cache in the test process, as a new program
    # would (fork workers copy the test process's cache as it is at that moment).
    pricing.clear_cache()


def test_line_totals(mpcheck):
    mpcheck.assert_map_equal(pricing.line_total, LINES)


def test_line_totals_unordered(mpcheck):
    # imap_unordered: results are compared as a multiset.
    mpcheck.assert_map_equal(pricing.line_total, LINES, via="imap_unordered")
