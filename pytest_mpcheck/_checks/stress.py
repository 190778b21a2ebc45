"""The stress check: run a target in real processes, round after round, and read the trace.

Per start method: one crew of processes (reused across rounds), and per
round: reset the instrumented objects the arguments hold (found by the walk
of ``reach``: in containers and in the user's objects), release the
crew together, wait, record the outcome, call ``expect()``, and analyze each
object's trace for lost and unguarded updates.  Seeded noise after reads
widens read→write windows so that lost updates show, while the unguarded-
update rule catches a missing lock even in a round the timing spared.
Members wait for known locks through a shared wait table (``_trace.waits``):
a deadlock among them ends its round at once, and the order in which they
took locks is read after each round for a potential one (``deadlocks``).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import synchronize
from typing import Any

from pytest_mpcheck._checks.deadlocks import deadlock, order_cycle
from pytest_mpcheck._checks.pickling import describe_object, find_problem
from pytest_mpcheck._checks.races import analyze, shortfall, worst_loss
from pytest_mpcheck._checks.reach import DEPTH, ITEMS, Reach, entries, reach
from pytest_mpcheck._checks.shared import (
    Lock,
    RLock,
    Shared,
    describe_shared,
    location_name,
    lock_names,
    reset,
    semaphore_of,
    snapshot,
    trace_records,
)
from pytest_mpcheck._engine.crew import Crew
from pytest_mpcheck._engine.supervise import Overran, WorkerDied, describe_exit
from pytest_mpcheck._model import (
    Deadlock,
    ExpectFailure,
    Found,
    LostUpdate,
    MemberDied,
    NothingShared,
    PickleProblem,
    RaceFinding,
    StressFinding,
    StressRun,
    StressTimeout,
    TargetRaised,
    UnguardedUpdate,
    Unpicklable,
)
from pytest_mpcheck._settings import Settings
from pytest_mpcheck._trace.locks import BOOK, register_own_lock
from pytest_mpcheck._trace.policy import start_round
from pytest_mpcheck._trace.ring import Records
from pytest_mpcheck._trace.waits import LockStep, WaitTable

__all__ = ["StressPlan", "StressReport", "check_stress", "member_hooks", "plan_stress"]

# Once a round has failed, further rounds run for this long only: enough for an
# outcome histogram, short enough that a failure is reported fast.
_AFTER_FAILURE = 0.05


@dataclass(frozen=True)
class StressReport:
    """What a passing stress check covered."""

    target: str
    processes: int
    rounds: int
    start_methods: tuple[str, ...]
    seed: int
    objects: int

    @property
    def bound(self) -> float:
        """95% upper bound of the per-round loss rate after ``rounds`` clean rounds."""
        return min(1.0, 3.0 / self.rounds)

    def summary(self) -> str:
        return (
            f"stress {self.target}: {self.rounds} rounds x {self.processes} processes under "
            f"{', '.join(self.start_methods)} (seed {self.seed}), {self.objects} shared "
            f"object(s): no lost or unguarded update; per-round loss rate below about "
            f"{self.bound:.0%} at 95% confidence (rule of three: 3/{self.rounds})"
        )


def member_hooks(
    seed: int, waits: WaitTable | None = None
) -> tuple[Callable[[int, int], None], Callable[..., None]]:
    """What a crew member calls before each round (joining ``waits``, the check's wait
    table, if given), and with the crew's own primitives.

    Both live in ``_trace``: unpickling them in a spawn or forkserver member
    imports the trace and nothing of the checks or the report.
    """
    return functools.partial(start_round, seed, waits=waits), register_own_lock


@dataclass(frozen=True)
class StressPlan:
    """A stress check ready to run: the arguments as the processes get them, and what they hold."""

    target: Callable[..., Any]
    name: str
    args: tuple[Any, ...]
    expect: Callable[[], Any] | None
    reached: Reach
    #: The shared objects to reset before each round and analyze after it, with their paths.
    shared: tuple[tuple[str, Shared], ...]

    def nothing_shared(self) -> NothingShared | None:
        """What was searched, if the arguments hold no shared object; else None."""
        if self.shared:
            return None
        return NothingShared(self.name, len(self.args), DEPTH, self.reached.cut)


def plan_stress(
    target: Callable[..., Any], args: tuple[Any, ...], expect: Callable[[], Any] | None
) -> StressPlan:
    """Check the call and find the shared objects and locks the arguments hold."""
    if not callable(target):
        raise TypeError(f"target must be callable, not {type(target).__name__}")
    if expect is not None and not callable(expect):
        raise TypeError(f"expect must be None or a callable, not {type(expect).__name__}")
    args = _known_locks(args)
    reached = reach(args)
    shared = tuple(
        (path, value) for path, value in reached.values if issubclass(type(value), Shared)
    )
    name = getattr(target, "__qualname__", None) or repr(target)
    return StressPlan(target, name, args, expect, reached, shared)


def _known_locks(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Wrap plain ``multiprocessing`` locks passed as arguments so their use is seen.

    A lock in a list, tuple or dict is wrapped in a copy of that container, one
    wrapper per lock wherever it appears; containers that hold none pass as they
    are.  A lock inside any other object stays: the object is the user's, not
    ours to change.  The analysis cannot see such a lock, so it never blames
    the accesses the lock guards.
    """
    done: dict[int, Any] = {}

    def wrap(value: Any, depth: int) -> Any:
        if id(value) in done:
            return done[id(value)]
        done[id(value)] = value  # a cycle back into a container being copied keeps the original
        new = value
        if issubclass(type(value), synchronize.RLock):
            new = RLock(value)
        elif issubclass(type(value), synchronize.Lock):
            new = Lock(value)
        elif type(value) in (list, tuple, dict) and depth < DEPTH:
            changed = {
                key: wrapped
                for key, item in itertools.islice(entries(value), ITEMS)
                if (wrapped := wrap(item, depth + 1)) is not item
            }
            if type(value) is dict and changed:
                new = {**value, **changed}
            elif changed:
                items = list(value)
                for index, item in changed.items():
                    items[index] = item
                new = items if type(value) is list else tuple(items)
        done[id(value)] = new
        return new

    return tuple(wrap(arg, 0) for arg in args)


