"""The equivalence oracle: a parallel map must return what ``list(map(func, items))`` does.

Order of work, and why:

1. everything that must travel to a worker is pickled here first, so an
   unpicklable function or argument is explained before any process starts;
   the items go pickled a chunk at once, their results come back the same
   way, and only when something goes wrong (an unpicklable item, result or
   exception, an exception raised) are they pickled and described one by
   one, which is what the findings name;
2. the parallel runs come next, one per start method, so a function that
   crashes or hangs its process is met in a worker, never in the test process;
3. the sequential reference runs last, in the test process;
4. on a difference, the reference runs a second time: if the two sequential
   runs disagree, the function is nondeterministic and parallelism is not
   blamed.
"""

from __future__ import annotations

import itertools
import pickle
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pytest_mpcheck._checks.compare import identity_only, multiset_difference, values_equal
from pytest_mpcheck._checks.pickling import describe_object, explain_failure, pickle_or_explain
from pytest_mpcheck._checks.task import (
    RAISED,
    UNLOADABLE,
    UNPICKLABLE,
    ChunkCall,
    ChunkOutcome,
    ItemCall,
    Outcome,
)
from pytest_mpcheck._engine.pools import VIAS, Engine, chunk_size
from pytest_mpcheck._engine.supervise import Overran, WorkerDied
from pytest_mpcheck._engine.worker import Task
from pytest_mpcheck._model import (
    Finding,
    Found,
    Incomparable,
    Mismatch,
    MultisetMismatch,
    Nondeterminism,
    PickleProblem,
    Raised,
    Result,
    Returned,
    Run,
    RunBroken,
    RunTimeout,
    TravelKind,
    Unloadable,
    Unpicklable,
)
from pytest_mpcheck._settings import Settings

__all__ = [
    "Parallel",
    "Reference",
    "check_map_equal",
    "compare",
    "parallel_of",
    "raised_from",
    "sequential",
]


@dataclass(frozen=True)
class Reference:
    """A sequential run: values up to the first exception, and that exception."""

    values: list[Any]
    error: Raised | None

    def result(self, index: int) -> Result | None:
        if index < len(self.values):
            return Returned(self.values[index])
        if self.error is not None and index == len(self.values):
            return self.error
        return None


@dataclass(frozen=True)
class Parallel:
    """A parallel run: each item's value (an item that raised: its exception), the
    items that raised, and the order in which ``via`` gave the results."""

    values: list[Any]
    raised: dict[int, Raised]
    arrived: list[int]

    def results(self) -> dict[int, Result]:
        return {
            index: self.raised[index] if index in self.raised else Returned(value)
            for index, value in enumerate(self.values)
        }


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
    """Raise ``Found`` with a finding if any parallel run differs from the sequential one.

    Returns the first start method's parallel results, in the order ``via`` gave
    them; an item that raised (as it did in the sequential run) holds its exception.
    """
    __tracebackhide__ = True
    _validate(func, iterable, via, chunksize)
    items = list(iterable)
    star = via == "starmap"
    if star and set(map(type, items)) - {tuple}:  # tuples are already what it would make
        items = [_argument_tuple(item, index) for index, item in enumerate(items)]
    func_bytes = _pickled(func, "function", None, func)
    size = chunk_size(via, len(items), processes, chunksize)
    tasks = _batched(items, size, processes)
    jobs = _jobs(items) if tasks is None else None
    name = getattr(func, "__qualname__", None) or describe_object(func)

    parallel: dict[str, Parallel] = {}
    for method in settings.start_methods:
        run = Run(method, via, processes, chunksize, name, settings.seed)
        failure: Finding | None = None
        chunks: list[ChunkOutcome] = []
        loaded: list[list[Any] | None] | None = None
        raw: list[Outcome] = []
        try:
            # Each start method has the whole timeout: it is a limit per run, as users read it.
            if tasks is not None:
                call = ChunkCall(func_bytes, star, size)
                chunks = engine.run_tasks(method, via, processes, call, tasks, settings.timeout)
                loaded = _loaded(chunks)
            if loaded is None:
                jobs = _jobs(items) if jobs is None else jobs
                call_each = ItemCall(func_bytes, star)
                raw = engine.run(
                    method, via, processes, call_each, jobs, chunksize, settings.timeout
                )
        except Overran as exc:
            workers = tuple(
                (pid, exc.jobs.get(pid), _item_at(items, exc.jobs.get(pid)), stack)
                for pid, stack in sorted(exc.stacks.items())
            )
            failure = RunTimeout(run, settings.timeout, exc.done, exc.total, workers, exc.parent)
        except WorkerDied as exc:
            failure = RunBroken(run, exc.detail, exc.job, _item_at(items, exc.job))
        if failure is not None:
            raise Found(failure)
        parallel[method] = (
            _unbatched(chunks, loaded, run, items, func)
            if loaded is not None
            else parallel_of(_decode(raw, run, items, func), [o.position for o in raw])
        )

    reference = sequential(func, items, star)
    found: dict[str, Finding | None] = {}
    for method in settings.start_methods:
        run = Run(method, via, processes, chunksize, name, settings.seed)
        found[method] = compare(
            reference, parallel[method], run, items, ordered=via != "imap_unordered"
        )
    first = next((finding for finding in found.values() if finding is not None), None)
    if first is None:
        results = parallel[settings.start_methods[0]]
        if via != "imap_unordered":
            return results.values  # every other via gives the results in item order
        return [results.values[position] for position in results.arrived]
    incomparable = _incomparable(first, reference, items)
    if incomparable is not None:
        raise Found(incomparable)
    second = sequential(func, items, star)
    drift = _first_disagreement(reference, second, len(items))
    if drift is not None:
        index = drift
        raise Found(
            Nondeterminism(
                name,
                index,
                items[index] if index < len(items) else None,
                reference.result(index),
                second.result(index),
            )
        )
    raise Found(first, found)


