"""Plain records of what a check observed, handed to the report layer to put in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_mpcheck._checks.pickling import PickleProblem

#: The start-method slot of a ``StressRun`` made for an ``instrument()`` block.
INSTRUMENT = "instrument()"

__all__ = [
    "INSTRUMENT",
    "Finding",
    "Incomparable",
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
class Incomparable:
    """A result with no value equality (``what``): no two runs can agree on it."""

    run: Run
    index: int
    item: Any
    value: Any
    what: str


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
    """The run overran; each live worker's stacks with the item it was running."""

    run: Run
    timeout: float
    done: int
    total: int
    workers: tuple[tuple[int, int | None, Any, str], ...]
    parent: str


@dataclass(frozen=True)
class RunBroken:
    """A worker died; ``index``/``item`` are what it was running, if known."""

    run: Run
    detail: str
    index: int | None
    item: Any


Finding = (
    Mismatch
    | MultisetMismatch
    | Nondeterminism
    | Incomparable
    | Unpicklable
    | Unloadable
    | RunTimeout
    | RunBroken
)


@dataclass(frozen=True)
class StressRun:
    """How one stress check ran under one start method: enough to rerun it."""

    method: str
    processes: int
    rounds: int
    seed: int
    target: str

    @property
    def in_block(self) -> bool:
        """True for findings of an ``instrument()`` block rather than of ``stress``."""
        return self.method == INSTRUMENT


@dataclass(frozen=True)
class RaceFinding:
    """Lost or unguarded updates on one shared location, with a witness and the rounds.

    ``worst_lost`` is, with ``counted``, how far the worst round's final value fell short
    of what its updates add up to; without, its number of writes based on a stale read.
    """

    run: StressRun
    lost: bool
    subject: str
    location: str
    witness: Any
    rounds_run: int
    racy_rounds: int
    worst_lost: float
    counted: bool
    histogram: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ExpectFailure:
    """``expect()`` was falsy or raised ``AssertionError`` after a round."""

    run: StressRun
    round_number: int
    message: str
    failed_rounds: int
    rounds_run: int
    histogram: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class TargetRaised:
    """The stress target raised in a child process."""

    run: StressRun
    round_number: int
    label: int
    error: str
    trace: str


@dataclass(frozen=True)
class StressTimeout:
    """A round overran; the late processes' labels and their stacks."""

    run: StressRun
    round_number: int
    waiting: tuple[int, ...]
    timeout: float
    stacks: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class MemberDied:
    run: StressRun
    round_number: int
    label: int
    exit: str


StressFinding = RaceFinding | ExpectFailure | TargetRaised | StressTimeout | MemberDied
