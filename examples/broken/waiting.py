"""Waiting for the output files of an earlier step.

The bug: ``wait_for`` polls until the file exists, with no time limit.  When
the earlier step failed and the file never appears, the worker waits forever,
and so does a plain ``Pool.map``.

Fix: give the wait a deadline and raise ``TimeoutError`` when it passes.
"""

from __future__ import annotations

import time
from pathlib import Path


def wait_for(path: Path) -> int:
    while not path.exists():
        time.sleep(0.05)
    return path.stat().st_size
