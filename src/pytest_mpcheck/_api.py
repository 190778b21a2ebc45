"""The public functions, bound to settings.

``MpCheck`` is what the ``mpcheck`` fixture returns; the module-level
functions of ``pytest_mpcheck`` use the *active* settings: those of the test
running now when the plugin is active (marker > CLI > ini > default), the
defaults otherwise (a plain script, a notebook).  So the fixture and the
module-level functions behave the same inside Hypothesis ``@given`` tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._checks.equivalence import check_map_equal
from ._engine import engine
from ._settings import Settings, default_settings, parse_processes, parse_start_methods

__all__ = ["MpCheck", "active_settings", "assert_map_equal", "close_pools", "using"]

_active: list[Settings] = []
_fallback: list[Settings] = []


def active_settings() -> Settings:
    """Settings of the test running now, or the defaults outside pytest."""
    if _active:
        return _active[-1]
    if not _fallback:
        _fallback.append(default_settings())
    return _fallback[0]


@contextlib.contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` the active ones for the duration of the block."""
    _active.append(settings)
    try:
        yield settings
    finally:
        _active.pop()


def close_pools() -> None:
    """Shut down the warm worker pools now (the plugin does this after each test)."""
    engine().close()


class MpCheck:
    """The checks, bound to settings (the fixture's are the current test's)."""

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
    ) -> None:
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
        """
        __tracebackhide__ = True
        settings = self.settings
        if start_methods is not None:
            settings = Settings(
                start_methods=parse_start_methods(start_methods),
                processes=settings.processes,
                seed=settings.seed,
                timeout=settings.timeout,
            )
        check_map_equal(
            func,
            iterable,
            via=via,
            processes=settings.processes if processes is None else parse_processes(processes),
            chunksize=chunksize,
            settings=settings,
            engine=engine(),
        )


_default = MpCheck()


def assert_map_equal(
    func: Callable[..., Any],
    iterable: Iterable[Any],
    *,
    via: str = "map",
    processes: int | None = None,
    chunksize: int | None = None,
    start_methods: str | Iterable[str] | None = None,
) -> None:
    """Module-level ``MpCheck.assert_map_equal`` with the active settings."""
    __tracebackhide__ = True
    _default.assert_map_equal(
        func,
        iterable,
        via=via,
        processes=processes,
        chunksize=chunksize,
        start_methods=start_methods,
    )


assert_map_equal.__doc__ = MpCheck.assert_map_equal.__doc__
