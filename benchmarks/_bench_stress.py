"""The benchmark run by ``bench_stress.py``; see that file for what it measures.

Kept apart from the launcher so that the ``__main__`` module spawn children
re-import stays as light as a user's script: nothing here is imported by
children, only ``_work``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import math
import multiprocessing
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing import synchronize
from typing import Any

from _runs import load, machine
from _work import count_locked, count_unlocked, stress_prepare_quiet

import pytest_mpcheck

#: The guide's counter: 4 processes, 100 increments each (``_work.count_*``'s default).
PROCESSES = 4
INCREMENTS = 100
EXPECTED = PROCESSES * INCREMENTS

#: Targets of issue 3, point 10.
TARGET_DETECTION = 1.0
TARGET_FALSE_ALARMS = 0
TARGET_CALL_SECONDS = 1.0
TARGET_FAILURE_SECONDS = 0.5

Worker = Callable[[Any], None]

# Python 3.12+ warns when a process with threads forks.  Nothing here starts
# threads, and the engine silences the warning for its own; this only keeps a
# stray warning from cluttering the table.
warnings.filterwarnings(
    "ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning
)


# --------------------------------------------------------------------------
# One run of each program.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlainOutcome:
    """The plain program: the final counter value and its wall time."""

    value: int
    seconds: float

    @property
    def lost(self) -> bool:
        return self.value != EXPECTED


@dataclass(frozen=True)
class StressOutcome:
    """One ``stress`` call: its wall time and, if it raised, the finding."""

    seconds: float
    seed: int
    error: str | None = None
    headline: str = ""
    #: The error is a race or ``expect`` finding, not a crash, timeout or pickling one.
    about_state: bool = False

    @property
    def raised(self) -> bool:
        return self.error is not None


def plain_run(method: str, worker: Worker) -> PlainOutcome:
    """The program as the guide writes it, with no checker: value, 4 processes, start, join."""
    ctx: Any = multiprocessing.get_context(method)
    start = time.perf_counter()
    counter = ctx.Value("i", 0)
    members = [ctx.Process(target=worker, args=(counter,)) for _ in range(PROCESSES)]
    try:
        for member in members:
            member.start()
        for member in members:
            member.join()
    finally:
        for member in members:
            if member.is_alive():
                member.terminate()
                member.join()
    seconds = time.perf_counter() - start
    failed = [member.exitcode for member in members if member.exitcode != 0]
    for member in members:
        member.close()
    if failed:
        raise RuntimeError(f"plain {method} run: a process exited with {failed[0]}")
    return PlainOutcome(counter.value, seconds)


def checker(seed: int) -> pytest_mpcheck.MpCheck:
    """The module-level API's checker (default settings) with ``seed`` in place of its own."""
    return pytest_mpcheck.MpCheck(dataclasses.replace(pytest_mpcheck.active_settings(), seed=seed))


def stress_run(method: str, worker: Worker, seed: int, rounds: int | None = None) -> StressOutcome:
    """``stress(worker, counter, processes=4, start_methods=method, expect=...)``, timed."""
    counter = pytest_mpcheck.Value("i", 0)
    check = checker(seed)
    start = time.perf_counter()
    try:
        check.stress(
            worker,
            counter,
            processes=PROCESSES,
            rounds=rounds,
            start_methods=method,
            expect=lambda: counter.value == EXPECTED,
        )
    except pytest_mpcheck.MpCheckError as exc:
        seconds = time.perf_counter() - start
        lines = str(exc).strip().splitlines()
        about_state = isinstance(exc, (pytest_mpcheck.RaceError, pytest_mpcheck.ExpectationError))
        return StressOutcome(
            seconds, seed, type(exc).__name__, lines[0] if lines else "", about_state
        )
    return StressOutcome(time.perf_counter() - start, seed)


# --------------------------------------------------------------------------
# The measurement.
# --------------------------------------------------------------------------


@dataclass
class MethodResults:
    plain: list[PlainOutcome] = field(default_factory=list)
    broken: list[StressOutcome] = field(default_factory=list)
    locked: list[StressOutcome] = field(default_factory=list)


PROGRAMS = ("plain", "broken", "locked")


def rotated(names: Sequence[str], shift: int) -> list[str]:
    shift %= len(names)
    return [*names[shift:], *names[:shift]]


