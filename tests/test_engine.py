"""The engine on its own: pools per start method, freshness, reuse, timeouts, crashes."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

import _helpers
from _support import METHODS
from pytest_mpcheck._engine.pools import VIAS, Engine, engine
from pytest_mpcheck._engine.supervise import Overran, WorkerDied

pytestmark = pytest.mark.usefixtures("pools")


def _child_pids() -> set[int]:
    return {process.pid for process in multiprocessing.active_children() if process.pid}


@pytest.fixture
def value() -> Iterator[None]:
    """Restore the helper module's run-time state after the test."""
    yield
    _helpers.VALUE = 0


def test_engine_is_one_per_process() -> None:
    assert isinstance(engine(), Engine)
    assert engine() is engine()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", VIAS)
def test_runs_every_via_under_every_method(method: str, via: str) -> None:
    jobs = list(range(7))
    results = engine().run(method, via, 2, _helpers.square, jobs, None, 60)
    expected = [x * x for x in jobs]
    if via == "imap_unordered":
        assert sorted(results) == expected
    else:
        assert results == expected


@pytest.mark.parametrize("chunksize", [1, 3, 100])
@pytest.mark.parametrize("via", VIAS)
def test_honours_chunksize(via: str, chunksize: int) -> None:
    jobs = list(range(10))
    results = engine().run("fork", via, 2, _helpers.square, jobs, chunksize, 60)
    expected = [x * x for x in jobs]
    assert (sorted(results) if via == "imap_unordered" else results) == expected


@pytest.mark.usefixtures("value")
def test_fork_gets_a_fresh_pool_that_sees_the_parent_now() -> None:
    run = engine().run
    _helpers.VALUE = 5
    assert run("fork", "map", 2, _helpers.read_value, [0, 1, 2], None, 60) == [5, 5, 5]
    assert multiprocessing.active_children() == []
    _helpers.VALUE = 7
    assert run("fork", "map", 2, _helpers.read_value, [0, 1, 2], None, 60) == [7, 7, 7]
    assert multiprocessing.active_children() == []


@pytest.mark.usefixtures("value")
@pytest.mark.parametrize("method", [m for m in METHODS if m != "fork"])
def test_spawned_workers_never_see_run_time_state(method: str) -> None:
    _helpers.VALUE = 5
    assert engine().run(method, "map", 2, _helpers.read_value, [0, 1], None, 60) == [0, 0]


@pytest.mark.parametrize("method", [m for m in METHODS if m != "fork"])
@pytest.mark.parametrize("via", ["map", "executor"])
def test_spawned_pool_is_reused_until_close(method: str, via: str) -> None:
    eng = engine()
    first = eng.run(method, via, 2, _helpers.pid, list(range(6)), None, 60)
    warm = _child_pids()
    assert len(warm) == 2
    assert set(first) <= warm
    second = eng.run(method, via, 2, _helpers.pid, list(range(6)), None, 60)
    assert set(second) <= warm
    assert _child_pids() == warm

    eng.close()
    assert multiprocessing.active_children() == []
    third = eng.run(method, via, 2, _helpers.pid, list(range(6)), None, 60)
    assert not set(third) & warm


def test_a_changed_environment_gets_a_new_spawn_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    eng = engine()
    eng.run("spawn", "map", 2, _helpers.pid, [0, 1], None, 60)
    old = multiprocessing.active_children()
    monkeypatch.setenv("PYTEST_MPCHECK_TEST_MARKER", "changed")
    pids = eng.run("spawn", "map", 2, _helpers.pid, [0, 1], None, 60)
    assert not set(pids) & {process.pid for process in old}
    assert not any(process.is_alive() for process in old)


# Stopping a pool mid-task can leave CPython's task thread with a half-sent
# buffer that is collected later (BufferError in BytesIO.__del__): not ours to fix.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    ("method", "via"),
    [
        ("fork", "map"),
        ("fork", "imap"),
        ("fork", "imap_unordered"),
        ("fork", "starmap"),
        ("fork", "executor"),
        ("spawn", "map"),
        ("spawn", "executor"),
    ],
)
def test_timeout_stops_the_pool_and_leaves_no_child(method: str, via: str) -> None:
    started = time.monotonic()
    with pytest.raises(Overran) as caught:
        engine().run(method, via, 2, _helpers.sleep_for, [0.0, 30.0, 0.0], None, 1)
    # A generous bound: the point is that it does not wait for the sleeping task.
    assert time.monotonic() - started < 25
    assert multiprocessing.active_children() == []
    error = caught.value
    assert (error.where, error.timeout, error.total) == (f"{via} under {method}", 1, 3)
    assert error.done < 3
    assert f"{via} under {method} timed out after 1s" in str(error)


# The timed-out task may leave CPython's task thread with a half-sent buffer,
# collected later (BufferError in BytesIO.__del__): not ours to fix.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_timed_out_warm_pool_is_not_reused() -> None:
    eng = engine()
    eng.run("spawn", "map", 2, _helpers.pid, [0, 1], None, 60)
    warm = _child_pids()
    with pytest.raises(Overran):
        eng.run("spawn", "map", 2, _helpers.sleep_for, [30.0], None, 1)
    assert multiprocessing.active_children() == []
    pids = eng.run("spawn", "map", 2, _helpers.pid, [0, 1], None, 60)
    assert not set(pids) & warm


# A broken ProcessPoolExecutor sometimes drops a buffer its feeder thread still
# exports (CPython's own teardown, BufferError in BytesIO.__del__): not ours to fix.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("method", METHODS)
def test_worker_that_exits_breaks_an_executor(method: str) -> None:
    with pytest.raises(WorkerDied) as caught:
        engine().run(method, "executor", 2, _helpers.exit_now, [0, 1], None, 60)
    assert multiprocessing.active_children() == []
    assert caught.value.where == f"executor under {method}"
    assert "died" in caught.value.detail


def test_a_broken_pool_kills_its_own_workers_only() -> None:
    """Stopping a broken pool must not touch other children of the test process.

    The single worker dies, so the pool has no live worker left when it is shut
    down; processes the test started itself (a server, a helper) must survive.
    """
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for method in METHODS * 3:
            with pytest.raises(WorkerDied):
                engine().run(method, "executor", 1, _helpers.exit_now, [0], None, 60)
            assert bystander.poll() is None, f"a bystander process was killed ({method})"
    finally:
        bystander.kill()
        bystander.wait()


def test_close_without_pools_is_harmless() -> None:
    engine().close()
    engine().close()
    assert multiprocessing.active_children() == []
