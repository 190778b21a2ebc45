"""``instrument()``: make unchanged code create instrumented shared objects.

Inside the block, ``multiprocessing.Value``/``Array``/``Lock``/``RLock`` and
the same methods of every context produce the instrumented drop-ins, so code
that builds its own shared state and processes is traced as it runs.  On a
clean exit the traces are analyzed and the first finding is raised.  Code
that bound the originals before the block (``from multiprocessing import
Value`` at import time) keeps them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
from collections import Counter
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
    trace_records,
)
from pytest_mpcheck._model import Found, RaceFinding, StressRun
from pytest_mpcheck._settings import Settings
from pytest_mpcheck._trace.policy import Noise, Tracing, configured

__all__ = ["Instrumented"]


class Instrumented:
    """The ``instrument()`` block: patches on enter, restores and analyzes on exit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.created: list[Shared] = []
        self._saved: list[tuple[Any, str, Any]] = []
        self._tracing: contextlib.AbstractContextManager[Tracing] | None = None

    def _value(self, *args: Any, lock: object = True, **_ctx: Any) -> Value:
        value = Value(*args, lock=lock)
        self.created.append(value)
        return value

    def _array(
        self, typecode_or_type: Any, size: Any, *, lock: object = True, **_ctx: Any
    ) -> Array:
        array = Array(typecode_or_type, size, lock=lock)
        self.created.append(array)
        return array

    def __enter__(self) -> list[Shared]:
        factories: dict[str, Any] = {
            "Value": self._value,
            "Array": self._array,
            "Lock": lambda **_ctx: Lock(),
            "RLock": lambda **_ctx: RLock(),
        }
        context = multiprocessing.context.BaseContext
        for owner in (multiprocessing, context):
            self._saved += [(owner, name, getattr(owner, name)) for name in factories]
        for name, factory in factories.items():
            setattr(multiprocessing, name, factory)
            setattr(context, name, _as_method(factory))
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
        if exc_type is None:
            _raise_races(self.created, self._settings)


def _as_method(factory: Any) -> Any:
    return lambda _context, *args, **kwargs: factory(*args, **kwargs)


def _raise_races(created: list[Shared], settings: Settings) -> None:
    __tracebackhide__ = True
    for lost in (True, False):
        for number, obj in enumerate(created):
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
