"""``stress``: every finding fails with our message, and its correct twin passes.

End-to-end tests write a user's test module with ``pytester`` and run it in
a ``pytest`` subprocess under each start method; a few in-process checks
show that the broken programs fail in every run, not once in a while.
"""

from __future__ import annotations

import contextlib
import inspect
import multiprocessing
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

import pytest_mpcheck
from _stress_targets import (
    Held,
    add_boxed,
    add_boxed_locked,
    add_boxed_under_its_lock,
    add_in_a_child,
    add_locked,
    add_once,
    add_once_locked,
    add_under,
    add_unlocked,
    boxed,
    fail,
    nothing,
)
from _support import (
    METHODS,
    SUBPROCESS_TIMEOUT,
    fnmatch_escape,
    line_of,
    outcomes_of,
    run_pytest,
    section,
)
from pytest_mpcheck._report.messages import (
    EXPECT_FAILED,
    LOST_UPDATE,
    NO_SHARED_OBJECT,
    TARGET_RAISED,
    TIMEOUT,
    UNGUARDED_UPDATE,
    UNPICKLABLE,
    WORKER_CRASH,
)

SEED = 1234


RACE_HEADLINE = (
    rf"E\s+pytest_mpcheck\.(LostUpdateError: {re.escape(LOST_UPDATE)}"
    rf"|UnguardedUpdateError: {re.escape(UNGUARDED_UPDATE)}) under {{method}} \(seed {SEED}\)"
)

# --- the guide's counter ----------------------------------------------------------

COUNTER = """
    def increment(counter):
        for _ in range(100):
            counter.value += 1          # the lock is missing


    def increment_locked(counter):
        for _ in range(100):
            with counter.get_lock():
                counter.value += 1


    def test_broken(mpcheck):
        counter = mpcheck.Value("i", 0)
        mpcheck.stress(increment, counter, processes=4, expect=lambda: counter.value == 400)


    def test_fixed(mpcheck):
        counter = mpcheck.Value("i", 0)
        mpcheck.stress(increment_locked, counter, processes=4, expect=lambda: counter.value == 400)
"""


@pytest.mark.parametrize("schedule", ["controlled", "free"])
@pytest.mark.parametrize("method", METHODS)
def test_the_guides_counter_fails_with_a_witness_and_passes_with_its_lock(
    pytester: pytest.Pytester, method: str, schedule: str
) -> None:
    result = run_pytest(
        pytester,
        COUNTER,
        "-rA",
        f"--mp-start-methods={method}",
        f"--mp-seed={SEED}",
        f"--mp-schedule={schedule}",
    )
    assert outcomes_of(result) == {"test_broken": "FAILED", "test_fixed": "PASSED"}
    line = line_of(COUNTER, "the lock is missing")
    matcher = section(result, "test_broken")
    matcher.fnmatch_lines(
        [
            f"E * pytest_mpcheck.LostUpdateError: {LOST_UPDATE} under {method} (seed {SEED}): "
            + "* of * rounds* lost writes to "
            + fnmatch_escape(
                "args[0] (Value of c_int).value; in the worst round its final value fell "
            )
            + "* short of what its updates add up to",
            f"E * target: increment, start method: {method}, processes: 4, rounds: 20, "
            f"seed: {SEED}, schedule: {schedule}",
            "E * | step | process * | process * |",
            f"E * | read .value * (*.py:{line}) *|  <- stale read",
            f"E * | write .value * (*.py:{line}) *|  <- overwrites step *",
            "E * the write at step * was computed from the read at step *; another process "
            "wrote at step * in between, and that write was lost.",
            "E * outcomes over * rounds*: * x*",
            "E * fix: hold one lock across the read and the write*",
            f"E * replay: pytest test_the_guides_counter_*.py::test_broken "
            f"--mp-start-methods={method} --mp-replay=1*"
            if schedule == "controlled"
            else f"E * rerun with --mp-seed={SEED} --mp-start-methods={method} (the seed fixes "
            "the noise schedule, not the OS scheduler)",
        ]
    )
    # The headline's figure is what the worst round's final value lacks of 4 x 100.
    text = "\n".join(matcher.lines)
    short = re.search(r"final value fell (\d+) short", text)
    outcomes = re.search(r"outcomes over \d+ rounds(?: \(of [^)]*\))?: (.*)", text)
    assert short is not None, text
    assert outcomes is not None, text
    shown = outcomes.group(1).split(", ")
    finals = [int(part.split(" x")[0]) for part in shown if not part.startswith("...")]
    if shown[-1].startswith("..."):  # the rarest outcomes are left out: the worst may be one
        assert int(short.group(1)) >= 400 - min(finals)
    else:
        assert int(short.group(1)) == 400 - min(finals)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_the_guides_counter_fails_in_every_run(method: str) -> None:
    # Few rounds, several runs: a missing lock must not pass once in a while.
    for _ in range(3):
        counter = pytest_mpcheck.Value("i", 0)
        with pytest.raises(pytest_mpcheck.RaceError):
            pytest_mpcheck.stress(
                add_unlocked, counter, processes=4, rounds=5, start_methods=method
            )


