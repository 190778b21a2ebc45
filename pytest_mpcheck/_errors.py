"""Exception hierarchy: every finding is an ``MpCheckError``.

``MpCheckError`` subclasses ``AssertionError`` so pytest reports a finding as a
test failure (not an error), and so ``pytest.raises(AssertionError)`` and
Hypothesis' shrinking treat it like any failed assertion.  A check that can
run but sees less than it could says so with an ``MpCheckWarning``.
"""

from __future__ import annotations

__all__ = [
    "CheckTimeoutError",
    "DeadlockError",
    "ExceptionMismatchError",
    "ExpectationError",
    "IncomparableError",
    "LeakError",
    "LostUpdateError",
    "MpCheckError",
    "MpCheckWarning",
    "NondeterministicError",
    "RaceError",
    "ResultMismatchError",
    "TargetError",
    "UnguardedUpdateError",
    "UnpicklableError",
    "WorkerCrashError",
]


class MpCheckError(AssertionError):
    """Base class of every finding pytest-mpcheck reports."""

    # Shown as ``pytest_mpcheck.X`` in tracebacks: the public name, not the private module.
    __module__ = "pytest_mpcheck"


class ResultMismatchError(MpCheckError):
    """The parallel run returned a value that differs from the sequential one."""

    __module__ = "pytest_mpcheck"


class ExceptionMismatchError(MpCheckError):
    """The runs disagree on whether, where or what an item raised."""

    __module__ = "pytest_mpcheck"


class IncomparableError(MpCheckError):
    """A result has no value equality (an iterator, a future, a class without ``__eq__``)."""

    __module__ = "pytest_mpcheck"


class UnpicklableError(MpCheckError):
    """A function, argument, result or exception cannot travel between processes."""

    __module__ = "pytest_mpcheck"


class NondeterministicError(MpCheckError):
    """Two sequential runs disagree, so parallel results cannot be judged."""

    __module__ = "pytest_mpcheck"


class CheckTimeoutError(MpCheckError):
    """A check did not finish within its timeout."""

    __module__ = "pytest_mpcheck"


class WorkerCrashError(MpCheckError):
    """A worker process died while running the check."""

    __module__ = "pytest_mpcheck"


class RaceError(MpCheckError):
    """Processes raced on shared state: base of the lost/unguarded update findings."""

    __module__ = "pytest_mpcheck"


class LostUpdateError(RaceError):
    """A write was based on a stale read and overwrote another process's write."""

    __module__ = "pytest_mpcheck"


class UnguardedUpdateError(RaceError):
    """A read-modify-write of state other processes write, with no lock held across it."""

    __module__ = "pytest_mpcheck"


class DeadlockError(MpCheckError):
    """Processes wait, or could wait, for locks held by each other: a deadlock."""

    __module__ = "pytest_mpcheck"


class ExpectationError(MpCheckError):
    """``expect()`` failed after a stress round."""

    __module__ = "pytest_mpcheck"


class TargetError(MpCheckError):
    """The stress target raised in a child process."""

    __module__ = "pytest_mpcheck"


class LeakError(MpCheckError):
    """A test left processes, semaphores or shared memory behind."""

    __module__ = "pytest_mpcheck"


class MpCheckWarning(UserWarning):
    """A check ran but could see less than it should: its message says why and what to do.

    ``stress`` warns when its arguments hold no ``mpcheck.Value`` or ``Array``: nothing
    is reset between rounds, and lost updates cannot be seen.
    """

    __module__ = "pytest_mpcheck"