def run_one(method: str, program: str, seed: int, into: MethodResults) -> None:
    if program == "plain":
        into.plain.append(plain_run(method, count_unlocked))
    elif program == "broken":
        into.broken.append(stress_run(method, count_unlocked, seed))
    else:
        into.locked.append(stress_run(method, count_locked, seed))


def run_all(methods: Sequence[str], runs: int, seed: int | None) -> dict[str, MethodResults]:
    """Every program under every start method, ``runs`` times, in a rotating order.

    The machine's load drifts, so the programs and start methods are
    interleaved rather than run in blocks.  One unrecorded warm-up of each
    first (imports, page cache, the forkserver's server process).
    """
    draw = random.Random()
    results = {method: MethodResults() for method in methods}
    for method in methods:
        for program in PROGRAMS:
            run_one(method, program, draw.randrange(2**32), MethodResults())
    step = max(1, runs // 10)
    for index in range(runs):
        for offset, method in enumerate(methods):
            run_seed = draw.randrange(2**32) if seed is None else seed
            for program in rotated(PROGRAMS, index + offset):
                run_one(method, program, run_seed, results[method])
            gc.collect()
        if (index + 1) % step == 0 or index + 1 == runs:
            print(f"  run {index + 1}/{runs} done", file=sys.stderr, flush=True)
    return results


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def p90(values: Sequence[float]) -> float:
    """90th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def rate(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.0%})" if total else "-"


def seconds_pair(values: Sequence[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8}"
    return f"{statistics.median(values):>7.3f}s {p90(values):>7.3f}s"


def print_tables(results: dict[str, MethodResults]) -> None:
    print("Detection (plain: final value != 400; stress: raised MpCheckError)")
    print(
        f"  {'method':<11} {'runs':>5} {'plain lost':>13} {'stress detected':>16} "
        f"{'false alarms':>13}  finding classes"
    )
    for method, res in results.items():
        runs = len(res.broken)
        lost = sum(outcome.lost for outcome in res.plain)
        detected = sum(outcome.raised for outcome in res.broken)
        alarms = sum(outcome.raised for outcome in res.locked)
        classes = Counter(outcome.error for outcome in res.broken if outcome.error)
        names = ", ".join(f"{name} x{count}" for name, count in classes.most_common()) or "-"
        print(
            f"  {method:<11} {runs:>5} {rate(lost, len(res.plain)):>13} "
            f"{rate(detected, runs):>16} {rate(alarms, len(res.locked)):>13}  {names}"
        )
    other = Counter(
        outcome.error
        for res in results.values()
        for outcome in [*res.broken, *res.locked]
        if outcome.error and not outcome.about_state
    )
    if other:
        names = ", ".join(f"{name} x{count}" for name, count in other.most_common())
        print(
            f"  note: {sum(other.values())} call(s) raised something other than a race or "
            f"expect finding ({names}); see the list below"
        )
    print()
    print("Time (wall clock; median, then 90th percentile)")
    print(
        f"  {'method':<11} {'stress call, locked':>19} {'to failure, broken':>19} "
        f"{'plain program':>19} {'locked/plain':>13} {'failure/plain':>14}"
    )
    for method, res in results.items():
        locked = [outcome.seconds for outcome in res.locked if not outcome.raised]
        failed = [outcome.seconds for outcome in res.broken if outcome.raised]
        plain = [outcome.seconds for outcome in res.plain]
        base = statistics.median(plain)
        ratios = [
            f"{statistics.median(values) / base:>12.1f}x" if values else f"{'-':>13}"
            for values in (locked, failed)
        ]
        print(
            f"  {method:<11} {seconds_pair(locked):>19} {seconds_pair(failed):>19} "
            f"{seconds_pair(plain):>19} {ratios[0]} {ratios[1]:>14}"
        )
    print()
    missed = [
        (method, outcome)
        for method, res in results.items()
        for outcome in res.broken
        if not outcome.raised
    ]
    alarms_seen = [
        (method, outcome)
        for method, res in results.items()
        for outcome in res.locked
        if outcome.raised
    ]
    odd = [
        (method, outcome)
        for method, res in results.items()
        for outcome in res.broken
        if outcome.raised and not outcome.about_state
    ]
    if odd:
        print("Broken program failed for another reason (counted as detected), up to 5:")
        for method, outcome in odd[:5]:
            print(f"  {method}: seed {outcome.seed}: {outcome.error}: {outcome.headline}")
        print()
    if missed:
        print("Missed (broken program passed stress), up to 5:")
        for method, outcome in missed[:5]:
            print(f"  {method}: seed {outcome.seed}")
        print()
    if alarms_seen:
        print("False alarms (locked program failed stress), up to 5:")
        for method, outcome in alarms_seen[:5]:
            print(f"  {method}: seed {outcome.seed}: {outcome.error}: {outcome.headline}")
        print()


def verdicts(results: dict[str, MethodResults]) -> bool:
    """Print PASS/FAIL per target and start method; True if all met."""
    rows: dict[str, list[tuple[str, bool]]] = {
        f"detection = {TARGET_DETECTION:.0%}": [],
        f"false alarms = {TARGET_FALSE_ALARMS}": [],
        f"median call, locked <= {TARGET_CALL_SECONDS:g} s": [],
        f"median time to failure <= {TARGET_FAILURE_SECONDS:g} s": [],
    }
    detection, alarms, calls, failures = rows.values()
    for res in results.values():
        share = sum(o.raised for o in res.broken) / len(res.broken)
        detection.append((f"{share:.0%}", share >= TARGET_DETECTION))
        raised = sum(o.raised for o in res.locked)
        alarms.append((str(raised), raised <= TARGET_FALSE_ALARMS))
        for cells, values, target in (
            (calls, [o.seconds for o in res.locked if not o.raised], TARGET_CALL_SECONDS),
            (failures, [o.seconds for o in res.broken if o.raised], TARGET_FAILURE_SECONDS),
        ):
            median = statistics.median(values) if values else math.inf
            cells.append((f"{median:.3f}s" if values else "-", median <= target))
    print("Targets".ljust(36) + "".join(f"{method:>16}" for method in results))
    ok = True
    for label, cells in rows.items():
        text = "".join(f"{value + (' PASS' if met else ' FAIL'):>16}" for value, met in cells)
        print(f"  {label:<34}{text}")
        ok = ok and all(met for _, met in cells)
    print()
    return ok


# --------------------------------------------------------------------------
# --phases: where a stress call's time goes.
# --------------------------------------------------------------------------

PHASES = (
    "crew start",
    "round 1",
    "rounds 2+",
    "trace decode",
    "analysis",
    "crew close",
    "rest in this process",
    "total",
)


@dataclass
class CallTimes:
    """One stress call split into phases (seconds), and the first round with a race."""

    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    later_rounds: list[float] = field(default_factory=list)
    round_now: int = -1
    first_racy_round: int | None = None


def internals_available() -> bool:
    """Whether the private names the phase timers wrap still exist."""
    try:
        from pytest_mpcheck._checks import stress
        from pytest_mpcheck._trace import ring
    except ImportError:
        return False
    crew = getattr(stress, "Crew", None)
    return (
        isinstance(crew, type)
        and all(callable(getattr(crew, name, None)) for name in ("run_round", "close"))
        and callable(getattr(stress, "analyze", None))
        and callable(getattr(stress, "start_round", None))
        and callable(getattr(getattr(ring, "Records", None), "events", None))
    )


@contextlib.contextmanager
def phase_timers(call: CallTimes) -> Iterator[None]:
    """Time the crew's start, rounds and close, the trace decode and the analysis.

    Wraps private names of ``pytest_mpcheck._checks.stress`` and ``_trace.ring``
    for the duration of the block; profiling only, never used by the
    measurements.
    """
    from pytest_mpcheck._checks import stress
    from pytest_mpcheck._trace import ring

    crew_class: Any = getattr(stress, "Crew")  # noqa: B009
    analyze: Any = getattr(stress, "analyze")  # noqa: B009
    events = ring.Records.events
    into = call.phases

    class TimedCrew(crew_class):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            try:
                super().__init__(*args, **kwargs)
            finally:
                into["crew start"] += time.perf_counter() - start

        def run_round(self, number: int, deadline: float, meanwhile: Any = None) -> Any:
            """The round's time, less the reading of the last round that overlaps it."""
            call.round_now = number
            overlapped = 0.0

            def timed_meanwhile() -> None:
                nonlocal overlapped
                begun = time.perf_counter()
                call.round_now = number - 1  # what is read meanwhile is the last round
                try:
                    if meanwhile is not None:
                        meanwhile()
                finally:
                    call.round_now = number
                    overlapped = time.perf_counter() - begun

            start = time.perf_counter()
            try:
                return super().run_round(number, deadline, timed_meanwhile)
            finally:
                spent = time.perf_counter() - start - overlapped
                if number == 0:
                    into["round 1"] += spent
                else:
                    into["rounds 2+"] += spent
                    call.later_rounds.append(spent)

        def close(self) -> None:
            start = time.perf_counter()
            try:
                super().close()
            finally:
                into["crew close"] += time.perf_counter() - start

    def timed_events(self: Any) -> Any:
        start = time.perf_counter()
        try:
            return events(self)
        finally:
            into["trace decode"] += time.perf_counter() - start

    def timed_analyze(found: Any) -> Any:
        start = time.perf_counter()
        try:
            races = analyze(found)
        finally:
            into["analysis"] += time.perf_counter() - start
        if (races.lost or races.unguarded) and call.first_racy_round is None:
            call.first_racy_round = call.round_now
        return races

    setattr(stress, "Crew", TimedCrew)  # noqa: B010
    setattr(stress, "analyze", timed_analyze)  # noqa: B010
    setattr(ring.Records, "events", timed_events)  # noqa: B010
    try:
        yield
    finally:
        setattr(stress, "Crew", crew_class)  # noqa: B010
        setattr(stress, "analyze", analyze)  # noqa: B010
        setattr(ring.Records, "events", events)  # noqa: B010


@contextlib.contextmanager
def quiet(enabled: bool) -> Iterator[None]:
    """With ``enabled``, stress members run with the access noise switched off."""
    if not enabled:
        yield
        return
    from pytest_mpcheck._checks import stress

    prepare = stress.start_round
    setattr(stress, "start_round", stress_prepare_quiet)  # noqa: B010
    try:
        yield
    finally:
        setattr(stress, "start_round", prepare)  # noqa: B010


def timed_call(
    method: str, worker: Worker, seed: int, noise: bool = True, rounds: int | None = None
) -> tuple[StressOutcome, CallTimes]:
    call = CallTimes()
    gc.collect()
    with quiet(not noise), phase_timers(call):
        outcome = stress_run(method, worker, seed, rounds)
    call.phases["total"] = outcome.seconds
    call.phases["rest in this process"] = outcome.seconds - sum(
        seconds for name, seconds in call.phases.items() if name != "total"
    )
    return outcome, call


def median_ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1000:>8.1f}" if values else f"{'-':>8}"


