"""Deadlocks among stress members: the shared wait table, and a member's blocking acquire.

Inside a stress member, a blocking acquire of a known lock that cannot be
taken within a short slice (most waits end sooner, and cost nothing more)
writes in a small shared table what it waits for and what it holds, with the
source lines, then waits in slices; between slices it reads the table for a
cycle of waits through itself.  A cycle never resolves
by itself: the member that finds it writes it down and ends its round
(``Deadlocked``), the others waiting see it written and end theirs, and the
parent reads the cycle once the round is over, without polling.

The table is read and written under its own lock, so a member sees every
other member's wait as it stands; a member listed as holding a lock is inside
an acquire and releases nothing, so a cycle read there is a real one.

Each acquire that waits without a timeout while other known locks are held
is also booked once per member as an *order edge* (the lock held, the lock
taken, all locks held then, and the lines), for the lock-order graph the
parent builds: locks taken in opposite orders are a potential deadlock even
in a run where none happened.  Only those acquires pay for a booking.

Outside stress members none of this runs: ``WAITS.table`` is None, and a
known lock's acquire is the plain one.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from multiprocessing import sharedctypes, synchronize
from typing import Any, NamedTuple

from pytest_mpcheck._trace.codec import MAX_HELD
from pytest_mpcheck._trace.locks import BOOK, LOCK_CONTEXT, register_own_lock

__all__ = ["SLICE", "WAITS", "Deadlocked", "LockStep", "WaitTable", "Waits", "user_site"]

#: How long a blocked member waits between two looks at the table, in seconds.
SLICE = 0.05

#: Order edges a member books (distinct ones; more are not kept).
EDGES = 32
#: Locks an edge names as held when it was booked (the gate check reads them).
_GUARDS = 8
#: The tail of a source file's path that a site keeps.
_FILE_BYTES = 200
# A lock and where it was taken: lock id, source file, line.
_SITE = f"I{_FILE_BYTES}si"
# The table's head: the label of the member that found a deadlock (0: none), its steps.
_HEAD = struct.Struct("<ii")
# One step of a found cycle: a member, the lock it holds, the lock it waits for.
_STEP = struct.Struct(f"<i{_SITE}{_SITE}")
# A member's wait: waiting (0/1), locks held, the lock awaited, ``MAX_HELD`` held locks.
_WAIT = struct.Struct(f"<ii{_SITE * (1 + MAX_HELD)}")
_WAITING = struct.Struct("<i")
# A member's order edges: how many, then ``EDGES`` of (held lock, lock taken, guards).
_COUNT = struct.Struct("<i")
_EDGE = struct.Struct(f"<{_SITE}{_SITE}i{_GUARDS}I")

_NO_SITE = ("", 0)
# A lock and its site as stored: lock id, file (bytes), line.
_Site = tuple[Any, ...]
#: Frames in files under this directory are the package's own (as the trace's ring says).
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_getframe = sys._getframe


class LockStep(NamedTuple):
    """Process ``label`` held lock ``held`` (taken at ``held_at``) and waited for, or took,
    lock ``wanted`` at ``wanted_at``; ``guards`` are all the locks it held then (an order
    edge's, for the gate check; empty in a found cycle).  Sites are ``file:line``."""

    label: int
    held: int
    held_at: str
    wanted: int
    wanted_at: str
    guards: tuple[int, ...] = ()


class Deadlocked(Exception):
    """Ends a stress member's round that is caught in a deadlock: its wait would never end.

    The cycle is in the wait table, where the parent reads it; this only unwinds the
    target (its ``with`` blocks release what they hold).
    """


class WaitTable:
    """Shared between a stress check and its members: waits, a found cycle, order edges."""

    def __init__(self, members: int) -> None:
        self._members = members
        self._slot_size = _WAIT.size + _COUNT.size + EDGES * _EDGE.size
        self._first_slot = _HEAD.size + members * _STEP.size
        self._memory: Any = sharedctypes.RawArray("b", self._first_slot + members * self._slot_size)
        self._lock: Any = synchronize.Lock(ctx=LOCK_CONTEXT)
        register_own_lock(self._lock)
        self._process_local()

    def _process_local(self) -> None:
        self._view = memoryview(self._memory).cast("B")
        # The parent's: how many edges of each member it has read.
        self._read = [0] * self._members

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_view"], state["_read"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._process_local()
        register_own_lock(self._lock)

    def _at(self, label: int) -> int:
        return self._first_slot + (label - 1) * self._slot_size

    # What the parent does.

    def new_round(self) -> None:
        """No cycle found yet, no member waiting (order edges stay: they add up)."""
        with self._lock:
            _HEAD.pack_into(self._view, 0, 0, 0)
            for label in range(1, self._members + 1):
                self._view[self._at(label) : self._at(label) + _WAIT.size] = bytes(_WAIT.size)

    def cycle(self) -> tuple[LockStep, ...]:
        """The deadlock found in this round, one step per member in it; empty if none."""
        with self._lock:
            _, steps = _HEAD.unpack_from(self._view, 0)
            return tuple(
                _step(_STEP.unpack_from(self._view, _HEAD.size + index * _STEP.size))
                for index in range(steps)
            )

    def new_edges(self) -> list[LockStep]:
        """The order edges booked since the last call (read when the members are idle)."""
        found = []
        for label in range(1, self._members + 1):
            at = self._at(label) + _WAIT.size
            (count,) = _COUNT.unpack_from(self._view, at)
            for index in range(self._read[label - 1], count):
                fields = _EDGE.unpack_from(self._view, at + _COUNT.size + index * _EDGE.size)
                held, held_at, wanted, wanted_at = _sites(fields, 2)
                guards = fields[7 : 7 + fields[6]]
                found.append(LockStep(label, held, held_at, wanted, wanted_at, guards))
            self._read[label - 1] = count
        return found

    # What a member does.

    def book(
        self,
        label: int,
        held: int,
        held_at: tuple[str, int],
        wanted: int,
        wanted_at: tuple[str, int],
        guards: tuple[int, ...],
    ) -> None:
        """Book an order edge of ``label``'s (only that member writes its edges)."""
        at = self._at(label) + _WAIT.size
        (count,) = _COUNT.unpack_from(self._view, at)
        if count == EDGES:
            return
        kept = guards[:_GUARDS]
        _EDGE.pack_into(
            self._view,
            at + _COUNT.size + count * _EDGE.size,
            *_site_fields(held, held_at),
            *_site_fields(wanted, wanted_at),
            len(kept),
            *kept,
            *(0,) * (_GUARDS - len(kept)),
        )
        _COUNT.pack_into(self._view, at, count + 1)

    def wait(
        self,
        label: int,
        wanted: int,
        site: tuple[str, int],
        held: list[tuple[int, tuple[str, int]]],
    ) -> None:
        """``label`` waits for ``wanted`` at ``site``, holding ``held`` (lock, site) pairs."""
        kept = held[:MAX_HELD]
        fields = [1, len(kept), *_site_fields(wanted, site)]
        for lock_id, taken in kept:
            fields += _site_fields(lock_id, taken)
        fields += [0, b"", 0] * (MAX_HELD - len(kept))
        with self._lock:
            _WAIT.pack_into(self._view, self._at(label), *fields)

    def done(self, label: int) -> None:
        """``label`` waits no more."""
        with self._lock:
            _WAITING.pack_into(self._view, self._at(label), 0)

    def deadlocked(self, label: int) -> bool:
        """Whether this round has a deadlock: found before, or a cycle of waits through
        ``label``, which this call then writes down."""
        view = self._view
        with self._lock:
            if _HEAD.unpack_from(view, 0)[0]:
                return True
            waits = dict(self._waits())
            # Each lock a waiting member holds: (that member, the lock and its site).
            holders = {
                site[0]: (member, site) for member, (_, held) in waits.items() for site in held
            }
            # Step by step, the member holding what the one before it waits for.
            steps: list[tuple[int, _Site]] = []
            member = label
            while True:
                holder = holders.get(waits[member][0][0])
                if holder is None or any(step[0] == holder[0] for step in steps):
                    return False  # a wait that may end, or a cycle this member only waits on
                steps.append(holder)
                member = holder[0]
                if member == label:
                    break
            for index, (member, held) in enumerate(steps):
                offset = _HEAD.size + index * _STEP.size
                _STEP.pack_into(view, offset, member, *held, *waits[member][0])
            _HEAD.pack_into(view, 0, label, len(steps))
            return True

    def _waits(self) -> Iterator[tuple[int, tuple[_Site, list[_Site]]]]:
        """Each waiting member: the lock it waits for, the locks it holds, with sites."""
        for label in range(1, self._members + 1):
            fields = _WAIT.unpack_from(self._view, self._at(label))
            if fields[0]:
                sites = [tuple(fields[at : at + 3]) for at in range(2, 5 + 3 * fields[1], 3)]
                yield label, (sites[0], sites[1:])


def _site_fields(lock_id: int, site: tuple[str, int]) -> tuple[int, bytes, int]:
    file, line = site
    return lock_id, file.encode(errors="replace")[-_FILE_BYTES:], line


def _sites(fields: tuple[Any, ...], count: int) -> list[Any]:
    """``count`` (lock id, file, line) triples of ``fields`` as lock id, ``file:line`` pairs."""
    found: list[Any] = []
    for index in range(count):
        lock_id, file, line = fields[index * 3 : index * 3 + 3]
        name = file.rstrip(b"\0").decode(errors="replace") or "<unknown file>"
        found += [lock_id, f"{name}:{line}"]
    return found


def _step(fields: tuple[Any, ...]) -> LockStep:
    held, held_at, wanted, wanted_at = _sites(fields[1:], 2)
    return LockStep(fields[0], held, held_at, wanted, wanted_at)


def user_site() -> tuple[str, int]:
    """(file, line) of the innermost frame of the caller's stack outside the package:
    where the code under test takes a lock or waits."""
    frame: Any = _getframe(1)
    while frame.f_code.co_filename.startswith(_PACKAGE) and frame.f_back is not None:
        frame = frame.f_back
    return (frame.f_code.co_filename, frame.f_lineno)


class Waits:
    """This process's part: the table it is a member of (None outside stress members),
    its label, where it took each lock it holds, the order edges it has booked."""

    def __init__(self) -> None:
        self.disarm()

    def disarm(self) -> None:
        """Not a stress member (a process a member forks is not one either)."""
        self.table: WaitTable | None = None
        self.label = 0
        self.sites: dict[int, tuple[str, int]] = {}
        self.booked: set[tuple[int, int, tuple[int, ...]]] = set()

    def arm(self, table: WaitTable, label: int) -> None:
        """Be member ``label`` of ``table`` (each round; a member keeps its table)."""
        self.table, self.label = table, label

    def acquire(
        self, lock: Any, lock_id: int, block: bool = True, timeout: float | None = None
    ) -> bool:
        """Acquire ``lock`` (known as ``lock_id``) as a member: raises ``Deadlocked`` where a
        plain acquire would wait forever.  Outside members, the plain acquire."""
        table = self.table
        if table is None:
            return bool(lock.acquire(block, timeout))
        site = user_site()
        semlock = getattr(lock, "_semlock", None)
        # Held already: an RLock reentered, or a Lock that this process would wait for forever.
        again = semlock is not None and semlock._is_mine()
        held = BOOK.held  # ``__enter__`` books the lock before it acquires it
        if len(held) > (lock_id in held) and block and timeout is None and not again:
            self._book(table, lock_id, site)
        if lock.acquire(False) or (
            block and self._wait(table, lock, lock_id, site, timeout, again)
        ):
            if not again:
                self.sites[lock_id] = site
            return True
        return False

    def _book(self, table: WaitTable, lock_id: int, site: tuple[str, int]) -> None:
        """Book an order edge from each lock held to ``lock_id``, once per distinct edge."""
        held = [other for other in BOOK.held if other != lock_id]
        guards = tuple(sorted(held))
        for outer in held:
            key = (outer, lock_id, guards)
            if key not in self.booked:
                self.booked.add(key)
                table.book(
                    self.label, outer, self.sites.get(outer, _NO_SITE), lock_id, site, guards
                )

    def _wait(
        self,
        table: WaitTable,
        lock: Any,
        lock_id: int,
        site: tuple[str, int],
        timeout: float | None,
        again: bool,
    ) -> bool:
        if timeout is not None:
            return bool(lock.acquire(True, timeout))  # a wait with an end is no deadlock
        if lock.acquire(True, SLICE):
            return True  # most waits end within a slice: nothing to publish
        label = self.label
        held = [
            (other, self.sites.get(other, _NO_SITE))
            for other in BOOK.held
            if other != lock_id or again
        ]
        table.wait(label, lock_id, site, held)
        try:
            while not table.deadlocked(label):
                if lock.acquire(True, SLICE):
                    return True
        finally:
            table.done(label)
        raise Deadlocked(
            "deadlock: the processes of this stress round wait for each other's locks "
            "(the check reports the cycle)"
        )


#: This process's part: one for the life of the process, disarmed in a forked child.
WAITS = Waits()
os.register_at_fork(after_in_child=WAITS.disarm)
