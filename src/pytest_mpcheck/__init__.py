"""pytest-mpcheck: test parallel Python code for correctness.

Everything here works without the ``mpcheck`` fixture (plain scripts,
Hypothesis tests); inside a pytest run the module-level functions use the
running test's settings.
"""

from __future__ import annotations

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
from ._engine import VIAS
from ._errors import (
    CheckTimeoutError,
    ExceptionMismatchError,
    ExpectationError,
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

__all__ = [
    "VIAS",
    "Array",
    "CheckTimeoutError",
    "ExceptionMismatchError",
    "ExpectationError",
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