def _locked_counter(method: str, schedule: str) -> pytest_mpcheck.StressReport:
    """The guide's counter with its lock, 3 processes, 4 rounds: it passes."""
    counter = pytest_mpcheck.Value("i", 0)
    report = pytest_mpcheck.stress(
        add_locked,
        counter,
        processes=3,
        rounds=4,
        expect=lambda: counter.value == 300,
        start_methods=method,
        schedule=schedule,
    )
    assert counter.value == 300
    assert (report.target, report.processes, report.rounds) == ("add_locked", 3, 4)
    assert report.start_methods == (method,)
    assert report.seed == pytest_mpcheck.active_settings().seed
    assert report.objects == 1
    assert report.schedule == schedule
    return report


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_the_locked_counter_passes_and_says_what_it_covered(method: str) -> None:
    report = _locked_counter(method, "controlled")
    assert re.fullmatch(
        rf"stress add_locked: 4 rounds x 3 processes under {method} \(seed {report.seed}, "
        r"controlled schedule\), 1 shared object\(s\): no lost or unguarded update; explored "
        rf"under {method}: 3 processes, \d+ scheduling points: the schedule without "
        r"preemption, then 3 PCT schedules of depth 3",
        report.summary(),
    ), report.summary()


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_the_locked_counter_passes_free_running_and_says_how_sure(method: str) -> None:
    report = _locked_counter(method, "free")
    assert report.bound == 0.75
    assert report.summary() == (
        f"stress add_locked: 4 rounds x 3 processes under {method} (seed {report.seed}, "
        "free schedule), 1 shared object(s): no lost or unguarded update; per-round loss "
        "rate below about 75% at 95% confidence (rule of three: 3/4)"
    )


# --- an unguarded update where no update is lost ------------------------------------

ONE_EACH = """
    import pytest

    METHODS = {methods!r}


    def increment_once(counter):
        counter.value += 1          # no lock; one increment per process


    def increment_once_locked(counter):
        with counter.get_lock():
            counter.value += 1


    @pytest.mark.parametrize("method", METHODS)
    def test_broken(mpcheck, method):
        counter = mpcheck.Value("i", 0)
        mpcheck.stress(increment_once, counter, processes=2, rounds=3, start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_fixed(mpcheck, method):
        counter = mpcheck.Value("i", 0)
        mpcheck.stress(
            increment_once_locked,
            counter,
            processes=2,
            rounds=3,
            start_methods=method,
            expect=lambda: counter.value == 2,
        )
"""


