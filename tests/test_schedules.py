"""Controlled schedules, end to end: the small broken programs that free-running stress
misses, caught under every start method with their fixed twins passing; one seed, one
failure; replay tokens that reproduce the witness, and the clear errors of those that
do not fit; what the check cannot control said, never hidden."""

from __future__ import annotations

import dataclasses
import multiprocessing
import re
from collections.abc import Callable
from typing import Any

import pytest

import pytest_mpcheck
from _schedule_targets import (
    await_data,
    await_data_fixed,
    buy,
    buy_fixed,
    move,
    move_fixed,
    publish,
    publish_fixed,
    sell_checked,
)
from _stress_targets import add_unlocked
from _support import outcomes_of, run_pytest
from pytest_mpcheck._model import ReplayToken

METHODS = pytest_mpcheck.available_start_methods()
SEED = 1234


def _checker(method: str, seed: int = SEED, **changes: Any) -> pytest_mpcheck.MpCheck:
    settings = dataclasses.replace(
        pytest_mpcheck.active_settings(), seed=seed, start_methods=(method,), **changes
    )
    return pytest_mpcheck.MpCheck(settings)


def tickets(check: pytest_mpcheck.MpCheck, target: Callable[..., None], **options: Any) -> Any:
    stock, sold = check.Value("i", 1), check.Value("i", 0)
    return check.stress(target, stock, sold, processes=2, expect=lambda: sold.value == 1, **options)


def publication(check: pytest_mpcheck.MpCheck, target: Callable[..., None]) -> Any:
    got = check.Value("i", 42)
    roles, flag, data = check.Value("i", 0), check.Value("i", 0), check.Value("i", 0)
    return check.stress(target, roles, flag, data, got, processes=2, expect=lambda: got.value == 42)


def pair(check: pytest_mpcheck.MpCheck, target: Callable[..., None]) -> Any:
    slots, torn = check.Array("i", [10, 0]), check.Value("i", 0)
    return check.stress(target, slots, torn, processes=2, expect=lambda: torn.value == 0)


PROGRAMS = {
    "check-then-act": (tickets, buy, buy_fixed),
    "publication order": (publication, publish, publish_fixed),
    "pair of slots": (pair, move, move_fixed),
}


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("method", METHODS)
def test_a_broken_program_fails_and_its_fixed_twin_passes(method: str, program: str) -> None:
    run, broken, fixed = PROGRAMS[program]
    check = _checker(method)
    with pytest.raises(pytest_mpcheck.ExpectationError) as failure:
        run(check, broken)
    message = str(failure.value)
    assert f"under {method} (seed {SEED})" in message
    assert "schedule: controlled" in message
    assert re.search(
        rf"replay: pytest '\S+\[{method}-{program}\]' --mp-start-methods={method} "
        r"--mp-replay=1[\w-]+$",
        message,
        re.MULTILINE,
    ), message
    report = run(check, fixed)
    assert report.schedule == "controlled"
    assert "schedules with at most" in report.summary()


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_one_seed_gives_one_failure(method: str) -> None:
    messages = set()
    for _ in range(3):
        with pytest.raises(pytest_mpcheck.LostUpdateError) as failure:
            _checker(method).stress(add_unlocked, pytest_mpcheck.Value("i", 0), processes=3)
        messages.add(str(failure.value))
    assert len(messages) == 1, messages


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_witness_leaves_out_the_processes_the_failure_does_not_need(method: str) -> None:
    check = _checker(method)
    counter = check.Value("i", 0)
    with pytest.raises(pytest_mpcheck.LostUpdateError) as failure:
        # expect() is written for all four: a schedule that leaves some out ignores it.
        check.stress(add_unlocked, counter, processes=4, expect=lambda: counter.value == 400)
    message = str(failure.value)
    found = re.search(
        r"the failure needs only processes (\d) and (\d): it happens the same way with "
        r"processes (\d) and (\d) left out of the schedule \(not running the target\)",
        message,
    )
    assert found is not None, message
    assert sorted(found.groups()) == ["1", "2", "3", "4"]
    # The witness shows the two processes that are needed, and only them.
    header = next(line for line in message.splitlines() if "| step |" in line)
    assert sorted(re.findall(r"process (\d)", header)) == sorted(found.groups()[:2])
    assert "ran alone" not in message
    for _ in range(2):
        with pytest.raises(pytest_mpcheck.LostUpdateError) as replayed:
            check.stress(add_unlocked, check.Value("i", 0), processes=4, replay=_token(message))
        assert _witness(str(replayed.value)) == _witness(message)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_processes_are_left_out_only_where_the_others_still_fail(method: str) -> None:
    check = _checker(method, rounds=100)
    # One ticket: the two that race for it fail without the others.
    with pytest.raises(pytest_mpcheck.TargetError) as one:
        check.stress(sell_checked, check.Value("i", 1), processes=4)
    assert re.search(r"the failure needs only processes \d and \d", str(one.value)), one.value
    # Three tickets: the last is raced for only once the others bought the first two.
    with pytest.raises(pytest_mpcheck.TargetError) as three:
        check.stress(sell_checked, check.Value("i", 3), processes=4)
    message = str(three.value)
    assert "needs only" not in message
    assert re.search(
        r"processes \d and \d ran alone, each from its start to its end: the failure "
        r"comes from how processes \d and \d interleaved",
        message,
    ), message
    # With two processes both are in the interleaving: nothing ran alone or is left out.
    with pytest.raises(pytest_mpcheck.LostUpdateError) as pair:
        check.stress(add_unlocked, check.Value("i", 0), processes=2)
    assert "ran alone" not in str(pair.value)
    assert "needs only" not in str(pair.value)


