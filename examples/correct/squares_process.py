"""Program 1 of the classic multiprocessing guide: a Process per worker.

Each worker computes the square of its number and puts ``(number, square)``
on a Queue; the parent collects one result per worker.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from multiprocessing.context import BaseContext
from typing import Any


def work(number: int) -> tuple[int, int]:
    """The work one process does: its number and that number squared."""
    return number, number * number


def worker(number: int, queue: Any) -> None:
    """Process target: do the work and put the result on the queue."""
    queue.put(work(number))


def run(
    numbers: Iterable[int], context: BaseContext | None = None, timeout: float = 60
) -> dict[int, int]:
    """Start one process per number and return ``{number: square}``.

    A result that does not arrive within ``timeout`` seconds raises
    ``queue.Empty`` instead of waiting forever.
    """
    ctx = context if context is not None else multiprocessing.get_context()
    queue = ctx.Queue()
    processes = [ctx.Process(target=worker, args=(n, queue)) for n in numbers]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=timeout) for _ in processes)
    for process in processes:
        process.join()
    return results


if __name__ == "__main__":
    print(run(range(4)))
