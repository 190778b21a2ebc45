"""The guide's shared counter with the lock missing, and two more updates without it.

The bug: ``counter.value += 1`` is a read followed by a write.  Between the
two, another process can write the counter; the write then overwrites that
process's increment, and an update is lost.  Run once, the program loses an
update only now and then; under ``stress`` the test fails in every run.

``add_result`` has the same bug, hidden by timing: each process adds its
result when its work is done, and the work takes a different time in each
process, so no update is ever lost here - until two processes finish
together.  ``count_words`` is library code with the same bug: each of its
processes adds its count to a shared total without the lock.

Fix: hold the lock across the read and the write,
``with counter.get_lock(): counter.value += 1``.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from multiprocessing.context import BaseContext
from typing import Any


def worker(counter: Any) -> None:
    for _ in range(100):
        counter.value += 1  # BUG: the lock is missing


def add_result(total: Any, next_id: Any) -> None:
    with next_id.get_lock():
        mine = next_id.value
        next_id.value += 1
    time.sleep(0.05 * mine)  # stands in for work that takes longer in some processes
    total.value += 1  # BUG: the lock is missing


def _add_words(total: Any, text: str) -> None:
    words = len(text.split())
    total.value += words  # BUG: the lock is missing


def count_words(texts: Sequence[str], context: BaseContext | None = None) -> int:
    """Library code: count the words of ``texts``, one process per text, in a shared total."""
    ctx = context if context is not None else multiprocessing.get_context()
    total = ctx.Value("i", 0)
    processes = [ctx.Process(target=_add_words, args=(total, text)) for text in texts]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return int(total.value)
