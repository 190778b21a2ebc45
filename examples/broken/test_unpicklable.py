"""Broken: a lambda cannot be sent to worker processes."""

from __future__ import annotations

from scaling import scaler


def test_scaler(mpcheck):
    mpcheck.assert_map_equal(scaler(3), range(10))