def test_one_unguarded_increment_per_process_fails_and_the_locked_one_passes(
    pytester: pytest.Pytester,
) -> None:
    source = ONE_EACH.format(methods=list(METHODS))
    result = run_pytest(pytester, source, "-rA", f"--mp-seed={SEED}")
    outcomes = outcomes_of(result)
    assert outcomes == {
        **{f"test_broken[{method}]": "FAILED" for method in METHODS},
        **{f"test_fixed[{method}]": "PASSED" for method in METHODS},
    }
    line = line_of(source, "no lock; one increment")
    for method in METHODS:
        matcher = section(result, f"test_broken[{method}]")
        matcher.re_match_lines([RACE_HEADLINE.format(method=method)])
        matcher.fnmatch_lines(
            [
                "E * | step | process * | process * |",
                f"E * | read .value * (*.py:{line}) *",
                f"E * | write .value * (*.py:{line}) *",
                "E * outcomes over * rounds*: *",
                f"E * replay: pytest * --mp-start-methods={method} --mp-replay=1*",
            ]
        )


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_one_unguarded_increment_per_process_fails_in_every_run(method: str) -> None:
    for _ in range(3):
        counter = pytest_mpcheck.Value("i", 0)
        with pytest.raises(pytest_mpcheck.RaceError):
            pytest_mpcheck.stress(add_once, counter, processes=2, rounds=3, start_methods=method)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_one_locked_increment_per_process_passes_in_every_run(method: str) -> None:
    for _ in range(3):
        counter = pytest_mpcheck.Value("i", 0)
        pytest_mpcheck.stress(
            add_once_locked,
            counter,
            processes=2,
            rounds=3,
            start_methods=method,
            expect=lambda counter=counter: counter.value == 2,
        )


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("schedule", ["controlled", "free"])
def test_a_target_may_start_processes_of_its_own(method: str, schedule: str) -> None:
    counter = pytest_mpcheck.Value("i", 0)
    options: dict[str, Any] = {
        "processes": 2,
        "rounds": 3,
        "start_methods": method,
        "schedule": schedule,
    }
    pytest_mpcheck.stress(add_in_a_child, counter, expect=lambda: counter.value == 2, **options)
    with pytest.raises(pytest_mpcheck.TargetError, match="the child process exited with 3"):
        pytest_mpcheck.stress(add_in_a_child, counter, 3, **options)
    assert multiprocessing.active_children() == []


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_stress_process_holding_no_lock_is_not_taken_for_one_holding_an_unknown_lock(
    method: str,
) -> None:
    # The unguarded-update rule skips accesses made while the process holds a
    # multiprocessing lock the analysis cannot see ("foreign").  A process that
    # holds none -- not the user's, not one of the checker's own -- must not be
    # recorded as holding one, or no unguarded update is ever reported.
    counter = pytest_mpcheck.Value("i", 0)
    with contextlib.suppress(pytest_mpcheck.RaceError):
        pytest_mpcheck.stress(add_once, counter, processes=2, rounds=1, start_methods=method)
    events = counter._trace.events()
    assert len(events) == 4
    assert [event.foreign for event in events] == [False] * 4, events


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["BoundedSemaphore", "Semaphore"])
def test_a_semaphore_used_as_a_lock_is_never_blamed(kind: str, method: str) -> None:
    # Semaphore(1) is a lock the analysis cannot see as one: correct code, so
    # only an actual lost update could be reported, and none can happen.
    guard = getattr(multiprocessing.get_context("spawn"), kind)(1)
    for _ in range(2):
        counter = pytest_mpcheck.Value("i", 0, lock=False)
        pytest_mpcheck.stress(
            add_under,
            counter,
            guard,
            processes=2,
            rounds=5,
            start_methods=method,
            expect=lambda counter=counter: counter.value == 20,
        )


# --- shared objects wherever the arguments hold them --------------------------------


def _twenty_times_two(
    target: Callable[..., None], argument: object, counter: Any, method: str
) -> pytest_mpcheck.StressReport:
    """Three rounds of 2 processes x 10 increments through ``argument``: 20 when right."""
    return pytest_mpcheck.stress(
        target,
        argument,
        processes=2,
        rounds=3,
        start_methods=method,
        expect=lambda: counter.value == 20,
    )


#: How each way of packing a counter into an argument names it in messages.
BOXES = {
    "attribute": "args[0].counter",
    "dataclass": "args[0].counter",
    "slot": "args[0].counter",
    "inherited-slot": "args[0].counter",
    "namedtuple": "args[0].counter",  # arrives as itself, not as a plain tuple
    "property": "args[0].counter",  # its class has properties that raise when read
    "nested": "args[0]['x'][1]",
}


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", list(BOXES))
def test_a_locked_counter_held_in_an_argument_is_reset_each_round(shape: str, method: str) -> None:
    counter = pytest_mpcheck.Value("i", 0)
    report = _twenty_times_two(add_boxed_locked, boxed(shape, counter), counter, method)
    assert report.objects == 1


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", list(BOXES))
def test_an_unlocked_counter_held_in_an_argument_is_a_race_named_by_its_path(
    shape: str, method: str
) -> None:
    counter = pytest_mpcheck.Value("i", 0)
    with pytest.raises(pytest_mpcheck.RaceError) as raised:
        _twenty_times_two(add_boxed, boxed(shape, counter), counter, method)
    assert f"{BOXES[shape]} (Value of c_int).value" in str(raised.value).splitlines()[0]


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_cycle_in_the_arguments_ends_the_search_and_each_object_counts_once(
    method: str,
) -> None:
    counter = pytest_mpcheck.Value("i", 0)
    box = Held(counter)
    boxes: list[object] = [box]
    boxes.append(boxes)
    box.me = box  # type: ignore[attr-defined]
    box.boxes = boxes  # type: ignore[attr-defined]
    report = _twenty_times_two(add_boxed_locked, box, counter, method)
    assert report.objects == 1


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_plain_lock_in_an_argument_object_is_left_alone_and_never_blamed(method: str) -> None:
    # The check wraps plain locks in lists, tuples and dicts, never in the
    # user's objects: this one stays a lock it cannot see, and correct code
    # guarded by it is no finding.
    lock = multiprocessing.get_context("spawn").Lock()
    counter = pytest_mpcheck.Value("i", 0, lock=False)
    box = Held(counter)
    box.lock = lock  # type: ignore[attr-defined]
    _twenty_times_two(add_boxed_under_its_lock, box, counter, method)
    assert box.lock is lock  # type: ignore[attr-defined]