def _fork_lock_in(reached: Reach, method: str) -> PickleProblem | None:
    """A lock made by the fork context among the arguments, which a spawn/forkserver
    child cannot use (Python 3.11+ refuses to send it; 3.10 sends it and the child
    crashes)."""
    for path, value in reached.values:
        semlock = semaphore_of(value)
        if semlock is not None and getattr(semlock, "name", "") is None:
            return PickleProblem(
                path,
                "a lock made by the fork context",
                f"a lock created by the fork context cannot be shared with {method} processes",
                "create it with mpcheck.Lock()/RLock() (usable under every start method) "
                f"or multiprocessing.get_context({method!r}).Lock()",
                "SemLock created in a fork context",
            )
    return None


def check_stress(
    plan: StressPlan, *, processes: int, rounds: int, settings: Settings
) -> StressReport:
    """Raise ``Found`` with a finding on a race, a deadlock, a failed ``expect`` or a crash."""
    __tracebackhide__ = True
    target, args = plan.target, plan.args
    locks = lock_names(plan.reached.values)
    for method in settings.start_methods:
        run = StressRun(method, processes, rounds, settings.seed, plan.name)
        if method != "fork":
            problem = find_problem(target, "target") or _fork_lock_in(plan.reached, method)
            if problem is not None:
                if problem.where.startswith("target"):
                    found = Unpicklable(
                        "target", problem, None, None, target, "", describe_object(target)
                    )
                else:
                    found = Unpicklable("arguments", problem, None, None, args, "", method=method)
                raise Found(found)
        deadline = time.monotonic() + settings.timeout  # each start method has the whole timeout
        finding = _stress_method(
            method, run, target, args, plan.shared, locks, plan.expect, deadline, settings
        )
        if finding is not None:
            raise Found(finding)
    return StressReport(
        plan.name, processes, rounds, settings.start_methods, settings.seed, len(plan.shared)
    )


