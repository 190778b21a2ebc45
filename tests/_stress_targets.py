"""Targets and "library code" for the in-process shared-state tests.

Processes started with ``spawn`` or ``forkserver`` import this module by name
(``tests/`` is on ``sys.path`` and children inherit the parent's path), so
everything they run lives here at module level.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import sys
import time
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


def add_in_a_child(counter: Any, exitcode: int = 0) -> None:
    """One locked increment, made by a process this one starts (which exits with
    ``exitcode`` instead, when it is not 0)."""
    child = multiprocessing.get_context("fork").Process(
        target=_add_or_exit, args=(counter, exitcode)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"the child process exited with {child.exitcode}")


def _add_or_exit(counter: Any, exitcode: int) -> None:
    if exitcode:
        os._exit(exitcode)
    add_once_locked(counter)


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
    ``"separate"`` (a lock of the same context guarding a raw value).
    """
    ctx = multiprocessing.get_context(method)
    args: tuple[Any, ...]
    if lock == "separate":
        counter = multiprocessing.Value("i", 0, lock=False)
        target: Any = _count_with_lock
        args = (counter, ctx.Lock(), times)
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


def _meet(ready: Any, go: Any, cond: Any, barrier: Any, tasks: Any, results: Any) -> None:
    """A child that uses every primitive ``multiprocessing`` builds on locks."""
    ready.set()
    go.wait(30)
    with cond:
        cond.notify_all()
    barrier.wait(30)
    item = tasks.get(timeout=30)
    results.put(item * 2)
    tasks.task_done()


def _double(x: int) -> int:
    return x * 2


def use_every_primitive(method: str) -> list[Any]:
    """Library code built on ``multiprocessing``'s primitives, none of them passed in:
    what it sees of each, in order (the same inside ``instrument()`` as outside)."""
    import concurrent.futures

    ctx = multiprocessing.get_context(method)
    ready, go = ctx.Event(), ctx.Event()
    cond = ctx.Condition(ctx.Lock())  # a Condition given the code's own lock
    barrier = ctx.Barrier(2)
    tasks, results = ctx.JoinableQueue(), ctx.Queue()
    semaphore, bounded = ctx.Semaphore(2), ctx.BoundedSemaphore(1)
    simple = ctx.SimpleQueue()
    child = ctx.Process(target=_meet, args=(ready, go, cond, barrier, tasks, results))
    child.start()
    seen: list[Any] = [ready.wait(30)]
    go.set()
    barrier.wait(30)
    tasks.put(21)
    tasks.join()
    seen.append(results.get(timeout=30))
    child.join(30)
    seen.append(child.exitcode)
    with semaphore, bounded:
        seen.append(bounded.acquire(False))
    simple.put("simple")
    seen.append(simple.get())
    with ctx.Pool(2) as pool:
        seen.append(pool.map(_double, range(4)))
        seen.append(pool.apply_async(_double, (5,)).get(30))
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as executor:
        seen.append(list(executor.map(_double, range(3))))
    with ctx.Manager() as manager:
        shared = manager.list([1])
        shared.append(2)
        seen.append(list(shared))
    for queue in (tasks, results):
        queue.close()
        queue.join_thread()
    simple.close()
    return seen


def fork_lock_to_spawn() -> str:
    """Hand a lock made by the default (fork) context to a spawn child: what happens."""
    lock = multiprocessing.get_context("fork").Lock()
    child = multiprocessing.get_context("spawn").Process(target=_hold, args=(lock,))
    try:
        child.start()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    child.join(30)
    return f"exit code {child.exitcode}"


def _hold(lock: Any) -> None:
    with lock:
        pass


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def pool_of_naps(method: str, seconds: float) -> list[float]:
    """Library code that maps a nap over a pool of its own: it hangs if the nap is long."""
    with multiprocessing.get_context(method).Pool(2) as pool:
        return pool.map(_nap, [seconds] * 2)


def square(x: int) -> int:
    return x * x


def square_slowly_at_three(x: int) -> int:
    """``square``, slow on 3: the other worker is done, and leaves, while 3 runs."""
    if x == 3:
        time.sleep(0.5)
    return x * x


def pid_of(x: int) -> int:
    """A function whose result depends on the process that runs it: never the same
    in a worker as in the test process."""
    return os.getpid()


def add(a: int, b: int) -> int:
    return a + b


def pid_plus(a: int, b: int) -> int:
    return os.getpid() + a + b


def exit_on_two(x: int) -> int:
    if x == 2:
        os._exit(3)
    return x


def a_thread_lock(x: int) -> Any:
    """A result that cannot be pickled back to the parent."""
    import threading

    return threading.Lock()


