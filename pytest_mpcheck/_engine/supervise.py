"""Watching worker processes from outside: the one supervision core of pools and crews.

* ``Watch``: the processes of one pool or crew and the one wait over their
  result handles and process sentinels (``multiprocessing.connection.wait``,
  no polling), which raises ``WorkerDied`` when one of them dies and builds
  ``Overran`` when the work misses its deadline.  A ``Doorbell`` lets
  completion callbacks (of a ``Pool`` or an executor) join that wait.
* Reading the ``Board`` (``worker.py``) where each worker posts the job it is
  running, so a dead or stuck worker can be named with its item.
* Stack dumps: every worker arms ``faulthandler`` on ``SIGUSR1`` at start, writing
  to its own file; ``dump_stacks`` signals the live ones and reads the files.
* The process tree below a process (``psutil`` when it is installed, Linux
  ``/proc`` otherwise), to kill what the workers themselves started.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing.connection
import multiprocessing.synchronize
import os
import signal
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from pytest_mpcheck._engine.worker import DUMP_SIGNAL, Board

__all__ = [
    "Doorbell",
    "Overran",
    "StackDir",
    "Watch",
    "WorkerDied",
    "annotate",
    "descendants",
    "describe_exit",
    "dump_stacks",
    "forking",
    "fresh_task_lock",
    "kill_tree",
    "owning_new_threads",
    "parent_stacks",
]

# Threads our own pools run in this process.  Python 3.12+ warns on fork()
# in a multi-threaded process; when every extra thread is ours (pool handler
# threads, which hold no lock a forked child would need) that warning is
# noise about our own machinery, not about the user's code.
_OUR_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_FORK_WARNING = r".*use of fork\(\) may lead to deadlocks in the child"


@contextlib.contextmanager
def owning_new_threads() -> Iterator[None]:
    """Count the threads started inside the block (a pool's handler threads) as ours."""
    before = set(threading.enumerate())
    try:
        yield
    finally:
        _OUR_THREADS.update(set(threading.enumerate()) - before)


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


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class StackDir:
    """A private directory where workers write their stacks when asked."""

    def __init__(self) -> None:
        import tempfile  # the parent's only: a worker never makes one

        self.path = tempfile.mkdtemp(prefix="mpcheck-stacks-")

    def file_for(self, pid: int) -> str:
        return os.path.join(self.path, f"{pid}.txt")

    def close(self) -> None:
        for name in os.listdir(self.path):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.path, name))
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


def dump_stacks(pids: Iterable[int], stack_dir: StackDir, wait: float = 1.0) -> dict[int, str]:
    """Ask each process for its Python stacks; what arrived within ``wait`` seconds."""
    asked = []
    for pid in pids:
        if DUMP_SIGNAL is None:
            break
        with contextlib.suppress(OSError):
            os.kill(pid, DUMP_SIGNAL)
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


def parent_stacks() -> str:
    """Python stacks of this process's threads, main thread first, most recent call first."""
    import traceback  # on a timeout only

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


def _psutil() -> Any:
    """The ``psutil`` module if it is installed (it is not a dependency), else None."""
    try:
        return importlib.import_module("psutil")
    except ImportError:
        return None


def _children_map() -> dict[int, list[int]]:
    """parent pid -> live (non-zombie) child pids, from one pass over all processes."""
    psutil = _psutil()
    return _children_from_proc() if psutil is None else _children_from_psutil(psutil)


def _children_from_psutil(psutil: Any) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for process in psutil.process_iter(["ppid", "status"]):
        info = process.info
        if info["ppid"] is not None and info["status"] != psutil.STATUS_ZOMBIE:
            children.setdefault(info["ppid"], []).append(process.pid)
    return children


