"""What runs inside a worker process: its start-up, its job notes, a crew member's loop.

Kept apart from ``supervise`` (which watches workers from outside) so that a
spawn or forkserver worker, which imports what it unpickles from source,
imports and compiles only this: ``os``, ``sys``, ``faulthandler`` and the
pipe it serves.
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing import get_context, sharedctypes
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import multiprocessing.connection

__all__ = [
    "DUMP_SIGNAL",
    "Board",
    "Gate",
    "OnItsOwnWorker",
    "Runner",
    "Task",
    "arm_worker",
    "armed",
    "job_poster",
    "member",
    "note_job",
    "user_traceback",
]

#: The signal that makes a worker write its Python stacks (None where there is none).
DUMP_SIGNAL = getattr(signal, "SIGUSR1", None)
_BARRIER_SECONDS = 30.0

#: Frames in files under this directory are the package's own.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

#: How a member runs the target in a round: ``run(target, args)``.
Runner = Callable[[Callable[..., Any], tuple[Any, ...]], None]

_SLOTS = 128
_IDLE = -1


class Task(NamedTuple):
    """One pool task: ``size`` jobs from job number ``start`` on, as ``payload`` (a
    worker's script of a placed run: its worker number, and what it counts as).

    Defined with what every worker imports, so that receiving one costs a
    worker no further import.
    """

    start: int
    size: int
    payload: Any


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

    def cells(self) -> memoryview:
        """The table as 64-bit integers, writable without a Python call per write."""
        return memoryview(self._cells).cast("B").cast("q")

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


# Per worker process: its board slot and the open stack file faulthandler writes to.
_worker: dict[str, Any] = {}


def arm_worker(board: Board | None, stack_dir: str | None, gate: Gate | None = None) -> None:
    """Run at worker start: claim a board slot, arm the stack dump signal, keep the
    pool's ``Gate`` for placed tasks."""
    if gate is not None:
        _worker["gate"] = gate
    if board is not None:
        _worker["board"] = board
        _worker["slot"] = board.claim()
    if stack_dir is not None and DUMP_SIGNAL is not None:
        # A bare descriptor, not a file object: it stays open for the worker's whole
        # life, and an unclosed file object would warn at the worker's exit.
        path = os.path.join(stack_dir, f"{os.getpid()}.txt")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        _worker["descriptor"] = descriptor
        faulthandler.register(DUMP_SIGNAL, file=descriptor, all_threads=True, chain=False)


def armed(stack_dir: str, target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A process's target, run after arming its stack dump: what ``instrument()`` makes of
    the target of each process the code under test starts, so that a hang shows where.
    A process that starts after its block ended (the directory is gone) runs unarmed."""
    with contextlib.suppress(OSError):
        arm_worker(None, stack_dir)
    return target(*args, **kwargs)


class Gate:
    """Lets a set of ``parties`` processes through at once, when the last arrives.

    A pool's worker enters as a task of a placed run starts and leaves when the
    task is done, which keeps each task in a worker of its own: a pool gives
    its next task to whichever worker asks first, so a worker that is done
    asks for no other until each of the pool's workers holds one, and the work
    never waits for a slower worker to start, only the result does.  A stress
    member enters and leaves at once, before each round: all start together.
    The last to enter opens the gate for all at once (a ``Barrier`` wakes its
    parties one after the other, each waking the next); one run ends before
    the next begins, so it serves them all.
    """

    def __init__(self, ctx: Any, parties: int, late: str) -> None:
        """``late`` says who did not come, in the error of a wait that timed out."""
        self._parties = parties
        self._late = late
        self._entered: Any = sharedctypes.RawValue("i", 0)
        self._lock = ctx.Lock()
        self._open = ctx.Semaphore(0)

    def enter(self) -> None:
        with self._lock:
            self._entered.value += 1
            last = self._entered.value == self._parties
            if last:
                self._entered.value = 0
        if last:
            for _ in range(self._parties):
                self._open.release()

    def leave(self, timeout: float) -> None:
        if not self._open.acquire(timeout=timeout):
            raise TimeoutError(f"{self._late} in {timeout:g}s")

    def primitives(self) -> tuple[Any, Any]:
        """Its lock and semaphore: the check's own, never the code under test's."""
        return self._lock, self._open


class OnItsOwnWorker:
    """Runs a task of a placed run in a worker that takes no other in this run (see
    ``Gate``); outside our pool workers, just runs it.  Defined here, with what every
    worker imports: a spawn or forkserver worker that unpickles it imports nothing more."""

    def __init__(self, call: Callable[[Any], Any]) -> None:
        self.call = call

    def __call__(self, task: Task) -> Any:
        gate: Gate | None = _worker.get("gate")
        if gate is None:
            return self.call(task)
        gate.enter()
        try:
            return self.call(task)
        finally:
            gate.leave(_BARRIER_SECONDS)


def note_job(job: int) -> None:
    """Post the job this worker is running now (-1: none); a no-op outside our workers."""
    board = _worker.get("board")
    if board is not None:
        board.post(_worker["slot"], job)


def job_poster() -> Callable[[int], None]:
    """A callable that posts a job like ``note_job``, in C: it can run between the calls
    of a C ``map`` over a whole chunk, where a Python call per item would cost more
    than a cheap function's work.  Outside our workers it posts to a private cell."""
    board = _worker.get("board")
    slot = _worker.get("slot", -1)
    if board is None or slot < 0:
        return functools.partial(memoryview(bytearray(8)).cast("q").__setitem__, 0)
    return functools.partial(board.cells().__setitem__, slot * 2 + 1)


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback without the package's own frames that called the user's
    function (the member's loop, the way it runs a round): it starts in that function."""
    import traceback  # when a target raised: not worth every worker's start-up

    frames = exc.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        frames = frames.tb_next
    return "".join(traceback.format_exception(type(exc), exc, frames))


def member(
    label: int,
    conn: multiprocessing.connection.Connection,
    gate: Gate,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    prepare: Callable[[int, int], Runner],
    stack_dir: str,
    adopt: Callable[..., None],
) -> None:
    """A crew member's life: wait for a command, pass the gate with the others, run, report.

    ``prepare(label, round)`` sets the round up and returns how to run the target
    (as it is, or when and as a schedule lets it).

    It leaves by ``os._exit``: a spawn child's full interpreter shutdown costs
    more than the rounds, and a member owns nothing that needs it.
    """
    arm_worker(None, stack_dir)
    adopt(*gate.primitives())
    while True:
        try:
            command = conn.recv()
        except EOFError:
            command = None
        if command is None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        run = prepare(label, command)
        try:
            gate.enter()
            gate.leave(_BARRIER_SECONDS)
            run(target, args)
        except Exception as exc:
            conn.send((f"{type(exc).__name__}: {exc}", user_traceback(exc)))
        else:
            conn.send((None, ""))
