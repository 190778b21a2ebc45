"""What runs inside a worker process: its start-up, its job notes, a crew member's loop.

Kept apart from ``supervise`` (which watches workers from outside) so that a
spawn or forkserver worker, which imports what it unpickles from source,
imports and compiles only this: ``os``, ``sys``, ``faulthandler`` and the
pipe it serves.
"""

from __future__ import annotations

import faulthandler
import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import multiprocessing.connection

    from pytest_mpcheck._engine.supervise import Board

__all__ = ["DUMP_SIGNAL", "arm_worker", "job_poster", "member", "note_job", "user_traceback"]

#: The signal that makes a worker write its Python stacks (None where there is none).
DUMP_SIGNAL = getattr(signal, "SIGUSR1", None)
_BARRIER_SECONDS = 30.0

# Per worker process: its board slot and the open stack file faulthandler writes to.
_worker: dict[str, Any] = {}


def arm_worker(board: Board | None, stack_dir: str | None) -> None:
    """Run at worker start: claim a board slot, arm the stack dump signal."""
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
    """``exc``'s traceback without its first frame, the caller's own: it starts in the
    user's function."""
    import traceback  # when a target raised: not worth every worker's start-up

    frames = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    return "".join(traceback.format_exception(type(exc), exc, frames))


def member(
    label: int,
    conn: multiprocessing.connection.Connection,
    barrier: Any,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    prepare: Callable[[int, int], None],
    stack_dir: str,
    adopt: Callable[..., None],
) -> None:
    """A crew member's life: wait for a command, align on the barrier, run, report.

    It leaves by ``os._exit``: a spawn child's full interpreter shutdown costs
    more than the rounds, and a member owns nothing that needs it.
    """
    arm_worker(None, stack_dir)
    adopt(*_primitives(barrier))
    while True:
        try:
            command = conn.recv()
        except EOFError:
            command = None
        if command is None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        prepare(label, command)
        try:
            barrier.wait(_BARRIER_SECONDS)
            target(*args)
        except Exception as exc:
            conn.send((f"{type(exc).__name__}: {exc}", user_traceback(exc)))
        else:
            conn.send((None, ""))


def _primitives(barrier: Any) -> list[Any]:
    """The semaphores inside a ``multiprocessing`` barrier (its condition's)."""
    condition = getattr(barrier, "_cond", None)
    names = ("_lock", "_sleeping_count", "_woken_count", "_wait_semaphore")
    return [getattr(condition, name) for name in names if hasattr(condition, name)]
