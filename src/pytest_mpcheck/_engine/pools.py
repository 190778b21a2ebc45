"""Where worker processes start, run the work and are shut down.

``Engine.run`` runs a picklable callable over a list of jobs through the
parallel API named by ``via``, under one start method, and returns the raw
results.  It knows nothing of pytest or of what the callable checks.

Pool freshness follows what ``ctx.Pool(processes)`` created at the moment of
the call would see:

* ``fork`` workers inherit the parent's current memory, so every run gets a
  fresh pool (a few milliseconds).
* ``spawn``/``forkserver`` workers never see the parent's run-time state, so a
  warm pool is reused until ``Engine.close()`` (the plugin calls it after each
  test).  It differs from a fresh pool only by what earlier tasks left inside
  its workers.  The pool is keyed by what a new worker would inherit
  (``sys.path``, working directory, main module, environment), so a change to
  any of these gets a new pool.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import gc
import hashlib
import io
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from pytest_mpcheck._engine.supervise import (
    _OUR_THREADS,
    Board,
    StackDir,
    annotate,
    arm_worker,
    descendants,
    describe_exit,
    dump_stacks,
    forking,
    fresh_task_lock,
    kill_tree,
    parent_stacks,
)

__all__ = ["VIAS", "Engine", "PoolBroken", "PoolTimeout", "engine"]

#: Parallel APIs a run can go through.
VIAS = ("map", "imap", "imap_unordered", "starmap", "map_async", "executor")

_Workers = multiprocessing.pool.Pool | concurrent.futures.ProcessPoolExecutor


class PoolTimeout(Exception):
    """The run did not finish within its timeout; the pool was shut down.

    ``stacks`` maps each live worker's pid to its Python stacks, ``jobs`` maps
    pids to the job each was running, ``parent`` holds this process's stacks.
    """

    def __init__(
        self,
        method: str,
        via: str,
        timeout: float,
        done: int,
        total: int,
        stacks: dict[int, str] | None = None,
        jobs: dict[int, int] | None = None,
        parent: str = "",
    ) -> None:
        super().__init__(f"{via} under {method} timed out after {timeout:g}s ({done}/{total})")
        self.method = method
        self.via = via
        self.timeout = timeout
        self.done = done
        self.total = total
        self.stacks = stacks or {}
        self.jobs = jobs or {}
        self.parent = parent


class PoolBroken(Exception):
    """A worker died while the run was in progress; the pool was shut down."""

    def __init__(
        self, method: str, via: str, detail: str, pid: int = 0, job: int | None = None
    ) -> None:
        super().__init__(f"{via} under {method}: {detail}")
        self.method = method
        self.via = via
        self.detail = detail
        self.pid = pid
        self.job = job


def _inheritance_key() -> str:
    """Digest of what a new spawn/forkserver worker inherits from this process."""
    main = sys.modules.get("__main__")
    parts = [
        repr(sys.path),
        os.getcwd(),
        repr(getattr(main, "__file__", None)),
        repr(sorted(os.environ.items())),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class _RecordingContext:
    """A start-method context that remembers every process it makes.

    An executor drops a dead worker from its books as it breaks, sometimes
    before anyone could look; this record keeps it, with its exit code.
    """

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self.made: list[Any] = []

    def Process(self, *args: Any, **kwargs: Any) -> Any:
        process = self._ctx.Process(*args, **kwargs)
        self.made.append(process)
        return process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


class _Pool:
    """A ``Pool`` or ``ProcessPoolExecutor`` with its board, stack files and watch list."""

    def __init__(self, method: str, processes: int, executor: bool) -> None:
        ctx = multiprocessing.get_context(method)
        self.method = method
        self.board = Board()
        self.stack_dir = StackDir()
        self.seen: dict[int, Any] = {}
        before = set(threading.enumerate())
        init = (self.board, self.stack_dir.path)
        self._recording = _RecordingContext(ctx)
        recording: Any = self._recording  # a stand-in for the BaseContext it wraps
        with forking() if method == "fork" else contextlib.nullcontext():
            self.workers: _Workers = (
                concurrent.futures.ProcessPoolExecutor(
                    processes, mp_context=recording, initializer=arm_worker, initargs=init
                )
                if executor
                else ctx.Pool(processes, initializer=arm_worker, initargs=init)
            )
        _OUR_THREADS.update(set(threading.enumerate()) - before)

    def _processes(self) -> list[Any]:
        if isinstance(self.workers, concurrent.futures.ProcessPoolExecutor):
            return list(self._recording.made)
        return list(getattr(self.workers, "_pool", []))

    def watch(self) -> None:
        """Remember every worker process this pool has had (the pool forgets dead ones)."""
        for process in self._processes():
            if process.pid is not None:
                self.seen.setdefault(process.pid, process)

    def dead(self) -> tuple[int, int | None] | None:
        """(pid, exit code) of a worker that exited, if any; workers only exit by dying.

        A broken executor terminates the survivors itself: a worker that died
        otherwise is the one to name.
        """
        self.watch()
        exited = [(pid, p.exitcode) for pid, p in self.seen.items() if p.exitcode is not None]
        exited.sort(key=lambda entry: entry[1] == -signal.SIGTERM)
        return exited[0] if exited else None

    def live_pids(self) -> list[int]:
        self.watch()
        return [pid for pid, process in self.seen.items() if process.exitcode is None]

    def shutdown(self, whole_tree: bool = False) -> None:
        """Stop the workers now; never blocks on a stuck task.

        With ``whole_tree`` (a run that failed or was interrupted), whatever the
        workers started dies too; after a clean run, anything they left running
        is the leak check's to report.
        """
        self.watch()
        if whole_tree:
            # What the workers started; the workers themselves are stopped below.
            kill_tree(descendants(*self.live_pids()))
            # A worker interrupted (Ctrl-C) may hold the task queue's lock.
            fresh_task_lock(self.workers)
        if isinstance(self.workers, concurrent.futures.ProcessPoolExecutor):
            for process in self.seen.values():
                if process.exitcode is None:
                    process.terminate()
            self.workers.shutdown(wait=True, cancel_futures=True)
            for process in self.seen.values():
                process.join()
        else:
            with _quiet_send_buffers() if whole_tree else contextlib.nullcontext():
                self.workers.terminate()
                self.workers.join()
                if whole_tree:
                    gc.collect()  # the half-sent buffer goes now, under the quiet hook
        self.stack_dir.close()


@contextlib.contextmanager
def _quiet_send_buffers() -> Iterator[None]:
    """Hide one known noise of stopping a pool mid-run: the task thread's half-sent
    buffer is collected while still exported (BufferError in BytesIO.__del__).
    Anything else still reaches the usual hook."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not (
            isinstance(unraisable.exc_value, BufferError)
            and isinstance(unraisable.object, io.BytesIO)
        ):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


