"""Leak check: processes, semaphores and shared memory a test left behind.

A snapshot is taken before a test and compared after it.  Processes are the
live descendants of this process (``/proc``).  Semaphores and shared memory
are the names this process registered with ``multiprocessing``'s resource
tracker and has not unregistered (a named semaphore is unregistered when its
lock is collected, shared memory when it is unlinked); the registry watches
this process only, since ``/dev/shm`` is shared by every process on the
machine.  The forkserver and the resource tracker are ``multiprocessing``'s
own helpers, never leaks.  ``release`` kills the processes and unlinks the
shared memory so the next test starts clean; a semaphore goes with its lock.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
from dataclasses import dataclass
from typing import Any

from pytest_mpcheck._engine.supervise import descendants, kill_tree

__all__ = ["Leak", "Snapshot", "find_leaks", "release"]

_registered: dict[str, str] = {}


def _watch_registry() -> None:
    """Mirror this process's resource-tracker registrations in ``_registered``."""
    tracker: Any = multiprocessing.resource_tracker
    if getattr(tracker.register, "_mpcheck", False):
        return
    register, unregister = tracker.register, tracker.unregister

    def watched_register(name: str, rtype: str) -> None:
        _registered[name] = rtype
        register(name, rtype)

    def watched_unregister(name: str, rtype: str) -> None:
        _registered.pop(name, None)
        unregister(name, rtype)

    watched_register._mpcheck = True  # type: ignore[attr-defined]
    tracker.register = watched_register
    tracker.unregister = watched_unregister


@dataclass(frozen=True)
class Leak:
    """One thing left behind: a process (pid) or a named resource."""

    kind: str
    name: str
    detail: str
    pid: int = 0


@dataclass(frozen=True)
class Snapshot:
    processes: frozenset[int]
    resources: frozenset[str]

    @staticmethod
    def take() -> Snapshot:
        _watch_registry()
        return Snapshot(frozenset(descendants(os.getpid())), frozenset(_registered))


def _helpers() -> set[int]:
    """multiprocessing's own long-lived helper processes."""
    pids = set()
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    tracker = getattr(multiprocessing.resource_tracker, "_resource_tracker", None)
    for pid in (getattr(server, "_forkserver_pid", None), getattr(tracker, "_pid", None)):
        if pid:
            pids.add(pid)
    return pids


def _describe_process(pid: int) -> str:
    for child in multiprocessing.active_children():
        if child.pid == pid:
            popen = type(getattr(child, "_popen", None)).__module__.rsplit(".", 1)[-1]
            method = {"popen_fork": "fork", "popen_forkserver": "forkserver"}.get(popen, "spawn")
            return f"{child.name} ({_command(pid)}), start method {method}"
    return f"command line: {_command(pid)}"


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            command = stream.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    return command[:200]


def find_leaks(before: Snapshot) -> list[Leak]:
    """What exists now that did not before, minus multiprocessing's helpers."""
    after = Snapshot.take()
    helpers = _helpers()
    leaks = [
        Leak("process", str(pid), _describe_process(pid), pid)
        for pid in sorted(after.processes - before.processes)
        if pid not in helpers
    ]
    for name in sorted(after.resources - before.resources):
        kind = _registered.get(name, "semaphore")
        what = "never unlinked" if kind == "shared_memory" else "its lock is still alive"
        leaks.append(Leak(kind, name, what))
    return leaks


def release(leaks: list[Leak]) -> None:
    """Kill leaked processes (and their trees); unlink leaked names and forget them."""
    kill_tree([leak.pid for leak in leaks if leak.kind == "process"])
    for child in multiprocessing.active_children():  # reaps what was just killed
        child.join(0.1)
    for leak in leaks:
        # A semaphore lives as long as its lock object, whose own finalizer unlinks
        # it; unlinking it here would break that lock. Shared memory has no owner.
        if leak.kind != "shared_memory" or leak.name not in _registered:
            continue
        tracker: Any = multiprocessing.resource_tracker
        cleanup = tracker._CLEANUP_FUNCS.get(leak.kind)
        if cleanup is not None:
            with contextlib.suppress(OSError):
                cleanup(leak.name)
        with contextlib.suppress(Exception):
            multiprocessing.resource_tracker.unregister(leak.name, leak.kind)
