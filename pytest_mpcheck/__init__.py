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

if TYPE_CHECKING:
    from ._api import (
        MpCheck,
        active_settings,
        assert_map_equal,
        close_pools,
        instrument,
        stress,
    )
    from ._checks.shared import Array, Lock, RLock, Value
    from ._checks.stress import StressReport
    from ._engine.pools import VIAS
    from ._errors import (
        CheckTimeoutError,
        ExceptionMismatchError,
        ExpectationError,
        IncomparableError,
        LeakError,
        LostUpdateError,
        MpCheckError,
        NondeterministicError,
        RaceError,
        ResultMismatchError,
        TargetError,
        UnguardedUpdateError,
        UnpicklableError,
        WorkerCrashError,
    )
    from ._settings import Settings, available_start_methods

__version__ = "0.1.0"

_LAZY = {
    "CheckTimeoutError": "._errors",
    "ExceptionMismatchError": "._errors",
    "ExpectationError": "._errors",
    "IncomparableError": "._errors",
    "LeakError": "._errors",
    "LostUpdateError": "._errors",
    "MpCheckError": "._errors",
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

__all__ = [
    "VIAS",
    "Array",
    "CheckTimeoutError",
    "ExceptionMismatchError",
    "ExpectationError",
    "IncomparableError",
    "LeakError",
    "Lock",
    "LostUpdateError",
    "MpCheck",
    "MpCheckError",
    "NondeterministicError",
    "RLock",
    "RaceError",
    "ResultMismatchError",
    "Settings",
    "StressReport",
    "TargetError",
    "UnguardedUpdateError",
    "UnpicklableError",
    "Value",
    "WorkerCrashError",
    "__version__",
    "active_settings",
    "assert_map_equal",
    "available_start_methods",
    "close_pools",
    "instrument",
    "stress",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_mpcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
