"""Plain records of what a check observed, handed to the report layer to put in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_mpcheck._checks.pickling import PickleProblem

__all__ = [
    "Finding",
    "Mismatch",
    "MultisetMismatch",
    "Nondeterminism",
    "Raised",
    "Result",
    "Returned",
    "Run",
    "RunBroken",
    "RunTimeout",
    "Unloadable",
    "Unpicklable",
]


@dataclass(frozen=True)
class Run:
    """How one parallel run was made: enough to rerun it by hand."""

    method: str
    via: str
    processes: int
    chunksize: int | None
    func: str
    seed: int


@dataclass(frozen=True)
class Returned:
    value: Any


@dataclass(frozen=True)
class Raised:
    exc: BaseException
    trace: str


Result = Returned | Raised


@dataclass(frozen=True)
class Mismatch:
    """An item whose parallel result (value or exception) differs from the sequential one."""

    run: Run
    index: int
    total: int
    item: Any
    sequential: Result
    parallel: Result


@dataclass(frozen=True)
class MultisetMismatch:
    """Unordered results that are not the same multiset: (index, input, value) triples."""

    run: Run
    total: int
    missing: tuple[tuple[int, Any, Any], ...]
    extra: tuple[tuple[int, Any, Any], ...]


@dataclass(frozen=True)
class Nondeterminism:
    """Two sequential runs in the test process disagree at ``index``."""

    func: str
    index: int
    item: Any
    first: Result | None
    second: Result | None


@dataclass(frozen=True)
class Unpicklable:
    """Something could not be pickled, or rebuilt, on its way to or from a worker.

    ``kind`` is ``function``, ``argument``, ``value`` (a result) or ``raised``
    (an exception); ``run`` is None when the problem showed before any worker ran.
    """

    kind: str
    problem: PickleProblem
    run: Run | None
    index: int | None
    item: Any
    trace: str


@dataclass(frozen=True)
class Unloadable:
    """A worker could not unpickle the function or an argument it was sent."""

    run: Run
    where: str
    error: str
    module: str


@dataclass(frozen=True)
class RunTimeout:
    run: Run
    timeout: float
    done: int
    total: int


@dataclass(frozen=True)
class RunBroken:
    run: Run
    detail: str


Finding = (
    Mismatch | MultisetMismatch | Nondeterminism | Unpicklable | Unloadable | RunTimeout | RunBroken
)
