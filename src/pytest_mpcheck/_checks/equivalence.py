"""The equivalence oracle: a parallel map must return what ``list(map(func, items))`` does.

Order of work, and why:

1. everything that must travel to a worker is pickled here first, so an
   unpicklable function or argument is explained before any process starts;
2. the parallel runs come next, one per start method, so a function that
   crashes or hangs its process is met in a worker, never in the test process;
3. the sequential reference runs last, in the test process;
4. on a difference, the reference runs a second time: if the two sequential
   runs disagree, the function is nondeterministic and parallelism is not
   blamed.
"""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_mpcheck._checks.compare import identity_only, multiset_difference, values_equal
from pytest_mpcheck._checks.findings import (
    Finding,
    Incomparable,
    Mismatch,
    MultisetMismatch,
    Nondeterminism,
    Raised,
    Result,
    Returned,
    Run,
    RunBroken,
    RunTimeout,
    Unloadable,
    Unpicklable,
)
from pytest_mpcheck._checks.pickling import describe_object, explain_failure, pickle_or_explain
from pytest_mpcheck._checks.task import (
    RAISED,
    UNLOADABLE,
    UNPICKLABLE,
    ItemCall,
    Outcome,
    problem_of,
)
from pytest_mpcheck._engine.pools import VIAS, Engine
from pytest_mpcheck._engine.supervise import Overran, WorkerDied
from pytest_mpcheck._report import messages
from pytest_mpcheck._settings import Settings

__all__ = ["check_map_equal"]


@dataclass(frozen=True)
class _Reference:
    """A sequential run: values up to the first exception, and that exception."""

    values: list[Any]
    error: Raised | None

    def result(self, index: int) -> Result | None:
        if index < len(self.values):
            return Returned(self.values[index])
        if self.error is not None and index == len(self.values):
            return self.error
        return None


def check_map_equal(
    func: Callable[..., Any],
    iterable: Iterable[Any],
    *,
    via: str,
    processes: int,
    chunksize: int | None,
    settings: Settings,
    engine: Engine,
) -> list[Any]:
    """Raise an ``MpCheckError`` if any parallel run differs from the sequential one.

    Returns the first start method's parallel results, in the order ``via`` gave
    them; an item that raised (as it did in the sequential run) holds its exception.
    """
    __tracebackhide__ = True
    _validate(func, iterable, via, chunksize)
    items = list(iterable)
    star = via == "starmap"
    if star:
        items = [_argument_tuple(item, index) for index, item in enumerate(items)]
    call = ItemCall(_pickled(func, "function", None, func), star)
    jobs = []
    for index, item in enumerate(items):  # a loop, not a comprehension: no extra frame shown
        jobs.append((index, _pickled(item, "argument", index, item)))
    name = getattr(func, "__qualname__", None) or describe_object(func)

    parallel: dict[str, dict[int, Result]] = {}
    arrived: list[int] = []
    for method in settings.start_methods:
        run = Run(method, via, processes, chunksize, name, settings.seed)
        failure: Finding | None = None
        try:
            # Each start method has the whole timeout: it is a limit per run, as users read it.
            raw = engine.run(method, via, processes, call, jobs, chunksize, settings.timeout)
        except Overran as exc:
            workers = tuple(
                (pid, exc.jobs.get(pid), _item_at(items, exc.jobs.get(pid)), stack)
                for pid, stack in sorted(exc.stacks.items())
            )
            failure = RunTimeout(run, settings.timeout, exc.done, exc.total, workers, exc.parent)
        except WorkerDied as exc:
            failure = RunBroken(run, exc.detail, exc.job, _item_at(items, exc.job))
        if failure is not None:
            messages.raise_finding(failure)
        parallel[method] = _decode(raw, run, items, func)
        if not arrived:
            arrived = [outcome.position for outcome in raw]

    reference = _sequential(func, items, star)
    found: dict[str, Finding | None] = {}
    for method in settings.start_methods:
        run = Run(method, via, processes, chunksize, name, settings.seed)
        found[method] = _compare(reference, parallel[method], run, items)
    first = next((finding for finding in found.values() if finding is not None), None)
    if first is None:
        results = parallel[settings.start_methods[0]]
        return [_unwrapped(results[position]) for position in arrived]
    incomparable = _incomparable(first, reference, items)
    if incomparable is not None:
        messages.raise_finding(incomparable)
    second = _sequential(func, items, star)
    drift = _first_disagreement(reference, second, len(items))
    if drift is not None:
        index = drift
        messages.raise_finding(
            Nondeterminism(
                name,
                index,
                items[index] if index < len(items) else None,
                reference.result(index),
                second.result(index),
            )
        )
    messages.raise_finding(first, verdicts=found)


def _unwrapped(result: Result) -> Any:
    return result.value if isinstance(result, Returned) else result.exc


def _incomparable(finding: Finding, reference: _Reference, items: list[Any]) -> Incomparable | None:
    """A difference explained by a result with no value equality, if that is what it is."""
    if isinstance(finding, Mismatch):
        indexes = [finding.index]
    elif isinstance(finding, MultisetMismatch):
        indexes = [index for index, _, _ in finding.missing]
    else:
        return None
    for index in indexes:
        result = reference.result(index)
        if not isinstance(result, Returned):
            continue
        what = identity_only(result.value)
        if what is not None:
            return Incomparable(finding.run, index, items[index], result.value, what)
    return None


