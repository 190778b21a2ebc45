"""What each worker runs for the equivalence oracle, in place of the user's function.

The user's function and the items travel as bytes pickled in the test
process, and results or exceptions travel home as bytes pickled in the
worker.  A plain ``Pool`` loses the task, and hangs, when a worker cannot
unpickle its task or the parent cannot unpickle a result; here each of those
becomes an ``Outcome`` that says what happened to which item.

``ScriptCall`` runs one worker's share of each placement the oracle tries
and, when every item returned a value and the values travel, sends each share's
values home pickled at once: per-item wrapping costs more than the work of a
cheap function.  Only a share in which something went wrong is described item
by item, exactly as ``ItemCall`` describes each item.

Like ``Pool``, the function is unpickled once per task (chunk): a callable
object with state gets a fresh copy per chunk, exactly as it would.
"""

from __future__ import annotations

import itertools
import operator
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, NoReturn

from pytest_mpcheck._engine.worker import Task, job_poster, note_job, user_traceback

__all__ = [
    "RAISED",
    "UNLOADABLE",
    "UNPICKLABLE",
    "VALUE",
    "ItemCall",
    "Outcome",
    "PartOutcome",
    "Piece",
    "ScriptCall",
]

VALUE = "value"
RAISED = "raised"
UNPICKLABLE = "unpicklable"
UNLOADABLE = "unloadable"


class Outcome(NamedTuple):
    """One item's fate in a worker; only bytes and strings, so it always travels."""

    position: int
    kind: str
    payload: bytes | None
    detail: tuple[str, ...]


class ItemCall:
    """Picklable stand-in for the user's function; ``star`` unpacks argument tuples."""

    def __init__(self, func_bytes: bytes, star: bool) -> None:
        self._func_bytes = func_bytes
        self._star = star
        self._func: Any = None

    def __getstate__(self) -> tuple[bytes, bool]:
        return (self._func_bytes, self._star)

    def __setstate__(self, state: tuple[bytes, bool]) -> None:
        self._func_bytes, self._star = state
        self._func = None

    def __call__(self, job: tuple[int, bytes]) -> Outcome:
        index, payload = job
        note_job(index)
        try:
            return self._run(index, payload)
        finally:
            note_job(-1)

    def _run(self, index: int, payload: bytes) -> Outcome:
        if self._func is None:
            try:
                self._func = pickle.loads(self._func_bytes)
            except Exception as exc:
                return _unloadable(index, "function", exc)
        try:
            item = pickle.loads(payload)
        except Exception as exc:
            return _unloadable(index, f"argument at index {index}", exc)
        try:
            result = self._func(*item) if self._star else self._func(item)
        except SystemExit as exc:
            _exit_as(exc)
        except Exception as exc:
            return _raised(index, exc)
        return _pack(index, VALUE, result, f"result for index {index}", ())


class Piece(NamedTuple):
    """Chunks a worker loads at once: their job numbers in the order it runs them, the
    size of each chunk, and their items pickled as one list.  The numbers are a
    ``range`` or an ``array``: compact to send, and nothing to build in the worker."""

    jobs: Sequence[int]
    sizes: Sequence[int]
    payload: bytes


class PartOutcome(NamedTuple):
    """A worker's share of one placement: its values in the order it ran them, pickled
    at once (``payload``), or the ``outcomes`` of its items when something went wrong;
    neither when its items could not be loaded here (which item is not known: send
    them one by one)."""

    payload: bytes | None
    outcomes: tuple[Outcome, ...]


