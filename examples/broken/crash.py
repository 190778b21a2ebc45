"""A function whose worker process is killed, as the out-of-memory killer does.

A plain ``Pool.map`` loses the task of a killed worker and waits forever.
Here the kill is explicit (``SIGKILL`` to itself), standing in for running
out of memory or a crash in C code.
"""

from __future__ import annotations

import os
import signal


def load(size: int) -> int:
    if size > 1000:
        os.kill(os.getpid(), signal.SIGKILL)  # stands in for the out-of-memory killer
    return size