def _token(message: str) -> str:
    found = re.search(r"--mp-replay=(\S+)", message)
    assert found is not None, message
    return found.group(1)


def _witness(message: str) -> list[str]:
    """The lines that show what happened: all but the counts over the rounds explored."""
    return [
        line for line in message.splitlines()[1:] if not line.lstrip().startswith("outcomes over")
    ]


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_replay_token_reproduces_the_witness(method: str) -> None:
    check = _checker(method)
    with pytest.raises(pytest_mpcheck.LostUpdateError) as found:
        check.stress(add_unlocked, check.Value("i", 0), processes=3)
    token = _token(str(found.value))
    for _ in range(3):
        with pytest.raises(pytest_mpcheck.LostUpdateError) as replayed:
            check.stress(add_unlocked, check.Value("i", 0), processes=3, replay=token)
        assert _witness(str(replayed.value)) == _witness(str(found.value))
        assert "1 of 1 rounds run" in str(replayed.value)


@pytest.mark.usefixtures("pools")
def test_a_replay_of_an_expectation_fails_the_same_way() -> None:
    check = _checker(METHODS[0])
    with pytest.raises(pytest_mpcheck.ExpectationError) as found:
        tickets(check, buy)
    with pytest.raises(pytest_mpcheck.ExpectationError) as replayed:
        tickets(check, buy, replay=_token(str(found.value)))
    assert _token(str(replayed.value)) == _token(str(found.value))