def _fork_made(holder: str) -> tuple[object, ...]:
    """Stress arguments holding a lock of the fork context the way ``holder`` names."""
    fork = multiprocessing.get_context("fork")
    counter = pytest_mpcheck.Value("i", 0, lock=False)
    if holder == "attribute":
        box = Held(counter)
        box.lock = fork.Lock()  # type: ignore[attr-defined]
        return (box,)
    return (counter, fork.Value("i", 0) if holder == "value" else fork.Condition())


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", [method for method in METHODS if method != "fork"])
@pytest.mark.parametrize(
    ("holder", "path"),
    [("attribute", "args[0].lock"), ("value", "args[1]"), ("condition", "args[1]")],
)
def test_a_fork_context_lock_among_the_arguments_is_named_by_its_path(
    holder: str, path: str, method: str
) -> None:
    with pytest.raises(pytest_mpcheck.UnpicklableError) as raised:
        pytest_mpcheck.stress(nothing, *_fork_made(holder), processes=2, start_methods=method)
    assert f"culprit: {path} is a lock made by the fork context" in str(raised.value)


# --- no shared object: a warning, and the run still checks what it can ----------------


def _warned_at_stress(warned: pytest.WarningsRecorder, test: Callable[..., object]) -> None:
    """One MpCheckWarning with our message, attributed to the line of ``test`` that calls stress."""
    lines, start = inspect.getsourcelines(test)
    line = start + next(number for number, text in enumerate(lines) if ".stress(" in text)
    assert [type(w.message) for w in warned] == [pytest_mpcheck.MpCheckWarning]
    (warning,) = warned
    assert str(warning.message).startswith(NO_SHARED_OBJECT), warning.message
    assert "mpcheck.Value/Array" in str(warning.message)
    assert (warning.filename, warning.lineno) == (__file__, line)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_stress_without_a_shared_object_warns_and_still_reports_the_target_raising(
    method: str,
) -> None:
    with (
        pytest.warns(pytest_mpcheck.MpCheckWarning) as warned,
        pytest.raises(pytest_mpcheck.TargetError, match="the target failed"),
    ):
        pytest_mpcheck.stress(fail, 5, processes=2, rounds=2, start_methods=method)
    _warned_at_stress(
        warned, test_stress_without_a_shared_object_warns_and_still_reports_the_target_raising
    )


@pytest.mark.usefixtures("pools")
def test_stress_without_a_shared_object_warns_once_and_runs_every_round(
    mpcheck: pytest_mpcheck.MpCheck,
) -> None:
    calls: list[int] = []

    def expect() -> bool:
        calls.append(1)
        return True

    with pytest.warns(pytest_mpcheck.MpCheckWarning) as warned:
        report = mpcheck.stress(nothing, [1], {"x": 2}, processes=2, rounds=2, expect=expect)
    _warned_at_stress(warned, test_stress_without_a_shared_object_warns_once_and_runs_every_round)
    assert report.objects == 0
    assert len(calls) == 2 * len(METHODS)


BLIND = """
    def count(numbers):
        pass


    def test_blind(mpcheck):
        mpcheck.stress(count, [1, 2], processes=1, rounds=1, start_methods={method!r})
"""


def test_the_warning_shows_in_pytests_summary_at_the_users_line(
    pytester: pytest.Pytester,
) -> None:
    source = BLIND.format(method=METHODS[0])
    result = run_pytest(pytester, source)
    result.assert_outcomes(passed=1, warnings=1)
    line = line_of(source, "mpcheck.stress(")
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            f"*test_the_warning_shows*.py:{line}: MpCheckWarning: "
            + fnmatch_escape(NO_SHARED_OBJECT)
            + "*",
        ]
    )


# --- correct patterns never fail; their broken twins do -----------------------------