@dataclass
class _Warm:
    key: str
    pool: _Pool


class Engine:
    """Starts and supervises worker pools; one per process is enough."""

    def __init__(self) -> None:
        self._warm: dict[tuple[str, int, bool], _Warm] = {}
        self._lock = threading.Lock()

    def run(
        self,
        method: str,
        via: str,
        processes: int,
        call: Callable[[Any], Any],
        jobs: Sequence[Any],
        chunksize: int | None,
        timeout: float,
    ) -> list[Any]:
        """Run ``call`` over ``jobs`` through ``via`` under ``method``.

        Results come in the order ``via`` yields them.  Raises ``PoolTimeout``
        or ``PoolBroken``; a pool that saw either, or any other interruption
        (Ctrl-C, pytest-timeout), is shut down with its whole process tree.
        """
        executor = via == "executor"
        fresh = method == "fork"
        with self._lock:
            pool = (
                _Pool(method, processes, executor)
                if fresh
                else self._reuse(method, processes, executor)
            )
            ok = False
            try:
                with forking() if fresh else contextlib.nullcontext():
                    results = _dispatch(pool, via, call, jobs, chunksize, timeout)
                ok = True
            finally:
                if fresh or not ok:
                    self._forget(pool)
                    pool.shutdown(whole_tree=not ok)
        return results

    def close(self) -> None:
        """Shut down every warm pool (and join its processes)."""
        with self._lock:
            warm = list(self._warm.values())
            self._warm.clear()
        for entry in warm:
            entry.pool.shutdown()

    def _reuse(self, method: str, processes: int, executor: bool) -> _Pool:
        slot = (method, processes, executor)
        key = _inheritance_key()
        entry = self._warm.get(slot)
        if entry is not None and entry.key != key:
            del self._warm[slot]
            entry.pool.shutdown()
            entry = None
        if entry is None:
            entry = _Warm(key, _Pool(method, processes, executor))
            self._warm[slot] = entry
        return entry.pool

    def _forget(self, pool: _Pool) -> None:
        for slot, entry in list(self._warm.items()):
            if entry.pool is pool:
                del self._warm[slot]


