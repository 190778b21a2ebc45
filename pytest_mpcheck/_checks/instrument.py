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
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import multiprocessing.context
import sys
from collections import Counter
from collections.abc import Callable
from multiprocessing import synchronize
from typing import Any

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
from pytest_mpcheck._model import Found, RaceFinding, StressRun
from pytest_mpcheck._settings import Settings
from pytest_mpcheck._trace.policy import Noise, Tracing, configured

__all__ = ["Instrumented"]

#: Modules whose primitives are their own machinery, not the code under test's state.
_MACHINERY = ("multiprocessing.", "concurrent.futures.")


def _made_by_machinery() -> bool:
    """Whether the factory's caller (two frames up: the factory, then its caller) is one
    of ``_MACHINERY``; the factories are installed so that no frame sits in between."""
    name = sys._getframe(2).f_globals.get("__name__", "")
    return f"{name}.".startswith(_MACHINERY)


class Instrumented:
    """The ``instrument()`` block: patches on enter, restores and analyzes on exit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.created: list[Shared | Lock] = []
        self._saved: list[tuple[Any, str, Any]] = []
        self._tracing: contextlib.AbstractContextManager[Tracing] | None = None

    def _factory(self, name: str) -> Callable[..., Any]:
        """The context method ``name`` for the block: the original for ``_MACHINERY``."""
        original = getattr(multiprocessing.context.BaseContext, name)

        def factory(context: Any, *args: Any, **kwargs: Any) -> Any:
            if _made_by_machinery():
                return original(context, *args, **kwargs)
            made = _MAKERS[name](context.get_context(), *args, **kwargs)
            self.created.append(made)
            return made

        return factory

    def __enter__(self) -> list[Shared | Lock]:
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
        return self.created

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        __tracebackhide__ = True
        for owner, name, original in self._saved:
            setattr(owner, name, original)
        self._saved.clear()
        if self._tracing is not None:
            self._tracing.__exit__(None, None, None)
            self._tracing = None
        shared = [obj for obj in self.created if isinstance(obj, Shared)]
        for obj in shared:
            stop_tracing(obj)
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