PATTERNS = """
    import multiprocessing

    import pytest

    METHODS = {methods!r}
    ROUNDS = dict(processes=2, rounds=3)
    TIMES = 10


    # The value's own lock held across the read-modify-write; the broken twin
    # releases it between the read and the write.
    def own_lock(counter):
        for _ in range(TIMES):
            with counter.get_lock():
                counter.value += 1


    def own_lock_released_between(counter):
        for _ in range(TIMES):
            with counter.get_lock():
                seen = counter.value
            with counter.get_lock():
                counter.value = seen + 1


    # A separate lock guarding a lock=False value (mpcheck.Lock, mpcheck.RLock
    # or a plain multiprocessing lock passed as an argument).
    def separate_lock(counter, lock):
        for _ in range(TIMES):
            lock.acquire()
            try:
                counter.value += 1
            finally:
                lock.release()


    def separate_lock_released_between(counter, lock):
        for _ in range(TIMES):
            with lock:
                seen = counter.value
            with lock:
                counter.value = seen + 1


    # Each process writes only its own slot; the broken twin maps two
    # processes to the same slot.
    def own_slot(next_slot, slots):
        with next_slot.get_lock():
            mine = next_slot.value
            next_slot.value += 1
        for _ in range(TIMES):
            slots[mine] += 1


    def shared_slot(next_slot, slots):
        with next_slot.get_lock():
            mine = next_slot.value // 2
            next_slot.value += 1
        for _ in range(TIMES):
            slots[mine] += 1


    # Read-only sharing; the broken twin also counts its reads in the array.
    def read_only(scale, table):
        total = 0
        for _ in range(TIMES):
            total += scale.value * sum(table[:3]) + table[-1]
        return total


    def read_and_count(scale, table):
        for _ in range(TIMES):
            _ = scale.value * sum(table[:3])
            table[-1] += 1


    # An Array(lock=True) whose lock is held across a slice read-modify-write.
    def pair_locked(pair):
        for _ in range(TIMES):
            with pair.get_lock():
                pair[0:2] = [x + 1 for x in pair[0:2]]


    def pair_unlocked(pair):
        for _ in range(TIMES):
            pair[0:2] = [x + 1 for x in pair[0:2]]


    LOCKS = {{
        "mpcheck.Lock": lambda mpcheck: mpcheck.Lock(),
        "mpcheck.RLock": lambda mpcheck: mpcheck.RLock(),
        "spawn.Lock": lambda mpcheck: multiprocessing.get_context("spawn").Lock(),
    }}

    both = pytest.mark.parametrize("correct", [True, False], ids=["correct", "broken"])
    each_method = pytest.mark.parametrize("method", METHODS)


    @each_method
    @both
    def test_own_lock(mpcheck, correct, method):
        counter = mpcheck.Value("i", 0)
        mpcheck.stress(
            own_lock if correct else own_lock_released_between,
            counter,
            start_methods=method,
            expect=lambda: counter.value == 2 * TIMES,
            **ROUNDS,
        )


    @each_method
    @pytest.mark.parametrize("lock", list(LOCKS))
    def test_separate_lock_correct(mpcheck, lock, method):
        counter = mpcheck.Value("i", 0, lock=False)
        mpcheck.stress(
            separate_lock,
            counter,
            LOCKS[lock](mpcheck),
            start_methods=method,
            expect=lambda: counter.value == 2 * TIMES,
            **ROUNDS,
        )


    @each_method
    @pytest.mark.parametrize("lock", ["mpcheck.Lock", "spawn.Lock"])
    def test_separate_lock_broken(mpcheck, lock, method):
        counter = mpcheck.Value("i", 0, lock=False)
        mpcheck.stress(
            separate_lock_released_between,
            counter,
            LOCKS[lock](mpcheck),
            start_methods=method,
            expect=lambda: counter.value == 2 * TIMES,
            **ROUNDS,
        )


    @each_method
    @both
    def test_own_slots(mpcheck, correct, method):
        next_slot = mpcheck.Value("i", 0)
        slots = mpcheck.Array("i", 2)
        mpcheck.stress(
            own_slot if correct else shared_slot,
            next_slot,
            slots,
            start_methods=method,
            expect=lambda: slots[:] == [TIMES] * 2,
            **ROUNDS,
        )


    @each_method
    @both
    def test_read_only(mpcheck, correct, method):
        scale = mpcheck.Value("d", 1.5)
        table = mpcheck.Array("i", [1, 2, 3, 0], lock=False)
        mpcheck.stress(
            read_only if correct else read_and_count,
            scale,
            table,
            start_methods=method,
            expect=lambda: table[:] == [1, 2, 3, 0],
            **ROUNDS,
        )


    @each_method
    @both
    def test_slice_under_array_lock(mpcheck, correct, method):
        pair = mpcheck.Array("i", 2, lock=True)
        mpcheck.stress(
            pair_locked if correct else pair_unlocked,
            pair,
            start_methods=method,
            expect=lambda: pair[:] == [2 * TIMES] * 2,
            **ROUNDS,
        )
"""


def test_correct_patterns_pass_and_their_broken_twins_fail_with_a_race(
    pytester: pytest.Pytester,
) -> None:
    result = run_pytest(
        pytester, PATTERNS.format(methods=list(METHODS)), "-rA", f"--mp-seed={SEED}"
    )
    outcomes = outcomes_of(result)
    correct = {test: outcome for test, outcome in outcomes.items() if "correct" in test}
    broken = {test: outcome for test, outcome in outcomes.items() if "broken" in test}
    # 5 patterns; the separate lock correct with 3 kinds of lock, broken with 2.
    assert len(correct) == 7 * len(METHODS)
    assert len(broken) == 6 * len(METHODS)
    assert set(correct.values()) == {"PASSED"}, correct
    assert set(broken.values()) == {"FAILED"}, broken
    for test in broken:
        method = next(method for method in METHODS if f"-{method}]" in test)
        section(result, test).re_match_lines([RACE_HEADLINE.format(method=method)])


