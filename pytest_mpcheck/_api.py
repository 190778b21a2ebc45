"""The public functions, bound to settings.

``MpCheck`` is what the ``mpcheck`` fixture returns; the module-level
functions of ``pytest_mpcheck`` use the *active* settings: those of the test
running now when the plugin is active (marker > CLI > ini > default), the
defaults otherwise (a plain script, a notebook).  So the fixture and the
module-level functions behave the same inside Hypothesis ``@given`` tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._checks.equivalence import check_map_equal
from ._checks.instrument import Instrumented
from ._checks.shared import Array, Lock, RLock, Shared, Value
from ._checks.stress import StressReport, check_stress, plan_stress
from ._engine.pools import engine
from ._errors import MpCheckError, MpCheckWarning
from ._model import Found
from ._report.advice import SCRIPT, Advice
from ._report.messages import error_for, no_shared_object_message
from ._report.summary import make_record
from ._settings import (
    Settings,
    default_settings,
    parse_processes,
    parse_replay,
    parse_rounds,
    parse_schedule,
    parse_start_methods,
)
from ._trace.policy import Tracing, configured

__all__ = [
    "MpCheck",
    "TestRecord",
    "active_settings",
    "assert_map_equal",
    "close_pools",
    "instrument",
    "stress",
    "using",
]


@dataclass
class TestRecord:
    """What the checks of one test did: coverage notes and one record per check."""

    notes: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    on_first_check: Callable[[], None] | None = None
    started: int = 0


_active: list[tuple[Settings, TestRecord, Advice]] = []
_fallback: list[Settings] = []


def active_settings() -> Settings:
    """Settings of the test running now, or the defaults outside pytest."""
    if _active:
        return _active[-1][0]
    if not _fallback:
        _fallback.append(default_settings())
    return _fallback[0]


@contextlib.contextmanager
def using(
    settings: Settings, record: TestRecord | None = None, advice: Advice = SCRIPT
) -> Iterator[TestRecord]:
    """Make ``settings`` the active ones for the block; yields what the checks record.

    ``advice`` words how a failure's message tells the user to rerun: the pytest
    plugin passes its command-line flags; a script gets keyword arguments.
    """
    record = record or TestRecord()
    _active.append((settings, record, advice))
    try:
        # Objects made in the block carry its seed to the processes nobody configures.
        with configured(Tracing(seed=settings.seed)):
            yield record
    finally:
        _active.pop()


def _error(found: Found) -> MpCheckError:
    """The finding a check found, as the error the user sees, with advice for where it ran."""
    advice = _active[-1][2] if _active else SCRIPT
    return error_for(found.finding, found.verdicts, advice)


def _note(text: str) -> None:
    if _active:
        _active[-1][1].notes.append(text)


@contextlib.contextmanager
def _checking(
    kind: str, settings: Settings, processes: int, **facts: Any
) -> Iterator[dict[str, Any]]:
    """Time one check and record how it ended; the first of a test lets the plugin
    take its leak snapshot.  The block may add facts (items, rounds) to the dict."""
    record = _active[-1][1] if _active else None
    if record is not None:
        if record.started == 0 and record.on_first_check is not None:
            record.on_first_check()
        record.started += 1
    start = time.perf_counter()
    outcome, finding = "passed", None
    try:
        yield facts
    except MpCheckError as exc:
        outcome, finding = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        raise
    except BaseException as exc:
        outcome, finding = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if record is not None:
            record.checks.append(
                make_record(
                    kind,
                    settings.start_methods,
                    processes,
                    time.perf_counter() - start,
                    outcome,
                    finding,
                    **facts,
                )
            )


def close_pools() -> None:
    """Shut down the warm worker pools now (the plugin does this after each test)."""
    engine().close()


class MpCheck:
    """The checks, bound to settings (the fixture's are the current test's)."""

    Value = Value
    Array = Array
    Lock = Lock
    RLock = RLock

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def __repr__(self) -> str:
        return f"<MpCheck {self.settings.describe()}>"

    @property
    def settings(self) -> Settings:
        """The effective settings: bound ones, else the active test's."""
        return self._settings if self._settings is not None else active_settings()

    def assert_map_equal(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        *,
        via: str = "map",
        processes: int | None = None,
        chunksize: int | None = None,
        start_methods: str | Iterable[str] | None = None,
    ) -> list[Any]:
        """Assert that mapping ``func`` in parallel returns what ``list(map(func, items))`` does.

        Runs ``func`` over the items through the parallel API named by ``via``
        (``map``, ``imap``, ``imap_unordered`` — compared as a multiset,
        ``starmap`` — items are argument tuples, ``map_async``, ``executor`` —
        ``ProcessPoolExecutor.map``) under every selected start method, then
        sequentially in this process, and raises an ``MpCheckError`` subclass
        naming the first difference: start method, via, processes, chunksize,
        index, input, both values.  Also reported: exceptions that differ,
        anything that cannot be pickled on the way (with the culprit and what
        to do), a function whose two sequential runs differ (nondeterministic),
        a run that exceeds the timeout or loses a worker.

        ``processes`` and ``start_methods`` default to the active settings;
        ``chunksize=None`` lets the pool choose, as it would for you.
        Raises ``ValueError``/``TypeError`` on misuse, listing what is accepted.

        Returns the parallel results (of the first start method, in the order
        ``via`` gave them), so the test can go on asserting on them.
        """
        __tracebackhide__ = True
        settings = self._resolved(start_methods)
        workers = settings.processes if processes is None else parse_processes(processes)
        with _checking("map_equal", settings, workers, via=via) as facts:
            if isinstance(iterable, Iterable):
                iterable = list(iterable)
                facts["items"] = len(iterable)
            try:
                return check_map_equal(
                    func,
                    iterable,
                    via=via,
                    processes=workers,
                    chunksize=chunksize,
                    settings=settings,
                    engine=engine(),
                )
            except Found as found:
                raise _error(found) from None

    def stress(
        self,
        target: Callable[..., Any],
        *args: Any,
        processes: int | None = None,
        rounds: int | None = None,
        expect: Callable[[], Any] | None = None,
        start_methods: str | Iterable[str] | None = None,
        schedule: str | None = None,
        replay: str | None = None,
    ) -> StressReport:
        """Run ``target(*args)`` in real processes, round after round, and check shared state.

        Per start method, ``processes`` processes (reused across rounds) are
        released together by a barrier each round.  Before each round the
        instrumented ``Value``/``Array`` objects that ``args`` hold are reset to
        their initial values: they are found in lists, tuples, dicts, sets and
        deques, and in the attributes, dataclass fields and ``__slots__`` of
        objects, up to 4 steps below each argument (an ``MpCheckWarning`` says
        when there is none).  After each round, ``expect()`` (if given) must be
        truthy or raise ``AssertionError``, and the access trace is analyzed.
        Raises an ``MpCheckError`` subclass for a lost update (a write based on a
        stale read), an unguarded read-modify-write of a location several
        processes write, a deadlock on ``mpcheck`` locks (processes waiting for
        locks held by each other, reported as soon as it forms, or locks taken
        in opposite orders, reported even when it did not happen), a failed
        ``expect``, the target raising in a child, a hang or a dead process.
        Returns what a passing run covered.

        With ``schedule="controlled"`` (the default) the processes run one at a
        time between accesses to mpcheck's objects, in orders chosen from the
        seed, and a failure prints a replay token; ``replay=`` runs that one
        schedule again (``ValueError`` if it does not fit this call).
        ``schedule="free"`` lets the operating system run them, with seeded noise.
        """
        __tracebackhide__ = True
        settings = self._resolved(start_methods)
        if schedule is not None:
            settings = dataclasses.replace(settings, schedule=parse_schedule(schedule))
        if replay is not None:
            settings = dataclasses.replace(settings, replay=parse_replay(replay))
        workers = settings.processes if processes is None else parse_processes(processes)
        count = settings.rounds if rounds is None else parse_rounds(rounds)
        mode = "controlled" if settings.replay else settings.schedule
        with _checking("stress", settings, workers, rounds=count, schedule=mode):
            plan = plan_stress(target, args, expect)
            blind = plan.nothing_shared()
            if blind is not None:
                # Before the run, so that it shows whatever the run finds; at the caller's line.
                warnings.warn(no_shared_object_message(blind), MpCheckWarning, stacklevel=2)
            try:
                report = check_stress(plan, processes=workers, rounds=count, settings=settings)
            except Found as found:
                raise _error(found) from None
        _note(report.summary())
        return report

    def instrument(self) -> Instrumented:
        """Inside the block, ``multiprocessing.Value/Array/Lock/RLock`` are instrumented.

        Unchanged code that creates its own shared state, processes and pools
        is traced and supervised; leaving the block raises the first finding: a
        dead pool worker, a pool call whose results differ from a sequential
        run, else the first lost or unguarded update.  A hang past the timeout
        is a ``CheckTimeoutError``.  ``multiprocessing``'s own primitives
        (queues, events, pools) are left as they are.  Yields the list of
        objects created in the block (values, arrays, locks).
        """
        return _RecordedBlock(self.settings)

    def _resolved(self, start_methods: str | Iterable[str] | None) -> Settings:
        settings = self.settings
        if start_methods is None:
            return settings
        return dataclasses.replace(settings, start_methods=parse_start_methods(start_methods))


class _RecordedBlock(Instrumented):
    """``instrument()`` recorded like the other checks, from enter to exit."""

    def __enter__(self) -> list[Shared | Lock]:
        self._check = _checking("instrument", self._settings, 0)
        self._check.__enter__()
        return super().__enter__()

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        __tracebackhide__ = True
        try:
            try:
                super().__exit__(exc_type, *exc_info)
            except Found as found:
                raise _error(found) from None
        except BaseException as raised:
            self._check.__exit__(type(raised), raised, raised.__traceback__)
            raise
        if isinstance(exc_info[0], BaseException):
            self._check.__exit__(type(exc_info[0]), exc_info[0], exc_info[0].__traceback__)
        else:
            self._check.__exit__(None, None, None)


# The module-level functions are the methods of one instance bound to the active
# settings: each operation is defined once, on MpCheck.
_default = MpCheck()
assert_map_equal = _default.assert_map_equal
stress = _default.stress
instrument = _default.instrument