def parallel_of(results: dict[int, Result], arrived: list[int]) -> Parallel:
    values = [_unwrapped(results[index]) for index in range(len(results))]
    raised = {index: r for index, r in results.items() if isinstance(r, Raised)}
    return Parallel(values, raised, arrived)


def _unwrapped(result: Result) -> Any:
    return result.value if isinstance(result, Returned) else result.exc


def _incomparable(finding: Finding, reference: Reference, items: list[Any]) -> Incomparable | None:
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


def _pickled(obj: Any, kind: TravelKind, index: int | None, item: Any) -> bytes:
    """Pickle what must travel to a worker, or report why it cannot."""
    __tracebackhide__ = True
    packed = pickle_or_explain(obj, "function" if index is None else f"argument at index {index}")
    if isinstance(packed, bytes):
        return packed
    named = describe_object(obj) if kind == "function" else ""
    raise Found(Unpicklable(kind, packed, None, index, item, "", named))


def _batched(items: list[Any], size: int, processes: int) -> list[Task] | None:
    """The items cut into chunks of ``size`` (as ``via`` cuts them), the chunks grouped
    into about four tasks per worker (what ``Pool.map`` aims at), each task's items
    pickled at once; None when a task does not pickle (the items then go one by one,
    as they do when one does not load back in its worker).

    Consecutive chunks in one task are what a real pool gives a worker that takes
    them in turn, and each still gets its own copy of the function; a task per
    chunk of ``imap``'s or the executor's one item would cost far more than the work.
    """
    chunks = -(-len(items) // size)
    step = size * max(1, -(-chunks // (4 * processes)))
    tasks = []
    for start in range(0, len(items), step):
        part = items[start : start + step]
        try:
            payload = pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return None
        tasks.append(Task(start, len(part), payload))
    return tasks


def _jobs(items: list[Any]) -> list[tuple[int, bytes]]:
    """Every item pickled on its own; the first that cannot travel is a finding."""
    __tracebackhide__ = True
    jobs = []
    for index, item in enumerate(items):  # a loop, not a comprehension: no extra frame shown
        jobs.append((index, _pickled(item, "argument", index, item)))
    return jobs


def _loaded(chunks: list[ChunkOutcome]) -> list[list[Any] | None] | None:
    """Each chunk's values (None: described item by item); None if a chunk could not
    be loaded in its worker, or its values here: only a run item by item can then
    say which item is to blame."""
    loaded: list[list[Any] | None] = []
    for chunk in chunks:
        if chunk.payload is None:
            if not chunk.outcomes:
                return None
            loaded.append(None)
            continue
        try:
            loaded.append(pickle.loads(chunk.payload))
        except Exception:
            return None
    return loaded


def _unbatched(
    chunks: list[ChunkOutcome],
    loaded: list[list[Any] | None],
    run: Run,
    items: list[Any],
    func: object,
) -> Parallel:
    """The chunks' values in item order; chunks described item by item are decoded as
    one by one (their problems are findings)."""
    __tracebackhide__ = True
    values: list[Any] = [None] * len(items)
    arrived: list[int] = []
    described: list[Outcome] = []
    for chunk, chunk_values in zip(chunks, loaded, strict=True):
        if chunk_values is not None:
            values[chunk.start : chunk.start + len(chunk_values)] = chunk_values
            arrived.extend(range(chunk.start, chunk.start + len(chunk_values)))
        else:
            described.extend(chunk.outcomes)
            arrived.extend(outcome.position for outcome in chunk.outcomes)
    raised: dict[int, Raised] = {}
    for index, result in _decode(described, run, items, func).items():
        values[index] = _unwrapped(result)
        if isinstance(result, Raised):
            raised[index] = result
    return Parallel(values, raised, arrived)


def _decode(raw: Sequence[Outcome], run: Run, items: list[Any], func: object) -> dict[int, Result]:
    """Turn worker outcomes into results by index; travel problems are findings."""
    __tracebackhide__ = True
    results: dict[int, Result] = {}
    for outcome in sorted(raw, key=lambda o: o.position):
        index = outcome.position
        if outcome.kind == UNPICKLABLE:
            kind, problem, extra = _problem_of(outcome)
            trace = extra[0] if extra else ""
            raise Found(
                Unpicklable(cast("TravelKind", kind), problem, run, index, items[index], trace)
            )
        if outcome.kind == UNLOADABLE:
            where, error = outcome.detail
            module = getattr(func, "__module__", None) or "?"
            raise Found(Unloadable(run, where, error, module))
        assert outcome.payload is not None
        travel: TravelKind = "raised" if outcome.kind == RAISED else "value"
        broken: Unpicklable | None = None
        try:
            value = pickle.loads(outcome.payload)
        except Exception as exc:
            problem = explain_failure(outcome.payload, f"{travel} for index {index}", exc)
            broken = Unpicklable(travel, problem, run, index, items[index], "")
        if broken is not None:
            raise Found(broken)
        results[index] = (
            Raised(value, outcome.detail[0]) if outcome.kind == RAISED else Returned(value)
        )
    return results


def _problem_of(outcome: Outcome) -> tuple[str, PickleProblem, tuple[str, ...]]:
    """Decode an ``UNPICKLABLE`` outcome: (what kind of object, problem, extra text)."""
    kind, where, what, reason, advice, error, *extra = outcome.detail
    return kind, PickleProblem(where, what, reason, advice, error), tuple(extra)


def sequential(func: Callable[..., Any], items: list[Any], star: bool) -> Reference:
    """``list(map(func, items))`` in this process, keeping the first exception.

    ``list.extend`` keeps the values it got before an exception: the index of
    the item that raised is the number of values.
    """
    values: list[Any] = []
    try:
        values.extend((itertools.starmap if star else map)(func, items))
    except Exception as exc:
        return Reference(values, raised_from(exc))
    return Reference(values, None)


def raised_from(exc: BaseException) -> Raised:
    """The result of an item that raised ``exc`` in this process, with its traceback."""
    return Raised(exc, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def _same(a: Result | None, b: Result | None) -> bool:
    if isinstance(a, Returned) and isinstance(b, Returned):
        return values_equal(a.value, b.value)
    if isinstance(a, Raised) and isinstance(b, Raised):
        return type(a.exc) is type(b.exc) and values_equal(a.exc.args, b.exc.args)
    return a is None and b is None


def _first_disagreement(a: Reference, b: Reference, total: int) -> int | None:
    for index in range(total):
        if not _same(a.result(index), b.result(index)):
            return index
    return None


def compare(
    reference: Reference,
    run_results: Parallel,
    run: Run,
    items: list[Any],
    ordered: bool = True,
) -> Finding | None:
    """The first way ``run_results`` differs from ``reference``, or None; results that
    are not ``ordered`` are compared as a multiset."""
    if (
        reference.error is None
        and not run_results.raised
        and _all_equal(run_results.values, reference.values)
    ):
        return None  # the common case, decided in bulk
    parallel = run_results.results()
    total = len(items)
    known = len(reference.values) + (reference.error is not None)
    if not ordered:
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


# Types whose ``==`` between two values of the type says what ``values_equal`` says.
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None)})


def _all_equal(values: list[Any], expected: list[Any]) -> bool:
    """``values_equal`` for every pair; plain values of the same types at C speed."""
    try:
        types = set(map(type, expected))
        plain = (
            values == expected
            and types <= _PLAIN
            # One type on both sides is the same type at every position.
            and (
                (len(types) <= 1 and set(map(type, values)) == types)
                or list(map(type, values)) == list(map(type, expected))
            )
        )
    except Exception:  # an elementwise == (NumPy) has no single truth value
        plain = False
    return plain or all(map(values_equal, values, expected))


def _must(reference: Reference, index: int) -> Result:
    result = reference.result(index)
    assert result is not None
    return result


def _value(result: Result) -> Any:
    assert isinstance(result, Returned)
    return result.value