# --- the other findings, each with its correct twin ---------------------------------

FINDINGS = """
    import multiprocessing
    import os
    import time

    import pytest

    METHODS = {methods!r}
    PICKLING = [method for method in METHODS if method != "fork"]
    ROUNDS = dict(processes=2, rounds=2)


    def increment(counter):
        with counter.get_lock():
            counter.value += 1


    def forget(counter):
        pass


    def explode(counter):
        if counter.value >= 0:
            raise ValueError("bad input in the child")  # raises here


    def die(counter):
        os._exit(3)


    def hang(counter, where):
        with open(os.path.join(where, str(os.getpid())), "w"):
            pass
        time.sleep(60)


    def gone(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


    each_method = pytest.mark.parametrize("method", METHODS)


    @each_method
    def test_expect_falsy(mpcheck, method):
        counter = mpcheck.Value("i", 0)
        mpcheck.stress(
            forget, counter, start_methods=method, expect=lambda: counter.value == 2, **ROUNDS
        )


    @each_method
    def test_expect_asserts(mpcheck, method):
        counter = mpcheck.Value("i", 0)

        def expect():
            assert counter.value == 2, f"counter is {{counter.value}}, not 2"

        mpcheck.stress(forget, counter, start_methods=method, expect=expect, **ROUNDS)


    @each_method
    def test_expect_holds(mpcheck, method):
        counter = mpcheck.Value("i", 0)

        def expect():
            assert counter.value == 2
            return counter.value == 2

        mpcheck.stress(increment, counter, start_methods=method, expect=expect, **ROUNDS)


    @each_method
    def test_target_raises(mpcheck, method):
        mpcheck.stress(explode, mpcheck.Value("i", 0), start_methods=method, **ROUNDS)


    @each_method
    def test_target_dies(mpcheck, method):
        mpcheck.stress(die, mpcheck.Value("i", 0), start_methods=method, **ROUNDS)


    @pytest.mark.mpcheck(timeout=2)
    @each_method
    def test_target_returns_in_time(mpcheck, method):
        mpcheck.stress(forget, mpcheck.Value("i", 0), start_methods=method, **ROUNDS)


    @pytest.mark.mpcheck(timeout=2)
    @each_method
    def test_target_hangs(mpcheck, method, tmp_path):
        started = time.monotonic()
        try:
            counter = mpcheck.Value("i", 0)
            mpcheck.stress(hang, counter, str(tmp_path), start_methods=method, **ROUNDS)
        finally:
            elapsed = time.monotonic() - started
            pids = [int(name) for name in os.listdir(tmp_path)]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(gone(pid) for pid in pids):
                time.sleep(0.05)
            assert len(pids) == 2, "the hanging targets never started"
            assert [pid for pid in pids if not gone(pid)] == [], "a hanging process is alive"
            assert elapsed < 15, f"the 2 s timeout took {{elapsed:.1f}} s"


    @pytest.mark.parametrize("method", PICKLING)
    def test_lambda_target(mpcheck, method):
        mpcheck.stress(lambda counter: None, mpcheck.Value("i", 0), start_methods=method, **ROUNDS)


    # Its twin under spawn and forkserver is test_target_returns_in_time (a def).
    def test_lambda_target_under_fork(mpcheck):
        # Nothing is pickled to start a fork child.
        mpcheck.stress(lambda counter: None, mpcheck.Value("i", 0), start_methods="fork", **ROUNDS)
"""


