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

import ctypes
from collections.abc import Callable
from multiprocessing import sharedctypes, synchronize
from typing import Any, NamedTuple

from pytest_mpcheck._trace.locks import BOOK, LOCK_CONTEXT, register_own_lock
from pytest_mpcheck._trace.policy import AccessPolicy, Tracing, configure
from pytest_mpcheck._trace.waits import WAITS, WaitTable, user_site

__all__ = [
    "MAX_PROCESSES",
    "STALL",
    "Plan",
    "RoundLog",
    "Schedule",
    "Scheduled",
    "start_controlled_round",
]

#: Seconds without any point before a waiting process takes the turn from a running one.
STALL = 0.2
#: Reads in a row, with nothing written or locked, after which the running process gives
#: the turn to another that can run: a loop that waits for a value (``while not
#: flag.value: ...``) lets the others make it change, in every schedule.
SPIN = 100
#: Steps whose choices the log keeps for exploration (the digest covers every step).
LOG = 1 << 15
#: Overrides a plan can carry, and PCT change points.
MAX_OVERRIDES = 512
MAX_CHANGES = 16
#: Most processes a controlled round can order (their states are bits of one integer).
MAX_PROCESSES = 62
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
    _OVERRIDES,
    _CHANGES,
    _MISFIT,
    _STALLED,
    _DIGEST,
    _PRIORITIES,
    _READY_MASK,
    _NEXT_OVERRIDE,
    _UNTIL,
    _BLOCKED_MASK,
    _SPIN,
    _HEADER,
) = range(15)
# Per-process slots.
_STATE, _WAITS, _PRIORITY, _PER_PROCESS = range(4)
#: The digest of a round's choices stays a small integer, cheap at every step.
_DIGEST_MOD = (1 << 31) - 1
_FOREVER = 1 << 62
#: The log keeps which processes could run for the first 31 only.
MASKED = 31
_MASK = (1 << MASKED) - 1


class Plan(NamedTuple):
    """How a round picks who runs next at each point.

    By default the process at a point goes on if it can; otherwise the
    lowest-numbered process that can run goes.  ``overrides`` replace that
    choice at given steps, ``(step, label)``.  With ``priorities`` (one per
    process, by label, all above ``MAX_CHANGES``) the highest-priority process
    that can run goes instead (PCT), and at each step of ``changes`` the
    running process's priority drops below every other.  The processes
    ``left_out`` sit the round out: they do not run the target at all.
    """

    overrides: tuple[tuple[int, int], ...] = ()
    priorities: tuple[int, ...] = ()
    changes: tuple[int, ...] = ()
    left_out: tuple[int, ...] = ()


class RoundLog(NamedTuple):
    """What a controlled round did: its steps and choices, and what went out of control."""

    steps: int
    #: The log's entries, one per step it keeps (``choices`` reads them).
    entries: tuple[int, ...]
    digest: int
    #: The first step whose override named a process that could not run (0: none).
    misfit: int
    #: The processes taken out of control, and what each said of it.
    stalled: tuple[int, ...]
    notes: dict[int, str]

    @property
    def choices(self) -> list[tuple[int, int, int]]:
        """Per step kept: (process that reached the point, process chosen, bit mask of
        the processes that could run, bit ``label - 1``)."""
        return [(entry >> 16 & 0xFFFF, entry & 0xFFFF, entry >> 32) for entry in self.entries]


class _Aborted(BaseException):
    """Ends a process's part in an aborted round (a deadlock was found): not an
    ``Exception``, so that the code under test does not catch it by accident."""