def pool_call(method: str, via: str, func: Any) -> Any:
    """Library code that makes its own pool and calls it one way (``via``)."""
    import concurrent.futures

    ctx = multiprocessing.get_context(method)
    if via.startswith("executor"):
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as executor:
            if via == "executor.map (submit wrapped)":
                submit = executor.submit  # a progress bar wraps it so, counting tasks

                def counted(*args: Any, **kwargs: Any) -> Any:
                    return submit(*args, **kwargs)

                executor.submit = counted  # type: ignore[method-assign]
            if via.startswith("executor.map"):
                return list(executor.map(func, range(4), chunksize=2))
            return executor.submit(func, 3).result(30)
    with ctx.Pool(2) as pool:
        if via == "map":
            return pool.map(func, range(4))
        if via == "imap":
            return list(pool.imap(func, range(4)))
        if via == "imap_unordered":
            return sorted(pool.imap_unordered(func, range(4)))
        if via == "map_async":
            return pool.map_async(func, range(4)).get(30)
        if via == "map_async, close, join":
            result = pool.map_async(func, range(4))
            pool.close()  # each worker leaves once no task is left for it
            pool.join()
            return result.get(30)
        if via == "apply_async":
            return pool.apply_async(func, (3,)).get(30)
        if via == "apply":
            return pool.apply(func, (3,))
        if via == "starmap":
            pairs = [(1, 2), (3, 4)]
            return pool.starmap(add if func is square else pid_plus, pairs)
    raise ValueError(via)


def foreign_after_calm(into: Any) -> None:
    """In a fresh process: an access with nothing foreign, then the same under a lock of
    the user's made afterwards; what each record says of foreign locks (sent on
    ``into``, a pipe: a queue would be a primitive of the user's from the start)."""
    import pytest_mpcheck

    counter = pytest_mpcheck.Value("i", 0, lock=False)
    counter.value  # noqa: B018
    users = multiprocessing.get_context("spawn").Lock()
    with users:
        counter.value += 1
    into.send([event.foreign for event in counter._trace.events()])


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


# --- children of CPython's shared-ctypes tests (test_cpython_sharedctypes) -------


class Foo(ctypes.Structure):
    """CPython's ``_Foo``."""

    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double), ("z", ctypes.c_longlong)]


#: ``_TestValue.codes_values``: typecode, initial value, value the child writes.
CODES_VALUES = [
    ("i", 4343, 24234),
    ("d", 3.625, -4.25),
    ("h", -232, 234),
    ("q", 2**33, 2**34),
    ("c", b"x", b"y"),
]


def write_codes_values(values: list[Any]) -> None:
    """``_TestValue._test``."""
    for sv, cv in zip(values, CODES_VALUES, strict=True):
        sv.value = cv[2]


def prefix_sums(seq: Any) -> None:
    """``_TestArray.f``: each item becomes the sum of itself and those before it."""
    for i in range(1, len(seq)):
        seq[i] += seq[i - 1]


def double(x: Any, y: Any, z: Any, foo: Any, arr: Any, string: Any) -> None:
    """``_TestSharedCTypes._double``."""
    x.value *= 2
    y.value *= 2
    z.value *= 2
    foo.x *= 2
    foo.y *= 2
    string.value *= 2
    for i in range(len(arr)):
        arr[i] *= 2


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


# --- deadlocks ----------------------------------------------------------------------


def _my_turn(turn: Any) -> int:
    """0 for the first process of the round to get here, 1 for the second, ..."""
    with turn.get_lock():
        mine: int = turn.value
        turn.value += 1
    return mine


def _role(turn: Any) -> int:
    """0 or 1 for the two processes of a round: their turns, once both have one."""
    mine = _my_turn(turn)
    _until(turn, 2)
    return mine


def _until(turn: Any, value: int) -> None:
    while turn.value < value:
        time.sleep(0.001)


def opposite_orders(first: Any, second: Any, turn: Any) -> None:
    """Two processes take both locks in opposite orders, one after the other: a
    deadlock that never happens in this run, but could."""
    mine = _role(turn)
    if mine:
        _until(turn, 3)  # the first has taken and released both
    a, b = (second, first) if mine else (first, second)
    with a, b:
        pass
    if not mine:
        _my_turn(turn)


def crossed(first: Any, second: Any, turn: Any) -> None:
    """Each process takes its first lock, waits until both hold one, then takes the other."""
    mine = _role(turn)
    a, b = (second, first) if mine else (first, second)
    with a:
        _my_turn(turn)
        _until(turn, 4)
        with b:
            pass


def crossed_beside_a_sleeper(first: Any, second: Any, turn: Any) -> None:
    """Two processes deadlock as in ``crossed`` while a third sleeps past any timeout."""
    mine = _my_turn(turn)
    _until(turn, 3)
    if mine == 2:
        time.sleep(60)
        return
    a, b = (second, first) if mine else (first, second)
    with a:
        _my_turn(turn)
        _until(turn, 5)
        with b:
            pass


def same_order(first: Any, second: Any, count: Any) -> None:
    """Both locks, always in the same order, while the other process does the same."""
    for _ in range(20):
        with first, second:
            count.value += 1


def opposite_under_gate(gate: Any, first: Any, second: Any, turn: Any) -> None:
    """Opposite orders, each under the same outer lock: they can never wait for each other."""
    mine = _my_turn(turn)
    a, b = (second, first) if mine else (first, second)
    for _ in range(20):
        with gate, a, b:
            pass


def retake(lock: Any, counter: Any) -> None:
    """Take a lock again while holding it: a Lock waits for itself, an RLock does not."""
    with lock, lock:
        counter.value += 1