class _ChunkCall:
    """Applies the call to each job of a chunk: one pool task per chunk, as Pool does."""

    def __init__(self, call: Callable[[Any], Any]) -> None:
        self.call = call

    def __call__(self, chunk: list[Any]) -> list[Any]:
        return [self.call(job) for job in chunk]


_POLL = 0.05
# How long an interrupted run (Ctrl-C, pytest-timeout) waits for the workers' stacks.
_INTERRUPTED_WAIT = 0.5


def _broken(pool: _Pool, via: str, pid: int, exitcode: int | None) -> PoolBroken:
    """The finding-to-be for a dead worker: how it died and the job it was running."""
    detail = f"worker pid {pid} died ({describe_exit(exitcode)})"
    return PoolBroken(pool.method, via, detail, pid, pool.board.jobs().get(pid))


def _dispatch(
    pool: _Pool,
    via: str,
    call: Callable[[Any], Any],
    jobs: Sequence[Any],
    chunksize: int | None,
    timeout: float,
) -> list[Any]:
    """Run the jobs, polling for dead workers; timeouts gather stacks before raising."""
    method = pool.method
    deadline = time.monotonic() + timeout
    results: list[Any] = []

    def timed_out() -> PoolTimeout:
        """The timeout, with every live worker's stacks and the jobs they were running."""
        stacks = dump_stacks(pool.live_pids(), pool.stack_dir)
        done = len(results)
        return PoolTimeout(
            method, via, timeout, done, len(jobs), stacks, pool.board.jobs(), parent_stacks()
        )

    def check() -> float:
        """Raise if a worker died or time is up; else how long to wait next."""
        died = pool.dead()
        if died is not None:
            raise _broken(pool, via, *died)
        left = deadline - time.monotonic()
        if left <= 0:
            raise timed_out()
        return min(_POLL, left)

    workers = pool.workers
    before = set(threading.enumerate())
    try:
        if isinstance(workers, concurrent.futures.ProcessPoolExecutor):
            # The executor notices dead workers itself (BrokenProcessPool).
            stream_exec = workers.map(call, jobs, timeout=timeout, chunksize=chunksize or 1)
            _OUR_THREADS.update(set(threading.enumerate()) - before)
            pool.watch()
            try:
                for result in stream_exec:
                    results.append(result)
                    pool.watch()
            except (TimeoutError, concurrent.futures.TimeoutError):  # distinct on 3.10
                raise timed_out() from None
        elif via in ("map", "map_async", "starmap"):
            if via == "starmap":
                pending = workers.starmap_async(call, [(job,) for job in jobs], chunksize)
            else:
                pending = workers.map_async(call, jobs, chunksize)
            while not pending.ready():
                pending.wait(check())
            results.extend(pending.get())
        else:
            # Pool.imap with chunksize > 1 hides its iterator (and so its timeout)
            # inside a generator; sending the same chunks as tasks is what it does.
            size = chunksize or 1
            chunks = [list(jobs[start : start + size]) for start in range(0, len(jobs), size)]
            stream = (workers.imap if via == "imap" else workers.imap_unordered)(
                _ChunkCall(call), chunks
            )
            while len(results) < len(jobs):
                try:
                    results.extend(stream.next(check()))
                except multiprocessing.TimeoutError:
                    continue
    except BrokenProcessPool:
        pool.watch()
        died = pool.dead()
        if died is None:
            raise PoolBroken(method, via, "a worker died; its exit status was not seen") from None
        raise _broken(pool, via, *died) from None
    except (PoolTimeout, PoolBroken):
        raise
    except BaseException as exc:
        stacks = dump_stacks(pool.live_pids(), pool.stack_dir, wait=_INTERRUPTED_WAIT)
        running = pool.board.jobs()
        annotate(
            exc,
            f"pytest-mpcheck: {via} under {method} was interrupted; its workers were stopped. "
            "Their stacks:",
            {f"worker pid {pid} (job {running.get(pid, 'none')})": t for pid, t in stacks.items()},
        )
        raise
    return results


_ENGINE = Engine()
atexit.register(_ENGINE.close)


def engine() -> Engine:
    """The process-wide engine."""
    return _ENGINE