def _stress_method(
    method: str,
    run: StressRun,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    shared: tuple[tuple[str, Shared], ...],
    locks: dict[int, str],
    expect: Callable[[], Any] | None,
    deadline: float,
    settings: Settings,
) -> StressFinding | Unpicklable | None:
    """All rounds under one start method; the finding to report, if any.

    A deadlock ends the check after its round, whether it happened or is a cycle in
    the order locks were taken (a potential one).
    """
    outcomes: Counter[str] = Counter()
    racy_rounds: Counter[tuple[str, int, bool]] = Counter()
    # Per finding key, what each racy round lost: (shortfall if countable, stale writes).
    lost: dict[tuple[str, int, bool], list[tuple[float | None, int]]] = {}
    witnesses: dict[tuple[str, int, bool], LostUpdate | UnguardedUpdate] = {}
    failed_expect: list[tuple[int, str]] = []
    waits = WaitTable(run.processes)
    prepare, adopt = member_hooks(run.seed, waits)
    edges: list[LockStep] = []
    potential: Deadlock | None = None
    broken: StressFinding | None = None
    if method == "fork":
        BOOK.watch()  # once here, not once per member on the heap each inherits
    try:
        crew = Crew(method, run.processes, target, args, prepare, adopt)
    except Exception as exc:
        problem = PickleProblem(
            "args",
            "an argument",
            f"{type(exc).__name__}: {exc}",
            "create shared objects and locks with mpcheck.Value/Array/Lock/RLock (usable "
            "under every start method) or with multiprocessing.get_context(method); pass "
            "other arguments that pickle",
            f"{type(exc).__name__}: {exc}",
        )
        return Unpicklable("arguments", problem, None, None, args, "", method=method)
    rounds_run = 0
    failing_since: float | None = None
    # The last round's traces, read while the next round runs.
    unread: list[tuple[str, Records]] = []

    def read_traces() -> None:
        for path, records in unread:
            events = records.events()
            races = analyze(events)
            for kind, found in ((True, races.lost), (False, races.unguarded)):
                per_location = Counter(race.location for race in found)
                for race in found:
                    witnesses.setdefault((path, race.location, kind), race)
                for location, count in per_location.items():
                    key = (path, location, kind)
                    racy_rounds[key] += 1
                    lost.setdefault(key, []).append((shortfall(events, location), count))
        unread.clear()

    with crew:
        for number in range(run.rounds):
            if failing_since is not None and time.monotonic() - failing_since > _AFTER_FAILURE:
                break
            rounds_run = number + 1
            for _, obj in shared:
                reset(obj)
            waits.new_round()
            try:
                reports = crew.run_round(number, deadline, read_traces)
            except Overran as exc:
                # A member held up by the deadlock of others is not what to report.
                cycle = waits.cycle()
                stacks = tuple(sorted(exc.stacks.items()))
                broken = (
                    deadlock(run, True, cycle, locks, number, rounds_run)
                    if cycle
                    else StressTimeout(run, number, exc.waiting, settings.timeout, stacks)
                )
                break
            except WorkerDied as exc:
                broken = MemberDied(run, number, exc.label, describe_exit(exc.exitcode))
                break
            cycle = waits.cycle()
            if cycle:
                broken = deadlock(run, True, cycle, locks, number, rounds_run)
                break
            new_edges = waits.new_edges()
            if new_edges:
                edges += new_edges
                found = order_cycle(edges)
                if found is not None:
                    potential = deadlock(run, False, found, locks, number, rounds_run)
            for report in reports:
                if report.error is not None:
                    return TargetRaised(run, number, report.label, report.error, report.trace)
            outcome = tuple(snapshot(obj) for _, obj in shared)
            outcomes[repr(outcome[0] if len(outcome) == 1 else outcome)] += 1
            unread.extend((path, trace_records(obj)) for path, obj in shared)
            if expect is not None:
                message = _expect(expect)
                if message is not None:
                    failed_expect.append((number, message))
            if potential is not None:
                break
            if failing_since is None and (witnesses or failed_expect):
                failing_since = time.monotonic()
    read_traces()
    if broken is not None:
        return broken
    histogram = tuple(outcomes.most_common())
    for is_lost in (True, False):
        keys = sorted(key for key in witnesses if key[2] is is_lost)
        if keys:
            path, location, _ = max(keys, key=lambda key: racy_rounds[key])
            obj = dict(shared)[path]
            key = (path, location, is_lost)
            amount, counted = worst_loss(lost[key])
            return RaceFinding(
                run,
                is_lost,
                describe_shared(path, obj),
                location_name(obj, location),
                witnesses[key],
                rounds_run,
                racy_rounds[key],
                amount,
                counted,
                histogram,
            )
    if potential is not None:
        return potential
    if failed_expect:
        number, message = failed_expect[0]
        return ExpectFailure(run, number, message, len(failed_expect), rounds_run, histogram)
    return None


def _expect(expect: Callable[[], Any]) -> str | None:
    """None if ``expect()`` holds, else why not."""
    try:
        verdict = expect()
    except AssertionError as exc:
        return f"AssertionError: {exc}" if str(exc) else "AssertionError"
    if verdict is None:
        return (
            "expect() returned None; it must return a true value when the expectation "
            "holds (an expect that only asserts must end with `return True`)"
        )
    if not verdict:
        return f"expect() returned {verdict!r}"
    return None
