"""``instrument()``: unchanged code that creates its own shared state is checked.

The "library" (``_stress_targets.parallel_count``) creates a
``multiprocessing.Value`` and starts ``Process``es of a given start method,
as users' code does; the tests only wrap the call in ``instrument()``.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import multiprocessing.context
import os
import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import pytest

import pytest_mpcheck
from _stress_targets import (
    fork_lock_to_spawn,
    forking_quietly,
    parallel_count,
    pool_of_naps,
    use_every_primitive,
)
from pytest_mpcheck._checks.leaks import helper_pids
from pytest_mpcheck._engine.supervise import descendants
from pytest_mpcheck._report.messages import LOST_UPDATE, TIMEOUT, UNGUARDED_UPDATE

METHODS = pytest_mpcheck.available_start_methods()

pytestmark = pytest.mark.usefixtures("pools")


def _factories() -> list[object]:
    ctx = multiprocessing.get_context("spawn")
    return [
        multiprocessing.Value,
        multiprocessing.Array,
        multiprocessing.Lock,
        multiprocessing.RLock,
        ctx.Value,
        ctx.Array,
        ctx.Lock,
        ctx.RLock,
    ]


@pytest.mark.parametrize("method", METHODS)
def test_a_missing_lock_in_unchanged_code_fails_when_the_block_ends(method: str) -> None:
    with (
        pytest.raises(pytest_mpcheck.RaceError) as caught,
        forking_quietly(),
        pytest_mpcheck.instrument() as created,
    ):
        result = parallel_count(method, processes=4, times=100)
    assert len(created) == 1
    assert isinstance(created[0], pytest_mpcheck.Value)
    assert result <= 400
    message = str(caught.value)
    headline = message.splitlines()[0]
    assert headline.startswith(
        (f"{LOST_UPDATE} in an instrument() block", f"{UNGUARDED_UPDATE} in an instrument() block")
    ), message
    assert "object #1 created in the block (Value of c_int).value" in headline
    matcher = pytest.LineMatcher(message.splitlines())
    matcher.fnmatch_lines(
        [
            "  processes that accessed it: *, seed: *",
            "  | step | process * | process * |",
            "  | * | *read .value * (*_stress_targets.py:*)*",
            "  | * | *write .value * (*_stress_targets.py:*)*",
            "  final value: *",
            "  fix: hold one lock across the read and the write*",
            f"  rerun with --mp-seed={pytest_mpcheck.active_settings().seed} *",
        ]
    )


@pytest.mark.parametrize("method", METHODS)
def test_an_unguarded_update_in_unchanged_code_fails_even_if_nothing_was_lost(
    method: str,
) -> None:
    # Two processes, one increment each: an update is rarely lost, but the
    # read-modify-write holds no lock, which is the bug.
    for _ in range(3):
        with (
            pytest.raises(pytest_mpcheck.RaceError),
            forking_quietly(),
            pytest_mpcheck.instrument(),
        ):
            parallel_count(method, processes=2, times=1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lock", ["own", "separate"])
def test_the_same_code_with_its_lock_passes(method: str, lock: str) -> None:
    with forking_quietly(), pytest_mpcheck.instrument() as created:
        result = parallel_count(method, lock=lock, processes=4, times=100)
    assert result == 400
    # The Value is instrumented, and so is the separate lock.
    kinds: list[type] = [pytest_mpcheck.Value]
    if lock == "separate":
        kinds.append(pytest_mpcheck.Lock)
    assert len(created) == len(kinds)
    assert all(isinstance(obj, kind) for obj, kind in zip(created, kinds, strict=True))
    # Every write of the last read-modify-writes was seen under a known lock.
    writes = [event for event in created[0]._trace.events() if event.op == 2]
    assert writes
    assert all(event.held for event in writes)


def test_the_block_replaces_the_factories_and_restores_them() -> None:
    before = _factories()
    outside = multiprocessing.Value("i", 5)
    with pytest_mpcheck.instrument() as created:
        inside = [
            multiprocessing.Value("i", 1),
            multiprocessing.Array("i", 3),
            multiprocessing.get_context("spawn").Value("d", 0.5),
            multiprocessing.get_context("forkserver" if "forkserver" in METHODS else "spawn").Array(
                "c", b"ab"
            ),
        ]
        locks = [
            multiprocessing.Lock(),
            multiprocessing.RLock(),
            multiprocessing.get_context("spawn").Lock(),
            multiprocessing.get_context("spawn").RLock(),
        ]
        outside.value += 1
    assert created == inside + locks
    kinds = [pytest_mpcheck.Value, pytest_mpcheck.Array, pytest_mpcheck.Value, pytest_mpcheck.Array]
    assert all(isinstance(obj, kind) for obj, kind in zip(inside, kinds, strict=True))
    assert [type(lock) for lock in locks] == [
        pytest_mpcheck.Lock,
        pytest_mpcheck.RLock,
        pytest_mpcheck.Lock,
        pytest_mpcheck.RLock,
    ]
    # Objects created outside the block are untouched, and so are the factories after it.
    assert isinstance(outside, Synchronized)
    assert outside.value == 6
    assert _factories() == before
    assert isinstance(multiprocessing.Value("i", 0), Synchronized)


def test_instrument_keeps_the_factories_arguments() -> None:
    lock = pytest_mpcheck.Lock()
    with pytest_mpcheck.instrument():
        raw = multiprocessing.Value("i", 1, lock=False)
        given = multiprocessing.Value("i", 2, lock=lock)
        array = multiprocessing.get_context("spawn").Array("i", [1, 2, 3], lock=False)
    with pytest.raises(AttributeError):
        raw.get_lock()
    assert given.get_lock() is lock
    assert array[:] == [1, 2, 3]


def _fails_inside_the_block() -> None:
    with pytest_mpcheck.instrument():
        counter = multiprocessing.Value("i", 0)
        counter.value += 1
        raise KeyError("boom")


def test_an_error_in_the_block_propagates_and_the_factories_are_restored() -> None:
    before = _factories()
    with pytest.raises(KeyError, match="boom"):
        _fails_inside_the_block()
    assert _factories() == before


def test_a_single_process_updating_its_own_value_is_fine() -> None:
    with pytest_mpcheck.instrument() as created:
        counter = multiprocessing.Value("i", 0)
        for _ in range(10):
            counter.value += 1
    assert counter.value == 10
    assert len(created) == 1


def test_the_fixture_gives_the_same_block(mpcheck: pytest_mpcheck.MpCheck) -> None:
    with mpcheck.instrument() as created:
        multiprocessing.Array("i", 2)
    assert len(created) == 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", METHODS)
def test_primitives_built_on_locks_work_inside_the_block_as_outside(method: str) -> None:
    # No collection in the middle: Python 3.12's resource tracker warns when a
    # collection finalizes a semaphore while it registers another one.
    gc.collect()
    gc.disable()
    try:
        with forking_quietly():
            outside = use_every_primitive(method)
            with pytest_mpcheck.instrument() as created:
                inside = use_every_primitive(method)
    finally:
        gc.enable()
    assert outside == [True, 42, 0, False, "simple", [0, 2, 4, 6], 10, [0, 2, 4], [1, 2]]
    assert inside == outside
    # The code's own lock (given to its Condition) is instrumented; the machinery's are not.
    assert [type(obj) for obj in created] == [pytest_mpcheck.Lock]


@pytest.mark.skipif(
    not {"fork", "spawn"} <= set(METHODS), reason="needs the fork and spawn start methods"
)
@pytest.mark.timeout(60)
def test_a_lock_keeps_the_rules_of_the_context_that_made_it() -> None:
    outside = fork_lock_to_spawn()
    with pytest_mpcheck.instrument() as created:
        inside = fork_lock_to_spawn()
    assert [type(obj) for obj in created] == [pytest_mpcheck.Lock]
    assert inside == outside
    assert outside != "exit code 0"


def _read_in_child(value: Any, into: Any) -> None:
    into.put(value.value)


def test_after_the_block_what_it_made_acts_as_the_original() -> None:
    ctx = multiprocessing.get_context("spawn")  # the object is pickled to the child
    with pytest_mpcheck.instrument() as created:
        counter = ctx.Value("i", 0)
        guard = ctx.Lock()
        counter.value += 1
    recorded = len(counter._trace.events())
    assert recorded == 2
    with guard, counter.get_lock():
        counter.value += 1
    into = ctx.SimpleQueue()
    child = ctx.Process(target=_read_in_child, args=(counter, into))
    child.start()
    assert into.get() == 2
    child.join(30)
    into.close()
    assert counter.value == 2
    assert len(counter._trace.events()) == recorded  # nothing recorded since, anywhere
    assert created == [counter, guard]


def _children() -> set[int]:
    return set(descendants(os.getpid()))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", METHODS)
def test_a_hang_in_the_block_is_a_timeout_with_stacks_and_nothing_left_running(
    method: str,
) -> None:
    check = pytest_mpcheck.MpCheck(dataclasses.replace(pytest_mpcheck.active_settings(), timeout=2))
    before = _children()
    started = time.monotonic()
    with (
        pytest.raises(pytest_mpcheck.CheckTimeoutError) as caught,
        forking_quietly(),
        check.instrument() as created,
    ):
        pool_of_naps(method, 600)
    assert time.monotonic() - started < 30
    assert created == []  # the pool's lock that stopping it needs is its own, not ours
    message = str(caught.value)
    assert message.startswith(f"{TIMEOUT} after 2s in an instrument() block"), message
    assert "  this process:" in message
    assert "in pool_of_naps" in message  # where the test process waited
    assert "in _nap" in message  # where a worker hung, from its own stack
    assert _children() - before <= helper_pids()


@pytest.mark.parametrize("method", METHODS)
def test_the_same_code_that_finishes_in_time_passes_and_leaves_nothing(method: str) -> None:
    check = pytest_mpcheck.MpCheck(
        dataclasses.replace(pytest_mpcheck.active_settings(), timeout=30)
    )
    before = _children()
    with forking_quietly(), check.instrument():
        assert pool_of_naps(method, 0) == [0, 0]
    assert _children() - before <= helper_pids()


def _pool_methods() -> list[object]:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.pool import Pool
    from multiprocessing.process import BaseProcess

    return [Pool.map, Pool.imap, Pool.apply_async, ProcessPoolExecutor.submit, BaseProcess.start]


def test_a_block_that_cannot_start_leaves_everything_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import signal
    import subprocess

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no processes left")

    factories, methods = _factories(), _pool_methods()
    handler = signal.getsignal(signal.SIGUSR2)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    with pytest.raises(OSError, match="no processes left"), pytest_mpcheck.instrument():
        pass
    assert _factories() == factories
    assert _pool_methods() == methods
    assert signal.getsignal(signal.SIGUSR2) == handler
