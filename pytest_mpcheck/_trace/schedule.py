"""Controlled schedules: between two points one process runs, and the round's plan picks which.

In a controlled stress round every access through mpcheck's objects is a
*point*: a read, a write, a known lock's acquire and release, and the start
and the end of the target.  At a point, the process that reached it decides,
under the schedule's lock and from the round's ``Plan``, which process runs
next, hands it the turn and waits for its own.  The decision depends on the
plan and on what happened so far only, so the order of a round's accesses is
a function of the plan and the program, whatever the machine's load.

Locks are modelled: a process that wants a known lock another process holds
waits for it at the point, as the real lock would make it wait, so no process
ever blocks on a real lock held by a process that is not running.  When no
process can run and some wait for locks, that is a deadlock; the round is
aborted and the schedule keeps who held and who wanted what, and where.

What a process does outside mpcheck's objects is not controlled.  If it blocks
there (its own queue, pipe or lock), a waiting process notices that no point
was reached for ``STALL`` seconds, marks the running process free (it runs on,
outside control, until its next point, where it asks for the turn again) and
passes the turn on; the round is then "not fully controlled", and says where.

The shared state is a few arrays of integers and one semaphore per process:
no process of the check's machinery runs the schedule, and a member imports
only this module, the trace's others and the standard library.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from multiprocessing import sharedctypes, synchronize
from typing import Any, NamedTuple

from pytest_mpcheck._trace.locks import BOOK, LOCK_CONTEXT, register_own_lock
from pytest_mpcheck._trace.policy import AccessPolicy, Tracing, configure

__all__ = [
    "STALL",
    "Plan",
    "RoundLog",
    "Schedule",
    "Scheduled",
    "start_controlled_round",
]

#: Seconds without any point before a waiting process takes the turn from a running one.
STALL = 0.2
#: Steps whose choices the log keeps for exploration (the digest covers every step).
LOG = 1 << 15
#: Overrides a plan can carry, and PCT change points.
MAX_OVERRIDES = 512
MAX_CHANGES = 16
#: Known locks the model tracks at once.
LOCK_SLOTS = 128
#: Bytes per process for what it says of itself (where it waits, what it holds).
NOTE_BYTES = 2048

# Process states.
_RUNNING, _READY, _BLOCKED, _DONE, _FREE = 1, 2, 3, 4, 5
# Header slots.
(
    _ABORT,
    _TURN,
    _STEP,
    _PROCESSES,
    _OVERRIDES,
    _CHANGES,
    _MISFIT,
    _DEADLOCK,
    _STALLED,
    _DIGEST,
    _PRIORITIES,
    _HEADER,
) = range(12)
# Per-process slots.
_STATE, _WAITS, _PRIORITY, _PER_PROCESS = range(4)
_DIGEST_MOD = (1 << 61) - 1
#: The log keeps which processes could run for the first 31 only.
MASKED = 31
_MASK = (1 << MASKED) - 1

#: Frames in files under this directory are the instrumentation's own.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Plan(NamedTuple):
    """How a round picks who runs next at each point.

    By default the process at a point goes on if it can; otherwise the
    lowest-numbered process that can run goes.  ``overrides`` replace that
    choice at given steps, ``(step, label)``.  With ``priorities`` (one per
    process, by label, all above ``MAX_CHANGES``) the highest-priority process
    that can run goes instead (PCT), and at each step of ``changes`` the
    running process's priority drops below every other.
    """

    overrides: tuple[tuple[int, int], ...] = ()
    priorities: tuple[int, ...] = ()
    changes: tuple[int, ...] = ()


class RoundLog(NamedTuple):
    """What a controlled round did: its steps and choices, and what went out of control."""

    steps: int
    #: Per logged step: (process that reached the point, process chosen, bit mask of
    #: the processes that could run, bit ``label - 1``).
    choices: tuple[tuple[int, int, int], ...]
    digest: int
    #: The first step whose override named a process that could not run (0: none).
    misfit: int
    deadlock: bool
    #: The processes taken out of control, in order, and what each said of it.
    stalled: tuple[int, ...]
    notes: dict[int, str]
    #: Known locks held at the end: lock id -> (holder label, depth).
    holders: dict[int, tuple[int, int]]
    waits: dict[int, int]


class _Aborted(BaseException):
    """Ends a process's part in an aborted round (a deadlock was found): not an
    ``Exception``, so that the code under test does not catch it by accident."""


class Schedule:
    """The shared state of the controlled rounds of one crew of ``processes``."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._head: Any = sharedctypes.RawArray("q", _HEADER + _PER_PROCESS * (processes + 1))
        self._plan: Any = sharedctypes.RawArray("q", 2 * MAX_OVERRIDES + MAX_CHANGES)
        self._locks: Any = sharedctypes.RawArray("q", 3 * LOCK_SLOTS)
        self._log: Any = sharedctypes.RawArray("q", LOG)
        self._notes: Any = sharedctypes.RawArray("c", NOTE_BYTES * (processes + 1))
        self._mutex = synchronize.Lock(ctx=LOCK_CONTEXT)
        self._turns = [LOCK_CONTEXT.Semaphore(0) for _ in range(processes + 1)]
        self._own()

    def _own(self) -> None:
        register_own_lock(self._mutex, *self._turns)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._own()

    # -- the parent's side ---------------------------------------------------------------

    def begin(self, plan: Plan) -> None:
        """Set up a round under ``plan`` and give the first turn (members wait for it)."""
        if len(plan.overrides) > MAX_OVERRIDES or len(plan.changes) > MAX_CHANGES:
            raise ValueError(
                f"a plan holds at most {MAX_OVERRIDES} overrides and {MAX_CHANGES} changes"
            )
        for turn in self._turns:
            while turn.acquire(False):
                pass
        head, processes = self._head, self.processes
        head[:] = [0] * len(head)
        head[_PROCESSES] = processes
        head[_OVERRIDES] = len(plan.overrides)
        head[_CHANGES] = len(plan.changes)
        head[_PRIORITIES] = 1 if plan.priorities else 0
        for label in range(1, processes + 1):
            base = _HEADER + _PER_PROCESS * label
            head[base + _STATE] = _READY
            head[base + _PRIORITY] = plan.priorities[label - 1] if plan.priorities else 0
        flat = [value for pair in plan.overrides for value in pair]
        self._plan[: len(flat)] = flat
        self._plan[2 * MAX_OVERRIDES : 2 * MAX_OVERRIDES + len(plan.changes)] = list(plan.changes)
        self._locks[:] = [0] * len(self._locks)
        self._notes[:] = b"\0" * len(self._notes)
        with self._mutex:
            self._dispatch(0)

    def log(self) -> RoundLog:
        """What the round that just ended did (read by the parent after the round)."""
        head = self._head
        steps = head[_STEP]
        logged = min(steps, LOG)
        choices = tuple(
            (value >> 16 & 0xFFFF, value & 0xFFFF, value >> 32) for value in self._log[:logged]
        )
        notes = {}
        for label in range(1, self.processes + 1):
            raw = bytes(self._notes[NOTE_BYTES * label : NOTE_BYTES * (label + 1)])
            text = raw.split(b"\0", 1)[0].decode(errors="replace")
            if text:
                notes[label] = text
        holders = {}
        locks = self._locks
        for slot in range(LOCK_SLOTS):
            lock_id, holder, depth = locks[3 * slot : 3 * slot + 3]
            if lock_id and holder:
                holders[lock_id] = (holder, depth)
        waits = {
            label: head[_HEADER + _PER_PROCESS * label + _WAITS]
            for label in range(1, self.processes + 1)
            if head[_HEADER + _PER_PROCESS * label + _STATE] == _BLOCKED
        }
        stalled = tuple(
            label for label in range(1, self.processes + 1) if head[_STALLED] >> (label - 1) & 1
        )
        return RoundLog(
            steps,
            choices,
            head[_DIGEST],
            head[_MISFIT],
            bool(head[_DEADLOCK]),
            stalled,
            notes,
            holders,
            waits,
        )

    # -- the decision, under the mutex --------------------------------------------------

    def _state(self, label: int) -> int:
        state: int = self._head[_HEADER + _PER_PROCESS * label + _STATE]
        return state

    def _set_state(self, label: int, state: int) -> None:
        self._head[_HEADER + _PER_PROCESS * label + _STATE] = state

    def _dispatch(self, current: int) -> int:
        """Take a step: choose who runs among the ready processes, log it, hand the turn.

        ``current`` is the process at the point (0 at the start of a round); it is
        ready if it can go on.  Returns the chosen label, or 0 when nobody can run
        (the round is over, or everyone left waits for a lock: a deadlock, or for a
        free process to come back).
        """
        head = self._head
        processes = self.processes
        ready = 0
        for label in range(1, processes + 1):
            if self._state(label) == _READY:
                ready |= 1 << (label - 1)
        step = head[_STEP] + 1
        head[_STEP] = step
        chosen = self._choose(step, current, ready)
        if step <= LOG:
            self._log[step - 1] = chosen | current << 16 | (ready & _MASK) << 32
        head[_DIGEST] = (head[_DIGEST] * 131 + chosen * 8 + current) % _DIGEST_MOD
        head[_TURN] = chosen
        if chosen:
            self._set_state(chosen, _RUNNING)
            if chosen != current:
                self._turns[chosen].release()
        else:
            states = [self._state(label) for label in range(1, processes + 1)]
            if _BLOCKED in states and _FREE not in states:
                self._abort(deadlock=True)
        return chosen

    def _choose(self, step: int, current: int, ready: int) -> int:
        if not ready:
            return 0
        head, plan = self._head, self._plan
        for index in range(head[_OVERRIDES]):
            if plan[2 * index] == step:
                wanted = plan[2 * index + 1]
                if ready >> (wanted - 1) & 1:
                    return int(wanted)
                if not head[_MISFIT]:
                    head[_MISFIT] = step
                break
        if head[_PRIORITIES]:
            changes = head[_CHANGES]
            for index in range(changes):
                if plan[2 * MAX_OVERRIDES + index] == step and current:
                    # PCT: the running process drops below every initial priority.
                    head[_HEADER + _PER_PROCESS * current + _PRIORITY] = index + 1
            best, chosen = -1, 0
            for label in range(1, self.processes + 1):
                if ready >> (label - 1) & 1:
                    priority = head[_HEADER + _PER_PROCESS * label + _PRIORITY]
                    if priority > best:
                        best, chosen = priority, label
            return chosen
        if current and ready >> (current - 1) & 1:
            return current
        return (ready & -ready).bit_length()

    def _abort(self, deadlock: bool) -> None:
        head = self._head
        head[_ABORT] = 1
        head[_DEADLOCK] = int(deadlock)
        for label in range(1, self.processes + 1):
            if self._state(label) in (_READY, _BLOCKED):
                self._turns[label].release()

    # -- the lock model ------------------------------------------------------------------

    def _slot(self, lock_id: int, claim: bool) -> int:
        """The model's slot of ``lock_id`` (a free one if ``claim``), or -1."""
        locks = self._locks
        start = lock_id % LOCK_SLOTS
        for offset in range(LOCK_SLOTS):
            slot = (start + offset) % LOCK_SLOTS
            known = locks[3 * slot]
            if known == lock_id:
                return slot
            if known == 0:
                if claim:
                    locks[3 * slot] = lock_id
                    return slot
                return -1
        return -1

    def _holder(self, lock_id: int) -> int:
        slot = self._slot(lock_id, claim=False)
        holder: int = self._locks[3 * slot + 1] if slot >= 0 else 0
        return holder

    # -- a member's side -----------------------------------------------------------------

    def _wait(self, label: int) -> None:
        """Wait for the turn; take it from a process that stopped reaching points."""
        turn = self._turns[label]
        head = self._head
        seen = head[_STEP]
        while not turn.acquire(True, STALL):
            with self._mutex:
                if head[_ABORT] or self._state(label) == _RUNNING:
                    turn.acquire(False)  # handed over while the wait timed out
                    break
                if head[_STEP] != seen:
                    seen = head[_STEP]
                    continue
                running = head[_TURN]
                if running and self._state(running) == _RUNNING:
                    # Stuck outside mpcheck's objects: it runs on free, the others go on.
                    self._set_state(running, _FREE)
                    head[_STALLED] |= 1 << (running - 1)
                    self._dispatch(0)
                elif not running and self._state(label) == _READY:
                    self._dispatch(0)
                # If the turn came here, the semaphore holds it: the next acquire takes it.
                seen = head[_STEP]
        if head[_ABORT]:
            raise _Aborted


