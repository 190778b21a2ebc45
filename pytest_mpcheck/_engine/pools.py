"""Where worker processes start, run the work and are shut down.

``Engine.run`` runs a picklable callable over a list of jobs through the
parallel API named by ``via``, under one start method, and returns the raw
results; ``Engine.run_tasks`` does the same with the work already cut into
tasks (one pool task each, as ``Pool`` cuts a map into chunks).  It knows
nothing of pytest or of what the callable checks.

Every task is one ``apply_async``/``submit`` whose completion callback rings
a doorbell; the one wait of ``supervise.Watch`` watches it together with the
workers' sentinels, so a dead worker is named as soon as it dies and a task
past the deadline is cut short, without polling.

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
import functools
import gc
import hashlib
import io
import multiprocessing
import multiprocessing.pool
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from pytest_mpcheck._engine.supervise import (
    Doorbell,
    Overran,
    Watch,
    WorkerDied,
    forking,
    fresh_task_lock,
    owning_new_threads,
)
from pytest_mpcheck._engine.worker import Board, Gate, OnItsOwnWorker, Task, arm_worker

__all__ = ["VIAS", "Engine", "chunk_size", "engine", "spans"]

#: Parallel APIs a run can go through.
VIAS = ("map", "imap", "imap_unordered", "starmap", "map_async", "executor")

_Workers = multiprocessing.pool.Pool | concurrent.futures.ProcessPoolExecutor


def chunk_size(via: str, total: int, processes: int, chunksize: int | None) -> int:
    """The jobs per task ``via`` sends for ``total`` jobs with ``chunksize``.

    Without a chunksize, ``Pool.map``/``starmap``/``map_async`` choose one from the
    number of jobs and workers; ``imap``, ``imap_unordered`` and the executor's
    ``map`` send one job per task.
    """
    if chunksize is not None:
        return chunksize
    if via in ("map", "starmap", "map_async"):
        size, extra = divmod(total, processes * 4)
        return max(1, size + bool(extra))
    return 1


def spans(via: str, total: int, processes: int, chunksize: int | None) -> list[range]:
    """The job numbers of each task, as ``via`` cuts ``total`` jobs with ``chunksize``."""
    size = chunk_size(via, total, processes, chunksize)
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


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
    """A ``Pool`` or ``ProcessPoolExecutor`` and the watch over its workers (by pid)."""

    def __init__(self, method: str, processes: int, executor: bool) -> None:
        ctx = multiprocessing.get_context(method)
        self.method = method
        self.supervisor = Watch(lambda pid: f"worker pid {pid}", "workers", Board())
        init = (
            self.supervisor.board,
            self.supervisor.stack_dir.path,
            Gate(ctx, processes, "the pool's other workers did not take a task"),
        )
        self._recording = _RecordingContext(ctx)
        recording: Any = self._recording  # a stand-in for the BaseContext it wraps
        with forking() if method == "fork" else contextlib.nullcontext(), owning_new_threads():
            self.workers: _Workers = (
                concurrent.futures.ProcessPoolExecutor(
                    processes, mp_context=recording, initializer=arm_worker, initargs=init
                )
                if executor
                else ctx.Pool(processes, initializer=arm_worker, initargs=init)
            )

    def _processes(self) -> list[Any]:
        if isinstance(self.workers, concurrent.futures.ProcessPoolExecutor):
            return list(self._recording.made)
        return list(getattr(self.workers, "_pool", []))

    def watch(self) -> None:
        """Watch every worker process this pool has had (the pool forgets dead ones)."""
        for process in self._processes():
            if process.pid is not None:
                self.supervisor.add(process.pid, process)

    def shutdown(self, whole_tree: bool = False) -> None:
        """Stop the workers now; never blocks on a stuck task.

        With ``whole_tree`` (a run that failed or was interrupted), whatever the
        workers started dies too; after a clean run, anything they left running
        is the leak check's to report.
        """
        self.watch()
        if whole_tree:
            # What the workers started; the workers themselves are stopped below.
            self.supervisor.kill_descendants()
            # A worker interrupted (Ctrl-C) may hold the task queue's lock.
            fresh_task_lock(self.workers)
        if isinstance(self.workers, concurrent.futures.ProcessPoolExecutor):
            # A worker whose start failed (say, a main module without a __main__ guard
            # under forkserver) has no process to stop.
            processes = [process for process in self._processes() if process.pid is not None]
            for process in processes:
                if process.exitcode is None:
                    process.terminate()
            self.workers.shutdown(wait=True, cancel_futures=True)
            for process in processes:
                process.join()
        else:
            with _quiet_send_buffers() if whole_tree else contextlib.nullcontext():
                self.workers.terminate()
                self.workers.join()
                if whole_tree:
                    gc.collect()  # the half-sent buffer goes now, under the quiet hook
        self.supervisor.close()


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
        """Run ``call`` over ``jobs`` through ``via`` under ``method``, cut as ``via`` cuts them.

        Results come in the order ``via`` yields them.  Raises as ``run_tasks`` does.
        """
        tasks = [
            Task(span.start, len(span), [jobs[index] for index in span])
            for span in spans(via, len(jobs), processes, chunksize)
        ]
        chunks = self.run_tasks(method, via, processes, _EachJob(call), tasks, timeout)
        return [result for chunk in chunks for result in chunk]

    def run_tasks(
        self,
        method: str,
        via: str,
        processes: int,
        call: Callable[[Task], Any],
        tasks: Sequence[Task],
        timeout: float,
        placed: bool = False,
    ) -> list[Any]:
        """Run ``call(task)`` as one pool task per task through ``via`` under ``method``.

        Results come in the order ``via`` yields them: by task, or as they
        finish for ``imap_unordered``.  ``placed``: one task per worker, each
        run by a worker of its own (results by task).  Raises ``Overran`` (late
        workers by pid) or ``WorkerDied``; a pool that saw either, or any other
        interruption (Ctrl-C, pytest-timeout), is shut down with its whole
        process tree.
        """
        if placed and len(tasks) != processes:
            raise ValueError(f"a placed run takes {processes} tasks, one per worker")
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
                    if placed:
                        results = _dispatch(pool, via, OnItsOwnWorker(call), tasks, timeout, False)
                    else:
                        arrival = via == "imap_unordered"
                        results = _dispatch(pool, via, call, tasks, timeout, arrival)
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


class _EachJob:
    """Applies the call to each job of a task, as ``Pool`` does with a chunk."""

    def __init__(self, call: Callable[[Any], Any]) -> None:
        self.call = call

    def __call__(self, task: Task) -> list[Any]:
        return [self.call(job) for job in task.payload]


class _Progress:
    """What the completion callbacks have seen: finished tasks in order, results, errors."""

    def __init__(self, total: int) -> None:
        self.bell = Doorbell()
        self.finished: list[int] = []
        self.results: list[Any] = [None] * total
        self.errors: list[BaseException] = []

    def returned(self, index: int, result: Any) -> None:
        self.results[index] = result
        self.finished.append(index)
        self.bell.ring()

    def raised(self, index: int, error: BaseException) -> None:
        self.errors.append(error)
        self.finished.append(index)
        self.bell.ring()

    def settled(self, index: int, future: concurrent.futures.Future[Any]) -> None:
        error = future.exception() if not future.cancelled() else None
        if error is not None:
            self.raised(index, error)
        elif not future.cancelled():
            self.returned(index, future.result())


def _submit(workers: _Workers, call: Callable[[Task], Any], tasks: Sequence[Task]) -> _Progress:
    """Send every task; its completion lands in the returned ``_Progress``."""
    progress = _Progress(len(tasks))
    with owning_new_threads():  # an executor starts its threads on the first submit
        if isinstance(workers, concurrent.futures.ProcessPoolExecutor):
            for index, task in enumerate(tasks):
                future = workers.submit(call, task)
                future.add_done_callback(functools.partial(progress.settled, index))
        else:
            for index, task in enumerate(tasks):
                workers.apply_async(
                    call,
                    (task,),
                    callback=functools.partial(progress.returned, index),
                    error_callback=functools.partial(progress.raised, index),
                )
    return progress


def _dispatch(
    pool: _Pool,
    via: str,
    call: Callable[[Task], Any],
    tasks: Sequence[Task],
    timeout: float,
    arrival: bool,
) -> list[Any]:
    """Run the tasks under the pool's watch; results by task, or by ``arrival``."""
    where = f"{via} under {pool.method}"
    deadline = time.monotonic() + timeout
    supervisor = pool.supervisor
    progress: _Progress | None = None
    try:
        progress = _submit(pool.workers, call, tasks)
        while len(progress.finished) < len(tasks) and not progress.errors:
            pool.watch()
            if not supervisor.wait([progress.bell.handle], deadline, where):
                done = sum(tasks[index].size for index in progress.finished)
                total = sum(task.size for task in tasks)
                raise supervisor.overran(where, timeout, done, total, list(supervisor.live()))
            progress.bell.answer()
    except BrokenProcessPool:
        pool.watch()
        raise supervisor.died(where) from None
    except (Overran, WorkerDied):
        raise
    except BaseException as exc:
        supervisor.interrupted(exc, where)
        raise
    finally:
        if progress is not None:
            progress.bell.close()
    if progress.errors:
        if isinstance(progress.errors[0], BrokenProcessPool):
            pool.watch()
            raise supervisor.died(where)
        raise progress.errors[0]
    order = progress.finished if arrival else range(len(tasks))
    return [progress.results[index] for index in order]


_ENGINE = Engine()
atexit.register(_ENGINE.close)


def engine() -> Engine:
    """The process-wide engine."""
    return _ENGINE
