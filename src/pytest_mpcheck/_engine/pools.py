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
import hashlib
import multiprocessing
import multiprocessing.pool
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

__all__ = ["VIAS", "Engine", "PoolBroken", "PoolTimeout", "engine", "forking"]

#: Parallel APIs a run can go through.
VIAS = ("map", "imap", "imap_unordered", "starmap", "map_async", "executor")

_Workers = multiprocessing.pool.Pool | concurrent.futures.ProcessPoolExecutor

# Threads our own pools run in this process.  Python 3.12+ warns on fork()
# in a multi-threaded process; when every extra thread is ours (pool handler
# threads, which hold no lock a forked child would need) that warning is
# noise about our own machinery, not about the user's code.
_OUR_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_FORK_WARNING = r".*use of fork\(\) may lead to deadlocks in the child"


class PoolTimeout(Exception):
    """The run did not finish within its timeout; the pool was shut down."""

    def __init__(self, method: str, via: str, timeout: float, done: int, total: int) -> None:
        super().__init__(f"{via} under {method} timed out after {timeout:g}s ({done}/{total})")
        self.method = method
        self.via = via
        self.timeout = timeout
        self.done = done
        self.total = total


class PoolBroken(Exception):
    """A worker died abruptly and the pool could not finish the run."""

    def __init__(self, method: str, via: str, detail: str) -> None:
        super().__init__(f"{via} under {method}: {detail}")
        self.method = method
        self.via = via
        self.detail = detail


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


@dataclass
class _Warm:
    key: str
    workers: _Workers


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
        or ``PoolBroken``; any pool that saw either is shut down, never reused.
        """
        executor = via == "executor"
        fresh = method == "fork"
        with self._lock:
            workers = (
                self._new(method, processes, executor)
                if fresh
                else self._reuse(method, processes, executor)
            )
            ok = False
            try:
                with forking() if fresh else contextlib.nullcontext():
                    results = _dispatch(workers, method, via, call, jobs, chunksize, timeout)
                ok = True
            finally:
                if fresh or not ok:
                    self._forget(workers)
                    _shutdown(workers)
        return results

    def close(self) -> None:
        """Shut down every warm pool (and join its processes)."""
        with self._lock:
            warm = list(self._warm.values())
            self._warm.clear()
        for entry in warm:
            _shutdown(entry.workers)

    def _reuse(self, method: str, processes: int, executor: bool) -> _Workers:
        slot = (method, processes, executor)
        key = _inheritance_key()
        entry = self._warm.get(slot)
        if entry is not None and entry.key != key:
            del self._warm[slot]
            _shutdown(entry.workers)
            entry = None
        if entry is None:
            entry = _Warm(key, self._new(method, processes, executor))
            self._warm[slot] = entry
        return entry.workers

    def _forget(self, workers: _Workers) -> None:
        for slot, entry in list(self._warm.items()):
            if entry.workers is workers:
                del self._warm[slot]

    @staticmethod
    def _new(method: str, processes: int, executor: bool) -> _Workers:
        ctx = multiprocessing.get_context(method)
        before = set(threading.enumerate())
        with forking() if method == "fork" else contextlib.nullcontext():
            workers: _Workers = (
                concurrent.futures.ProcessPoolExecutor(processes, mp_context=ctx)
                if executor
                else ctx.Pool(processes)
            )
        _OUR_THREADS.update(set(threading.enumerate()) - before)
        return workers


def _dispatch(
    workers: _Workers,
    method: str,
    via: str,
    call: Callable[[Any], Any],
    jobs: Sequence[Any],
    chunksize: int | None,
    timeout: float,
) -> list[Any]:
    deadline = time.monotonic() + timeout
    results: list[Any] = []

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PoolTimeout(method, via, timeout, len(results), len(jobs))
        return left

    before = set(threading.enumerate())
    try:
        if isinstance(workers, concurrent.futures.ProcessPoolExecutor):
            iterator = workers.map(call, jobs, timeout=timeout, chunksize=chunksize or 1)
            _OUR_THREADS.update(set(threading.enumerate()) - before)
            results.extend(iterator)
        elif via in ("map", "map_async", "starmap"):
            if via == "starmap":
                pending = workers.starmap_async(call, [(job,) for job in jobs], chunksize)
            else:
                pending = workers.map_async(call, jobs, chunksize)
            pending.wait(remaining())
            if not pending.ready():
                remaining()
                raise PoolTimeout(method, via, timeout, 0, len(jobs))
            results.extend(pending.get())
        else:
            stream = (workers.imap if via == "imap" else workers.imap_unordered)(
                call, jobs, chunksize or 1
            )
            for _ in jobs:
                results.append(stream.next(remaining()))
    except (TimeoutError, multiprocessing.TimeoutError):
        raise PoolTimeout(method, via, timeout, len(results), len(jobs)) from None
    except BrokenProcessPool as exc:
        raise PoolBroken(method, via, str(exc)) from None
    return results


def _shutdown(workers: _Workers) -> None:
    """Stop ``workers`` now and reap their processes; never blocks on a stuck task."""
    if isinstance(workers, concurrent.futures.ProcessPoolExecutor):
        processes = list((getattr(workers, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        workers.shutdown(wait=True, cancel_futures=True)
        for process in processes:
            process.join()
    else:
        workers.terminate()
        workers.join()


_ENGINE = Engine()
atexit.register(_ENGINE.close)


def engine() -> Engine:
    """The process-wide engine."""
    return _ENGINE
