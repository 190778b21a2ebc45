"""Watching worker processes from outside: what they run, their stacks, their whole tree.

* A ``Board`` in shared memory where each worker posts the job it is running,
  so a dead or stuck worker can be named with its item.
* Stack dumps: every worker arms ``faulthandler`` on ``SIGUSR1`` at start, writing
  to its own file; ``dump_stacks`` signals the live ones and reads the files.
* The process tree below a process (Linux ``/proc``), to kill what the
  workers themselves started.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Iterable, Iterator
from multiprocessing import get_context, sharedctypes
from typing import Any

__all__ = [
    "Board",
    "StackDir",
    "annotate",
    "arm_worker",
    "descendants",
    "describe_exit",
    "dump_stacks",
    "forking",
    "fresh_task_lock",
    "kill_tree",
    "note_job",
    "parent_stacks",
    "user_traceback",
]

# Threads our own pools run in this process.  Python 3.12+ warns on fork()
# in a multi-threaded process; when every extra thread is ours (pool handler
# threads, which hold no lock a forked child would need) that warning is
# noise about our own machinery, not about the user's code.
_OUR_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_FORK_WARNING = r".*use of fork\(\) may lead to deadlocks in the child"


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Silence 3.12+'s fork-with-threads warning only when all threads are ours."""
    others = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and t not in _OUR_THREADS
    ]
    with warnings.catch_warnings():
        if not others:
            warnings.filterwarnings("ignore", _FORK_WARNING, DeprecationWarning)
        yield


def describe_exit(exitcode: int | None) -> str:
    """``exit code 7`` or ``killed by SIGKILL``."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


_DUMP_SIGNAL = getattr(signal, "SIGUSR1", None)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SLOTS = 128
_IDLE = -1


class Board:
    """Shared table of (pid, job) for up to ``_SLOTS`` workers; job -1 means idle."""

    def __init__(self) -> None:
        self._cells: Any = sharedctypes.RawArray("q", _SLOTS * 2)
        self._lock = get_context("spawn").Lock()

    def claim(self) -> int:
        """Take a slot for this process (reusing one whose process is gone)."""
        pid = os.getpid()
        with self._lock:
            # Empty slots first: a dead worker's slot keeps its last job for the report.
            for second_pass in (False, True):
                for slot in range(_SLOTS):
                    owner = self._cells[slot * 2]
                    if (not _alive(owner)) if second_pass else owner in (0, pid):
                        self._cells[slot * 2] = pid
                        self._cells[slot * 2 + 1] = _IDLE
                        return slot
        return -1

    def post(self, slot: int, job: int) -> None:
        if slot >= 0:
            self._cells[slot * 2 + 1] = job

    def jobs(self) -> dict[int, int]:
        """pid -> job being run, for every posted worker that is not idle."""
        cells = list(self._cells)
        return {
            cells[i * 2]: cells[i * 2 + 1]
            for i in range(_SLOTS)
            if cells[i * 2] and cells[i * 2 + 1] != _IDLE
        }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StackDir:
    """A private directory where workers write their stacks when asked."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="mpcheck-stacks-")

    def file_for(self, pid: int) -> str:
        return os.path.join(self.path, f"{pid}.txt")

    def close(self) -> None:
        for name in os.listdir(self.path):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.path, name))
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


# Per worker process: its board slot and the open stack file faulthandler writes to.
_worker: dict[str, Any] = {}


def arm_worker(board: Board | None, stack_dir: str | None) -> None:
    """Run at worker start: claim a board slot, arm the stack dump signal."""
    if board is not None:
        _worker["board"] = board
        _worker["slot"] = board.claim()
    if stack_dir is not None and _DUMP_SIGNAL is not None:
        # A bare descriptor, not a file object: it stays open for the worker's whole
        # life, and an unclosed file object would warn at the worker's exit.
        path = os.path.join(stack_dir, f"{os.getpid()}.txt")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        _worker["descriptor"] = descriptor
        faulthandler.register(_DUMP_SIGNAL, file=descriptor, all_threads=True, chain=False)