def phase_table(methods: Sequence[str], repeat: int, draw: random.Random) -> None:
    """Median of each phase of a stress call, per start method and program."""
    programs: tuple[tuple[str, Worker], ...] = (
        ("locked", count_locked),
        ("broken", count_unlocked),
    )
    calls: dict[tuple[str, str], list[CallTimes]] = defaultdict(list)
    outcomes: dict[tuple[str, str], list[StressOutcome]] = defaultdict(list)
    for _ in range(repeat):
        for method in methods:
            for program, worker in programs:
                outcome, call = timed_call(method, worker, draw.randrange(2**32))
                calls[method, program].append(call)
                outcomes[method, program].append(outcome)
    rounds = pytest_mpcheck.active_settings().rounds
    print(
        f"Where a stress call's time goes (default settings: {rounds} rounds; median of "
        f"{repeat} calls per cell, milliseconds):"
    )
    keys = list(calls)
    print(f"  {'phase':<22}" + "".join(f"{f'{m} {p}':>19}" for m, p in keys))
    for phase in PHASES:
        print(
            f"  {phase:<22}"
            + "".join(
                f"{median_ms([call.phases.get(phase, 0.0) for call in calls[key]]):>19}"
                for key in keys
            )
        )
    print(
        f"  {'one later round':<22}"
        + "".join(
            f"{median_ms([s for call in calls[key] for s in call.later_rounds]):>19}"
            for key in keys
        )
    )
    print(f"  {'first racy round':<22}" + "".join(f"{first_racy(calls[key]):>19}" for key in keys))
    print()
    print(
        "  crew start: creating the barrier and pipes and starting the members (for spawn"
        " and forkserver, start() returns before a member has imported anything);\n"
        "  round 1: the members' start-up that start() did not wait for, then one round;\n"
        "  trace decode + analysis: the parent reading and analyzing the access trace"
        " after every round;\n"
        "  rest: resets, expect(), the picklability check, the failure message.\n"
    )