def _children_from_proc() -> dict[int, list[int]]:
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
    """Every live process below the given roots (none: nothing).

    One pass over the process table serves all roots: it is the costly part.
    Without ``psutil`` this needs Linux ``/proc``; elsewhere it finds nothing.
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
    The lock's class, not the context's factory, which an ``instrument()`` block
    replaces: ``terminate()`` keeps this lock, and it is the pool's own.
    """
    inqueue = getattr(pool, "_inqueue", None)
    context = getattr(pool, "_ctx", None)
    if inqueue is not None and hasattr(inqueue, "_rlock") and context is not None:
        inqueue._rlock = multiprocessing.synchronize.Lock(ctx=context.get_context())


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


class WorkerDied(Exception):
    """A worker process died with work unfinished (its pool or crew is then stopped).

    ``label`` is the number the pool or crew knows the worker by (a pool
    worker's pid, a crew member's label); ``pid`` is 0 if its death was
    reported but the process itself was never seen; ``job`` is the item it
    was running, if known.
    """

    def __init__(
        self,
        where: str,
        detail: str,
        *,
        label: int = 0,
        pid: int = 0,
        exitcode: int | None = None,
        job: int | None = None,
    ) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail
        self.label = label
        self.pid = pid
        self.exitcode = exitcode
        self.job = job


class Overran(Exception):
    """Work did not finish by its deadline (its pool or crew is then stopped).

    ``waiting`` lists the late workers by the number the pool or crew knows
    them by, ``stacks`` maps those numbers to their Python stacks, ``jobs``
    maps pids to the job each was running, ``parent`` holds this process's
    stacks.
    """

    def __init__(
        self,
        where: str,
        timeout: float | None,
        done: int,
        total: int,
        waiting: Sequence[int],
        stacks: dict[int, str],
        jobs: dict[int, int],
        parent: str,
    ) -> None:
        limit = "by its deadline" if timeout is None else f"after {timeout:g}s"
        super().__init__(f"{where} timed out {limit} ({done}/{total})")
        self.where = where
        self.timeout = timeout
        self.done = done
        self.total = total
        self.waiting = tuple(waiting)
        self.stacks = stacks
        self.jobs = jobs
        self.parent = parent


class Doorbell:
    """A self-pipe that completion callbacks ring, so that the one wait sees them too.

    At most one ring is ever pending, so a callback (running in a pool's
    result thread) never blocks on a full pipe; a ring after ``close`` is a
    no-op, as late callbacks of a stopped pool may come.
    """

    def __init__(self) -> None:
        self.handle, self._writer = multiprocessing.connection.Pipe(duplex=False)
        self._lock = threading.Lock()
        self._rung = False
        self._closed = False

    def ring(self) -> None:
        with self._lock:
            if self._rung or self._closed:
                return
            self._rung = True
            self._writer.send_bytes(b"")

    def answer(self) -> None:
        """Take the pending ring, if any, so the next wait sleeps until a new one."""
        with self._lock:
            if self._rung:
                self.handle.recv_bytes()
                self._rung = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.handle.close()
            self._writer.close()


# How long an interrupted run (Ctrl-C, pytest-timeout) waits for the workers' stacks.
_INTERRUPTED_WAIT = 0.5
_JOIN_DEAD = 2.0


def _reaped(process: Any) -> None:
    """Wait (up to ``_JOIN_DEAD``) until a dead process's exit code is known.

    Joining is not always enough: when a pool's own thread reaps the same
    process at that moment, our wait finds no child and returns, and the exit
    code appears only once that thread has stored it.
    """
    deadline = time.monotonic() + _JOIN_DEAD
    process.join(_JOIN_DEAD)
    while process.exitcode is None and time.monotonic() < deadline:
        time.sleep(0.01)


