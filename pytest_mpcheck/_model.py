"""Plain records every layer shares: findings, trace events, leaks, pickle problems.

A leaf: imports nothing of the package.  Checks produce these records, the
report layer puts them in words, and only the API boundary turns a finding
into an ``MpCheckError``: a check signals one by raising ``Found``.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

__all__ = [
    "READ",
    "WRITE",
    "BlockTimeout",
    "Deadlock",
    "DeadlockStep",
    "Event",
    "ExpectFailure",
    "Finding",
    "Found",
    "Incomparable",
    "Leak",
    "LeakKind",
    "LostUpdate",
    "MemberDied",
    "Mismatch",
    "MultisetMismatch",
    "Nondeterminism",
    "NothingShared",
    "PickleProblem",
    "Placement",
    "RaceFinding",
    "Raised",
    "ReplayToken",
    "Result",
    "Returned",
    "Run",
    "RunBroken",
    "RunTimeout",
    "ScheduleMode",
    "StressFinding",
    "StressRun",
    "StressTimeout",
    "TargetRaised",
    "TravelKind",
    "UnguardedUpdate",
    "Unloadable",
    "Unpicklable",
]

#: What could not travel: the function, an input, a result (``value``), an exception
#: (``raised``), a stress target or the stress arguments.
TravelKind = Literal["function", "argument", "value", "raised", "target", "arguments"]
LeakKind = Literal["process", "shared_memory"]
#: How stress orders its processes: one at a time at each access point, or freely.
ScheduleMode = Literal["controlled", "free"]

READ = 1
WRITE = 2


class Event(NamedTuple):
    """One access to a shared object: ``step`` is its position in the object's access order."""

    step: int
    proc: int
    pid: int
    op: int
    lo: int
    hi: int
    value: Any
    file: str
    line: int
    held: tuple[tuple[int, int], ...]
    foreign: bool


@dataclass(frozen=True)
class PickleProblem:
    """What cannot be pickled, where it sits, why, and what to do about it."""

    where: str
    what: str
    reason: str
    advice: str
    error: str

    def as_tuple(self) -> tuple[str, str, str, str, str]:
        """Plain strings, so a worker can send a problem home without risk."""
        return (self.where, self.what, self.reason, self.advice, self.error)


@dataclass(frozen=True)
class Leak:
    """One thing left behind: a process (pid) or a shared memory block."""

    kind: LeakKind
    name: str
    detail: str
    pid: int = 0


@dataclass(frozen=True)
class LostUpdate:
    """``write`` was based on ``read`` and overwrote ``overwritten`` (another process's)."""

    location: int
    read: Event
    overwritten: Event
    write: Event
    window: tuple[Event, ...]


@dataclass(frozen=True)
class UnguardedUpdate:
    """A read-modify-write with no known lock held across it, on a shared location."""

    location: int
    read: Event
    write: Event
    window: tuple[Event, ...]


@dataclass(frozen=True)
class Placement:
    """Which items each worker ran, in what order, in one placement the oracle tried.

    ``workers[w]`` is worker w+1's runs of consecutive items, (first, last), in
    the order it ran them (together: every item, or the leading ones); ``kind`` is
    why it was tried ("busy": chunks dealt to the workers in turn, "random": seeded
    random, "one": one worker ran every chunk); it was the ``number``-th of the
    ``count`` tried under the run's start method.
    """

    kind: str
    number: int
    count: int
    workers: tuple[tuple[tuple[int, int], ...], ...]


