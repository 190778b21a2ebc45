"""Program 3 of the classic multiprocessing guide: a shared counter.

Four processes each add 1 to a shared ``Value`` 100 times, holding the
value's own lock across each read-modify-write, so no update is lost.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext
from typing import Any


def increment(counter: Any, times: int) -> None:
    """Process target: add 1 to ``counter`` ``times`` times, under its lock."""
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def run(processes: int = 4, times: int = 100, context: BaseContext | None = None) -> int:
    """Start ``processes`` incrementing processes; return the final count."""
    ctx = context if context is not None else multiprocessing.get_context()
    counter = ctx.Value("i", 0)
    workers = [ctx.Process(target=increment, args=(counter, times)) for _ in range(processes)]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    return int(counter.value)


if __name__ == "__main__":
    print(run())
