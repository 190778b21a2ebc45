"""The supervision core on its own: one wait over handles and sentinels, deaths, overruns."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator

import pytest

import _helpers
from pytest_mpcheck._engine import supervise
from pytest_mpcheck._engine.supervise import Doorbell, Watch, WorkerDied

pytestmark = pytest.mark.usefixtures("pools")


@pytest.fixture
def watch() -> Iterator[Watch]:
    """A watch over processes the test starts; every one of them is stopped after it."""
    started: list[multiprocessing.process.BaseProcess] = []
    watched = Watch(lambda label: f"process {label}", "processes")
    original = watched.add

    def add(label: int, process: multiprocessing.process.BaseProcess) -> None:
        started.append(process)
        original(label, process)

    watched.add = add  # type: ignore[method-assign]
    yield watched
    for process in started:
        process.kill()
        process.join()
    watched.close()


def _start(watch: Watch, label: int, target: object, *args: object) -> multiprocessing.Process:
    process = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=True)
    process.start()
    watch.add(label, process)
    return process  # type: ignore[return-value]


def test_a_worker_that_dies_ends_the_wait_at_once_with_its_pid_and_exit_code(
    watch: Watch,
) -> None:
    _start(watch, 1, _helpers.sleep_for, 60.0)
    dying = _start(watch, 2, _helpers.exit_now, None)
    bell = Doorbell()
    started = time.monotonic()
    try:
        with pytest.raises(WorkerDied) as caught:
            watch.wait([bell.handle], time.monotonic() + 30, "round 0")
    finally:
        bell.close()
    assert time.monotonic() - started < 5  # woken by the sentinel, long before the deadline
    died = caught.value
    assert (died.label, died.pid, died.exitcode) == (2, dying.pid, 3)
    assert died.detail == "process 2 died (exit code 3)"
    assert str(died) == "round 0: process 2 died (exit code 3)"


def test_a_ring_ends_the_wait_at_once_and_rings_never_pile_up(watch: Watch) -> None:
    _start(watch, 1, _helpers.sleep_for, 60.0)
    bell = Doorbell()
    try:
        for _ in range(100_000):  # more than a pipe holds: a ring never blocks
            bell.ring()
        late = threading.Timer(0.2, bell.ring)
        late.start()
        assert watch.wait([bell.handle], time.monotonic() + 30, "run") == [bell.handle]
        # The wait may have ended on the rings above, before this one: let it ring
        # too, so that the one answer below takes every ring made so far.
        late.join()
        bell.answer()
        started = time.monotonic()
        threading.Timer(0.3, bell.ring).start()
        assert watch.wait([bell.handle], time.monotonic() + 30, "run") == [bell.handle]
        assert 0.2 < time.monotonic() - started < 5
    finally:
        bell.close()
    bell.ring()  # a late callback of a stopped pool is harmless


def test_an_overrun_names_the_late_workers_with_their_stacks(watch: Watch) -> None:
    _start(watch, 1, _helpers.sleep_armed, watch.stack_dir.path, 60.0)
    _start(watch, 2, _helpers.sleep_armed, watch.stack_dir.path, 60.0)
    time.sleep(0.5)  # both armed their stack dump
    started = time.monotonic()
    assert watch.wait([], time.monotonic() + 0.3, "round 4") == []
    assert time.monotonic() - started < 5
    overran = watch.overran("round 4", 0.3, 1, 2, [2])
    assert overran.waiting == (2,)
    assert list(overran.stacks) == [2]
    assert "sleep_armed" in overran.stacks[2]
    assert "test_an_overrun_names_the_late_workers" in overran.parent
    assert str(overran) == "round 4 timed out after 0.3s (1/2)"


def test_an_interruption_notes_every_live_workers_stacks(watch: Watch) -> None:
    _start(watch, 7, _helpers.sleep_armed, watch.stack_dir.path, 60.0)
    time.sleep(0.5)
    error = KeyboardInterrupt()
    watch.interrupted(error, "stress round 1 under fork")
    (note,) = error.__notes__
    assert note.startswith(
        "pytest-mpcheck: stress round 1 under fork was interrupted; its processes were stopped."
    )
    assert "--- process 7 ---" in note
    assert "sleep_armed" in note


def test_descendants_are_the_same_with_and_without_psutil(
    watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = _start(watch, 1, _helpers.sleep_for, 60.0)
    assert child.pid is not None
    found = supervise.descendants(os.getpid())
    assert child.pid in found
    monkeypatch.setattr(supervise, "_psutil", lambda: None)
    assert set(supervise.descendants(os.getpid())) == set(found)
    supervise.kill_tree([child.pid])
    child.join(10)
    assert child.exitcode is not None
