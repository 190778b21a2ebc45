"""Retry delays with random jitter.

Not a parallelism bug: ``delay()`` returns a different value on every call,
so no parallel run can be compared with a sequential one.  The check says
so instead of blaming the pool.

Fix (for testing): take the random generator, or its seed, as an argument.
"""

from __future__ import annotations

import random


def delay(attempt: int) -> float:
    return 0.1 * 2**attempt + random.uniform(0, 0.1)