def test_each_finding_fails_with_its_message_and_its_twin_passes(
    pytester: pytest.Pytester,
) -> None:
    source = FINDINGS.format(methods=list(METHODS))
    started = time.monotonic()
    result = run_pytest(pytester, source, "-rA", f"--mp-seed={SEED}")
    # Three 2-second timeouts and a few dozen short checks; never a minute per hang.
    assert time.monotonic() - started < 90
    pickling = [method for method in METHODS if method != "fork"]
    failing = ["expect_falsy", "expect_asserts", "target_raises", "target_dies", "target_hangs"]
    passing = ["expect_holds", "target_returns_in_time"]
    expected = {f"test_{name}[{method}]": "FAILED" for name in failing for method in METHODS}
    expected.update({f"test_{name}[{m}]": "FAILED" for name in ["lambda_target"] for m in pickling})
    expected.update({f"test_{name}[{m}]": "PASSED" for name in passing for m in METHODS})
    if "fork" in METHODS:
        expected["test_lambda_target_under_fork"] = "PASSED"
    assert outcomes_of(result) == expected

    raises_line = line_of(source, "# raises here")
    for method in METHODS:
        context = (
            f"E * target: *, start method: {method}, processes: 2, rounds: 2, seed: {SEED}, "
            "schedule: controlled"
        )
        section(result, f"test_expect_falsy[{method}]").fnmatch_lines(
            [
                f"E * pytest_mpcheck.ExpectationError: {EXPECT_FAILED} under {method} "
                f"(seed {SEED}): * of * rounds*, first in round 0: expect() returned False",
                context,
                "E * outcomes over * rounds*: 0 x*",
                f"E * replay: pytest '*::test_expect_falsy[[]{method}[]]' "
                f"--mp-start-methods={method} --mp-replay=1*",
            ]
        )
        section(result, f"test_expect_asserts[{method}]").fnmatch_lines(
            [
                f"E * pytest_mpcheck.ExpectationError: {EXPECT_FAILED} under {method} "
                f"(seed {SEED}): * of * rounds*, first in round 0: "
                "AssertionError: counter is 0, not 2",
            ]
        )
        section(result, f"test_target_raises[{method}]").fnmatch_lines(
            [
                f"E * pytest_mpcheck.TargetError: {TARGET_RAISED} under {method}: process ? "
                "in round 0: ValueError: bad input in the child",
                context,
                "E * worker traceback (last lines):",
                "E * Traceback (most recent call last):",
                f'E *   File "*test_each_finding*.py", line {raises_line}, in explode',
                'E *     raise ValueError("bad input in the child")*',
                "E * ValueError: bad input in the child",
            ]
        )
        section(result, f"test_target_dies[{method}]").fnmatch_lines(
            [
                f"E * pytest_mpcheck.WorkerCrashError: {WORKER_CRASH} under {method}: process ? "
                "in stress round 0 (exit code 3)",
                context,
            ]
        )
        section(result, f"test_target_hangs[{method}]").fnmatch_lines(
            [
                f"E * pytest_mpcheck.CheckTimeoutError: {TIMEOUT} after 2s under {method} in "
                "stress round 0: process(es) 1, 2 did not finish",
                context,
                "E * The target hangs*--mp-timeout*",
            ]
        )
    for method in pickling:
        section(result, f"test_lambda_target[{method}]").fnmatch_lines(
            [
                "E * pytest_mpcheck.UnpicklableError: the stress target "
                f"*<lambda>* {UNPICKLABLE} to start spawn/forkserver processes*",
                "E * why: a lambda has no importable name*",
                "E * what to do: define it with `def` at module level*",
            ]
        )


CONTEXTS = """
    import multiprocessing

    import pytest

    METHODS = {methods!r}
    PICKLING = [method for method in METHODS if method != "fork"]
    ROUNDS = dict(processes=2, rounds=2)


    def increment_with(counter, lock):
        with lock:
            counter.value += 1


    @pytest.mark.parametrize("method", PICKLING)
    def test_fork_lock_under(mpcheck, method):
        lock = multiprocessing.get_context("fork").Lock()
        counter = mpcheck.Value("i", 0, lock=False)
        mpcheck.stress(increment_with, counter, lock, start_methods=method, **ROUNDS)


    @pytest.mark.parametrize("method", METHODS)
    def test_lock_of_the_same_context(mpcheck, method):
        lock = multiprocessing.get_context(method).Lock()
        counter = mpcheck.Value("i", 0, lock=False)
        mpcheck.stress(
            increment_with,
            counter,
            lock,
            start_methods=method,
            expect=lambda: counter.value == 2,
            **ROUNDS,
        )
"""


def test_a_fork_context_lock_under_spawn_fails_and_a_lock_of_the_right_context_passes(
    pytester: pytest.Pytester,
) -> None:
    # Python 3.10 itself does not refuse to send such a lock: the child crashes
    # on it, which the check must turn into the same explanation.
    result = run_pytest(pytester, CONTEXTS.format(methods=list(METHODS)), "-rA")
    pickling = [method for method in METHODS if method != "fork"]
    expected = {f"test_fork_lock_under[{method}]": "FAILED" for method in pickling}
    expected.update({f"test_lock_of_the_same_context[{method}]": "PASSED" for method in METHODS})
    assert outcomes_of(result) == expected
    for method in pickling:
        section(result, f"test_fork_lock_under[{method}]").fnmatch_lines(
            [
                f"E * pytest_mpcheck.UnpicklableError: the stress arguments {UNPICKLABLE} to "
                f"start {method} processes*",
                "E * why: *fork context*",
                "E * what to do: create it with mpcheck.Lock()/RLock() (usable under every start "
                "method) or multiprocessing.get_context(*).Lock()*",
            ]
        )


