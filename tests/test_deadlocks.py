"""Deadlocks on mpcheck locks under ``stress``: the lock-order graph, the wait table, the check.

The graph and the table are tested on hand-made edges and waits; the check in
pairs under each start method: a deadlock that happens, or could, fails with
``DeadlockError`` in every run (one that happens well before the timeout),
and the same locks taken in one order, or under one outer lock, pass.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

import pytest_mpcheck
from _stress_targets import (
    crossed,
    crossed_beside_a_sleeper,
    opposite_orders,
    opposite_under_gate,
    retake,
    same_order,
)
from _support import METHODS, fnmatch_escape, line_of, outcomes_of, run_pytest, section
from pytest_mpcheck._checks.deadlocks import deadlock, order_cycle
from pytest_mpcheck._model import StressRun
from pytest_mpcheck._report.messages import DEADLOCK, POTENTIAL_DEADLOCK
from pytest_mpcheck._trace.waits import LockStep, WaitTable

A, B, C, GATE = 11, 13, 15, 17
RUN = StressRun("spawn", 2, 10, 7, "transfer")


def edge(label: int, held: int, wanted: int, *also: int) -> LockStep:
    """Process ``label`` took ``wanted`` holding ``held`` and ``also``."""
    return LockStep(label, held, f"bank.py:{held}", wanted, f"bank.py:{wanted}", (held, *also))


# --- the lock-order graph -------------------------------------------------------------


def test_opposite_orders_are_a_cycle() -> None:
    assert order_cycle([edge(1, A, B), edge(2, B, A)]) == (edge(1, A, B), edge(2, B, A))


def test_one_order_is_no_cycle() -> None:
    assert order_cycle([edge(1, A, B), edge(2, A, B), edge(1, B, C), edge(2, A, C)]) is None


def test_opposite_orders_under_a_common_outer_lock_are_no_cycle() -> None:
    edges = [
        edge(1, GATE, A),
        edge(1, A, B, GATE),
        edge(1, GATE, B, A),
        edge(2, GATE, B),
        edge(2, B, A, GATE),
        edge(2, GATE, A, B),
    ]
    assert order_cycle(edges) is None


def test_a_cycle_of_three_locks_is_found_and_one_gated_step_keeps_it_apart() -> None:
    three = [edge(1, A, B), edge(2, B, C), edge(3, C, A)]
    assert order_cycle(reversed(three)) == tuple(three)
    gated = [edge(1, A, B, GATE), edge(2, B, C, GATE), edge(3, C, A)]
    assert order_cycle(gated) is None


def test_the_same_process_taking_opposite_orders_is_a_cycle() -> None:
    # Another process running the same code could be at the other step.
    assert order_cycle([edge(1, A, B), edge(1, B, A)]) is not None


def test_a_cycle_is_found_past_a_gated_edge_between_the_same_locks() -> None:
    edges = [edge(1, A, B, GATE), edge(2, B, A, GATE), edge(3, B, A)]
    assert order_cycle(edges) == (edge(1, A, B, GATE), edge(3, B, A))


def test_the_finding_names_locks_by_path_and_starts_from_the_first_name() -> None:
    names = {A: "args[1]", B: "args[0].get_lock()"}
    found = deadlock(RUN, False, [edge(1, A, B), edge(2, B, C)], names, 3, 10)
    assert [(step.process, step.held, step.wanted) for step in found.cycle] == [
        (2, "args[0].get_lock()", "an mpcheck lock not among the arguments (#f)"),
        (1, "args[1]", "args[0].get_lock()"),
    ]
    assert found.cycle[0].held_at == f"bank.py:{B}"
    assert (found.actual, found.round_number, found.rounds_run) == (False, 3, 10)


# --- the wait table (one process playing every member) ----------------------------------


def test_a_cycle_of_waits_is_found_by_the_member_that_closes_it_and_read_back() -> None:
    table = WaitTable(3)
    table.new_round()
    table.wait(1, B, ("bank.py", 20), [(A, ("bank.py", 10))])
    table.wait(3, C, ("bank.py", 40), [])  # waits on a lock nobody listed holds
    assert not table.deadlocked(1)
    table.wait(2, A, ("bank.py", 21), [(B, ("bank.py", 11))])
    assert table.deadlocked(2)
    assert table.deadlocked(1)  # found before: every member waiting ends its wait
    assert table.deadlocked(3)
    assert table.cycle() == (
        LockStep(1, A, "bank.py:10", B, "bank.py:20"),
        LockStep(2, B, "bank.py:11", A, "bank.py:21"),
    )
    table.new_round()
    assert table.cycle() == ()


def test_a_member_waiting_on_a_cycle_it_is_not_in_does_not_report_it() -> None:
    table = WaitTable(3)
    table.new_round()
    table.wait(1, B, ("bank.py", 20), [(A, ("bank.py", 10))])
    table.wait(2, A, ("bank.py", 21), [(B, ("bank.py", 11))])
    table.wait(3, A, ("bank.py", 30), [(C, ("bank.py", 12))])
    assert not table.deadlocked(3)
    assert table.cycle() == ()
    table.done(1)
    assert not table.deadlocked(2)  # 1 waits no more: its lock may come free


def test_order_edges_are_read_once_each() -> None:
    table = WaitTable(2)
    table.book(2, A, ("bank.py", 10), B, ("bank.py", 20), (A, GATE))
    assert table.new_edges() == [LockStep(2, A, "bank.py:10", B, "bank.py:20", (A, GATE))]
    assert table.new_edges() == []


# --- the check, in pairs, under each start method --------------------------------------


def _locks() -> tuple[pytest_mpcheck.Lock, pytest_mpcheck.Lock, object]:
    """Two locks and a counter (the turns of the processes, or their work)."""
    return pytest_mpcheck.Lock(), pytest_mpcheck.Lock(), pytest_mpcheck.Value("i", 0)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_opposite_orders_are_a_potential_deadlock_in_every_run(method: str) -> None:
    for _ in range(3):
        first, second, turn = _locks()
        with pytest.raises(pytest_mpcheck.DeadlockError, match=POTENTIAL_DEADLOCK) as raised:
            pytest_mpcheck.stress(
                opposite_orders, first, second, turn, processes=2, rounds=5, start_methods=method
            )
        assert "args[0] -> args[1] -> args[0]" in str(raised.value)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_the_same_order_passes_in_every_run(method: str) -> None:
    for _ in range(3):
        first, second, count = _locks()
        pytest_mpcheck.stress(
            same_order,
            first,
            second,
            count,
            processes=2,
            rounds=5,
            start_methods=method,
            expect=lambda count=count: count.value == 40,
        )


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_opposite_orders_under_one_outer_lock_pass(method: str) -> None:
    gate = pytest_mpcheck.Lock()
    pytest_mpcheck.stress(
        opposite_under_gate, gate, *_locks(), processes=2, rounds=5, start_methods=method
    )


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_deadlock_that_happens_is_reported_at_once_not_at_the_timeout(method: str) -> None:
    check = pytest_mpcheck.MpCheck(
        dataclasses.replace(pytest_mpcheck.active_settings(), timeout=30.0)
    )
    for _ in range(3):
        first, second, turn = _locks()
        started = time.monotonic()
        with pytest.raises(pytest_mpcheck.DeadlockError) as raised:
            check.stress(crossed, first, second, turn, processes=2, rounds=5, start_methods=method)
        assert time.monotonic() - started < 10, "reported near the 30 s timeout"
        message = str(raised.value)
        assert message.startswith(f"{DEADLOCK} under {method} in stress round 0: ")
        assert "holds args[0]" in message
        assert "holds args[1]" in message


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_round_that_overruns_beside_a_deadlock_reports_the_deadlock(method: str) -> None:
    # The third process hangs on its own: the round ends at the timeout, and what the
    # other two did is the finding.
    check = pytest_mpcheck.MpCheck(
        dataclasses.replace(pytest_mpcheck.active_settings(), timeout=2.0)
    )
    first, second, turn = _locks()
    with pytest.raises(pytest_mpcheck.DeadlockError) as raised:
        check.stress(
            crossed_beside_a_sleeper,
            first,
            second,
            turn,
            processes=3,
            rounds=2,
            start_methods=method,
        )
    assert "wait for locks held by each other" in str(raised.value)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_lock_taken_again_is_a_deadlock_and_an_rlock_taken_again_passes(method: str) -> None:
    counter = pytest_mpcheck.Value("i", 0, lock=False)
    with pytest.raises(pytest_mpcheck.DeadlockError, match="waits for a lock it holds itself"):
        pytest_mpcheck.stress(
            retake, pytest_mpcheck.Lock(), counter, processes=1, rounds=2, start_methods=method
        )
    pytest_mpcheck.stress(
        retake, pytest_mpcheck.RLock(), counter, processes=2, rounds=2, start_methods=method
    )


# --- what the user sees ----------------------------------------------------------------

PROGRAM = """
    import pytest
    from pytest_mpcheck import Lock, Value

    METHODS = {methods!r}


    def turn_of(turn):
        with turn.get_lock():
            mine = turn.value
            turn.value += 1
        return mine


    def transfer(source, target, turn):
        mine = turn_of(turn)
        while turn.value < 2:
            pass
        first, second = (target, source) if mine else (source, target)
        with first:                       # first taken
            turn_of(turn)
            while turn.value < 4:
                pass
            with second:                  # second taken
                pass


    def transfer_in_order(source, target, turn):
        turn_of(turn)
        with source:
            with target:
                pass


    @pytest.mark.parametrize("method", METHODS)
    def test_transfer(mpcheck, method):
        mpcheck.stress(transfer, Lock(), Lock(), Value("i", 0), processes=2, start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_transfer_in_order(mpcheck, method):
        mpcheck.stress(
            transfer_in_order, Lock(), Lock(), Value("i", 0), processes=2, start_methods=method
        )
"""


def test_a_deadlock_names_the_cycle_with_its_lines_and_the_ordered_twin_passes(
    pytester: pytest.Pytester,
) -> None:
    source = PROGRAM.format(methods=list(METHODS))
    result = run_pytest(pytester, source, "-rA", "--mp-seed=5", "--mp-timeout=30")
    expected = {f"test_transfer[{method}]": "FAILED" for method in METHODS}
    expected.update({f"test_transfer_in_order[{method}]": "PASSED" for method in METHODS})
    assert outcomes_of(result) == expected
    first, second = line_of(source, "# first taken"), line_of(source, "# second taken")
    for method in METHODS:
        section(result, f"test_transfer[{method}]").fnmatch_lines(
            [
                f"E * pytest_mpcheck.DeadlockError: {DEADLOCK} under {method} in stress "
                "round 0: processes 1 and 2 wait for locks held by each other",
                f"E * target: transfer, start method: {method}, processes: 2, *seed: 5, "
                "schedule: controlled",
                *(
                    f"E * process ? holds {fnmatch_escape(held)} (taken at *.py:{first}) and "
                    f"waits for {fnmatch_escape(wanted)} at *.py:{second}"
                    for held, wanted in (("args[0]", "args[1]"), ("args[1]", "args[0]"))
                ),
                "E * fix: take these locks in one order everywhere (e.g. always "
                + fnmatch_escape("args[0]")
                + " first), or take them all under one outer lock",
                f"E * replay: pytest * --mp-start-methods={method} --mp-replay=1*",
            ]
        )
