"""The report layer on its own: finding records in, error class and message out."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from pytest_mpcheck import (
    CheckTimeoutError,
    DeadlockError,
    ExceptionMismatchError,
    ExpectationError,
    IncomparableError,
    LostUpdateError,
    NondeterministicError,
    ResultMismatchError,
    TargetError,
    UnguardedUpdateError,
    UnpicklableError,
    WorkerCrashError,
)
from pytest_mpcheck._model import (
    READ,
    WRITE,
    BlockTimeout,
    Deadlock,
    DeadlockStep,
    Event,
    ExpectFailure,
    Finding,
    Incomparable,
    Leak,
    LostUpdate,
    MemberDied,
    Mismatch,
    MultisetMismatch,
    Nondeterminism,
    NothingShared,
    PickleProblem,
    Placement,
    RaceFinding,
    Raised,
    Returned,
    Run,
    RunBroken,
    RunTimeout,
    StressFinding,
    StressRun,
    StressTimeout,
    TargetRaised,
    UnguardedUpdate,
    Unloadable,
    Unpicklable,
)
from pytest_mpcheck._report import messages
from pytest_mpcheck._report.advice import PYTEST, SCRIPT, for_test
from pytest_mpcheck._report.messages import (
    DEADLOCK,
    EXCEPTION_MISMATCH,
    EXPECT_FAILED,
    INCOMPARABLE,
    LEAKED,
    LOST_UPDATE,
    MULTISET_MISMATCH,
    NONDETERMINISTIC,
    POTENTIAL_DEADLOCK,
    RESULT_MISMATCH,
    TARGET_RAISED,
    TIMEOUT,
    UNGUARDED_UPDATE,
    UNLOADABLE,
    UNPICKLABLE,
    WORKER_CRASH,
    error_for,
    format_finding,
    leak_message,
    no_shared_object_message,
    short_repr,
)

RUN = Run("spawn", "map", 2, None, "scaled", 7)


def test_headlines_are_distinct_constants() -> None:
    names = [
        "RESULT_MISMATCH",
        "EXCEPTION_MISMATCH",
        "MULTISET_MISMATCH",
        "NONDETERMINISTIC",
        "INCOMPARABLE",
        "UNPICKLABLE",
        "UNLOADABLE",
        "TIMEOUT",
        "WORKER_CRASH",
    ]
    headlines = [getattr(messages, name) for name in names]
    assert all(isinstance(text, str) and text for text in headlines)
    assert len(set(headlines)) == len(headlines)


def test_short_repr_keeps_short_values() -> None:
    assert short_repr([1, "a"]) == "[1, 'a']"
    assert short_repr("x" * 158) == repr("x" * 158)


def test_short_repr_shortens_long_values_keeping_both_ends() -> None:
    value = "a" * 200 + "END"
    text = short_repr(value)
    assert len(text) < 170
    assert text.startswith("'aaaa")
    assert text.endswith("aaEND' (205 characters)")
    assert " ... " in text


def test_short_repr_survives_a_broken_repr() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert short_repr(Broken()) == "<repr failed: RuntimeError: no repr>"


def test_result_mismatch() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    error, text = format_finding(finding, {"fork": None, "spawn": finding, "forkserver": finding})
    assert error is ResultMismatchError
    lines = text.splitlines()
    assert lines[0] == (
        f"{RESULT_MISMATCH} at index 1 under spawn (via=map, processes=2, chunksize=default)"
    )
    assert (
        "  start method: spawn, via: map, processes: 2, chunksize: default, function: scaled"
        in (lines)
    )
    assert "  index 1 of 5, input: 1" in lines
    assert "    sequential: 10" in lines
    assert "    parallel:   1" in lines
    assert "  also differs under: forkserver" in lines
    assert "  matches under: fork" in lines
    assert any(line.startswith("  hint: fork workers inherit") for line in lines)


def test_a_placement_of_every_item_by_one_worker() -> None:
    placement = Placement("one", 2, 2, ((), ((0, 5),)))
    finding = Mismatch(
        Run("fork", "map", 2, 2, "f", 7, placement=placement), 2, 6, 2, Returned(0), Returned(1)
    )
    assert (
        "  placement 2 of 2 under fork (one worker ran every chunk in order): worker 2 ran "
        "items 0\u20135; idle: worker 1"
    ) in format_finding(finding)[1].splitlines()


def test_a_mismatch_names_its_placement() -> None:
    placement = Placement("busy", 1, 3, (((0, 1), (4, 5)), ((2, 3),)))
    finding = Mismatch(
        Run("fork", "map", 2, 2, "f", 7, placement=placement), 2, 6, 2, Returned(0), Returned(1)
    )
    lines = format_finding(finding)[1].splitlines()
    assert (
        "  placement 1 of 3 under fork (chunks dealt to the workers in turn): worker 1 ran "
        "items 0\u20131 then 4\u20135; worker 2 ran items 2\u20133" in lines
    )
    assert (
        "  the seed fixes the placements: rerun with --mp-seed=7 --mp-start-methods=fork "
        "to run these again" in lines
    )
    assert not any("carried over" in line for line in lines)


def test_a_later_placement_says_what_ran_before_and_is_cut_short() -> None:
    odd, even = (tuple((item, item) for item in range(first, 20, 2)) for first in (1, 0))
    placement = Placement("random", 3, 3, (odd, even, ()))
    finding = MultisetMismatch(
        Run("spawn", "imap_unordered", 3, 1, "f", 7, placement=placement), 40, ((1, 1, 1),), ()
    )
    lines = format_finding(finding, advice=SCRIPT)[1].splitlines()
    assert (
        "  placement 3 of 3 under spawn (seeded random, on the first 20 of 40 items): worker 1 "
        "ran items 1 then 3 then 5 then 7 then 9 then 11 then ... (4 more runs); worker 2 ran "
        "items 0 then 2 then 4 then 6 then 8 then 10 then ... (4 more runs); idle: worker 3"
    ) in lines
    assert (
        "  the same workers ran placements 1\u20132 of this check first; what they left in a "
        "worker carried over, as in a reused pool" in lines
    )
    assert any("seed=7" in line and "start_methods='spawn'" in line for line in lines)


def test_exception_mismatch_names_both() -> None:
    finding = Mismatch(
        Run("fork", "imap", 3, 4, "f", 7),
        2,
        3,
        "in",
        Raised(ValueError("a", 1), ""),
        Raised(KeyError("b"), "Traceback (most recent call last):\nKeyError: 'b'\n"),
    )
    error, text = format_finding(finding)
    assert error is ExceptionMismatchError
    assert text.startswith(
        f"{EXCEPTION_MISMATCH} at index 2 under fork (via=imap, processes=3, chunksize=4)"
    )
    assert "    sequential: raised ValueError('a', 1)" in text
    assert "    parallel:   raised KeyError('b')" in text
    assert "KeyError: 'b'" in text.split("worker traceback", 1)[1]


def test_value_against_exception_is_an_exception_mismatch() -> None:
    finding = Mismatch(RUN, 0, 1, 0, Returned(0), Raised(RuntimeError("worker"), ""))
    error, text = format_finding(finding)
    assert error is ExceptionMismatchError
    assert "    sequential: 0" in text
    assert "    parallel:   raised RuntimeError('worker')" in text


def test_multiset_mismatch_lists_missing_and_extra() -> None:
    missing = tuple((i, i, i) for i in range(7))
    finding = MultisetMismatch(
        Run("fork", "imap_unordered", 2, None, "f", 7), 9, missing, ((3, 3, 99),)
    )
    error, text = format_finding(finding)
    assert error is ResultMismatchError
    lines = text.splitlines()
    assert lines[0] == (
        f"{MULTISET_MISMATCH} under fork (via=imap_unordered, processes=2, chunksize=default)"
    )
    assert "  missing from the parallel results (7):" in lines
    assert "    4  (index 4, input: 4)" in lines
    assert "    5  (index 5, input: 5)" not in lines
    assert "    ... and 2 more" in lines
    assert "  extra in the parallel results (1):" in lines
    assert "    99  (index 3, input: 3)" in lines


def test_nondeterminism() -> None:
    finding = Nondeterminism("noisy", 0, 0, Returned(0.25), Returned(0.5))
    error, text = format_finding(finding)
    assert error is NondeterministicError
    assert text.splitlines()[:4] == [
        f"{NONDETERMINISTIC} (noisy, at index 0)",
        "  input: 0",
        "    first sequential run:  0.25",
        "    second sequential run: 0.5",
    ]
    assert "not caused by parallelism" in text


def test_error_for_makes_the_class_with_the_message() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    error = error_for(finding)
    assert type(error) is ResultMismatchError
    assert str(error) == format_finding(finding)[1]


# --- hints: each chosen by what was observed -------------------------------------------

STATE = "  hint: fork workers inherit"
WORKER_STATE = "  hint: results that depend on which items a worker ran before"
NESTED = "  hint: func starts processes of its own"


def _hints(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  hint:")]


def test_state_hint_when_only_fork_matches() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    _, text = format_finding(finding, {"fork": None, "spawn": finding})
    assert [hint[: len(STATE)] for hint in _hints(text)] == [STATE]


def test_state_hint_needs_fork_among_the_methods_run() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    _, text = format_finding(finding, {"spawn": finding, "forkserver": None})
    assert _hints(text) == []


def test_worker_state_hint_when_values_differ_under_every_method() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    _, text = format_finding(finding, {"fork": finding, "spawn": finding})
    assert [hint[: len(WORKER_STATE)] for hint in _hints(text)] == [WORKER_STATE]


def test_no_worker_state_hint_for_an_exception_only_the_workers_raise() -> None:
    finding = Mismatch(RUN, 0, 1, 0, Returned(0), Raised(OSError("no such file"), ""))
    _, text = format_finding(finding, {"fork": finding, "spawn": finding})
    assert _hints(text) == []


def test_no_hint_from_one_start_method_alone() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    _, text = format_finding(finding, {"spawn": finding})
    assert _hints(text) == []


def test_a_pool_started_inside_a_pool_worker_is_named_as_such() -> None:
    daemonic = AssertionError(messages.DAEMONIC)
    finding = Mismatch(RUN, 0, 2, 1, Returned(1), Raised(daemonic, ""))
    error, text = format_finding(finding, {"fork": finding, "spawn": finding})
    assert error is ExceptionMismatchError
    assert [hint[: len(NESTED)] for hint in _hints(text)] == [NESTED]
    assert "pool workers are daemonic" in text
    assert "state kept across calls" not in text


def test_incomparable_result_names_the_object_and_what_to_do() -> None:
    value = iter([1])
    finding = Incomparable(RUN, 3, [1], value, "an iterator (list_iterator)")
    error, text = format_finding(finding)
    assert error is IncomparableError
    lines = text.splitlines()
    assert lines[0] == (
        f"{INCOMPARABLE}: the result for index 3 is or holds an iterator (list_iterator)"
    )
    assert "  input: [1], sequential result: <list_iterator object at" in text
    assert "what to do: return a value that compares by content: list(...)" in text
    assert NONDETERMINISTIC not in text


# --- how much a lost update lost -------------------------------------------------------


def _race(counted: bool, in_block: bool = False) -> RaceFinding:
    read = Event(0, 1, 11, READ, 0, 1, 0, "c.py", 3, (), False)
    other = Event(1, 2, 22, WRITE, 0, 1, 1, "c.py", 3, (), False)
    write = Event(2, 1, 11, WRITE, 0, 1, 1, "c.py", 3, (), False)
    run = StressRun(None if in_block else "fork", 2, 20, 5, "inc")
    witness = LostUpdate(0, read, other, write, (read, other, write))
    return RaceFinding(
        run, True, "args[0] (Value of c_int)", ".value", witness, 3, 2, 260, counted, (("140", 3),)
    )


def test_lost_update_headline_counts_the_shortfall_where_it_can() -> None:
    error, text = format_finding(_race(counted=True))
    assert error is LostUpdateError
    assert text.splitlines()[0] == (
        f"{LOST_UPDATE} under fork (seed 5): 2 of 3 rounds run lost writes to "
        "args[0] (Value of c_int).value; in the worst round its final value fell 260 short "
        "of what its updates add up to"
    )


def test_lost_update_headline_says_stale_writes_otherwise() -> None:
    _, text = format_finding(_race(counted=False))
    assert text.splitlines()[0].endswith("; the worst round had 260 write(s) based on a stale read")
    _, text = format_finding(_race(counted=False, in_block=True))
    assert "260 write(s) to args[0] (Value of c_int).value were based on a stale read" in text
    _, text = format_finding(_race(counted=True, in_block=True))
    assert "the final value of args[0] (Value of c_int).value fell 260 short" in text


# --- leaks -------------------------------------------------------------------------------

LEAKS = [
    Leak("process", "42", "SpawnProcess-1 (python ...), start method spawn", 42),
    Leak("shared_memory", "/psm_1", "never unlinked"),
]


def test_leak_message_after_cleaning_up() -> None:
    text = leak_message("t.py::test_x", LEAKS, released=True)
    lines = text.splitlines()
    assert lines[0] == f"2 process(es) or shared memory block(s) {LEAKED} t.py::test_x:"
    assert "  process pid 42: SpawnProcess-1 (python ...), start method spawn" in lines
    assert "  shared_memory /psm_1: never unlinked" in lines
    assert "  They were killed and unlinked so the next test starts clean." in lines
    assert "mp_leak_allow" in text


def test_leak_message_in_warn_mode_touches_nothing() -> None:
    text = leak_message("t.py::test_x", LEAKS, released=False)
    assert "  They were left as they are (warn changes nothing)." in text.splitlines()
    assert "killed" not in text


def test_no_shared_object_says_what_was_searched_and_what_to_do() -> None:
    text = no_shared_object_message(NothingShared("count", 2, 4, None))
    assert text.startswith(f"{messages.NO_SHARED_OBJECT} (target: count): it searched the 2 ")
    assert "lists, tuples, dicts, sets and deques" in text
    assert "instance __dict__, dataclass fields, __slots__), up to 4 steps below" in text
    assert "module globals are not searched" in text
    assert "only expect(), exceptions, crashes, hangs and deadlocks are checked" in text
    assert "mpcheck.Value/Array (or inside `with mpcheck.instrument():`)" in text
    assert "pass it, or an object that holds it, to stress as an argument" in text
    assert "stopped" not in text


def test_no_shared_object_names_where_the_bounds_stopped_the_search() -> None:
    text = no_shared_object_message(NothingShared("count", 1, 4, "args[0].a.b.c.d"))
    assert "; the search stopped at args[0].a.b.c.d, whose contents were not all searched" in text


# --- every finding has one registration, and every formatter its test --------------------

PROBLEM = PickleProblem("function", "a lambda", "a lambda has no name", "use def", "err")
STRESS = StressRun("spawn", 2, 20, 5, "inc")


def test_every_finding_kind_has_a_formatter() -> None:
    kinds = {*typing.get_args(Finding), *typing.get_args(StressFinding)}
    for kind in kinds:
        assert kind in messages._REGISTRY, kind


@pytest.mark.parametrize(
    ("finding", "error", "first_line"),
    [
        pytest.param(
            Unpicklable("function", PROBLEM, None, None, abs, "", "square (m.py:3)"),
            UnpicklableError,
            f"the function square (m.py:3) {UNPICKLABLE} to send it to the workers "
            "(before any worker started)",
            id="function",
        ),
        pytest.param(
            Unpicklable(
                "argument",
                PickleProblem("argument at index 2", "a lock", "no", "pass ids", "e"),
                None,
                2,
                "x",
                "",
            ),
            UnpicklableError,
            f"input at index 2 {UNPICKLABLE} to send it to a worker (before any worker started)",
            id="argument",
        ),
        pytest.param(
            Unpicklable("value", PROBLEM, RUN, 1, 7, ""),
            UnpicklableError,
            f"the result for index 1 {UNPICKLABLE} to send it back from the worker "
            "(under spawn, via=map)",
            id="value",
        ),
        pytest.param(
            Unpicklable("arguments", PROBLEM, None, None, (), "", method="forkserver"),
            UnpicklableError,
            f"the stress arguments {UNPICKLABLE} to start forkserver processes "
            "(before any worker started)",
            id="arguments",
        ),
        pytest.param(
            Unloadable(RUN, "function", "AttributeError: no scaled", "tests.t"),
            UnpicklableError,
            f"{UNLOADABLE}: the function under spawn (via=map)",
            id="unloadable",
        ),
        pytest.param(
            RunTimeout(RUN, 2.0, 3, 5, ((11, 4, "in", "  File x"),), "main stack"),
            CheckTimeoutError,
            f"{TIMEOUT} after 2s under spawn (via=map, processes=2)",
            id="run timeout",
        ),
        pytest.param(
            RunBroken(RUN, "worker pid 11 died (exit code 3)", 4, "in"),
            WorkerCrashError,
            f"{WORKER_CRASH} under spawn (via=map, processes=2): worker pid 11 died "
            "(exit code 3) while running index 4, input 'in'",
            id="run broken",
        ),
        pytest.param(
            ExpectFailure(STRESS, 3, "expect() returned False", 2, 5, (("7", 5),)),
            ExpectationError,
            f"{EXPECT_FAILED} under spawn (seed 5): 2 of 5 rounds, first in round 3: "
            "expect() returned False",
            id="expect",
        ),
        pytest.param(
            TargetRaised(STRESS, 0, 2, "ValueError: boom", "Traceback\nValueError: boom"),
            TargetError,
            f"{TARGET_RAISED} under spawn: process 2 in round 0: ValueError: boom",
            id="target raised",
        ),
        pytest.param(
            StressTimeout(STRESS, 1, (2,), 3.0, ((2, "  File t.py"),)),
            CheckTimeoutError,
            f"{TIMEOUT} after 3s under spawn in stress round 1: process(es) 2 did not finish",
            id="stress timeout",
        ),
        pytest.param(
            BlockTimeout(4.0, ((0, "Thread MainThread"), (4242, "  File t.py")), 2),
            CheckTimeoutError,
            f"{TIMEOUT} after 4s in an instrument() block: the code under test did not finish; "
            "2 process(es) it had started were stopped",
            id="block timeout",
        ),
        pytest.param(
            MemberDied(STRESS, 1, 2, "killed by SIGKILL"),
            WorkerCrashError,
            f"{WORKER_CRASH} under spawn: process 2 in stress round 1 (killed by SIGKILL)",
            id="member died",
        ),
    ],
)
def test_each_formatter_from_a_hand_built_finding(
    finding: Any, error: type[Exception], first_line: str
) -> None:
    made, text = format_finding(finding)
    assert made is error
    assert text.splitlines()[0] == first_line


def test_unguarded_update_message() -> None:
    read = Event(0, 1, 11, READ, 0, 1, 0, "c.py", 3, (), False)
    write = Event(1, 1, 11, WRITE, 0, 1, 1, "c.py", 3, (), False)
    witness = UnguardedUpdate(0, read, write, (read, write))
    finding = RaceFinding(STRESS, False, "args[0]", ".value", witness, 4, 4, 0, False, (("2", 4),))
    error, text = format_finding(finding)
    assert error is UnguardedUpdateError
    assert text.splitlines()[0] == (
        f"{UNGUARDED_UPDATE} under spawn (seed 5): args[0].value is written by several "
        "processes, and a read-modify-write of it holds no lock (4 of 4 rounds)"
    )


TRANSFER = (
    DeadlockStep(2, "args[0]", "/home/me/bank.py:11", "args[1]", "/home/me/bank.py:13"),
    DeadlockStep(1, "args[1]", "/home/me/bank.py:11", "args[0]", "/home/me/bank.py:13"),
)


def test_a_deadlock_that_happened_names_the_cycle_and_the_lines() -> None:
    error, text = format_finding(Deadlock(STRESS, True, TRANSFER, 3, 4))
    assert error is DeadlockError
    assert text.splitlines() == [
        f"{DEADLOCK} under spawn in stress round 3: processes 1 and 2 wait for locks held by "
        "each other",
        "  target: inc, start method: spawn, processes: 2, rounds: 20, seed: 5, schedule: free",
        "  process 2 holds args[0] (taken at /home/me/bank.py:11) and waits for args[1] at "
        "/home/me/bank.py:13",
        "  process 1 holds args[1] (taken at /home/me/bank.py:11) and waits for args[0] at "
        "/home/me/bank.py:13",
        "  Each waited for a lock that the next one holds, forever; the round was ended as "
        "soon as the cycle formed.",
        "  fix: take these locks in one order everywhere (e.g. always args[0] first), or take "
        "them all under one outer lock",
        "  rerun with --mp-seed=5 --mp-start-methods=spawn (the seed fixes the noise schedule, "
        "not the OS scheduler)",
    ]


def test_a_potential_deadlock_says_who_took_what_while_holding_what() -> None:
    error, text = format_finding(Deadlock(STRESS, False, TRANSFER, 0, 20))
    assert error is DeadlockError
    lines = text.splitlines()
    assert lines[0] == (
        f"{POTENTIAL_DEADLOCK} under spawn: locks taken in a cycle of orders "
        "(args[0] -> args[1] -> args[0]) by processes 1 and 2"
    )
    assert lines[2:5] == [
        "  process 2 took args[1] at /home/me/bank.py:13 while holding args[0] (taken at "
        "/home/me/bank.py:11)",
        "  process 1 took args[0] at /home/me/bank.py:13 while holding args[1] (taken at "
        "/home/me/bank.py:11)",
        "  No deadlock happened in this run (20 round(s)), but processes running these steps "
        "at the same time would each wait for a lock the next one holds, forever.",
    ]


def test_a_lock_that_waits_for_itself_is_a_deadlock_of_one_process() -> None:
    step = DeadlockStep(1, "args[0]", "bank.py:5", "args[0]", "bank.py:6")
    _, text = format_finding(Deadlock(STRESS, True, (step,), 0, 1))
    lines = text.splitlines()
    assert (
        lines[0]
        == f"{DEADLOCK} under spawn in stress round 0: process 1 waits for a lock it holds itself"
    )
    assert "  fix: do not take a Lock again while holding it, or make it an RLock" in lines


# --- advice comes from where the check ran ------------------------------------------------


def test_pytest_advice_names_flags_and_the_marker() -> None:
    _, text = format_finding(_race(counted=True), advice=PYTEST)
    assert "rerun with --mp-seed=5 --mp-start-methods=fork" in text
    _, text = format_finding(RunTimeout(RUN, 2.0, 0, 1, (), ""), advice=PYTEST)
    assert "--mp-timeout or @pytest.mark.mpcheck(timeout=...)" in text


def test_script_advice_names_keyword_arguments_only() -> None:
    for finding in (
        _race(counted=True),
        RunTimeout(RUN, 2.0, 0, 1, (), ""),
        StressTimeout(STRESS, 1, (2,), 3.0, ()),
        BlockTimeout(4.0, (), 0),
        Unloadable(RUN, "function", "AttributeError", "m"),
        ExpectFailure(STRESS, 3, "no", 2, 5, (("7", 5),)),
    ):
        _, text = format_finding(finding, advice=SCRIPT)
        assert "--mp-" not in text
        assert "@pytest.mark" not in text
    _, text = format_finding(_race(counted=True), advice=SCRIPT)
    assert "seed=5" in text
    assert "start_methods='fork'" in text


def test_a_block_timeout_shows_each_stack_under_its_owner() -> None:
    finding = BlockTimeout(4.0, ((0, "Thread MainThread\n  File a.py"), (4242, "  File t.py")), 1)
    _, text = format_finding(finding)
    lines = text.splitlines()
    assert lines[1:5] == [
        "  this process:",
        "    Thread MainThread",
        "      File a.py",
        "  process 4242:",
    ]
    assert "--mp-timeout" in text


# --- a controlled run says how to replay it ----------------------------------------------

CONTROLLED = dataclasses.replace(STRESS, schedule="controlled", replay="1abc-_")


def test_a_controlled_failure_prints_the_command_that_replays_it() -> None:
    finding = ExpectFailure(CONTROLLED, 3, "no", 1, 4, (("7", 4),))
    _, text = format_finding(finding, advice=for_test("tests/test_shop.py::test_tickets[spawn]"))
    assert text.splitlines()[1].endswith("seed: 5, schedule: controlled")
    assert text.splitlines()[-1] == (
        "  replay: pytest 'tests/test_shop.py::test_tickets[spawn]' --mp-start-methods=spawn "
        "--mp-replay=1abc-_"
    )
    assert "exploring stops at the first failure" in text
    _, text = format_finding(finding, advice=SCRIPT)
    assert text.splitlines()[-1] == "  replay: call stress() again with replay='1abc-_'"


def test_a_controlled_failure_says_what_was_not_controlled() -> None:
    run = dataclasses.replace(CONTROLLED, uncontrolled="process 2 did not reach a point")
    _, text = format_finding(TargetRaised(run, 0, 1, "ValueError: x", ""))
    assert text.splitlines()[-1] == (
        "  not fully controlled: process 2 did not reach a point; what a process does "
        "outside mpcheck's objects is not ordered by the schedule, so the replay is best-effort"
    )
    _, text = format_finding(TargetRaised(STRESS, 0, 1, "ValueError: x", ""))
    assert "replay" not in text


def test_a_controlled_failure_names_the_processes_that_ran_alone() -> None:
    run = dataclasses.replace(CONTROLLED, processes=5, alone=(1, 4, 5))
    _, text = format_finding(TargetRaised(run, 0, 1, "ValueError: x", ""))
    assert (
        "  processes 1, 4 and 5 ran alone, each from its start to its end: the failure comes "
        "from how processes 2 and 3 interleaved"
    ) in text.splitlines()
    _, text = format_finding(TargetRaised(CONTROLLED, 0, 1, "ValueError: x", ""))
    assert "ran alone" not in text


def test_a_controlled_failure_says_which_processes_it_needs() -> None:
    run = dataclasses.replace(CONTROLLED, processes=5, left_out=(1, 5), alone=(4,))
    _, text = format_finding(TargetRaised(run, 0, 1, "ValueError: x", ""))
    lines = text.splitlines()
    assert (
        "  the failure needs only processes 2, 3 and 4: it happens the same way with "
        "processes 1 and 5 left out of the schedule (not running the target)"
    ) in lines
    assert (
        "  process 4 ran alone, each from its start to its end: the failure comes from how "
        "processes 2 and 3 interleaved"
    ) in lines
    _, text = format_finding(TargetRaised(CONTROLLED, 0, 1, "ValueError: x", ""))
    assert "needs only" not in text
