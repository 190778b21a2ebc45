"""Leak check: processes and shared memory a test left behind.

A snapshot is taken before a test and compared after it.  Processes are the
live descendants of this process (``/proc``).  Shared memory is what this
process registered with ``multiprocessing``'s resource tracker and has not
unlinked (the registry watches this process only, since ``/dev/shm`` is
shared by every process on the machine).

What libraries keep alive by design is never a leak and is never touched:
``multiprocessing``'s forkserver and resource tracker, loky's resource
tracker and the workers of its reusable executor (joblib's default backend),
and whatever matches the user's allow patterns.  Named semaphores are not
reported on their own: each one lives exactly as long as the lock object
that owns it and goes with it, so one still registered after a garbage
collection belongs to a live object (a library's class-level lock, say).

A process that is already on its way out (a pool shut down without waiting)
gets a short grace period before it counts.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
import multiprocessing
import multiprocessing.pool
import multiprocessing.resource_tracker
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pytest_mpcheck._engine.supervise import descendants, fresh_task_lock, kill_tree
from pytest_mpcheck._model import Leak, LeakKind

__all__ = ["Snapshot", "find_leaks", "helper_pids", "release"]

#: How long processes found alive after a test get to exit on their own.
GRACE_SECONDS = 1.0
_GRACE_POLL = 0.02

_SHARED_MEMORY: LeakKind = "shared_memory"
_registered: dict[str, str] = {}

#: Packages that carry a copy of loky, with its own resource tracker and executor.
_LOKY_PACKAGES = ("joblib.externals.loky", "loky")


def _watch_registry() -> None:
    """Mirror this process's shared-memory registrations in ``_registered``."""
    tracker: Any = multiprocessing.resource_tracker
    if getattr(tracker.register, "_mpcheck", False):
        return
    register, unregister = tracker.register, tracker.unregister

    def watched_register(name: str, rtype: str) -> None:
        if rtype == _SHARED_MEMORY:
            _registered[name] = rtype
        register(name, rtype)

    def watched_unregister(name: str, rtype: str) -> None:
        _registered.pop(name, None)
        unregister(name, rtype)

    watched_register._mpcheck = True  # type: ignore[attr-defined]
    tracker.register = watched_register
    tracker.unregister = watched_unregister


@dataclass(frozen=True)
class Snapshot:
    processes: frozenset[int]
    resources: frozenset[str]

    @staticmethod
    def take() -> Snapshot:
        _watch_registry()
        return Snapshot(frozenset(descendants(os.getpid())), frozenset(_registered))


def _attribute(path: str) -> Any:
    """``module.attr.attr`` of an already imported module, or None: never imports."""
    module_name, _, rest = path.partition(":")
    value: Any = sys.modules.get(module_name)
    for name in rest.split("."):
        if value is None:
            return None
        value = getattr(value, name, None)
    return value


def helper_pids() -> set[int]:
    """Long-lived helper processes that libraries keep by design."""
    pids: set[int] = set()
    singles = [
        "multiprocessing.forkserver:_forkserver._forkserver_pid",
        "multiprocessing.resource_tracker:_resource_tracker._pid",
        *(f"{loky}.backend.resource_tracker:_resource_tracker._pid" for loky in _LOKY_PACKAGES),
    ]
    for path in singles:
        pid = _attribute(path)
        if isinstance(pid, int) and pid > 0:
            pids.add(pid)
    for package in _LOKY_PACKAGES:
        workers = _attribute(f"{package}.reusable_executor:_executor._processes")
        if isinstance(workers, dict):
            pids.update(pid for pid in workers if isinstance(pid, int))
    return pids


def _processes_by_pid() -> dict[int, Any]:
    """This process's children by pid (asking also reaps those that exited)."""
    return {child.pid: child for child in multiprocessing.active_children() if child.pid}


def _start_method(process: Any) -> str:
    popen = type(getattr(process, "_popen", None)).__module__.rsplit(".", 1)[-1]
    return {"popen_fork": "fork", "popen_forkserver": "forkserver"}.get(popen, "spawn")


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            command = stream.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    return command


def _allowed(command: str, name: str | None, patterns: Iterable[str]) -> bool:
    """Whether a process matches an allow pattern, by command line or process name."""
    return any(
        fnmatch.fnmatchcase(command, pattern)
        or (name is not None and fnmatch.fnmatchcase(name, pattern))
        for pattern in patterns
    )


def _new_processes(before: Snapshot, allow: tuple[str, ...]) -> Iterator[Leak]:
    helpers = helper_pids()
    known = _processes_by_pid()
    for pid in sorted(set(descendants(os.getpid())) - before.processes - helpers):
        command = _command(pid)
        process = known.get(pid)
        name = None if process is None else process.name
        if _allowed(command, name, allow):
            continue
        shown = command if len(command) <= 200 else command[:200] + " ..."
        detail = (
            f"command line: {shown}"
            if process is None
            else f"{name} ({shown}), start method {_start_method(process)}"
        )
        yield Leak("process", str(pid), detail, pid)


def find_leaks(before: Snapshot, allow: tuple[str, ...] = ()) -> list[Leak]:
    """What exists now that did not before, minus the helpers and what ``allow`` matches.

    Processes still alive get up to ``GRACE_SECONDS`` to finish exiting.
    """
    gc.collect()
    deadline = time.monotonic() + GRACE_SECONDS
    processes = list(_new_processes(before, allow))
    while processes and time.monotonic() < deadline:
        time.sleep(_GRACE_POLL)
        processes = list(_new_processes(before, allow))
    memory = [
        Leak(_SHARED_MEMORY, name, "never unlinked")
        for name in sorted(set(_registered) - before.resources)
    ]
    return processes + memory


def _pools_of(pids: set[int]) -> list[multiprocessing.pool.Pool]:
    """The live ``Pool`` objects that own any of these worker processes."""
    return [
        pool
        for pool in gc.get_objects()
        if isinstance(pool, multiprocessing.pool.Pool)
        and any(worker.pid in pids for worker in getattr(pool, "_pool", ()))
    ]


def release(leaks: list[Leak]) -> None:
    """Kill leaked processes (and their trees); unlink leaked shared memory.

    A leaked ``Pool`` is terminated after its workers are killed, with a fresh task
    lock, so that neither it nor its exit handler waits for a dead worker.
    """
    pids = {leak.pid for leak in leaks if leak.kind == "process"}
    pools = _pools_of(pids) if pids else []
    for pool in pools:
        fresh_task_lock(pool)
    kill_tree(pids)
    for pool in pools:
        pool.terminate()
    multiprocessing.active_children()  # reaps what was just killed
    tracker: Any = multiprocessing.resource_tracker
    for leak in leaks:
        if leak.kind != _SHARED_MEMORY or leak.name not in _registered:
            continue
        cleanup = tracker._CLEANUP_FUNCS.get(leak.kind)
        if cleanup is not None:
            with contextlib.suppress(OSError):
                cleanup(leak.name)
        with contextlib.suppress(Exception):
            tracker.unregister(leak.name, leak.kind)