def note_job(job: int) -> None:
    """Post the job this worker is running now (-1: none); a no-op outside our workers."""
    board = _worker.get("board")
    if board is not None:
        board.post(_worker["slot"], job)


def dump_stacks(pids: Iterable[int], stack_dir: StackDir, wait: float = 1.0) -> dict[int, str]:
    """Ask each process for its Python stacks; what arrived within ``wait`` seconds."""
    asked = []
    for pid in pids:
        if _DUMP_SIGNAL is None:
            break
        with contextlib.suppress(OSError):
            os.kill(pid, _DUMP_SIGNAL)
            asked.append(pid)
    stacks: dict[int, str] = {}
    deadline = time.monotonic() + wait
    while asked and time.monotonic() < deadline:
        for pid in list(asked):
            try:
                with open(stack_dir.file_for(pid)) as stream:
                    text = stream.read()
            except OSError:
                continue
            if text.strip():
                stacks[pid] = _below_bootstrap(text)
                asked.remove(pid)
        if asked:
            time.sleep(0.02)
    return stacks


def _below_bootstrap(text: str) -> str:
    """Drop the frames under a worker's ``_bootstrap``: in a fork child they are the
    parent's stack at the time of the fork, not anything the worker does."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if not line.startswith(" "):
            skipping = False
        elif skipping:
            continue
        kept.append(line)
        if "multiprocessing/process.py" in line and "_bootstrap" in line:
            skipping = True
    return "\n".join(kept) + "\n"


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback without its first frame, the caller's own: it starts in the
    user's function."""
    frames = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    return "".join(traceback.format_exception(type(exc), exc, frames))


def parent_stacks() -> str:
    """Python stacks of this process's threads, main thread first, most recent call first."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    frames = sys._current_frames()
    order = sorted(frames, key=lambda ident: ident != threading.main_thread().ident)
    parts = []
    for ident in order:
        entries = traceback.extract_stack(frames[ident])
        # Our own frames (the wait for the workers) say nothing about the user's code.
        entries = traceback.StackSummary.from_list(
            [entry for entry in entries if _PACKAGE not in entry.filename]
        )
        stack = "".join(reversed(entries.format()))
        parts.append(f"Thread {names.get(ident, ident)} (most recent call first):\n{stack}")
    return "\n".join(parts)


def _children_map() -> dict[int, list[int]]:
    """parent pid -> live (non-zombie) child pids, from one pass over ``/proc``."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                stat = stream.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(*roots: int) -> list[int]:
    """Every live process below the given roots (none: nothing); Linux only.

    One pass over ``/proc`` serves all roots: it is the costly part.
    """
    if not roots:
        return []
    children = _children_map()
    found: list[int] = []
    frontier = list(roots)
    while frontier:
        below = children.get(frontier.pop(), [])
        found += below
        frontier += below
    return found


def fresh_task_lock(pool: Any) -> None:
    """Give a ``Pool``'s task queue a new lock before its workers are stopped.

    An idle worker holds that lock while it waits for a task; one killed while
    holding it would make ``Pool.terminate()`` (and the pool's exit handler) wait
    for it forever.  ``terminate()`` only drains the queue, so a fresh lock is safe.
    """
    inqueue = getattr(pool, "_inqueue", None)
    context = getattr(pool, "_ctx", None)
    if inqueue is not None and hasattr(inqueue, "_rlock") and context is not None:
        inqueue._rlock = context.Lock()


def kill_tree(pids: Iterable[int]) -> None:
    """SIGKILL each process and everything below it."""
    roots = list(pids)
    if not roots:
        return
    for pid in [*roots, *descendants(*roots)]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def annotate(exc: BaseException, title: str, stacks: dict[str, str]) -> None:
    """Attach the workers' stacks to an exception that cut a run short (Ctrl-C, a timeout
    of pytest-timeout), as an exception note, so they are shown with it."""
    if not stacks:
        return
    text = "\n".join(
        [title, *(f"--- {who} ---\n{stack.rstrip()}" for who, stack in stacks.items())]
    )
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(text)
    else:  # Python 3.10: pytest shows __notes__ all the same
        exc.__notes__ = [*getattr(exc, "__notes__", []), text]  # type: ignore[attr-defined]
