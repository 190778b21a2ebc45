"""Pools made by unchanged code inside ``instrument()``: supervised and checked.

The "library" (``_stress_targets.pool_call``) makes its own ``Pool`` or
``ProcessPoolExecutor`` of a given start method and calls it one way; the
tests only wrap the call in ``instrument()``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

import pytest_mpcheck
from _stress_targets import (
    a_thread_lock,
    exit_on_two,
    forking_quietly,
    pid_of,
    pool_call,
    square,
    square_slowly_at_three,
)
from pytest_mpcheck._checks.leaks import helper_pids
from pytest_mpcheck._engine.supervise import descendants
from pytest_mpcheck._engine.worker import armed
from pytest_mpcheck._report.messages import (
    EXCEPTION_MISMATCH,
    MULTISET_MISMATCH,
    RESULT_MISMATCH,
    WORKER_CRASH,
)

METHODS = pytest_mpcheck.available_start_methods()
VIAS = [
    "map",
    "imap",
    "imap_unordered",
    "map_async",
    "map_async, close, join",
    "starmap",
    "apply",
    "apply_async",
    "executor.map",
    "executor.map (submit wrapped)",
    "executor.submit",
]
EXPECTED = {
    "map": [0, 1, 4, 9],
    "imap": [0, 1, 4, 9],
    "imap_unordered": [0, 1, 4, 9],
    "map_async": [0, 1, 4, 9],
    "map_async, close, join": [0, 1, 4, 9],
    "starmap": [3, 7],
    "apply": 9,
    "apply_async": 9,
    "executor.map": [0, 1, 4, 9],
    "executor.map (submit wrapped)": [0, 1, 4, 9],
    "executor.submit": 9,
}

pytestmark = [pytest.mark.usefixtures("pools"), pytest.mark.timeout(120)]


def _check() -> pytest_mpcheck.MpCheck:
    return pytest_mpcheck.MpCheck(dataclasses.replace(pytest_mpcheck.active_settings(), timeout=30))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", VIAS)
def test_a_correct_pool_call_gives_its_results_and_passes(method: str, via: str) -> None:
    with forking_quietly(), _check().instrument():
        result = pool_call(method, via, square)
    assert result == EXPECTED[via]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", VIAS)
def test_a_result_that_differs_from_the_sequential_one_fails_when_the_block_ends(
    method: str, via: str
) -> None:
    with (
        pytest.raises(pytest_mpcheck.ResultMismatchError) as caught,
        forking_quietly(),
        _check().instrument(),
    ):
        result = pool_call(method, via, pid_of)
    headline, context = str(caught.value).splitlines()[:2]
    assert headline.startswith(MULTISET_MISMATCH if via == "imap_unordered" else RESULT_MISMATCH)
    pool = "ProcessPoolExecutor" if via.startswith("executor") else "Pool"
    assert f"via: {pool}.{via.split(' ')[0].split('.')[-1].rstrip(',')}," in context
    assert "called at " in context
    assert "_stress_targets.py:" in context  # the line of the library that made the call
    assert os.getpid() not in (result if isinstance(result, list) else [result])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", ["map", "executor.map"])
def test_a_worker_that_dies_fails_the_block_at_once_and_leaves_nothing(
    method: str, via: str
) -> None:
    before = set(descendants(os.getpid()))
    started = time.monotonic()
    with (
        pytest.raises(pytest_mpcheck.WorkerCrashError) as caught,
        forking_quietly(),
        _check().instrument(),
    ):
        pool_call(method, via, exit_on_two)
    assert time.monotonic() - started < 25  # not the block's 30 s timeout
    message = str(caught.value)
    assert message.startswith(WORKER_CRASH), message
    assert "function: exit_on_two, called at " in message
    assert set(descendants(os.getpid())) - before <= helper_pids()


@pytest.mark.parametrize("method", METHODS)
def test_workers_that_leave_a_closed_pool_are_not_taken_for_dead(method: str) -> None:
    with forking_quietly(), _check().instrument():
        result = pool_call(method, "map_async, close, join", square_slowly_at_three)
    assert result == [0, 1, 4, 9]


@pytest.mark.parametrize("method", METHODS)
def test_a_result_that_cannot_travel_back_fails_the_block(method: str) -> None:
    with (
        pytest.raises(pytest_mpcheck.ExceptionMismatchError) as caught,
        forking_quietly(),
        _check().instrument(),
    ):
        pool_call(method, "map", a_thread_lock)
    message = str(caught.value)
    assert message.startswith(EXCEPTION_MISMATCH), message
    assert "parallel:   raised MaybeEncodingError" in message


def _fails_after_a_pool_call() -> None:
    with forking_quietly(), _check().instrument():
        pool_call("spawn", "map", pid_of)
        raise KeyError("mine")


def test_an_error_of_the_code_itself_propagates_unchanged() -> None:
    with pytest.raises(KeyError, match="mine"):
        _fails_after_a_pool_call()


def test_a_process_started_after_its_block_ended_runs_unarmed(tmp_path: Path) -> None:
    assert armed(str(tmp_path / "gone"), square, 3) == 9
