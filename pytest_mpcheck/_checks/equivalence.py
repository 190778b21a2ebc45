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
   each runs the chunks under the placements of ``_engine.placement`` (which
   worker runs which chunks, in what order, from the seed), all in one pool
   task per worker, and the first placement whose results differ is the one
   a finding names;
3. the sequential reference runs last, in the test process;
4. on a difference, the reference runs a second time: if the two sequential
   runs disagree, the function is nondeterministic and parallelism is not
   blamed.
"""

from __future__ import annotations

import array
import collections
import dataclasses
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
    ItemCall,
    Outcome,
    PartOutcome,
    Piece,
    ScriptCall,
)
from pytest_mpcheck._engine.placement import LATER_ITEMS, Plan, plans
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
    Placement,
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

#: The most pieces a worker's share of one placement is loaded in (see ``_scripts``).
_LOADS = 64

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

    def leading(self, count: int) -> Reference:
        """The results of the first ``count`` items only."""
        if count >= len(self.values) + (self.error is not None):
            return self
        return Reference(self.values[:count], None)

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
    cut = _Cut(chunk_size(via, len(items), processes, chunksize), len(items))
    jobs: list[tuple[int, bytes]] | None = None
    name = getattr(func, "__qualname__", None) or describe_object(func)

    # Per start method: each placement tried and its results (items sent one by one:
    # a single run, placed by the pool).
    parallel: dict[str, list[tuple[Plan | None, Parallel]]] = {}
    for method in settings.start_methods:
        run = Run(method, via, processes, chunksize, name, settings.seed)
        tried = plans(cut.count, processes, settings.seed, method, cut.leading(LATER_ITEMS))
        scripts = _scripts(items, cut, tried, processes)
        failure: Finding | None = None
        done: list[tuple[PartOutcome, ...]] = []
        loaded: list[list[list[Any] | None]] | None = None
        raw: list[Outcome] = []
        try:
            # Each start method has the whole timeout: it is a limit per run, as users read it.
            if scripts is not None:
                call = ScriptCall(func_bytes, star)
                done = engine.run_tasks(
                    method, via, processes, call, scripts, settings.timeout, placed=True
                )
                loaded = _loaded(done, len(tried))
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
            [
                (plan, _assembled(plan, row, done, number, cut, run, items, func, via))
                for number, (plan, row) in enumerate(zip(tried, loaded, strict=True))
            ]
            if loaded is not None
            else [(None, parallel_of(_decode(raw, run, items, func), [o.position for o in raw]))]
        )

    reference = sequential(func, items, star)
    found: dict[str, Finding | None] = {}
    for method in settings.start_methods:
        run = Run(method, via, processes, chunksize, name, settings.seed)
        found[method] = _first_difference(reference, parallel[method], run, items, cut, via)
    first = next((finding for finding in found.values() if finding is not None), None)
    if first is None:
        results = parallel[settings.start_methods[0]][0][1]
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


def _scripts(items: list[Any], cut: _Cut, tried: list[Plan], processes: int) -> list[Task] | None:
    """Each worker's script: its share of every placement tried, one after the other, as
    pieces of items pickled here; None when a piece does not pickle (the items then go
    one by one, as they do when one does not load back in its worker).

    A piece is one chunk, as a pool sends it; a share of more than ``_LOADS`` chunks
    (``imap``'s one-item chunks of a large input) goes in ``_LOADS`` pieces, because a
    load per item would cost far more than the work.  A script's size is its share
    of the first placement: the results a timeout counts are those of one run.
    """
    scripts = []
    for worker in range(processes):
        parts = []
        for plan in tried:
            share = plan.workers[worker]
            step = max(1, -(-len(share) // _LOADS))
            pieces = []
            for first in range(0, len(share), step):
                group = share[first : first + step]
                jobs = cut.jobs(group)
                part = (
                    items[jobs.start : jobs.stop]
                    if isinstance(jobs, range)
                    else list(map(items.__getitem__, jobs))
                )
                try:
                    payload = pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:
                    return None
                pieces.append(Piece(jobs, cut.sizes(group), payload))
            parts.append(tuple(pieces))
        size = sum(cut.sizes(tried[0].workers[worker]))
        scripts.append(Task(worker, size, tuple(parts)))
    return scripts


def _jobs(items: list[Any]) -> list[tuple[int, bytes]]:
    """Every item pickled on its own; the first that cannot travel is a finding."""
    __tracebackhide__ = True
    jobs = []
    for index, item in enumerate(items):  # a loop, not a comprehension: no extra frame shown
        jobs.append((index, _pickled(item, "argument", index, item)))
    return jobs


def _loaded(done: list[tuple[PartOutcome, ...]], count: int) -> list[list[list[Any] | None]] | None:
    """Per placement, each worker's values (None: described item by item); None if a
    share could not be loaded in its worker, or its values here: only a run item by
    item can then say which item is to blame."""
    if any(len(script) != count for script in done):
        return None
    loaded: list[list[list[Any] | None]] = []
    for number in range(count):
        row: list[list[Any] | None] = []
        for script in done:
            part = script[number]
            if part.payload is None:
                if not part.outcomes:
                    return None
                row.append(None)
                continue
            try:
                row.append(pickle.loads(part.payload))
            except Exception:
                return None
        loaded.append(row)
    return loaded


def _assembled(
    plan: Plan,
    row: list[list[Any] | None],
    done: list[tuple[PartOutcome, ...]],
    number: int,
    cut: _Cut,
    run: Run,
    items: list[Any],
    func: object,
    via: str,
) -> Parallel:
    """One placement's values in item order; shares described item by item are decoded
    as one by one (their problems are findings).  For the first placement of
    ``imap_unordered``, whose order the check returns, the results arrive a chunk
    from each worker in turn, an order the placement allows."""
    __tracebackhide__ = True
    values: list[Any] = [None] * cut.items(plan.chunks)
    described: list[Outcome] = []
    for worker, (share, share_values) in enumerate(zip(plan.workers, row, strict=True)):
        if share_values is None:
            described.extend(done[worker][number].outcomes)
        elif len(share) == plan.chunks:  # one worker ran every chunk, in order
            values = share_values
        elif cut.size == 1:  # a chunk's number is its item's
            collections.deque(map(values.__setitem__, share, share_values), maxlen=0)
        else:
            done_here = 0
            for chunk in map(cut.chunk, share):
                values[chunk.start : chunk.stop] = share_values[done_here : done_here + len(chunk)]
                done_here += len(chunk)
    arrived = (
        [
            job
            for turn in itertools.zip_longest(*plan.workers)
            for chunk in turn
            if chunk is not None
            for job in cut.chunk(chunk)
        ]
        if via == "imap_unordered" and number == 0
        else []
    )
    raised: dict[int, Raised] = {}
    for index, result in _decode(described, run, items, func).items():
        values[index] = _unwrapped(result)
        if isinstance(result, Raised):
            raised[index] = result
    return Parallel(values, raised, arrived)


def _first_difference(
    reference: Reference,
    tried: list[tuple[Plan | None, Parallel]],
    run: Run,
    items: list[Any],
    cut: _Cut,
    via: str,
) -> Finding | None:
    """The first placement's difference from ``reference`` (on the items it ran), naming
    the placement."""
    for number, (plan, results) in enumerate(tried, 1):
        expected = reference if plan is None else reference.leading(cut.items(plan.chunks))
        finding = compare(expected, results, run, items, ordered=via != "imap_unordered")
        if finding is not None:
            if plan is None:
                return finding
            assert isinstance(finding, (Mismatch, MultisetMismatch))
            placement = Placement(
                plan.kind,
                number,
                len(tried),
                tuple(_runs_of(share, cut) for share in plan.workers),
            )
            return dataclasses.replace(finding, run=dataclasses.replace(run, placement=placement))
    return None


@dataclass(frozen=True)
class _Cut:
    """The items cut into chunks of ``size`` (the last may be shorter), as ``via`` cuts
    them; made on demand, since a large input has as many chunks as items."""

    size: int
    total: int

    @property
    def count(self) -> int:
        return -(-self.total // self.size)

    def leading(self, items: int) -> int:
        """How many chunks hold the first ``items`` items: whole ones, at least two."""
        return min(self.count, max(2, items // self.size))

    def items(self, chunks: int) -> int:
        """How many items the first ``chunks`` chunks hold."""
        return min(chunks * self.size, self.total)

    def chunk(self, number: int) -> range:
        start = number * self.size
        return range(start, min(start + self.size, self.total))

    def jobs(self, numbers: Sequence[int]) -> Sequence[int]:
        """The job numbers of chunks ``numbers`` (ascending), in order: compact to send,
        and nothing for a worker to build (chunks in a row: a range)."""
        if numbers[-1] - numbers[0] == len(numbers) - 1:  # in a row
            return range(self.chunk(numbers[0]).start, self.chunk(numbers[-1]).stop)
        if self.size == 1:
            return array.array("q", numbers)
        return array.array("q", itertools.chain.from_iterable(map(self.chunk, numbers)))

    def sizes(self, numbers: Sequence[int]) -> Sequence[int]:
        if self.size == 1:
            return array.array("q", [1]) * len(numbers)
        return array.array("q", map(len, map(self.chunk, numbers)))


def _runs_of(share: tuple[int, ...], cut: _Cut) -> tuple[tuple[int, int], ...]:
    """A worker's chunks as runs of consecutive items, (first, last), in the order run."""
    runs: list[tuple[int, int]] = []
    for number in share:
        chunk = cut.chunk(number)
        if runs and runs[-1][1] == chunk.start - 1:
            runs[-1] = (runs[-1][0], chunk.stop - 1)
        else:
            runs.append((chunk.start, chunk.stop - 1))
    return tuple(runs)


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