# --- rounds: option, ini, marker, argument; what a passing run covered ---------------

ROUNDS = """
    import pytest

    METHOD = {method!r}


    def nothing(counter):
        pass


    def rounds_run(mpcheck, **kwargs):
        counter = mpcheck.Value("i", 0)
        calls = []
        report = mpcheck.stress(
            nothing,
            counter,
            processes=1,
            start_methods=METHOD,
            expect=lambda: calls.append(1) or True,
            **kwargs,
        )
        assert report.rounds == len(calls)
        return len(calls)


    def test_settings(mpcheck):
        assert rounds_run(mpcheck) == {expected}


    @pytest.mark.mpcheck(rounds=3)
    def test_marker(mpcheck):
        assert rounds_run(mpcheck) == 3


    @pytest.mark.mpcheck(rounds=3)
    def test_argument(mpcheck):
        assert rounds_run(mpcheck, rounds=2) == 2
"""


@pytest.mark.parametrize(
    ("ini", "cli", "expected"),
    [(None, None, 20), ("7", None, 7), ("7", "5", 5), (None, "4", 4)],
    ids=["default", "ini", "cli-over-ini", "cli"],
)
def test_rounds_precedence_argument_marker_cli_ini_default(
    pytester: pytest.Pytester, ini: str | None, cli: str | None, expected: int
) -> None:
    if ini is not None:
        pytester.makeini(f"[pytest]\nmp_rounds = {ini}\n")
    args = ["-rA"] + ([f"--mp-rounds={cli}"] if cli is not None else [])
    source = ROUNDS.format(method=METHODS[0], expected=expected)
    result = run_pytest(pytester, source, *args)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"mpcheck: *rounds: {expected};*"])
    # Without -v the coverage section stays out of the way.
    result.stdout.no_fnmatch_line("*mpcheck coverage*")


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (["--mp-rounds=0"], None, "*--mp-rounds: rounds must be an integer >= 1, not 0*"),
        (["--mp-rounds=many"], None, "*--mp-rounds: rounds must be an integer >= 1, not 'many'*"),
        ([], "0", "*ini option mp_rounds = '0': rounds must be an integer >= 1, not 0*"),
    ],
    ids=["cli-zero", "cli-word", "ini-zero"],
)
def test_bad_rounds_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], ini: str | None, message: str
) -> None:
    if ini is not None:
        pytester.makeini(f"[pytest]\nmp_rounds = {ini}\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(*args, timeout=SUBPROCESS_TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_bad_rounds_marker_stops_the_test_with_a_message(pytester: pytest.Pytester) -> None:
    source = """
        import pytest


        @pytest.mark.mpcheck(rounds=0)
        def test_zero(mpcheck):
            pass
    """
    result = run_pytest(pytester, source)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*invalid marker: @pytest.mark.mpcheck(rounds=0): rounds must be an integer >= 1, not 0*"]
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rounds": 0}, ValueError, "rounds must be an integer >= 1, not 0"),
        ({"rounds": 1.5}, TypeError, "rounds must be an integer >= 1"),
        ({"processes": 0}, ValueError, "processes must be an integer >= 1, not 0"),
        ({"start_methods": "threads"}, ValueError, "'threads' is not a start method; accepted"),
        ({"expect": True}, TypeError, "expect must be None or a callable"),
    ],
    ids=["rounds-zero", "rounds-float", "processes-zero", "start-method", "expect"],
)
def test_wrong_use_of_stress_is_a_clear_error(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        pytest_mpcheck.stress(add_locked, pytest_mpcheck.Value("i", 0), **kwargs)  # type: ignore[arg-type]


def test_a_target_that_is_not_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="target must be callable"):
        pytest_mpcheck.stress(42, pytest_mpcheck.Value("i", 0))  # type: ignore[arg-type]


COVERAGE = """
    def increment_locked(counter):
        for _ in range(10):
            with counter.get_lock():
                counter.value += 1


    def test_fixed(mpcheck):
        counter = mpcheck.Value("i", 0)
        mpcheck.stress(increment_locked, counter, processes=2, expect=lambda: counter.value == 20)
"""


def test_verbose_shows_what_passing_stress_checks_covered(pytester: pytest.Pytester) -> None:
    methods = ", ".join(METHODS)
    result = run_pytest(pytester, COVERAGE, "-v", "--mp-rounds=5", f"--mp-seed={SEED}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= mpcheck coverage =*",
            f"*::test_fixed: stress increment_locked: 5 rounds x 2 processes under {methods} "
            f"(seed {SEED}, controlled schedule), 1 shared object(s): no lost or unguarded "
            f"update; explored under {METHODS[0]}: 2 processes, * scheduling points: the "
            "schedule without preemption, then 4 PCT schedules of depth 3; under *",
        ]
    )