def first_racy(calls: Sequence[CallTimes]) -> str:
    rounds = [call.first_racy_round for call in calls if call.first_racy_round is not None]
    if not rounds:
        return "none"
    return f"round {statistics.median(rounds) + 1:g} (max {max(rounds) + 1})"


def noise_and_rounds(methods: Sequence[str], repeat: int, draw: random.Random) -> None:
    """Call time and detection with the noise off, and with fewer rounds."""
    variants: tuple[tuple[str, Worker, bool, int | None], ...] = (
        ("locked, noise on", count_locked, True, None),
        ("locked, noise off", count_locked, False, None),
        ("broken, noise on", count_unlocked, True, None),
        ("broken, noise off", count_unlocked, False, None),
        ("broken, rounds=5", count_unlocked, True, 5),
        ("broken, rounds=1", count_unlocked, True, 1),
        ("broken, rounds=1, no noise", count_unlocked, False, 1),
    )
    seen: dict[tuple[str, str], list[tuple[StressOutcome, CallTimes]]] = defaultdict(list)
    for _ in range(repeat):
        for method in methods:
            for label, worker, noise, rounds in variants:
                seen[method, label].append(
                    timed_call(method, worker, draw.randrange(2**32), noise, rounds)
                )
    print(
        f"Noise and rounds (median of {repeat} calls; detected = raised MpCheckError; "
        "a round is the median of rounds 2+):"
    )
    print(
        f"  {'method':<11} {'variant':<28} {'call':>9} {'one round':>10} {'detected':>9}  classes"
    )
    for method in methods:
        for index, (label, *_) in enumerate(variants):
            pairs = seen[method, label]
            outcomes = [outcome for outcome, _ in pairs]
            rounds_ms = [s for _, call in pairs for s in call.later_rounds]
            classes = Counter(o.error for o in outcomes if o.error)
            print(
                f"  {method if index == 0 else '':<11} {label:<28} "
                f"{median_ms([o.seconds for o in outcomes])}ms {median_ms(rounds_ms)}ms "
                f"{sum(o.raised for o in outcomes):>4}/{len(outcomes):<4} "
                + (", ".join(f"{n} x{c}" for n, c in classes.most_common()) or "-")
            )
    print()


