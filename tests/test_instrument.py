"""``instrument()``: unchanged code that creates its own shared state is checked.

The "library" (``_stress_targets.parallel_count``) creates a
``multiprocessing.Value`` and starts ``Process``es of a given start method,
as users' code does; the tests only wrap the call in ``instrument()``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
from multiprocessing.sharedctypes import Synchronized

import pytest

import pytest_mpcheck
from _stress_targets import forking_quietly, parallel_count
from pytest_mpcheck._report.messages import LOST_UPDATE, UNGUARDED_UPDATE

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
    # The Value is instrumented (a Lock is not listed among the shared objects).
    assert len(created) == 1
    assert isinstance(created[0], pytest_mpcheck.Value)
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
    assert created == inside
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