class Watch:
    """The processes of one pool or crew, watched together.

    Each process is known by a number (``label``): a crew member by its
    label, a pool worker by its pid.  ``name(label)`` says who it is in
    messages ("worker pid 123", "process 2"); ``noun`` names them all.
    """

    def __init__(self, name: Callable[[int], str], noun: str, board: Board | None = None) -> None:
        self.stack_dir = StackDir()
        self.board = board
        self._name = name
        self._noun = noun
        self._processes: dict[int, Any] = {}

    def add(self, label: int, process: Any) -> None:
        """Watch ``process`` (again: a no-op); a pool forgets its dead workers, this does not."""
        self._processes.setdefault(label, process)

    def live(self) -> dict[int, int]:
        """label -> pid of every watched process still running."""
        return {
            label: process.pid
            for label, process in self._processes.items()
            if process.pid is not None and process.exitcode is None
        }

    def wait(self, handles: Sequence[Any], deadline: float, where: str) -> list[Any]:
        """The handles that are ready, waiting until one is or the deadline passes ([]).

        Raises ``WorkerDied`` as soon as a watched process has exited: its
        sentinel is part of the same wait, and processes only exit here by dying.
        """
        sentinels = {process.sentinel for process in self._processes.values()}
        left = deadline - time.monotonic()
        if left <= 0:
            return []
        ready = multiprocessing.connection.wait([*handles, *sentinels], timeout=left)
        results = [handle for handle in ready if handle not in sentinels]
        if ready and not results:
            raise self.died(where)
        return results

    def died(self, where: str, label: int | None = None) -> WorkerDied:
        """The exception for a dead worker: ``label``'s, else one whose sentinel is ready.

        A process's sentinel is ready as it exits, a moment before its exit
        code can be read: each candidate is joined (briefly) first.  A broken
        executor terminates the survivors itself: a worker that died otherwise
        is the one to name.
        """
        if label is None:
            by_sentinel = {process.sentinel: key for key, process in self._processes.items()}
            ready = multiprocessing.connection.wait(list(by_sentinel), timeout=0)
            candidates = [by_sentinel[sentinel] for sentinel in ready]
        else:
            candidates = [label]
        exited = []
        for key in candidates:
            process = self._processes[key]
            _reaped(process)
            exited.append((key, process))
        exited.sort(key=lambda entry: entry[1].exitcode == -signal.SIGTERM)
        if not exited:
            return WorkerDied(where, "a worker died; its exit status was not seen")
        key, process = exited[0]
        detail = f"{self._name(key)} died ({describe_exit(process.exitcode)})"
        jobs = self.board.jobs() if self.board is not None else {}
        return WorkerDied(
            where,
            detail,
            label=key,
            pid=process.pid,
            exitcode=process.exitcode,
            job=jobs.get(process.pid),
        )

    def overran(
        self, where: str, timeout: float | None, done: int, total: int, late: Sequence[int]
    ) -> Overran:
        """The exception for work past its deadline, with the late workers' stacks."""
        pids = {pid: label for label, pid in self.live().items() if label in late}
        found = dump_stacks(pids, self.stack_dir)
        stacks = {pids[pid]: text for pid, text in found.items()}
        jobs = self.board.jobs() if self.board is not None else {}
        return Overran(where, timeout, done, total, late, stacks, jobs, parent_stacks())

    def interrupted(self, exc: BaseException, where: str) -> None:
        """Note the live workers' stacks on an exception that cut the work short."""
        live = self.live()
        stacks = dump_stacks(live.values(), self.stack_dir, wait=_INTERRUPTED_WAIT)
        jobs = self.board.jobs() if self.board is not None else {}
        named = {}
        for label, pid in live.items():
            if pid in stacks:
                job = f" (job {jobs.get(pid, 'none')})" if self.board is not None else ""
                named[f"{self._name(label)}{job}"] = stacks[pid]
        annotate(
            exc,
            f"pytest-mpcheck: {where} was interrupted; its {self._noun} were stopped. "
            "Their stacks:",
            named,
        )

    def kill_descendants(self) -> None:
        """Kill whatever the live workers started (the workers are their owner's to stop)."""
        kill_tree(descendants(*self.live().values()))

    def close(self) -> None:
        self.stack_dir.close()
