"""The pools that code under test makes inside ``instrument()``: supervised and checked.

Inside the block, each call of a ``multiprocessing`` ``Pool``'s ``map``,
``starmap``, ``imap``, ``imap_unordered``, ``map_async``, ``starmap_async``,
``apply`` or ``apply_async``, and of a ``ProcessPoolExecutor``'s ``map`` or
``submit``, runs on the code's own pool and gives the code what it always
gives; the block notes the call (where the code made it, the function, the
items) and what came back.  When the block ends, each noted call's function
runs over the same items in this process, as the oracle's sequential reference
does, and the first call whose parallel results differ is the finding.

A ``Pool`` loses the task of a worker that dies and waits for it forever.
Inside the block its worker handler notices the death: that is the finding,
and the pool's pending calls fail at once with ``BrokenProcessPool``, sent
through the pool's own result queue so that its result handler delivers
them.  A hang of any other kind is the block's timeout.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import functools
import multiprocessing.pool
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_mpcheck._checks.equivalence import (
    Reference,
    compare,
    parallel_of,
    raised_from,
    sequential,
)
from pytest_mpcheck._engine.supervise import describe_exit
from pytest_mpcheck._model import Finding, Result, Returned, Run, RunBroken

__all__ = ["MACHINERY", "Observed", "in_machinery"]

#: Modules whose frames are never the call site, and whose primitives are their own
#: machinery, not the state of the code under test (``instrument()`` leaves those alone).
MACHINERY = ("pytest_mpcheck.", "multiprocessing.", "concurrent.futures.")
_Pool: Any = multiprocessing.pool.Pool
_Executor: Any = concurrent.futures.ProcessPoolExecutor
_Iterator: Any = multiprocessing.pool.IMapIterator


def in_machinery(frame: Any) -> bool:
    """Whether ``frame`` runs code of one of the ``MACHINERY`` modules."""
    return f"{frame.f_globals.get('__name__', '')}.".startswith(MACHINERY)


def _site() -> str:
    """Where the code under test made the call: the first frame outside ``MACHINERY``."""
    frame: Any = sys._getframe(2)
    while frame is not None and in_machinery(frame):
        frame = frame.f_back
    return "?" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


@dataclass(eq=False)
class _Call:
    """One noted call: its items and, as they come, its parallel results."""

    run: Run
    pool: int
    func: Callable[..., Any]
    items: list[Any]
    star: bool
    ordered: bool = True
    #: A map that raises gives no values: its exception stands for the whole call.
    whole: bool = False
    values: list[Any] = field(default_factory=list)
    #: The exception the call (or its iteration) raised, after ``values``.
    error: BaseException | None = None
    #: A pending result (``AsyncResult``, ``Future``) read when the block ends.
    later: Any = None
    done: bool = False

    def outcomes(self) -> tuple[list[Any], BaseException | None, bool]:
        """(values, exception, complete): what the parallel call gave, as far as known."""
        if self.later is None:
            return self.values, self.error, self.done
        later, single = self.later, isinstance(self.later, concurrent.futures.Future)
        ready = later.done() if single else later.ready()
        if not ready:
            return [], None, False
        try:
            value = later.result(0) if single else later.get(0)
        except BaseException as exc:
            return [], exc, True
        return (value if isinstance(later, multiprocessing.pool.MapResult) else [value]), None, True


class Observed:
    """The pool calls of one block: patches while it runs, the first finding at its end."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self.calls: list[_Call] = []
        self.broken: RunBroken | None = None
        self._saved: list[tuple[Any, str, Any]] = []
        self._pools: weakref.WeakSet[Any] = weakref.WeakSet()
        self._iterators: weakref.WeakKeyDictionary[Any, _Call] = weakref.WeakKeyDictionary()
        #: Per thread, how many noted calls are running: what they call on the pool in
        #: turn (``apply`` calls ``apply_async``, an executor's ``map`` calls ``submit``,
        #: through whatever a library wrapped around it) is theirs, not noted again.
        self._inside = threading.local()

    # --- the patches --------------------------------------------------------------------

    def install(self) -> None:
        patches: dict[tuple[Any, str], Callable[[Any], Any]] = {
            (_Pool, "__init__"): self._pool_init,
            (_Pool, "map"): functools.partial(self._eager, "map", star=False),
            (_Pool, "starmap"): functools.partial(self._eager, "starmap", star=True),
            (_Pool, "map_async"): functools.partial(self._async, "map_async", star=False),
            (_Pool, "starmap_async"): functools.partial(self._async, "starmap_async", star=True),
            (_Pool, "imap"): functools.partial(self._lazy, "imap", ordered=True),
            (_Pool, "imap_unordered"): functools.partial(
                self._lazy, "imap_unordered", ordered=False
            ),
            (_Pool, "apply"): functools.partial(self._apply, "apply"),
            (_Pool, "apply_async"): functools.partial(self._apply, "apply_async"),
            (_Pool, "_join_exited_workers"): self._join_exited,
            (_Iterator, "next"): self._next,
            (_Iterator, "__next__"): self._next,
            (_Executor, "map"): self._executor_map,
            (_Executor, "submit"): self._submit,
        }
        outer = {"__init__", "_join_exited_workers", "next", "__next__"}
        for (owner, name), make in patches.items():
            original = owner.__dict__[name]
            self._saved.append((owner, name, original))
            setattr(
                owner, name, make(original) if name in outer else self._outermost(original, make)
            )

    def _outermost(self, original: Any, make: Callable[[Any], Any]) -> Any:
        """``make(original)``, noted only when no noted call is running in this thread."""
        noting = make(original)
        inside = self._inside

        def call(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(inside, "depth", 0)
            if depth:
                return original(*args, **kwargs)
            inside.depth = depth + 1
            try:
                return noting(*args, **kwargs)
            finally:
                inside.depth = depth

        return call

    def restore(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _note(self, pool: Any, via: str, func: Any, items: list[Any], **kw: Any) -> _Call:
        executor = isinstance(pool, _Executor)
        context = pool._mp_context if executor else pool._ctx
        processes = pool._max_workers if executor else pool._processes
        run = Run(
            context.get_start_method(),
            f"{type(pool).__name__}.{via}",
            processes,
            kw.pop("chunksize", None),
            getattr(func, "__qualname__", None) or repr(func),
            self._seed,
            _site(),
        )
        call = _Call(run, id(pool), func, items, **kw)
        self.calls.append(call)
        return call

    def _pool_init(self, original: Any) -> Any:
        def init(pool: Any, *args: Any, **kwargs: Any) -> None:
            original(pool, *args, **kwargs)
            self._pools.add(pool)

        return init

    def _eager(self, via: str, original: Any, *, star: bool) -> Any:
        def call(pool: Any, func: Any, iterable: Iterable[Any], chunksize: Any = None) -> Any:
            items = list(iterable)
            noted = self._note(pool, via, func, items, star=star, whole=True, chunksize=chunksize)
            try:
                noted.values = original(pool, func, items, chunksize)
            except BaseException as exc:
                noted.error = exc
                raise
            finally:
                noted.done = True
            return noted.values

        return call

    def _async(self, via: str, original: Any, *, star: bool) -> Any:
        def call(pool: Any, func: Any, iterable: Iterable[Any], *args: Any, **kw: Any) -> Any:
            items = list(iterable)
            chunksize = args[0] if args else kw.get("chunksize")
            noted = self._note(pool, via, func, items, star=star, whole=True, chunksize=chunksize)
            noted.later = original(pool, func, items, *args, **kw)
            return noted.later

        return call

    def _apply(self, via: str, original: Any) -> Any:
        def call(
            pool: Any, func: Any, args: Any = (), kwds: Any = None, *rest: Any, **kw: Any
        ) -> Any:
            target = functools.partial(func, **kwds) if kwds else func
            noted = self._note(pool, via, target, [tuple(args)], star=True)
            try:
                result = original(pool, func, args, kwds or {}, *rest, **kw)
            except BaseException as exc:
                noted.error, noted.done = exc, True
                raise
            if via == "apply":
                noted.values, noted.done = [result], True
            else:
                noted.later = result
            return result

        return call

    def _lazy(self, via: str, original: Any, *, ordered: bool) -> Any:
        def call(pool: Any, func: Any, iterable: Iterable[Any], chunksize: int = 1) -> Any:
            items = list(iterable)
            noted = self._note(
                pool, via, func, items, star=False, ordered=ordered, chunksize=chunksize
            )
            iterator = original(pool, func, items, chunksize)
            self._iterators[iterator] = noted
            return iterator

        return call

    def _next(self, original: Any) -> Any:
        def next_(iterator: Any, timeout: float | None = None) -> Any:
            noted = self._iterators.get(iterator)
            try:
                value = original(iterator, timeout)
            except StopIteration:
                if noted is not None:
                    noted.done = True
                raise
            except BaseException as exc:
                if noted is not None and not isinstance(exc, multiprocessing.TimeoutError):
                    noted.error = exc
                raise
            if noted is not None:
                noted.values.append(value)
            return value

        return next_

    def _executor_map(self, original: Any) -> Any:
        def call(executor: Any, fn: Any, *iterables: Iterable[Any], **kw: Any) -> Any:
            columns = [list(iterable) for iterable in iterables]
            items = list(zip(*columns, strict=False))
            chunksize = kw.get("chunksize", 1)
            noted = self._note(executor, "map", fn, items, star=True, chunksize=chunksize)
            return self._noting(noted, original(executor, fn, *columns, **kw))

        return call

    @staticmethod
    def _noting(noted: _Call, results: Iterator[Any]) -> Iterator[Any]:
        try:
            for value in results:
                noted.values.append(value)
                yield value
        except BaseException as exc:
            noted.error = exc
            raise
        noted.done = True

    def _submit(self, original: Any) -> Any:
        def call(executor: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            target = functools.partial(fn, **kwargs) if kwargs else fn
            noted = self._note(executor, "submit", target, [args], star=True)
            noted.later = original(executor, fn, *args, **kwargs)
            return noted.later

        return call

    # --- a worker that dies ---------------------------------------------------------------

    def _join_exited(self, original: Any) -> Any:
        join = original.__func__

        def join_exited(workers: list[Any]) -> bool:
            # The workers it removed are the ones that exited: read after the call, since
            # one may exit while it runs.
            before = list(workers)
            cleaned: bool = join(workers)
            exited = [worker for worker in before if worker not in workers]
            owner = next((pool for pool in list(self._pools) if pool._pool is workers), None)
            if owner is not None and exited:
                self._died(owner, exited)
            return cleaned

        return staticmethod(join_exited)

    def _died(self, pool: Any, exited: list[Any]) -> None:
        """Runs in the pool's worker handler thread."""
        lost = [
            worker for worker in exited if worker.exitcode != 0 or pool._maxtasksperchild is None
        ]
        if not lost or not pool._cache:
            return
        worker = lost[0]
        detail = f"worker {worker.pid} died ({describe_exit(worker.exitcode)})"
        mine = [call for call in self.calls if call.pool == id(pool)]
        pending = [call for call in mine if not call.done] or mine
        if self.broken is None and pending:
            self.broken = RunBroken(pending[0].run, detail, None, None)
        error = concurrent.futures.process.BrokenProcessPool(
            f"a worker of this pool {detail}: its task is lost, and the pool would wait for "
            "it forever; the calls that were waiting fail instead"
        )
        for job, result in list(pool._cache.items()):
            count = getattr(result, "_number_left", 1)
            index = getattr(result, "_index", 0)
            for _ in range(max(1, count)):
                pool._outqueue.put((job, index, (False, error)))

    # --- the verdict ----------------------------------------------------------------------

    def finding(self, raised: BaseException | None) -> Finding | None:
        """The first finding: a dead worker, else the first call whose parallel results
        differ from the sequential ones.  With the block failing on ``raised``, calls
        are compared only if one of them raised it."""
        if self.broken is not None:
            return self.broken
        if raised is not None and not any(call.error is raised for call in self.calls):
            return None
        for call in self.calls:
            found = self._verdict(call)
            if found is not None:
                return found
        return None

    def _verdict(self, call: _Call) -> Finding | None:
        values, error, complete = call.outcomes()
        if isinstance(error, concurrent.futures.process.BrokenProcessPool):
            return RunBroken(call.run, str(error), None, None)
        known = len(values) + (error is not None)
        if not known or (not call.ordered and not complete):
            return None
        full = sequential(call.func, call.items, call.star)
        if (
            error is not None
            and not values
            and call.later is None
            and call.run.via.endswith(("map", "starmap"))
        ):
            # A map that raised gives no values: its exception stands for the item that
            # raised sequentially, or else for the first.
            at = len(full.values) if full.error is not None else 0
            known = at + 1
            values = full.values[:at]
        results: dict[int, Result] = {i: Returned(v) for i, v in enumerate(values)}
        if error is not None:
            results[len(values)] = raised_from(error)
        reference = Reference(full.values[:known], full.error if len(full.values) < known else None)
        parallel = parallel_of(results, list(results))
        return compare(reference, parallel, call.run, call.items, ordered=call.ordered)