class Scheduled(AccessPolicy):
    """The policy of one process in a controlled round: every point asks the schedule."""

    def __init__(self, schedule: Schedule, label: int) -> None:
        self._schedule = schedule
        self._label = label
        #: Where this process took each known lock it holds: lock id -> site.
        self._taken: dict[int, str] = {}
        self._last_site = ""
        self._aborted = False

    # The points.

    def read(self, lo: int, hi: int, holding: bool) -> None:
        self._point()

    def write(self, lo: int, hi: int, holding: bool) -> None:
        self._point()

    def acquire(self, lock_id: int, blocking: bool, reentrant: bool) -> bool:
        """Before a known lock is taken: the model gives it, or the process waits at the
        point while another holds it (a non-blocking acquire fails instead).  A timed
        acquire waits as a blocking one: under control nobody else would run meanwhile."""
        schedule, label = self._schedule, self._label
        if self._aborted:
            return True
        site = self._last_site = _site()
        while True:
            with schedule._mutex:
                self._back_in_control()
                slot = schedule._slot(lock_id, claim=True)
                locks = schedule._locks
                holder = locks[3 * slot + 1] if slot >= 0 else 0
                free = slot < 0 or holder == 0 or (holder == label and reentrant)
                if free:
                    if slot >= 0:
                        locks[3 * slot + 1] = label
                        locks[3 * slot + 2] += 1
                    self._taken.setdefault(lock_id, site)
                    go = self._step(_READY)
                elif not blocking:
                    go = self._step(_READY)
                else:
                    schedule._head[_HEADER + _PER_PROCESS * label + _WAITS] = lock_id
                    self._note(f"waits for lock {lock_id:x} at {site}")
                    go = self._step(_BLOCKED)
            if go != label:
                self._await()
            if free or not blocking:
                return free

    def release(self, lock_id: int) -> None:
        """After a known lock was released: whoever waited for it may run again."""
        schedule, label = self._schedule, self._label
        if self._aborted:
            return
        with schedule._mutex:
            self._back_in_control()
            slot = schedule._slot(lock_id, claim=False)
            locks = schedule._locks
            if slot >= 0 and locks[3 * slot + 1] == label:
                locks[3 * slot + 2] -= 1
                if locks[3 * slot + 2] <= 0:
                    locks[3 * slot + 1] = locks[3 * slot + 2] = 0
                    self._taken.pop(lock_id, None)
                    self._wake_waiters(lock_id)
            go = self._step(_READY)
        if go != label:
            self._await()

    def wait_free(self, lock_id: int) -> None:
        """Before one access takes the object's own lock for itself: wait while another
        process holds it, as that access would."""
        schedule = self._schedule
        if self._aborted:
            return
        while True:
            with schedule._mutex:
                self._back_in_control()
                holder = schedule._holder(lock_id)
                if holder in (0, self._label):
                    return
                schedule._head[_HEADER + _PER_PROCESS * self._label + _WAITS] = lock_id
                self._note(f"waits for lock {lock_id:x} at {_site()}")
                go = self._step(_BLOCKED)
            if go != self._label:
                self._await()

    # The round.

    def run(self, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Run the target when given the first turn; give the turn away when it ends."""
        schedule = self._schedule
        try:
            self._await()
            target(*args)
        except _Aborted:
            return
        finally:
            if not self._aborted:
                with schedule._mutex:
                    self._back_in_control()
                    if self._taken:
                        self._note("returned from the target")
                    self._step(_DONE)

    # Helpers, under the mutex unless said.

    def _point(self) -> None:
        if self._aborted:
            return
        schedule = self._schedule
        self._last_site = _site()
        with schedule._mutex:
            self._back_in_control()
            go = self._step(_READY)
        if go != self._label:
            self._await()

    def _step(self, state: int) -> int:
        """Leave the point in ``state`` and let the schedule choose; who was chosen."""
        schedule, label = self._schedule, self._label
        head = schedule._head
        if head[_ABORT]:
            return label
        schedule._set_state(label, state)
        if head[_TURN] not in (0, label):
            return 0  # another process has the turn (this one ran free): wait like the others
        return schedule._dispatch(label)

    def _await(self) -> None:
        """Wait for this process's turn (outside the mutex)."""
        try:
            self._schedule._wait(self._label)
        except _Aborted:
            self._aborted = True
            raise

    def _back_in_control(self) -> None:
        """A process that ran free asks for the turn again, and says where it had stopped."""
        schedule, label = self._schedule, self._label
        if schedule._state(label) == _FREE:
            self._note(f"did not reach a point for {STALL:g} s after {self._last_site}")
            schedule._set_state(label, _READY)

    def _wake_waiters(self, lock_id: int) -> None:
        schedule = self._schedule
        head = schedule._head
        for other in range(1, schedule.processes + 1):
            base = _HEADER + _PER_PROCESS * other
            if head[base + _STATE] == _BLOCKED and head[base + _WAITS] == lock_id:
                head[base + _STATE] = _READY
                head[base + _WAITS] = 0

    def _note(self, text: str) -> None:
        """What this process says of itself, for the report: where it waits, what it holds."""
        held = "; ".join(
            f"holds lock {lock:x} (taken at {site})" for lock, site in self._taken.items()
        )
        data = ("; ".join(part for part in (text, held) if part)).encode()[: NOTE_BYTES - 1]
        start = NOTE_BYTES * self._label
        notes = self._schedule._notes
        notes[start : start + NOTE_BYTES] = data.ljust(NOTE_BYTES, b"\0")


def _site() -> str:
    """``file:line`` of the innermost frame outside the package."""
    frame: Any = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def start_controlled_round(
    schedule: Schedule, seed: int, label: int, round_number: int
) -> Callable[[Callable[..., Any], tuple[Any, ...]], None]:
    """A stress member's set-up before a controlled round: its label, the round's
    policy, a clean book; returns how it runs the target."""
    scheduled = Scheduled(schedule, label)
    configure(Tracing(label, seed, scheduled))
    BOOK.new_round()
    return scheduled.run
