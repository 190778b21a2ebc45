"""Broken: an exception that cannot be rebuilt after the trip back from a worker."""

from __future__ import annotations

from records import parse_record


def test_parse_records(mpcheck):
    mpcheck.assert_map_equal(parse_record, [(1, "10"), (2, "20"), (3, "x"), (4, "40")])