@dataclass(frozen=True)
class Run:
    """How one parallel run was made: enough to rerun it by hand.  ``site`` is where the
    code under test made it, for a pool call seen inside ``instrument()``; ``placement``,
    which worker ran which items, where the oracle chose it."""

    method: str
    via: str
    processes: int
    chunksize: int | None
    func: str
    seed: int
    site: str = ""
    placement: Placement | None = None


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

    ``run`` is None when the problem showed before any worker ran; ``named`` is
    how a function or stress target is shown; ``method`` is the start method
    stress processes could not be started under.
    """

    kind: TravelKind
    problem: PickleProblem
    run: Run | None
    index: int | None
    item: Any
    trace: str
    named: str = ""
    method: str | None = None


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
class ReplayToken:
    """One controlled schedule of one stress check, in a form a user can paste back.

    The schedule is the round's plan: ``overrides``, the (step, process) choices
    that differ from the default one, and for a randomized schedule the
    processes' ``priorities`` and the steps where they ``change``, and the
    processes ``left_out`` of it.  ``steps`` and ``digest`` say what the recorded
    run did, so that a replay that takes another path (the code changed) is told
    apart from one that reproduces it.
    """

    method: str
    processes: int
    target: str
    steps: int
    digest: int
    overrides: tuple[tuple[int, int], ...]
    priorities: tuple[int, ...] = ()
    changes: tuple[int, ...] = ()
    left_out: tuple[int, ...] = ()

    _VERSION = "1"

    def encode(self) -> str:
        fields = [
            self.method,
            self.processes,
            self.target,
            self.steps,
            self.digest,
            [list(pair) for pair in self.overrides],
            list(self.priorities),
            list(self.changes),
            list(self.left_out),
        ]
        packed = zlib.compress(json.dumps(fields, separators=(",", ":")).encode(), 9)
        return self._VERSION + base64.urlsafe_b64encode(packed).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ReplayToken:
        """The token ``text`` stands for; ``ValueError`` saying why if it is none."""
        if not isinstance(text, str):
            raise TypeError(f"a replay token is a string, not {type(text).__name__}")
        body = text.strip()
        if not body.startswith(cls._VERSION):
            raise ValueError(f"{text!r} is not a replay token of this version of pytest-mpcheck")
        try:
            packed = body[len(cls._VERSION) :]
            data = zlib.decompress(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
            (method, processes, target, steps, digest, overrides, priorities, changes, left_out) = (
                json.loads(data)
            )
            token = cls(
                str(method),
                int(processes),
                str(target),
                int(steps),
                int(digest),
                tuple((int(step), int(label)) for step, label in overrides),
                tuple(int(priority) for priority in priorities),
                tuple(int(step) for step in changes),
                tuple(int(label) for label in left_out),
            )
        except (binascii.Error, zlib.error, ValueError, TypeError) as exc:
            raise ValueError(
                f"{text!r} is not a replay token (it does not decode: {exc}); copy it whole "
                "from the failure message's replay line"
            ) from None
        return token


@dataclass(frozen=True)
class StressRun:
    """How one stress check ran under one start method: enough to rerun it.

    ``method`` is None for an ``instrument()`` block, whose processes the code
    under test started itself.  A controlled run that failed carries the token
    that replays its (shrunk) schedule, and says what it could not control.
    """

    method: str | None
    processes: int
    rounds: int
    seed: int
    target: str
    schedule: ScheduleMode = "free"
    replay: str | None = None
    #: Why the failing round was not fully controlled ("" when it was).
    uncontrolled: str = ""
    #: The processes that ran alone in the failing schedule, each from its start to
    #: its end: the failure comes from how the others interleaved.
    alone: tuple[int, ...] = ()
    #: The processes the failing schedule leaves out: the others fail without them.
    left_out: tuple[int, ...] = ()

    @property
    def in_block(self) -> bool:
        """True for findings of an ``instrument()`` block rather than of ``stress``."""
        return self.method is None


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
    witness: LostUpdate | UnguardedUpdate
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


@dataclass(frozen=True)
class DeadlockStep:
    """One process's part in a deadlock cycle: process ``process`` holds lock ``held``,
    taken at ``held_at``, and waits for lock ``wanted`` at ``wanted_at`` (in a potential
    deadlock: took ``wanted`` there while holding ``held``).  The next step's process
    holds ``wanted``; the last step's wants the first step's ``held``.  Locks are named
    by their path in the arguments (``args[1]``, ``args[0].get_lock()``), sites are
    ``file:line`` in the code under test."""

    process: int
    held: str
    held_at: str
    wanted: str
    wanted_at: str


@dataclass(frozen=True)
class Deadlock:
    """Processes waiting for known locks that each other hold.

    ``actual``: it happened, in round ``round_number``, and was ended there.  Otherwise
    a *potential* deadlock: a cycle in the order the locks were taken (with no common
    lock held at every step, which would keep the steps apart), complete from round
    ``round_number`` on; ``rounds_run`` rounds ran in all.
    """

    run: StressRun
    actual: bool
    cycle: tuple[DeadlockStep, ...]
    round_number: int
    rounds_run: int


@dataclass(frozen=True)
class BlockTimeout:
    """An ``instrument()`` block overran: the stacks of this process (pid 0) and of each
    process started in the block that answered; ``stopped`` processes were stopped."""

    timeout: float
    stacks: tuple[tuple[int, str], ...]
    stopped: int


#: What the shared-state checks (``stress``, ``instrument()``) find.
StressFinding = (
    RaceFinding
    | ExpectFailure
    | TargetRaised
    | StressTimeout
    | MemberDied
    | BlockTimeout
    | Deadlock
)


@dataclass(frozen=True)
class NothingShared:
    """Not a finding: a stress check whose arguments hold no shared object, and what was
    searched (the arguments, to ``depth`` steps below each; ``cut`` is the first value
    whose contents the search's bounds left out, if any)."""

    target: str
    arguments: int
    depth: int
    cut: str | None


class Found(Exception):
    """Carries a finding from a check up to the API boundary, which reports it.

    ``verdicts`` says, for an equivalence finding, what every start method showed.
    """

    def __init__(
        self,
        finding: Finding | StressFinding,
        verdicts: Mapping[str, Finding | None] | None = None,
    ) -> None:
        super().__init__(type(finding).__name__)
        self.finding = finding
        self.verdicts: Mapping[str, Finding | None] = verdicts or {}
