"""Targets and "library code" for the in-process shared-state tests.

Processes started with ``spawn`` or ``forkserver`` import this module by name
(``tests/`` is on ``sys.path`` and children inherit the parent's path), so
everything they run lives here at module level.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

# --- stress targets -------------------------------------------------------------


def add_unlocked(counter: Any, times: int = 100) -> None:
    """The guide's counter with the lock missing."""
    for _ in range(times):
        counter.value += 1


def add_locked(counter: Any, times: int = 100) -> None:
    """The guide's counter: the value's own lock held across each increment."""
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def add_once(counter: Any) -> None:
    """One unguarded increment: rarely loses an update, always unguarded."""
    counter.value += 1


def add_once_locked(counter: Any) -> None:
    with counter.get_lock():
        counter.value += 1


def add_under(counter: Any, guard: Any, times: int = 10) -> None:
    """Increments under ``guard``: any lock-like object with ``__enter__``/``__exit__``."""
    for _ in range(times):
        with guard:
            counter.value += 1


# --- shared objects held by the user's objects --------------------------------------


class Held:
    """A library's wrapper keeping its Value in an attribute."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter


@dataclass
class Fields:
    name: str
    counter: Any


class Slot:
    __slots__ = ("counter",)

    def __init__(self, counter: Any) -> None:
        self.counter = counter


class InheritedSlot(Slot):
    """Its counter lives in a slot its base class declares."""

    __slots__ = ("spare",)


class Named(NamedTuple):
    name: str
    counter: Any


class Touchy:
    """Holds the counter in an attribute; reading any of its properties fails."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter

    @property
    def _lock(self) -> Any:
        raise RuntimeError("the property _lock was read")

    @property
    def value(self) -> Any:
        raise RuntimeError("the property value was read")


def boxed(shape: str, counter: Any) -> Any:
    """``counter`` packed the way ``shape`` names, as a stress argument."""
    if shape == "nested":
        return {"x": [None, counter]}
    boxes = {
        "attribute": Held,
        "dataclass": lambda counter: Fields("hits", counter),
        "slot": Slot,
        "inherited-slot": InheritedSlot,
        "namedtuple": lambda counter: Named("hits", counter),
        "property": Touchy,
    }
    return boxes[shape](counter)


def _unboxed(box: Any) -> Any:
    return box["x"][1] if isinstance(box, dict) else box.counter


def add_boxed(box: Any, times: int = 10) -> None:
    """The guide's counter with the lock missing, wherever the box keeps it."""
    counter = _unboxed(box)
    for _ in range(times):
        counter.value += 1


def add_boxed_locked(box: Any, times: int = 10) -> None:
    counter = _unboxed(box)
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def add_boxed_under_its_lock(box: Any, times: int = 10) -> None:
    """Increments of a raw value under a plain lock, both held by the box."""
    for _ in range(times):
        with box.lock:
            box.counter.value += 1


def fail(_: Any) -> None:
    raise ValueError("the target failed")


def nothing(*_: Any) -> None:
    pass


# --- instrument(): unchanged library code ---------------------------------------


def _count(counter: Any, times: int) -> None:
    for _ in range(times):
        counter.value += 1


def _count_with_own_lock(counter: Any, times: int) -> None:
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def _count_with_lock(counter: Any, lock: Any, times: int) -> None:
    for _ in range(times):
        with lock:
            counter.value += 1


def parallel_count(method: str, *, lock: str = "none", processes: int = 4, times: int = 100) -> int:
    """Library code as users write it: its own shared Value, its own Processes.

    ``lock`` is ``"none"`` (the bug), ``"own"`` (``get_lock()``) or
    ``"separate"`` (a ``multiprocessing.Lock`` guarding a raw value).
    """
    ctx = multiprocessing.get_context(method)
    args: tuple[Any, ...]
    if lock == "separate":
        counter = multiprocessing.Value("i", 0, lock=False)
        target: Any = _count_with_lock
        args = (counter, multiprocessing.Lock(), times)
    else:
        counter = ctx.Value("i", 0)
        target = _count_with_own_lock if lock == "own" else _count
        args = (counter, times)
    workers = [ctx.Process(target=target, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return int(counter.value)


# --- shared objects used from child processes -----------------------------------


def write_from_child(value: Any, array: Any, point: Any, text: Any) -> None:
    """Write each kind of shared object; the parent must see the writes."""
    with value.get_lock():
        value.value += 41
    array[0] = 7
    array[-1] = array[0] * 2
    array[1:3] = [5, 6]
    point.x = 3
    point.y = point.x + 0.5
    text.value = b"child"


def fill_raw(value: Any, array: Any, lock: Any) -> None:
    """Write ``lock=False`` objects under a separate lock."""
    with lock:
        value.value = 2.5
        array[:] = [9, 8, 7]


# --- helpers --------------------------------------------------------------------


@contextlib.contextmanager
def forking_quietly() -> Iterator[None]:
    """Allow in-process ``fork`` under Python 3.12+ despite pytest's watchdog thread.

    With ``faulthandler_timeout`` set, a C-level watchdog thread runs during each
    test, and 3.12+ warns on every fork; our tests start no Python threads.
    """
    with warnings.catch_warnings():
        if sys.version_info >= (3, 12):
            warnings.filterwarnings(
                "ignore", r".*fork\(\) may lead to deadlocks", DeprecationWarning
            )
        yield
