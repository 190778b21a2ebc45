"""``instrument()``: make unchanged code create instrumented shared objects.

Inside the block, ``multiprocessing.Value``/``Array``/``Lock``/``RLock`` and
the same methods of every context produce the instrumented drop-ins, so code
that builds its own shared state and processes is traced as it runs.  On a
clean exit the traces are analyzed and the first finding is raised.  Code
that bound the originals before the block (``from multiprocessing import
Value`` at import time) keeps them.

The block changes nothing else:

* the primitives ``multiprocessing`` builds for itself (a ``Condition``'s
  lock, an ``Event``'s, a ``Queue``'s, a ``Pool``'s, ``concurrent.futures``')
  come from the original factories, so they work exactly as outside;
* an object is made by the context that was asked for it, so it keeps that
  context's rules (a lock made by the fork context still cannot be handed to a
  spawn child);
* after the block the objects it made stop recording: whatever the code kept
  of them acts as the original would.

The pools the code makes in the block are supervised and their calls checked
against a sequential run (``observed``).  The block is bounded by the check
timeout (``_Watchdog``): a hang becomes a
finding with the stacks of this process and of every process started in the
block, and those processes are stopped.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from multiprocessing import synchronize
from typing import Any

from pytest_mpcheck._checks.leaks import helper_pids, release
from pytest_mpcheck._checks.observed import Observed, in_machinery
from pytest_mpcheck._checks.races import analyze, shortfall, worst_loss
from pytest_mpcheck._checks.shared import (
    Array,
    Lock,
    RLock,
    Shared,
    Value,
    describe_shared,
    location_name,
    snapshot,
    stop_tracing,
    trace_records,
)
from pytest_mpcheck._engine.supervise import StackDir, descendants, dump_stacks, parent_stacks
from pytest_mpcheck._engine.worker import armed
from pytest_mpcheck._model import BlockTimeout, Found, Leak, RaceFinding, StressRun
from pytest_mpcheck._settings import Settings
from pytest_mpcheck._trace.policy import Noise, Tracing, configured

__all__ = ["Instrumented"]

#: The signal the watchdog sends when the block overruns (None where there is none).
_OVERRUN_SIGNAL = getattr(signal, "SIGUSR2", None)
#: The watchdog: a process of its own, since a thread of ours would make every fork of
#: the code under test warn (Python 3.12+), and a timer signal is pytest-timeout's.
_WATCHDOG = "import os, sys, time; time.sleep(float(sys.argv[1])); os.kill({}, {})"


class _Overran(BaseException):
    """Raised where the code under test is when its block overruns: it unwinds that code
    (a BaseException, so that its ``except Exception`` does not swallow it)."""


class _Watchdog:
    """Ends a block that overruns ``timeout``, from the block's own (main) thread.

    Each process the code starts in the block runs its target armed to dump its
    stacks.  At the deadline a watchdog process signals this one; the handler asks
    those processes for their stacks, stops them (and terminates the pools that own
    them), notes the finding and raises ``_Overran`` where the code is.  Outside
    the main thread no signal can be handled: the block then has no bound.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.finding: BlockTimeout | None = None
        #: Set first thing when the block ends: a signal arriving then changes nothing.
        self.ending = False
        self._before = set(descendants(os.getpid()))
        self._stack_dir = StackDir()
        self._previous: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._start = multiprocessing.process.BaseProcess.start

    def start(self) -> None:
        """Arm the processes started from now on, and start the watchdog process;
        ``close()`` undoes whatever part of this was done."""
        stack_dir = self._stack_dir.path
        start = self._start

        def armed_start(process: Any) -> None:
            target = getattr(process, "_target", None)
            if target is not None:
                process._target = functools.partial(armed, stack_dir, target)
            start(process)

        multiprocessing.process.BaseProcess.start = armed_start  # type: ignore[method-assign,assignment]
        if _OVERRUN_SIGNAL is None or threading.current_thread() is not threading.main_thread():
            return
        # A handler installed outside Python reads as None: it comes back as the default.
        self._previous = signal.signal(_OVERRUN_SIGNAL, self._overran) or signal.SIG_DFL
        code = _WATCHDOG.format(os.getpid(), int(_OVERRUN_SIGNAL))
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", code, repr(self.timeout)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _started(self) -> list[int]:
        """The processes started in the block and still there, libraries' helpers aside."""
        keep = self._before | helper_pids()
        if self._process is not None:
            keep.add(self._process.pid)
        return [pid for pid in descendants(os.getpid()) if pid not in keep]

    def _overran(self, signum: int, frame: object) -> None:
        if self.finding is not None or self.ending:
            return
        started = self._started()
        stacks = dump_stacks(started, self._stack_dir)
        own = parent_stacks()
        release([Leak("process", "", "", pid) for pid in started])
        self.finding = BlockTimeout(self.timeout, ((0, own), *sorted(stacks.items())), len(started))
        raise _Overran

    def close(self) -> None:
        """Stop watching: nothing is signalled after this returns."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        if self._previous is not None:
            signal.signal(_OVERRUN_SIGNAL, self._previous)  # type: ignore[arg-type]
        multiprocessing.process.BaseProcess.start = self._start  # type: ignore[method-assign]
        self._stack_dir.close()


class Instrumented:
    """The ``instrument()`` block: patches on enter, restores and analyzes on exit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.created: list[Shared | Lock] = []
        self._saved: list[tuple[Any, str, Any]] = []
        self._tracing: contextlib.AbstractContextManager[Tracing] | None = None
        self._watchdog: _Watchdog | None = None
        self._observed = Observed(settings.seed)

    def _factory(self, name: str) -> Callable[..., Any]:
        """The context method ``name`` for the block: the original for ``_MACHINERY``."""
        original = getattr(multiprocessing.context.BaseContext, name)

        def factory(context: Any, *args: Any, **kwargs: Any) -> Any:
            # Its caller, one frame up: a partial adds none in between.
            if in_machinery(sys._getframe(1)):
                return original(context, *args, **kwargs)
            made = _MAKERS[name](context.get_context(), *args, **kwargs)
            self.created.append(made)
            return made

        return factory

    def __enter__(self) -> list[Shared | Lock]:
        try:
            self._install()
        except BaseException:
            self._restore()
            raise
        return self.created

    def _install(self) -> None:
        default = multiprocessing.context._default_context
        base = multiprocessing.context.BaseContext
        for name in _MAKERS:
            self._saved += [(multiprocessing, name, getattr(multiprocessing, name))]
            self._saved += [(base, name, getattr(base, name))]
        for name in _MAKERS:
            factory = self._factory(name)
            setattr(base, name, factory)
            # A partial adds no frame: the caller is found at the same depth both ways.
            setattr(multiprocessing, name, functools.partial(factory, default))
        seed = self._settings.seed
        self._tracing = configured(Tracing(0, seed, Noise.seeded(seed, 0, 0)))
        self._tracing.__enter__()
        self._observed.install()
        self._watchdog = _Watchdog(self._settings.timeout)
        self._watchdog.start()

    def _restore(self) -> BlockTimeout | None:
        """Undo whatever ``_install`` did, in reverse; the overrun finding, if any."""
        overran = None
        if self._watchdog is not None:
            self._watchdog.ending = True
            self._watchdog.close()
            overran, self._watchdog = self._watchdog.finding, None
        self._observed.restore()
        for owner, name, original in self._saved:
            setattr(owner, name, original)
        self._saved.clear()
        if self._tracing is not None:
            self._tracing.__exit__(None, None, None)
            self._tracing = None
        return overran

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        __tracebackhide__ = True
        overran = self._restore()
        for obj in self.created:
            if isinstance(obj, Shared):
                stop_tracing(obj)
        if overran is not None:
            raise Found(overran) from None
        raised = exc_info[0] if isinstance(exc_info[0], BaseException) else None
        found = self._observed.finding(raised)
        if found is not None:
            raise Found(found)
        if exc_type is None:
            _raise_races(self.created, self._settings)


