"""Picklable callables for the in-process engine tests.

Workers started with ``spawn`` or ``forkserver`` import this module by name
(``tests/`` is on ``sys.path``: pytest's default import mode puts the
directory of a rootdir-less test module there, and workers inherit the
parent's ``sys.path``).
"""

from __future__ import annotations

import os
import time

#: Module state that tests change at run time; only fork workers see the change.
VALUE = 0


def square(x: int) -> int:
    return x * x


def read_value(_: object) -> int:
    return VALUE


def pid(_: object) -> int:
    return os.getpid()


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def exit_now(_: object) -> None:
    os._exit(3)


def sleep_armed(stack_dir: str, seconds: float) -> None:
    """A watched worker's life: arm the stack dump, then sleep."""
    from pytest_mpcheck._engine.worker import arm_worker

    arm_worker(None, stack_dir)
    time.sleep(seconds)


#: This process's pid, as fork workers inherit it: they can tell they are workers.
PARENT = os.getpid()


def raises_at_777(x: int) -> int:
    if x == 777:
        raise ValueError("no 777", x)
    return x


def raises_in_workers_at_777(x: int) -> int:
    if x == 777 and os.getpid() != PARENT:
        raise ValueError("no 777 in a worker", x)
    return x


def lock_at_500(x: int) -> object:
    """A result that cannot travel home, for one item only."""
    import threading

    return threading.Lock() if x == 500 else x


def off_in_workers_at(index: int) -> object:
    """A function whose workers get one late item wrong; ``index < 0``: never."""
    import functools

    return functools.partial(_off_at, index)


def worn_in_workers_after(calls: int) -> object:
    """A function that goes wrong in a worker process after its first ``calls`` calls."""
    import functools

    return functools.partial(_worn, os.getpid(), calls)


#: ``_worn``'s calls in this process, when it is a worker.
_WORKER_CALLS = 0


def _worn(parent: int, calls: int, x: int) -> int:
    global _WORKER_CALLS
    if os.getpid() == parent:
        return x
    _WORKER_CALLS += 1
    return x if calls >= _WORKER_CALLS else -x


def _off_at(index: int, x: int) -> int:
    return x + 1 if x == index and os.getpid() != PARENT else x