_IMPORT_PROBE = """
import multiprocessing, multiprocessing.synchronize, time
start = time.perf_counter()
import pytest_mpcheck._engine.crew
print(time.perf_counter() - start)
"""


def access_costs(repeat: int) -> None:
    """In this process: an increment on a plain vs an instrumented Value; start-up costs."""
    from pytest_mpcheck._trace.policy import NOISE, AccessPolicy, Noise, Tracing, configured

    plain = multiprocessing.get_context("spawn").Value("i", 0)
    ours = pytest_mpcheck.Value("i", 0)

    def per_increment(counter: Any) -> float:
        best = math.inf
        for _ in range(repeat):
            start = time.perf_counter()
            count_unlocked(counter, INCREMENTS)
            best = min(best, time.perf_counter() - start)
        return best / INCREMENTS

    with configured(Tracing(policy=AccessPolicy())):
        quiet_cost = per_increment(ours)
    with configured(Tracing(policy=Noise.seeded(0, 0, 0))):
        noisy_cost = per_increment(ours)
    plain_cost = per_increment(plain)
    print("Per increment in this process (best of repeats; one read and one write):")
    print(f"  multiprocessing.Value                 {plain_cost * 1e6:>8.1f} us")
    print(f"  pytest_mpcheck.Value, noise off       {quiet_cost * 1e6:>8.1f} us")
    print(
        f"  pytest_mpcheck.Value, noise {NOISE:g}       {noisy_cost * 1e6:>8.1f} us  "
        f"(x{EXPECTED} increments per round, spread over {PROCESSES} processes)"
    )
    start = time.perf_counter()
    objects = gc.get_objects()
    locks = sum(isinstance(obj, synchronize.SemLock) for obj in objects)
    scan = time.perf_counter() - start
    print(
        f"  first traced access in a process scans gc.get_objects() for locks: here "
        f"{len(objects)} objects ({locks} locks), {scan * 1000:.1f} ms; a fork member "
        "inherits this heap"
    )
    imports = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True
        ).stdout
        imports.append(float(out.split()[0]))
    cost = statistics.median(imports) * 1000
    print(
        f"  importing pytest_mpcheck in a fresh interpreter: {cost:.1f} ms (every spawn and "
        "forkserver member pays it when it unpickles its task)"
    )
    print()