class Schedule:
    """The shared state of the controlled rounds of one crew of ``processes``."""

    def __init__(self, processes: int) -> None:
        self.check(processes)
        self.processes = processes
        self._shared: dict[str, Any] = {
            "head": sharedctypes.RawArray("q", _HEADER + _PER_PROCESS * (processes + 1)),
            "plan": sharedctypes.RawArray("q", 2 * MAX_OVERRIDES + MAX_CHANGES),
            "locks": sharedctypes.RawArray("q", 3 * LOCK_SLOTS),
            "log": sharedctypes.RawArray("q", LOG),
            "notes": sharedctypes.RawArray("b", NOTE_BYTES * (processes + 1)),
        }
        self._lock = synchronize.Lock(ctx=LOCK_CONTEXT)
        self._turns = [LOCK_CONTEXT.Semaphore(0) for _ in range(processes + 1)]
        self._own()

    def _own(self) -> None:
        """This process's views of the shared arrays (a memoryview's items are cheaper to
        read than a ctypes array's), and the locks, ours, not the user's: taken through
        the semaphore itself, cheaper than ``multiprocessing``'s wrapper."""
        views = {
            name: memoryview(array).cast("B").cast("q" if name != "notes" else "B")
            for name, array in self._shared.items()
        }
        self._head, self._plan, self._locks = views["head"], views["plan"], views["locks"]
        self._log, self._notes = views["log"], views["notes"]
        #: Slots of the lock model this process has looked up (a lock keeps its slot).
        self._slots: dict[int, int] = {}
        register_own_lock(self._lock, *self._turns)
        semlock = self._lock._semlock  # type: ignore[attr-defined]
        self._acquire, self._release = semlock.acquire, semlock.release
        self._mutex = _Mutex(semlock)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in (
            "_mutex",
            "_acquire",
            "_release",
            "_head",
            "_plan",
            "_locks",
            "_log",
            "_slots",
        ):
            del state[name]
        del state["_notes"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._own()

    @staticmethod
    def check(processes: int) -> None:
        """``ValueError`` unless a controlled schedule can order ``processes`` processes."""
        if not 1 <= processes <= MAX_PROCESSES:
            raise ValueError(
                f"a controlled schedule orders 1 to {MAX_PROCESSES} processes, not {processes}; "
                "use schedule='free' (--mp-schedule=free) for more"
            )

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
        for name, array in self._shared.items():
            # The log is read up to the round's steps only, each written before: not cleared.
            if name not in ("locks", "log"):
                ctypes.memset(ctypes.addressof(array), 0, ctypes.sizeof(array))
        locks = self._locks
        for slot in range(LOCK_SLOTS):
            # Each lock keeps its slot for the crew's life (members remember them).
            locks[3 * slot + 1] = locks[3 * slot + 2] = 0
        head, processes = self._head, self.processes
        head[_OVERRIDES] = len(plan.overrides)
        head[_CHANGES] = len(plan.changes)
        head[_PRIORITIES] = 1 if plan.priorities else 0
        for label in range(1, processes + 1):
            self._set_state(label, _DONE if label in plan.left_out else _READY)
            head[_HEADER + _PER_PROCESS * label + _PRIORITY] = (
                plan.priorities[label - 1] if plan.priorities else 0
            )
        flat = [value for pair in sorted(plan.overrides) for value in pair]
        for index, value in enumerate(flat):
            self._plan[index] = value
        for index, value in enumerate(plan.changes):
            self._plan[2 * MAX_OVERRIDES + index] = value
        with self._mutex:
            self._dispatch(0, 0)

    def log(self) -> RoundLog:
        """What the round that just ended did (read by the parent after the round)."""
        head = self._head
        steps = head[_STEP]
        notes = {}
        for label in range(1, self.processes + 1):
            raw = self._notes[NOTE_BYTES * label : NOTE_BYTES * (label + 1)].tobytes()
            text = raw.split(b"\0", 1)[0].decode(errors="replace")
            if text:
                notes[label] = text
        stalled = tuple(
            label for label in range(1, self.processes + 1) if head[_STALLED] >> (label - 1) & 1
        )
        entries = tuple(self._log[: min(steps, LOG)].tolist())
        return RoundLog(steps, entries, head[_DIGEST], head[_MISFIT], stalled, notes)

    # -- the decision, under the mutex --------------------------------------------------

    def _state(self, label: int) -> int:
        state: int = self._head[_HEADER + _PER_PROCESS * label + _STATE]
        return state

    def _set_state(self, label: int, state: int) -> None:
        head = self._head
        head[_HEADER + _PER_PROCESS * label + _STATE] = state
        bit = 1 << (label - 1)
        head[_READY_MASK] = head[_READY_MASK] | bit if state == _READY else head[_READY_MASK] & ~bit
        blocked = head[_BLOCKED_MASK]
        head[_BLOCKED_MASK] = blocked | bit if state == _BLOCKED else blocked & ~bit

    def _advance(self, label: int, state: int) -> int:
        """The process ``label`` leaves a point in ``state``: who runs next (``label`` to
        go on; 0 when another process has the turn and this one, back from running
        free, waits for it like the others)."""
        head = self._head
        if head[_ABORT]:
            return label
        turn = head[_TURN]
        if (
            turn == label
            and state == _READY
            and head[_STEP] + 1 < head[_UNTIL]
            and head[_SPIN] < SPIN
        ):
            self._go_on(label)
            return label
        if turn not in (0, label):
            self._set_state(label, state)
            return 0
        return self._dispatch(label, state)

    def _until(self, step: int, chosen: int, ready: int) -> int:
        """The first step after ``step`` at which the plan may choose other than letting
        ``chosen`` go on: its next override, or under PCT its next change point (every
        step if another of the ``ready`` processes has a higher priority).  A process
        that becomes ready later (a lock it waits for given back, a process back from
        running free) ends the span itself."""
        head, plan = self._head, self._plan
        index = head[_NEXT_OVERRIDE]
        until = plan[2 * index] if index < head[_OVERRIDES] else _FOREVER
        if head[_PRIORITIES]:
            base = _HEADER + _PRIORITY
            mine = head[base + _PER_PROCESS * chosen]
            others = ready & ~(1 << (chosen - 1))
            for label in range(1, self.processes + 1):
                if others >> (label - 1) & 1 and head[base + _PER_PROCESS * label] > mine:
                    return step + 1
            for index in range(head[_CHANGES]):
                change = plan[2 * MAX_OVERRIDES + index]
                if change > step:
                    until = min(until, change)
        return int(until)

    def _dispatch(self, current: int, state: int) -> int:
        """Take a step: choose who runs among the ready processes, log it, hand the turn.

        ``current`` is the process at the point (0 at the start of a round or when a
        waiting process takes the turn), which leaves it in ``state``: ready if it can
        go on.  Returns the chosen label, or 0 when nobody can run (the round is over,
        or everyone left waits for a lock: a deadlock, or for a free process).
        """
        head = self._head
        ready = head[_READY_MASK]
        if current and state == _READY:
            ready |= 1 << (current - 1)
        step = head[_STEP] + 1
        head[_STEP] = step
        chosen = self._choose(step, current, ready) if ready else 0
        if step <= LOG:
            self._log[step - 1] = chosen | current << 16 | (ready & _MASK) << 32
        head[_DIGEST] = (head[_DIGEST] * 131 + chosen * 8 + current) % _DIGEST_MOD
        head[_TURN] = chosen
        if chosen:
            head[_UNTIL] = self._until(step, chosen, ready)
            if chosen != current:
                head[_SPIN] = 0
        if chosen and chosen == current:
            if head[_HEADER + _PER_PROCESS * current + _STATE] != _RUNNING:
                self._set_state(current, _RUNNING)  # a free process, back and chosen
            return chosen
        if current:
            self._set_state(current, state)
        if chosen:
            self._set_state(chosen, _RUNNING)
            self._turns[chosen].release()
        elif head[_BLOCKED_MASK]:
            # Nobody can run and some wait for locks: a deadlock if their waits close a
            # cycle (the wait table writes it down; a process running free cannot break
            # it); else they wait for a free process, or for one that ended holding a
            # lock, as they would run free.
            table = WAITS.table
            blocked = [bit + 1 for bit in range(self.processes) if head[_BLOCKED_MASK] >> bit & 1]
            if table is not None and any(table.deadlocked(label) for label in blocked):
                self._abort()
        return chosen

    def _go_on(self, label: int) -> None:
        """A step where the running process goes on, as the plan says from here on:
        the common case, kept short."""
        head = self._head
        step = head[_STEP] + 1
        head[_STEP] = step
        if step <= LOG:
            ready = head[_READY_MASK] | 1 << (label - 1)
            self._log[step - 1] = label | label << 16 | (ready & _MASK) << 32
        head[_DIGEST] = (head[_DIGEST] * 131 + label * 9) % _DIGEST_MOD

    def _choose(self, step: int, current: int, ready: int) -> int:
        head, plan = self._head, self._plan
        index, count = head[_NEXT_OVERRIDE], head[_OVERRIDES]
        while index < count and plan[2 * index] < step:
            index += 1  # a step that never came (overrides hold increasing steps)
        if index < count and plan[2 * index] == step:
            index += 1
            wanted = plan[2 * index - 1]
            if ready >> (wanted - 1) & 1:
                chosen = int(wanted)
            else:
                chosen = 0
                if not head[_MISFIT]:
                    head[_MISFIT] = step
        else:
            chosen = 0
        head[_NEXT_OVERRIDE] = index
        if chosen:
            return chosen
        if current and head[_SPIN] >= SPIN and ready & ~(1 << (current - 1)):
            # Spinning: the others go first, the next one after it in turn by default.
            head[_SPIN] = 0
            ready &= ~(1 << (current - 1))
            later = ready >> current << current
            if not head[_PRIORITIES]:
                return ((later or ready) & -(later or ready)).bit_length()
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

    def _abort(self) -> None:
        """End the round: every waiting process leaves its target (a deadlock was found)."""
        head = self._head
        head[_ABORT] = 1
        for label in range(1, self.processes + 1):
            if self._state(label) in (_READY, _BLOCKED):
                self._turns[label].release()

    # -- the lock model ------------------------------------------------------------------

    def _slot(self, lock_id: int, claim: bool) -> int:
        """The model's slot of ``lock_id`` (a free one if ``claim``), or -1."""
        slot = self._slots.get(lock_id)
        if slot is not None:
            return slot
        slot = self._probe(lock_id, claim)
        if slot >= 0:
            self._slots[lock_id] = slot
        return slot

    def _probe(self, lock_id: int, claim: bool) -> int:
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
                    self._dispatch(0, 0)
                elif not running and self._state(label) == _READY:
                    self._dispatch(0, 0)
                # If the turn came here, the semaphore holds it: the next acquire takes it.
                seen = head[_STEP]
        if head[_ABORT]:
            raise _Aborted


class Scheduled(AccessPolicy):
    """The policy of one process in a controlled round: every point asks the schedule."""

    def __init__(self, schedule: Schedule, label: int) -> None:
        self._schedule = schedule
        self._label = label
        self._waiting = False
        self._aborted = False

    # The points.

    def read(self, lo: int, hi: int, holding: bool) -> None:
        self._point(True)

    def write(self, lo: int, hi: int, holding: bool) -> None:
        self._point(False)

    def acquire(self, lock_id: int, blocking: bool, reentrant: bool) -> bool:
        """Before a known lock is taken: the model gives it, or the process waits at the
        point while another holds it (a non-blocking acquire fails instead).  A timed
        acquire waits as a blocking one: under control nobody else would run meanwhile."""
        if self._aborted:
            return True
        schedule, label = self._schedule, self._label
        while True:
            schedule._acquire()
            try:
                self._lock_point()
                slot = schedule._slot(lock_id, claim=True)
                locks = schedule._locks
                holder = locks[3 * slot + 1] if slot >= 0 else 0
                free = slot < 0 or holder == 0 or (holder == label and reentrant)
                if free:
                    if slot >= 0:
                        locks[3 * slot + 1] = label
                        locks[3 * slot + 2] += 1
                    go = schedule._advance(label, _READY)
                elif not blocking:
                    go = schedule._advance(label, _READY)
                else:
                    schedule._head[_HEADER + _PER_PROCESS * label + _WAITS] = lock_id
                    self._publish(lock_id)
                    go = schedule._advance(label, _BLOCKED)
            finally:
                schedule._release()
            if go != label:
                self._await()
            if free or not blocking:
                self._published(free)
                return free

    def release(self, lock_id: int) -> None:
        """After a known lock was released: whoever waited for it may run again."""
        if self._aborted:
            return
        schedule, label = self._schedule, self._label
        schedule._acquire()
        try:
            self._lock_point()
            slot = schedule._slot(lock_id, claim=False)
            locks = schedule._locks
            if slot >= 0 and locks[3 * slot + 1] == label:
                depth = locks[3 * slot + 2] - 1
                locks[3 * slot + 2] = depth
                if depth <= 0:
                    locks[3 * slot + 1] = locks[3 * slot + 2] = 0
                    self._wake_waiters(lock_id)
            go = schedule._advance(label, _READY)
        finally:
            schedule._release()
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
                    self._published(True)
                    return
                schedule._head[_HEADER + _PER_PROCESS * self._label + _WAITS] = lock_id
                self._publish(lock_id)
                go = self._step(_BLOCKED)
            if go != self._label:
                self._await()

    # The round.

    def run(self, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Run the target when given the first turn; give the turn away when it ends.
        A process the plan leaves out is done before it starts: it never gets a turn."""
        schedule = self._schedule
        if schedule._state(self._label) == _DONE:
            return
        try:
            self._await()
            target(*args)
        except _Aborted:
            return
        finally:
            if not self._aborted:
                with schedule._mutex:
                    self._back_in_control()
                    self._step(_DONE)

    # Helpers, under the mutex unless said.

    def _point(self, reading: bool) -> None:
        if self._aborted:
            return
        schedule, label = self._schedule, self._label
        head = schedule._head
        schedule._acquire()
        try:
            if head[_TURN] == label:
                spin = head[_SPIN] + 1 if reading else 0
                head[_SPIN] = spin
                if head[_STEP] + 1 < head[_UNTIL] and spin < SPIN and not head[_ABORT]:
                    schedule._go_on(label)
                    return
            self._back_in_control()
            go = self._step(_READY)
        finally:
            schedule._release()
        if go != label:
            self._await()

    def _step(self, state: int) -> int:
        """Leave the point in ``state`` and let the schedule choose; who was chosen."""
        return self._schedule._advance(self._label, state)

    def _await(self) -> None:
        """Wait for this process's turn (outside the mutex)."""
        try:
            self._schedule._wait(self._label)
        except _Aborted:
            self._aborted = True
            raise

    def _lock_point(self) -> None:
        """A lock is taken or given back (under the mutex): no spin, whatever the process
        did before; or the process comes back from running free."""
        schedule = self._schedule
        if schedule._head[_TURN] == self._label:
            schedule._head[_SPIN] = 0
        else:
            self._back_in_control()

    def _back_in_control(self) -> None:
        """A process that ran free asks for the turn again, and says where it had stopped."""
        schedule, label = self._schedule, self._label
        if schedule._state(label) == _FREE:
            schedule._head[_UNTIL] = 0  # the running process may have to give way now
            self._note(
                f"did not reach a point for {STALL:g} s (it came back at {_describe(user_site())})"
            )
            schedule._set_state(label, _READY)

    def _wake_waiters(self, lock_id: int) -> None:
        schedule = self._schedule
        head = schedule._head
        if not head[_BLOCKED_MASK]:
            return
        head[_UNTIL] = 0  # a woken process may have to run first
        for other in range(1, schedule.processes + 1):
            base = _HEADER + _PER_PROCESS * other
            if head[base + _STATE] == _BLOCKED and head[base + _WAITS] == lock_id:
                schedule._set_state(other, _READY)
                head[base + _WAITS] = 0

    def _publish(self, lock_id: int) -> None:
        """This process waits for ``lock_id``: say so in the wait table, with the locks it
        holds and where it took them, where the schedule looks for a cycle when nobody
        can run."""
        table = WAITS.table
        if table is not None:
            held = [(held, WAITS.sites.get(held, ("<unknown>", 0))) for held in BOOK.held]
            table.wait(self._label, lock_id, user_site(), held)
            self._waiting = True

    def _published(self, taken: bool) -> None:
        """The wait published, if any, is over."""
        table = WAITS.table
        if self._waiting and table is not None and taken:
            table.done(self._label)
            self._waiting = False

    def _note(self, text: str) -> None:
        """What this process says of itself, for the report (why it ran outside control)."""
        data = text.encode()[: NOTE_BYTES - 1]
        start = NOTE_BYTES * self._label
        notes = self._schedule._notes
        notes[start : start + NOTE_BYTES] = data.ljust(NOTE_BYTES, b"\0")


class _Mutex:
    """A ``with`` block over a raw semaphore."""

    __slots__ = ("_acquire", "_release")

    def __init__(self, semlock: Any) -> None:
        self._acquire, self._release = semlock.acquire, semlock.release

    def __enter__(self) -> None:
        self._acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._release()


def _describe(where: tuple[str, int]) -> str:
    return f"{where[0]}:{where[1]}"


def start_controlled_round(
    schedule: Schedule, seed: int, waits: WaitTable, label: int, round_number: int
) -> Callable[[Callable[..., Any], tuple[Any, ...]], None]:
    """A stress member's set-up before a controlled round: its label, the round's
    policy, a clean book, the check's wait table (for the order in which locks are
    taken, and the deadlocks the schedule finds); returns how it runs the target."""
    scheduled = Scheduled(schedule, label)
    configure(Tracing(label, seed, scheduled))
    BOOK.new_round()
    WAITS.arm(waits, label)
    return scheduled.run
