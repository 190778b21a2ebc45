"""pytest-mpcheck: test parallel Python code for correctness.

Everything here works without the ``mpcheck`` fixture (plain scripts,
Hypothesis tests); inside a pytest run the module-level functions use the
running test's settings.

The names are loaded on first use, so that pytest importing the plugin
(``pytest_mpcheck.plugin``, which lives in this package) stays cheap for
every run that never calls a check, and a stress process that unpickles a
shared object imports that object's module, not the whole package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for type checkers; _LAZY below loads them at run time
    from ._api import (
        MpCheck as MpCheck,
        active_settings as active_settings,
        assert_map_equal as assert_map_equal,
        close_pools as close_pools,
        instrument as instrument,
        stress as stress,
    )
    from ._checks.shared import (
        Array as Array,
        Lock as Lock,
        RLock as RLock,
        Value as Value,
    )
    from ._checks.stress import (
        StressReport as StressReport,
    )
    from ._engine.pools import (
        VIAS as VIAS,
    )
    from ._errors import (
        CheckTimeoutError as CheckTimeoutError,
        DeadlockError as DeadlockError,
        ExceptionMismatchError as ExceptionMismatchError,
        ExpectationError as ExpectationError,
        IncomparableError as IncomparableError,
        LeakError as LeakError,
        LostUpdateError as LostUpdateError,
        MpCheckError as MpCheckError,
        MpCheckWarning as MpCheckWarning,
        NondeterministicError as NondeterministicError,
        RaceError as RaceError,
        ResultMismatchError as ResultMismatchError,
        TargetError as TargetError,
        UnguardedUpdateError as UnguardedUpdateError,
        UnpicklableError as UnpicklableError,
        WorkerCrashError as WorkerCrashError,
    )
    from ._settings import (
        Settings as Settings,
        available_start_methods as available_start_methods,
    )

__version__ = "0.1.0"

#: Each public name and the module it is loaded from on first use: the export table.
_LAZY = {
    "CheckTimeoutError": "._errors",
    "DeadlockError": "._errors",
    "ExceptionMismatchError": "._errors",
    "ExpectationError": "._errors",
    "IncomparableError": "._errors",
    "LeakError": "._errors",
    "LostUpdateError": "._errors",
    "MpCheckError": "._errors",
    "MpCheckWarning": "._errors",
    "NondeterministicError": "._errors",
    "RaceError": "._errors",
    "ResultMismatchError": "._errors",
    "TargetError": "._errors",
    "UnguardedUpdateError": "._errors",
    "UnpicklableError": "._errors",
    "WorkerCrashError": "._errors",
    "Settings": "._settings",
    "available_start_methods": "._settings",
    "MpCheck": "._api",
    "active_settings": "._api",
    "assert_map_equal": "._api",
    "close_pools": "._api",
    "instrument": "._api",
    "stress": "._api",
    "Array": "._checks.shared",
    "Lock": "._checks.shared",
    "RLock": "._checks.shared",
    "Value": "._checks.shared",
    "StressReport": "._checks.stress",
    "VIAS": "._engine.pools",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_mpcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