class ScriptCall:
    """Picklable stand-in for the user's function over one worker's script: its share of
    each placement (a tuple of ``Piece`` per placement), one after the other.

    A piece's items are loaded when it starts and dropped when it ends, as a pool
    worker drops a task's arguments before it takes the next; the loop allocates
    little else, so that, as in a pool worker, the next items often reuse the
    memory (and the ids) of the last.  The function is unpickled for each chunk,
    as ``Pool`` does for each task.  A function pickled by reference loads as
    the same object every time, so once two loads agree it is not loaded again:
    nothing a chunk could see changes.
    """

    def __init__(self, func_bytes: bytes, star: bool) -> None:
        self._func_bytes = func_bytes
        self._star = star

    def __call__(self, task: Task) -> tuple[PartOutcome, ...]:
        func: Any = None
        same = False
        post = job_poster()
        parts: list[PartOutcome] = []
        try:
            for number, part in enumerate(task.payload):
                # The first placement posts every item it runs, for a timeout or a crash
                # to name; it runs every item, so later ones post a chunk's first item
                # only (posting costs more than a cheap function's call).
                each = number == 0
                values: list[Any] = []
                raised: set[int] = set()
                for piece in part:
                    try:
                        items = pickle.loads(piece.payload)
                    except Exception:
                        return (*parts, PartOutcome(None, ()))
                    jobs = piece.jobs
                    first = 0
                    for size in piece.sizes:
                        if same:
                            break
                        try:
                            loaded = pickle.loads(self._func_bytes)
                        except Exception as exc:
                            problem = _unloadable(jobs[first], "function", exc)
                            return (*parts, PartOutcome(None, (problem,)))
                        same, func = loaded is func, loaded
                        if same:
                            break
                        stop = first + size
                        chunk = items[first:stop]
                        _run(func, self._star, chunk, jobs[first:stop], post, each, values, raised)
                        del chunk
                        first = stop
                    # Once the function is known to load as the same object, the rest of
                    # the chunks would all get it: they run as one.
                    if first < len(items):
                        rest, numbers = (items[first:], jobs[first:]) if first else (items, jobs)
                        _run(func, self._star, rest, numbers, post, each, values, raised)
                        del numbers
                        del rest
                    del items  # freed before the next piece loads, as in a pool worker
                parts.append(_part_outcome(values, raised, part))
        finally:
            note_job(-1)
        return tuple(parts)


def _part_outcome(values: list[Any], raised: set[int], part: tuple[Piece, ...]) -> PartOutcome:
    """The values pickled at once if they all returned and pickle, else item by item.

    Values that pickle but do not load back are met in the test process, which
    then sends the items one by one to find which.
    """
    if not raised:
        try:
            return PartOutcome(pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL), ())
        except Exception:
            pass
    jobs = itertools.chain.from_iterable(piece.jobs for piece in part)
    return PartOutcome(
        None,
        tuple(
            _raised(job, value)
            if job in raised
            else _pack(job, VALUE, value, f"result for index {job}", ())
            for job, value in zip(jobs, values, strict=True)
        ),
    )


def _run(
    func: Any,
    star: bool,
    chunk: list[Any],
    jobs: Sequence[int],
    post: Callable[[int], None],
    each: bool,
    values: list[Any],
    raised: set[int],
) -> None:
    """Append ``func`` of each item of ``chunk`` (``func(*item)`` with ``star``; job
    numbers ``jobs``) to ``values``; an item that raised gets its exception, and its
    job number goes to ``raised``.

    The items go through a C ``map`` that posts each job number just before its
    call (with ``each``; else only the first); ``list.extend`` keeps what it got
    before an exception, so the loop resumes after the item that raised, each
    item called once, in order.
    """
    apply = itertools.starmap if star else map
    done = 0
    while done < len(chunk):
        rest: Iterable[Any] = chunk[done:] if done else chunk
        before = len(values)
        try:
            if each:
                numbers = jobs[done:] if done else jobs
                rest = map(_second, zip(map(post, numbers), rest, strict=False))
            else:
                post(jobs[done])
            values.extend(apply(func, rest))
            done = len(chunk)
        except SystemExit as exc:
            _exit_as(exc)
        except Exception as exc:
            done += len(values) - before
            values.append(exc)
            raised.add(jobs[done])
            done += 1


_second = operator.itemgetter(1)


def _exit_as(exc: SystemExit) -> NoReturn:
    """End the worker as ``exc`` asks.  A Pool worker dies of it; an executor worker
    is made to die the same way, so both report a dead worker instead of raising
    ``SystemExit`` in the test process."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exc.code if isinstance(exc.code, int) else 1)


def _unloadable(index: int, where: str, exc: BaseException) -> Outcome:
    return Outcome(index, UNLOADABLE, None, (where, f"{type(exc).__name__}: {exc}"))


def _raised(index: int, exc: BaseException) -> Outcome:
    trace = user_traceback(exc)
    return _pack(index, RAISED, exc, f"exception raised for index {index}", (trace,))


def _pack(index: int, kind: str, obj: Any, where: str, extra: tuple[str, ...]) -> Outcome:
    """Pickle ``obj`` for the trip home, or explain why it cannot make the trip."""
    # Imported here, on the path of items described one by one: it costs a fresh
    # spawn or forkserver worker more to import than a cheap task's whole work.
    from pytest_mpcheck._checks.pickling import pickle_or_explain

    packed = pickle_or_explain(obj, where)
    if isinstance(packed, bytes):
        return Outcome(index, kind, packed, extra)
    return Outcome(index, UNPICKLABLE, None, (kind, *packed.as_tuple(), *extra))
