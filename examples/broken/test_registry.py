"""Broken: a registry filled at run time is empty in spawn and forkserver workers."""

from __future__ import annotations

import formats


def test_parse_jobs(mpcheck):
    formats.register("csv", formats.parse_csv)
    try:
        mpcheck.assert_map_equal(formats.parse, [("csv", "a,b"), ("csv", "c")])
    finally:
        formats.PARSERS.clear()