@pytest.mark.usefixtures("pools")
def test_a_token_that_does_not_fit_is_a_value_error_saying_why() -> None:
    method = METHODS[0]
    check = _checker(method)
    with pytest.raises(pytest_mpcheck.ExpectationError) as found:
        tickets(check, buy)
    token = _token(str(found.value))
    with pytest.raises(ValueError, match="is not a replay token"):
        tickets(check, buy, replay="garbage")
    with pytest.raises(ValueError, match="is not a replay token"):
        tickets(check, buy, replay=token[:-6])
    with pytest.raises(ValueError, match="recorded for the target 'buy', not 'buy_fixed'"):
        tickets(check, buy_fixed, replay=token)
    stock, sold = check.Value("i", 1), check.Value("i", 0)
    with pytest.raises(ValueError, match="recorded with processes=2, not 3"):
        check.stress(buy, stock, sold, processes=3, replay=token)
    other = [m for m in METHODS if m != method]
    if other:
        with pytest.raises(ValueError, match=f"recorded under {method}, which is not among"):
            tickets(_checker(other[0]), buy, replay=token)
    damaged = dataclasses.replace(ReplayToken.decode(token), left_out=(1, 2)).encode()
    with pytest.raises(ValueError, match=r"leaves out processes \[1, 2\], which do not fit"):
        tickets(check, buy, replay=damaged)
    # The same target over other inputs (no ticket to sell) takes another path.
    stock, sold = check.Value("i", 0), check.Value("i", 0)
    with pytest.raises(ValueError, match="does not fit buy as it is now"):
        check.stress(buy, stock, sold, processes=2, replay=token)


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_wait_outside_mpcheck_objects_neither_hangs_nor_hides(method: str) -> None:
    ctx = multiprocessing.get_context(method)
    check = _checker(method)

    def run(target: Callable[..., None]) -> Any:
        roles, data = check.Value("i", 0), check.Value("i", 0)
        return check.stress(target, roles, ctx.Event(), data, processes=2, rounds=3)

    report = run(await_data_fixed)
    assert report.schedule == "controlled"
    with pytest.raises(pytest_mpcheck.TargetError) as failure:
        run(await_data)
    message = str(failure.value)
    assert "ValueError: data is 0, not 42" in message
    assert re.search(
        r"not fully controlled: process \d did not reach a point for 0\.2 s \(it came back at "
        r".*_schedule_targets\.py:\d+\).*the replay is best-effort",
        message,
    ), message


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_small_program_is_explored_exhaustively_up_to_the_bound(method: str) -> None:
    report = tickets(_checker(method), buy_fixed, rounds=40)
    assert re.search(
        rf"explored under {method}: 2 processes, \d+ scheduling points: all \d+ schedules "
        r"with at most 2 preemptions, then \d+ PCT schedules of depth 3",
        report.summary(),
    ), report.summary()


def test_schedule_and_replay_are_checked_as_any_setting() -> None:
    with pytest.raises(ValueError, match="schedule must be one of controlled, free, not 'fast'"):
        pytest_mpcheck.stress(buy, 1, schedule="fast")
    with pytest.raises(TypeError, match="a replay token is a string"):
        pytest_mpcheck.stress(buy, 1, replay=3)  # type: ignore[arg-type]
    counter = pytest_mpcheck.Value("i", 0)
    with pytest.raises(ValueError, match="orders 1 to 62 processes, not 63; use schedule='free'"):
        pytest_mpcheck.stress(buy, counter, counter, processes=63)


SESSION = """
    import pytest

    def add(counter):
        for _ in range(50):
            counter.value += 1

    def test_free(mpcheck):
        mpcheck.stress(add, mpcheck.Value("i", 0), processes=2, rounds=2)

    @pytest.mark.mpcheck(schedule="controlled")
    def test_marked(mpcheck):
        mpcheck.stress(add, mpcheck.Value("i", 0), processes=2, rounds=2)
"""


def test_the_schedule_comes_from_the_marker_the_command_line_and_the_ini(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nmp_schedule = free\n")
    result = run_pytest(pytester, SESSION, "-rA", "--mp-start-methods=fork", "--mp-report=r.json")
    assert outcomes_of(result) == {"test_free": "FAILED", "test_marked": "FAILED"}
    report = (pytester.path / "r.json").read_text()
    assert '"schedule": "free"' in report
    assert '"schedule": "controlled"' in report
    result.stdout.fnmatch_lines(["*schedules: 1 controlled, 1 free*"])
    result = run_pytest(pytester, SESSION, "--mp-schedule=sometimes")
    result.stderr.fnmatch_lines(["*--mp-schedule*schedule must be one of controlled, free*"])
    result = run_pytest(pytester, SESSION, "--mp-replay=garbage")
    result.stderr.fnmatch_lines(["*--mp-replay*'garbage' is not a replay token*"])
