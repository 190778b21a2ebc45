"""Input validation written for a command-line tool, reused as a library.

The bug: ``sys.exit()`` on bad input.  In a ``multiprocessing.Pool`` worker
it ends the worker process; the pool starts a replacement, but the task it
was running is lost and ``Pool.map`` waits for its result forever.

Fix: raise an exception (``ValueError``) and let the command-line entry
point turn it into an exit status.
"""

from __future__ import annotations

import sys


def ratio(pair: tuple[float, float]) -> float:
    numerator, denominator = pair
    if denominator == 0:
        print(f"error: cannot divide {numerator} by zero", file=sys.stderr)
        sys.exit(2)
    return numerator / denominator
