"""Work run by the benchmarks.

It lives in its own importable module so that ``spawn`` and ``forkserver``
workers, which start a fresh interpreter, can unpickle it by reference.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

__all__ = [
    "busy",
    "count_locked",
    "count_unlocked",
    "idle",
    "member_start",
    "square",
    "stress_prepare_quiet",
]


def square(x: int) -> int:
    """The function of the classic ``Pool(4).map(square, range(10))`` example."""
    return x * x


def count_unlocked(counter: Any, times: int = 100) -> None:
    """The classic guide's counter, broken: the read-modify-write is not locked."""
    for _ in range(times):
        counter.value += 1


def count_locked(counter: Any, times: int = 100) -> None:
    """The same counter, fixed: the value's own lock is held across the increment."""
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


@contextlib.contextmanager
def busy(workers: int) -> Iterator[None]:
    """``workers`` processes spinning on the CPU while the block runs."""
    ctx: Any = multiprocessing.get_context("spawn")
    spinners = [ctx.Process(target=_spin, daemon=True) for _ in range(workers)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.join()
            spinner.close()


def _spin() -> None:
    while True:
        pass


def idle(ready: Any) -> None:
    """A bare process's work: nothing but saying it is ready."""
    ready.send_bytes(b"")


def member_start(ready: Any, prepare: Any, adopt: Any, *payload: Any) -> None:
    """A stress member's start: it has unpickled what the crew sends, and prepares a round;
    then it says it is ready."""
    adopt()
    prepare(1, 0)
    ready.send_bytes(b"")


def stress_prepare_quiet(seed: int, label: int, round_number: int, **options: Any) -> None:
    """A stress member's per-round set-up with the access noise switched off.

    Profiling only (``bench_stress.py --phases``): stands in for the engine's
    own set-up to measure what the noise pauses cost.  Imported lazily, so
    the work functions above stay free of pytest_mpcheck.
    """
    from pytest_mpcheck._trace.policy import start_round

    start_round(seed, label, round_number, **{**options, "noise": 0.0})
