"""The checks in a plain script, without pytest: ``python check_without_pytest.py``.

Outside a pytest run the module-level functions use the defaults (every
start method the platform offers, 4 processes, 60 s timeout); a finding
raises ``pytest_mpcheck.MpCheckError``, an ``AssertionError``.
"""

from __future__ import annotations

import pytest_mpcheck


def square(x: int) -> int:
    return x * x


if __name__ == "__main__":
    try:
        pytest_mpcheck.assert_map_equal(square, range(10))
        pytest_mpcheck.assert_map_equal(square, range(10), via="imap_unordered")
    finally:
        pytest_mpcheck.close_pools()
    print("ok:", pytest_mpcheck.active_settings().describe())