# The makers take what the ``BaseContext`` methods take, and the context that was asked.


def _value(ctx: Any, typecode_or_type: Any, *args: Any, lock: object = True) -> Value:
    return Value(typecode_or_type, *args, lock=lock, ctx=ctx)


def _array(
    ctx: Any, typecode_or_type: Any, size_or_initializer: Any, *, lock: object = True
) -> Array:
    return Array(typecode_or_type, size_or_initializer, lock=lock, ctx=ctx)


def _lock(ctx: Any) -> Lock:
    return Lock(synchronize.Lock(ctx=ctx))


def _rlock(ctx: Any) -> RLock:
    return RLock(synchronize.RLock(ctx=ctx))


_MAKERS: dict[str, Callable[..., Shared | Lock]] = {
    "Value": _value,
    "Array": _array,
    "Lock": _lock,
    "RLock": _rlock,
}


def _raise_races(created: list[Shared | Lock], settings: Settings) -> None:
    __tracebackhide__ = True
    for lost in (True, False):
        for number, obj in enumerate(created):
            if not isinstance(obj, Shared):
                continue
            events = trace_records(obj).events()
            races = analyze(events)
            found = races.lost if lost else races.unguarded
            if not found:
                continue
            pids = {event.pid for event in events}
            run = StressRun(None, len(pids), 1, settings.seed, "instrument()")
            worst = Counter(race.location for race in found)
            location, count = worst.most_common(1)[0]
            witness = next(race for race in found if race.location == location)
            amount, counted = worst_loss([(shortfall(events, location), count)])
            raise Found(
                RaceFinding(
                    run,
                    lost,
                    describe_shared(f"object #{number + 1} created in the block", obj),
                    location_name(obj, location),
                    witness,
                    1,
                    1,
                    amount,
                    counted,
                    ((repr(snapshot(obj)), 1),),
                )
            )
