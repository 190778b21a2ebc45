"""The guide's shared counter, and the other ways to share state safely.

Each function below is run by several processes at once, as a ``stress``
target or as the processes of ``count_words``; none of them loses an update:

* ``worker``: the guide's counter, holding the value's own lock across each
  read-modify-write;
* ``worker_with_lock``: a raw value (``lock=False``) guarded by a separate
  lock;
* ``fill_own_slot``: each process writes only its own slot of an array;
* ``record_hits``: a counter kept inside a library's object (``Tally``),
  updated under the value's own lock;
* ``count_words``: library code that creates its own shared ``Value`` and
  its own processes; ``instrument()`` checks it unchanged.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any


def worker(counter: Any) -> None:
    """Add 1 to ``counter`` 100 times, holding its lock across each increment."""
    for _ in range(100):
        with counter.get_lock():
            counter.value += 1


def worker_with_lock(counter: Any, lock: Any) -> None:
    """Add 1 to a ``lock=False`` value 100 times, under a separate lock."""
    for _ in range(100):
        with lock:
            counter.value += 1


def fill_own_slot(next_slot: Any, slots: Any) -> None:
    """Take a slot number once, under the lock; then write only that slot."""
    with next_slot.get_lock():
        mine = next_slot.value
        next_slot.value += 1
    for _ in range(100):
        slots[mine] += 1


@dataclass
class Tally:
    """A library's counter: a shared ``Value`` kept in an object."""

    name: str
    count: Any  # a Value("i", 0)

    def add(self, amount: int = 1) -> None:
        with self.count.get_lock():
            self.count.value += amount


def record_hits(tally: Tally) -> None:
    """Add 1 to ``tally`` 100 times."""
    for _ in range(100):
        tally.add()


def _add_words(total: Any, text: str) -> None:
    words = len(text.split())
    with total.get_lock():
        total.value += words


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