def _item_at(items: list[Any], index: int | None) -> Any:
    return items[index] if index is not None and 0 <= index < len(items) else None


def _validate(func: object, iterable: object, via: str, chunksize: object) -> None:
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    if not isinstance(iterable, Iterable):
        raise TypeError(f"iterable must be iterable, not {type(iterable).__name__}")
    if via not in VIAS:
        raise ValueError(f"unknown via {via!r}; accepted: {', '.join(VIAS)}")
    if chunksize is not None and (
        isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1
    ):
        raise ValueError(f"chunksize must be None or an integer >= 1, not {chunksize!r}")


def _argument_tuple(item: object, index: int) -> tuple[Any, ...]:
    if isinstance(item, (str, bytes)) or not isinstance(item, Iterable):
        raise TypeError(
            f"via='starmap' takes an iterable of argument tuples; item {index} is {item!r}"
        )
    return tuple(item)


def _pickled(obj: Any, kind: str, index: int | None, item: Any) -> bytes:
    """Pickle what must travel to a worker, or report why it cannot."""
    __tracebackhide__ = True
    packed = pickle_or_explain(obj, "function" if index is None else f"argument at index {index}")
    if isinstance(packed, bytes):
        return packed
    messages.raise_finding(Unpicklable(kind, packed, None, index, item, ""))


def _decode(raw: Sequence[Outcome], run: Run, items: list[Any], func: object) -> dict[int, Result]:
    """Turn worker outcomes into results by index; travel problems are findings."""
    __tracebackhide__ = True
    results: dict[int, Result] = {}
    for outcome in sorted(raw, key=lambda o: o.position):
        index = outcome.position
        if outcome.kind == UNPICKLABLE:
            kind, problem, extra = problem_of(outcome)
            messages.raise_finding(
                Unpicklable(kind, problem, run, index, items[index], extra[0] if extra else "")
            )
        if outcome.kind == UNLOADABLE:
            where, error = outcome.detail
            module = getattr(func, "__module__", None) or "?"
            messages.raise_finding(Unloadable(run, where, error, module))
        assert outcome.payload is not None
        kind = "raised" if outcome.kind == RAISED else "value"
        broken: Unpicklable | None = None
        try:
            value = pickle.loads(outcome.payload)
        except Exception as exc:
            problem = explain_failure(outcome.payload, f"{kind} for index {index}", exc)
            broken = Unpicklable(kind, problem, run, index, items[index], "")
        if broken is not None:
            messages.raise_finding(broken)
        results[index] = (
            Raised(value, outcome.detail[0]) if outcome.kind == RAISED else Returned(value)
        )
    return results


def _sequential(func: Callable[..., Any], items: list[Any], star: bool) -> _Reference:
    """``list(map(func, items))`` in this process, keeping the first exception."""
    values: list[Any] = []
    for item in items:
        try:
            values.append(func(*item) if star else func(item))
        except Exception as exc:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return _Reference(values, Raised(exc, trace))
    return _Reference(values, None)


def _same(a: Result | None, b: Result | None) -> bool:
    if isinstance(a, Returned) and isinstance(b, Returned):
        return values_equal(a.value, b.value)
    if isinstance(a, Raised) and isinstance(b, Raised):
        return type(a.exc) is type(b.exc) and values_equal(a.exc.args, b.exc.args)
    return a is None and b is None


def _first_disagreement(a: _Reference, b: _Reference, total: int) -> int | None:
    for index in range(total):
        if not _same(a.result(index), b.result(index)):
            return index
    return None


def _compare(
    reference: _Reference, parallel: dict[int, Result], run: Run, items: list[Any]
) -> Finding | None:
    """The first way ``parallel`` differs from ``reference``, or None."""
    total = len(items)
    known = len(reference.values) + (reference.error is not None)
    if run.via == "imap_unordered":
        for index in range(known):
            either_raised = isinstance(parallel[index], Raised) or index == len(reference.values)
            if either_raised and not _same(reference.result(index), parallel[index]):
                return Mismatch(
                    run, index, total, items[index], _must(reference, index), parallel[index]
                )
        returned = list(range(len(reference.values)))
        expected = [reference.values[i] for i in returned]
        actual = [_value(parallel[i]) for i in returned]
        missing, extra = multiset_difference(expected, actual)
        if missing or extra:
            return MultisetMismatch(
                run,
                total,
                tuple((returned[i], items[returned[i]], expected[i]) for i in missing),
                tuple((returned[i], items[returned[i]], actual[i]) for i in extra),
            )
        return None
    for index in range(known):
        if not _same(reference.result(index), parallel[index]):
            return Mismatch(
                run, index, total, items[index], _must(reference, index), parallel[index]
            )
    return None


def _must(reference: _Reference, index: int) -> Result:
    result = reference.result(index)
    assert result is not None
    return result


def _value(result: Result) -> Any:
    assert isinstance(result, Returned)
    return result.value