def startup_costs(methods: Sequence[str], repeat: int) -> None:
    """Starting and joining 4 processes, bare and importing pytest_mpcheck, per start method."""
    tasks: tuple[tuple[Callable[..., None], tuple[Any, ...]], ...] = (
        (count_unlocked, (None, 0)),
        (stress_prepare_quiet, (0, 1, 0)),
    )
    print(
        f"Start + join of {PROCESSES} processes (median of {repeat}, ms): running an empty "
        "loop, and importing pytest_mpcheck as a stress member does"
    )
    print(f"  {'method':<11} {'empty':>8} {'import':>8}")
    for method in methods:
        ctx: Any = multiprocessing.get_context(method)
        cells = []
        for target, args in tasks:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                members = [ctx.Process(target=target, args=args) for _ in range(PROCESSES)]
                for member in members:
                    member.start()
                for member in members:
                    member.join()
                    member.close()
                times.append(time.perf_counter() - start)
            cells.append(median_ms(times))
        print(f"  {method:<11} {cells[0]} {cells[1]}")
    print()


def phases(methods: Sequence[str], repeat: int) -> None:
    if not internals_available():
        print("Where the time goes: unavailable (the engine's internals changed).\n")
        return
    draw = random.Random()
    startup_costs(methods, repeat)
    access_costs(max(20, repeat))
    phase_table(methods, repeat, draw)
    noise_and_rounds(methods, repeat, draw)


# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    offered = pytest_mpcheck.available_start_methods()
    parser = argparse.ArgumentParser(
        description="Benchmark stress on the guide's counter: detection, false alarms, time."
    )
    parser.add_argument("--runs", type=int, default=100, help="runs per start method (100)")
    parser.add_argument(
        "--methods",
        default=",".join(offered),
        help=f"comma-separated start methods (default: {','.join(offered)})",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="one seed for every call (default: fresh per run)"
    )
    parser.add_argument(
        "--phases", action="store_true", help="also show where a stress call's time goes"
    )
    parser.add_argument(
        "--phase-runs", type=int, default=5, help="calls per cell of the --phases tables (5)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    for name in ("runs", "phase_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    requested = {part.strip() for part in args.methods.split(",") if part.strip()}
    if not requested or not requested <= set(offered):
        parser.error(f"--methods: accepted {', '.join(offered)}; got {args.methods!r}")
    args.methods = tuple(method for method in offered if method in requested)
    return args


def reap() -> int:
    """Stop any child process still alive (none should be); returns how many there were."""
    left = multiprocessing.active_children()
    for child in left:
        child.terminate()
    for child in left:
        child.join(2.0)
        if child.is_alive():
            child.kill()
            child.join()
    return len(left)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    methods: tuple[str, ...] = args.methods
    settings = pytest_mpcheck.active_settings()
    print(
        f"pytest-mpcheck {pytest_mpcheck.__version__} stress benchmark: the guide's counter, "
        f"{PROCESSES} processes x {INCREMENTS} increments, {args.runs} runs per start method "
        f"({', '.join(methods)})"
    )
    print(
        f"stress defaults: {settings.rounds} rounds, timeout {settings.timeout:g}s; seed "
        + ("fresh per run" if args.seed is None else str(args.seed))
    )
    print(machine())
    print()
    try:
        started = time.perf_counter()
        results = run_all(methods, args.runs, args.seed)
        print(f"(measured in {time.perf_counter() - started:.0f} s; load average now {load()})")
        print()
        print_tables(results)
        met = verdicts(results)
        if args.phases:
            phases(methods, args.phase_runs)
    finally:
        pytest_mpcheck.close_pools()
        left = reap()
    if left:
        print(f"{left} child process(es) were still alive at the end and were stopped.")
        return 2
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
