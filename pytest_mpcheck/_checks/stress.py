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

import dataclasses
import functools
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import synchronize
from typing import Any

from pytest_mpcheck._checks.deadlocks import deadlock, order_cycle
from pytest_mpcheck._checks.explore import Explorer, alone, explicit, shrink, without
from pytest_mpcheck._checks.pickling import describe_object, find_problem
from pytest_mpcheck._checks.races import RoundRaces, analyze, shortfall, worst_loss
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
from pytest_mpcheck._engine.crew import Crew, MemberReport
from pytest_mpcheck._engine.supervise import Overran, WorkerDied, describe_exit
from pytest_mpcheck._engine.worker import Runner
from pytest_mpcheck._model import (
    Deadlock,
    Event,
    ExpectFailure,
    Found,
    LostUpdate,
    MemberDied,
    NothingShared,
    PickleProblem,
    RaceFinding,
    ReplayToken,
    ScheduleMode,
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
from pytest_mpcheck._trace.schedule import Plan, RoundLog, Schedule, start_controlled_round
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
    schedule: ScheduleMode = "free"
    #: Per start method, what the controlled rounds explored.
    explored: tuple[str, ...] = ()

    @property
    def bound(self) -> float:
        """95% upper bound of the per-round loss rate after ``rounds`` clean rounds."""
        return min(1.0, 3.0 / self.rounds)

    def summary(self) -> str:
        head = (
            f"stress {self.target}: {self.rounds} rounds x {self.processes} processes under "
            f"{', '.join(self.start_methods)} (seed {self.seed}, {self.schedule} schedule), "
            f"{self.objects} shared object(s): no lost or unguarded update"
        )
        if self.schedule == "controlled":
            return f"{head}; explored {'; '.join(self.explored)}"
        return (
            f"{head}; per-round loss rate below about {self.bound:.0%} at 95% confidence "
            f"(rule of three: 3/{self.rounds})"
        )


def member_hooks(
    seed: int, waits: WaitTable | None = None
) -> tuple[Callable[[int, int], Runner], Callable[..., None]]:
    """What a crew member calls before each free round (joining ``waits``, the check's
    wait table, if given), and with the crew's own primitives.

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
    """Raise ``Found`` with a finding on a race, a deadlock, a failed ``expect`` or a crash.

    A replay token in the settings runs that one controlled schedule instead of
    exploring; ``ValueError`` if it does not fit this call.
    """
    __tracebackhide__ = True
    target, args = plan.target, plan.args
    token = None if settings.replay is None else _fitting(plan, processes, settings)
    methods = settings.start_methods if token is None else (token.method,)
    mode: ScheduleMode = "controlled" if token is not None else settings.schedule
    if mode == "controlled":
        Schedule.check(processes)
    explored: list[str] = []
    for method in methods:
        run = StressRun(method, processes, rounds, settings.seed, plan.name, mode)
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
        deadlocks = _Deadlocks(WaitTable(processes), lock_names(plan.reached.values))
        if mode == "free":
            finding = _free(run, plan, deadline, settings, deadlocks)
        else:
            finding, covered = _controlled(run, plan, deadline, settings, token, deadlocks)
            explored.append(f"under {method}: {covered}")
        if finding is not None:
            raise Found(finding)
    return StressReport(
        plan.name,
        processes,
        rounds,
        methods,
        settings.seed,
        len(plan.shared),
        mode,
        tuple(explored),
    )


def _fitting(plan: StressPlan, processes: int, settings: Settings) -> ReplayToken:
    """The settings' replay token, if it fits this call; ``ValueError`` saying why not."""
    assert settings.replay is not None
    token = ReplayToken.decode(settings.replay)
    if token.target != plan.name:
        raise ValueError(
            f"the replay token was recorded for the target {token.target!r}, not "
            f"{plan.name!r}: replay it with the check that printed it"
        )
    if token.processes != processes:
        raise ValueError(
            f"the replay token was recorded with processes={token.processes}, not "
            f"{processes}: replay it with the settings that printed it"
        )
    if not set(token.left_out) < set(range(1, processes + 1)):
        raise ValueError(
            f"the replay token leaves out processes {list(token.left_out)}, which do not fit "
            f"processes={processes}: copy it whole from the failure message's replay line"
        )
    if token.method not in settings.start_methods:
        raise ValueError(
            f"the replay token was recorded under {token.method}, which is not among the "
            f"start methods selected ({', '.join(settings.start_methods)}): select it "
            f"(--mp-start-methods={token.method})"
        )
    return token


def _start(run: StressRun, plan: StressPlan, prepare: Any) -> Crew | Unpicklable:
    """The crew of one start method, or why the arguments cannot reach it."""
    assert run.method is not None
    if run.method == "fork":
        BOOK.watch()  # once here, not once per member on the heap each inherits
    try:
        return Crew(run.method, run.processes, plan.target, plan.args, prepare, register_own_lock)
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
        return Unpicklable("arguments", problem, None, None, plan.args, "", method=run.method)


class _Tally:
    """What the rounds under one start method showed: outcomes, races, failed expects."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.racy_rounds: Counter[tuple[str, int, bool]] = Counter()
        # Per finding key, what each racy round lost: (shortfall if countable, stale writes).
        self.lost: dict[tuple[str, int, bool], list[tuple[float | None, int]]] = {}
        self.witnesses: dict[tuple[str, int, bool], LostUpdate | UnguardedUpdate] = {}
        self.failed_expect: list[tuple[int, str]] = []

    @property
    def failing(self) -> bool:
        return bool(self.witnesses or self.failed_expect)

    def races(self, path: str, records: Records) -> None:
        events = records.events()
        self.add(path, events, analyze(events))

    def add(self, path: str, events: list[Event], races: RoundRaces) -> None:
        """One round's races on the object at ``path``, found in its ``events``."""
        for kind, found in ((True, races.lost), (False, races.unguarded)):
            per_location = Counter(race.location for race in found)
            for race in found:
                self.witnesses.setdefault((path, race.location, kind), race)
            for location, count in per_location.items():
                key = (path, location, kind)
                self.racy_rounds[key] += 1
                self.lost.setdefault(key, []).append((shortfall(events, location), count))

    @staticmethod
    def judge(
        shared: tuple[tuple[str, Shared], ...], expect: Callable[[], Any] | None
    ) -> tuple[str, str | None]:
        """A round that just ended: its outcome, and why ``expect()`` fails (None if not)."""
        outcome = tuple(snapshot(obj) for _, obj in shared)
        message = None if expect is None else _expect(expect)
        return repr(outcome[0] if len(outcome) == 1 else outcome), message

    def ended(self, number: int, outcome: str, message: str | None) -> None:
        """Count a round's outcome and failed expectation (``judge``'s verdict)."""
        self.outcomes[outcome] += 1
        if message is not None:
            self.failed_expect.append((number, message))

    def finding(
        self,
        run: StressRun,
        shared: tuple[tuple[str, Shared], ...],
        rounds_run: int,
        shown: _Tally | None = None,
    ) -> StressFinding | None:
        """The finding of these rounds, counted over all of them; its witness (or failed
        expectation) is ``shown``'s where given: the round a controlled check reports."""
        histogram = tuple(self.outcomes.most_common())
        witnesses = (shown or self).witnesses
        for is_lost in (True, False):
            keys = sorted(key for key in witnesses if key[2] is is_lost)
            if keys:
                path, location, _ = max(keys, key=lambda key: self.racy_rounds[key])
                obj = dict(shared)[path]
                key = (path, location, is_lost)
                amount, counted = worst_loss(self.lost[key])
                return RaceFinding(
                    run,
                    is_lost,
                    describe_shared(path, obj),
                    location_name(obj, location),
                    witnesses[key],
                    rounds_run,
                    self.racy_rounds[key],
                    amount,
                    counted,
                    histogram,
                )
        failed_expect = (shown or self).failed_expect
        if failed_expect:
            # The first round that failed, with what the shown round's expect() said.
            number = (self.failed_expect or failed_expect)[0][0]
            message = failed_expect[0][1]
            return ExpectFailure(
                run, number, message, len(self.failed_expect), rounds_run, histogram
            )
        return None


class _Deadlocks:
    """What a check's wait table shows: a deadlock that happened in the round just run, and
    the lock-order graph of every round so far, with the potential deadlock it holds."""

    def __init__(self, waits: WaitTable, locks: dict[int, str]) -> None:
        self.waits, self._locks = waits, locks
        self._edges: list[LockStep] = []
        self.potential: Deadlock | None = None

    def actual(self, run: StressRun, number: int, rounds_run: int) -> Deadlock | None:
        cycle = self.waits.cycle()
        return deadlock(run, True, cycle, self._locks, number, rounds_run) if cycle else None

    def learn(self, run: StressRun, number: int, rounds_run: int) -> None:
        """Add the round's order edges; the first cycle they close is the potential one."""
        new_edges = self.waits.new_edges()
        if new_edges and self.potential is None:
            self._edges += new_edges
            found = order_cycle(self._edges)
            if found is not None:
                self.potential = deadlock(run, False, found, self._locks, number, rounds_run)


def _broken(
    run: StressRun, number: int, exc: Overran | WorkerDied, timeout: float, deadlocks: _Deadlocks
) -> StressFinding:
    if isinstance(exc, Overran):
        # A member held up by the deadlock of others is not what to report.
        found = deadlocks.actual(run, number, number + 1)
        if found is not None:
            return found
        return StressTimeout(run, number, exc.waiting, timeout, tuple(sorted(exc.stacks.items())))
    return MemberDied(run, number, exc.label, describe_exit(exc.exitcode))


def _raised(run: StressRun, number: int, reports: list[MemberReport]) -> TargetRaised | None:
    for report in reports:
        if report.error is not None:
            return TargetRaised(run, number, report.label, report.error, report.trace)
    return None


def _free(
    run: StressRun, plan: StressPlan, deadline: float, settings: Settings, deadlocks: _Deadlocks
) -> StressFinding | Unpicklable | None:
    """All free rounds under one start method; the finding to report, if any.

    A deadlock ends the check after its round, whether it happened or is a cycle in
    the order locks were taken (a potential one).
    """
    crew = _start(run, plan, member_hooks(run.seed, deadlocks.waits)[0])
    if not isinstance(crew, Crew):
        return crew
    tally = _Tally()
    broken: StressFinding | None = None
    rounds_run = 0
    failing_since: float | None = None
    # The last round's traces, read while the next round runs.
    unread: list[tuple[str, Records]] = []

    def read_traces() -> None:
        for path, records in unread:
            tally.races(path, records)
        unread.clear()

    with crew:
        for number in range(run.rounds):
            if failing_since is not None and time.monotonic() - failing_since > _AFTER_FAILURE:
                break
            rounds_run = number + 1
            for _, obj in plan.shared:
                reset(obj)
            deadlocks.waits.new_round()
            try:
                reports = crew.run_round(number, deadline, read_traces)
            except (Overran, WorkerDied) as exc:
                broken = _broken(run, number, exc, settings.timeout, deadlocks)
                break
            broken = deadlocks.actual(run, number, rounds_run)
            if broken is not None:
                break
            deadlocks.learn(run, number, rounds_run)
            raised = _raised(run, number, reports)
            if raised is not None:
                return raised
            tally.ended(number, *tally.judge(plan.shared, plan.expect))
            unread.extend((path, trace_records(obj)) for path, obj in plan.shared)
            if deadlocks.potential is not None:
                break
            if failing_since is None and tally.failing:
                failing_since = time.monotonic()
    read_traces()
    if broken is not None:
        return broken
    finding = tally.finding(run, plan.shared, rounds_run)
    if isinstance(finding, RaceFinding) or deadlocks.potential is None:
        return finding
    return deadlocks.potential


class _Round:
    """One controlled round: its plan, what it did, what it showed on its own.

    Its races are known once ``settle()`` has read its traces, which a check does
    while the next round runs.
    """

    def __init__(
        self,
        plan: Plan,
        log: RoundLog,
        tally: _Tally,
        raised: TargetRaised | None,
        traces: list[tuple[str, Records]],
        into: _Tally | None,
        deadlocked: Deadlock | None = None,
        potential: Deadlock | None = None,
    ) -> None:
        self.plan, self.log, self.tally, self.raised = plan, log, tally, raised
        self._traces, self._into = traces, into
        #: A deadlock that happened in this round; locks taken in a cycle of orders,
        #: first seen in this round.
        self.deadlocked, self.potential = deadlocked, potential

    def settle(self) -> None:
        """Read the round's traces: its races, counted here and in every round's tally."""
        for path, records in self._traces:
            events = records.events()
            races = analyze(events)
            self.tally.add(path, events, races)
            if self._into is not None:
                self._into.add(path, events, races)
        self._traces = []

    @property
    def failure(self) -> tuple[object, ...] | None:
        """What failed, as a key two runs of the same failure share; None if nothing did."""
        if self.deadlocked is not None:
            return ("deadlock", *sorted((step.held, step.wanted) for step in self.deadlocked.cycle))
        if self.raised is not None:
            return ("raised", self.raised.error.split(":", 1)[0])
        lost = [key for key in self.tally.witnesses if key[2]]
        if lost:
            return ("lost", *min(lost))
        if self.potential is not None:
            return ("potential deadlock",)
        if self.tally.failed_expect:
            return ("expect",)
        if self.tally.witnesses:
            return ("unguarded", *min(self.tally.witnesses))
        return None

    @property
    def conclusive(self) -> bool:
        """A failure that happened (not only an update no lock guards, which exploring
        goes on to show lost)."""
        failure = self.failure
        return failure is not None and failure[0] != "unguarded"


#: Most extra rounds a failing schedule may take to shrink.
_SHRINK_TRIES = 64


class _Controlled:
    """The controlled rounds of one start method: each round one plan of the schedule."""

    def __init__(
        self,
        run: StressRun,
        plan: StressPlan,
        crew: Crew,
        schedule: Schedule,
        deadlocks: _Deadlocks,
    ) -> None:
        self._run, self._plan, self._crew, self._schedule = run, plan, crew, schedule
        self._deadlocks = deadlocks
        #: Every round's outcome and races, for the histogram and the counts.
        self.tally = _Tally()
        self.rounds = 0

    def play(
        self, chosen: Plan, deadline: float, meanwhile: _Round | None = None, counted: bool = True
    ) -> _Round:
        """Run one round under ``chosen`` (settling ``meanwhile`` while it runs); the
        round is left to settle.  A round not ``counted`` (a try while shrinking) is
        left out of the counts and the histogram."""
        number = self.rounds
        self.rounds += counted
        plan = self._plan
        for _, obj in plan.shared:
            reset(obj)
        deadlocks = self._deadlocks
        deadlocks.waits.new_round()
        self._schedule.begin(chosen)
        reports = self._crew.run_round(
            number, deadline, None if meanwhile is None else meanwhile.settle
        )
        log = self._schedule.log()
        deadlocked = deadlocks.actual(self._run, number, self.rounds)
        first = deadlocks.potential is None
        deadlocks.learn(self._run, number, self.rounds)
        own = _Tally()
        # expect() is written for every process: a round that leaves some out is not judged.
        verdict = own.judge(plan.shared, None if chosen.left_out else plan.expect)
        own.ended(number, *verdict)
        if counted:
            self.tally.ended(number, *verdict)
        traces = [(path, trace_records(obj)) for path, obj in plan.shared]
        raised = _raised(self._run, number, reports)
        potential = deadlocks.potential if first else None
        return _Round(
            chosen, log, own, raised, traces, self.tally if counted else None, deadlocked, potential
        )

    def minimal(self, failed: _Round, deadline: float) -> _Round:
        """The failing round with the fewest schedule choices, then the fewest processes,
        that still fails the same way (its log holding every point, a randomized schedule
        is rewritten as choices).  A failed ``expect()`` keeps every process: it is
        written for all of them."""
        failure = failed.failure
        last = failed

        def fails(trial: Plan) -> bool:
            nonlocal last
            if time.monotonic() > deadline:
                return False
            played = self.play(trial, deadline, counted=False)
            played.settle()
            if played.failure == failure and not played.log.misfit:
                last = played
                return True
            return False

        candidate = explicit(failed.plan, failed.log)
        if candidate != failed.plan and not fails(candidate):
            return failed
        shrink(last.plan, fails, _SHRINK_TRIES)
        if failure is not None and failure[0] != "expect":
            # Processes that ran alone, left out one at a time while the others still fail.
            for label in alone(last.log, self._run.processes):
                overrides = without(last.log, label)
                if overrides is not None:
                    fails(Plan(overrides, left_out=tuple(sorted((*last.plan.left_out, label)))))
        return last

    def finding(self, failed: _Round) -> StressFinding | None:
        """The finding of the (minimal) failing round, with the counts of every round and
        the token that replays it."""
        run, log = self._run, failed.log
        token = ReplayToken(
            run.method or "",
            run.processes,
            self._plan.name,
            log.steps,
            log.digest,
            failed.plan.overrides,
            failed.plan.priorities,
            failed.plan.changes,
            failed.plan.left_out,
        )
        uncontrolled = "; ".join(
            f"process {label} {log.notes.get(label, 'ran outside control')}"
            for label in log.stalled
        )
        if failed.potential is not None and failed.failure == ("potential deadlock",):
            # Many rounds' lock orders, not one schedule: the seed reproduces it, no token.
            return failed.potential
        run = dataclasses.replace(
            run,
            replay=token.encode(),
            uncontrolled=uncontrolled,
            alone=alone(log, run.processes - len(failed.plan.left_out)),
            left_out=failed.plan.left_out,
        )
        if failed.deadlocked is not None:
            return dataclasses.replace(failed.deadlocked, run=run)
        if failed.raised is not None:
            return dataclasses.replace(failed.raised, run=run)
        return self.tally.finding(run, self._plan.shared, self.rounds, shown=failed.tally)


def _explore(
    rounds: _Controlled, explorer: Explorer, budget: int, deadline: float
) -> _Round | None:
    """Play the explorer's plans until one fails for sure; the round to report, if any.

    A round's traces are read while the next one runs, so a race ends the
    exploration one round late; a raising target or a failed ``expect()`` at once.
    An update no lock guards is kept while exploring goes on to show it lost.
    """
    found: _Round | None = None
    unsettled: _Round | None = None
    for _ in range(budget):
        chosen = explorer.next_plan()
        played = rounds.play(chosen, deadline, unsettled)
        explorer.learn(chosen, played.log)
        settled = [] if unsettled is None else [unsettled]
        unsettled = played
        if played.raised is not None or played.deadlocked is not None or played.tally.failed_expect:
            played.settle()
            settled.append(played)
            unsettled = None
        for done in settled:
            if done.conclusive:
                return done
            if found is None and done.failure is not None:
                found = done
    if unsettled is not None:
        unsettled.settle()
        if unsettled.conclusive or (found is None and unsettled.failure is not None):
            return unsettled
    return found


def _controlled(
    run: StressRun,
    plan: StressPlan,
    deadline: float,
    settings: Settings,
    token: ReplayToken | None,
    deadlocks: _Deadlocks,
) -> tuple[StressFinding | Unpicklable | None, str]:
    """The controlled rounds under one start method: the finding to report, if any, and
    what was explored."""
    schedule = Schedule(run.processes)
    prepare = functools.partial(start_controlled_round, schedule, run.seed, deadlocks.waits)
    crew = _start(run, plan, prepare)
    if not isinstance(crew, Crew):
        return crew, ""
    explorer = Explorer(run.processes, run.rounds, f"{run.seed}:{run.method}")
    rounds = _Controlled(run, plan, crew, schedule, deadlocks)
    failed: _Round | None = None
    with crew:
        try:
            if token is not None:
                failed = rounds.play(
                    Plan(token.overrides, token.priorities, token.changes, token.left_out),
                    deadline,
                )
                failed.settle()
                if (failed.log.steps, failed.log.digest) != (token.steps, token.digest):
                    raise ValueError(
                        f"the replay token does not fit {plan.name} as it is now: it was "
                        f"recorded over {token.steps} scheduling points and this run took "
                        f"another path ({failed.log.steps} points); the code or its inputs "
                        "changed since the failure was printed"
                    )
            else:
                failed = _explore(rounds, explorer, run.rounds, deadline)
                if failed is not None and failed.failure != ("potential deadlock",):
                    failed = rounds.minimal(failed, deadline)
        except (Overran, WorkerDied) as exc:
            broken = _broken(run, rounds.rounds - 1, exc, settings.timeout, deadlocks)
            return broken, explorer.describe()
    if failed is None or failed.failure is None:
        return None, explorer.describe()
    return rounds.finding(failed), explorer.describe()


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
