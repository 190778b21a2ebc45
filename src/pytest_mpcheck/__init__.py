"""pytest-mpcheck: test parallel Python code for correctness.

Everything here works without the ``mpcheck`` fixture (plain scripts,
Hypothesis tests); inside a pytest run the module-level functions use the
running test's settings.
"""

from __future__ import annotations

from ._api import MpCheck, active_settings, assert_map_equal, close_pools
from ._engine import VIAS
from ._errors import (
    CheckTimeoutError,
    ExceptionMismatchError,
    MpCheckError,
    NondeterministicError,
    ResultMismatchError,
    UnpicklableError,
    WorkerCrashError,
)
from ._settings import Settings, available_start_methods

__version__ = "0.1.0"

__all__ = [
    "VIAS",
    "CheckTimeoutError",
    "ExceptionMismatchError",
    "MpCheck",
    "MpCheckError",
    "NondeterministicError",
    "ResultMismatchError",
    "Settings",
    "UnpicklableError",
    "WorkerCrashError",
    "__version__",
    "active_settings",
    "assert_map_equal",
    "available_start_methods",
    "close_pools",
]
