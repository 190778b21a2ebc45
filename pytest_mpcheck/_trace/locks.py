"""Per-process lock bookkeeping: which known locks this process holds, which are ours.

A known lock (the object's own, ``pytest_mpcheck.Lock``/``RLock``) held
across a read and a write makes a read-modify-write guarded; each
acquisition gets a serial so that the analysis can tell one holding from
two.  Locks of the user's that the trace cannot see (a ``multiprocessing``
lock, semaphore or queue) may order the accesses too: a process that holds
or has used one in its round is flagged *foreign*, so that it is never
blamed as unguarded (an actual lost update still is).

The book is a fact of the process, like its pid: one per process.  A forked
child holds nothing and has used nothing yet, but it has the parent's
primitives, so it keeps what the parent knew of them: a process that has
watched the user's primitives before forking spares each child the scan of
the heap it inherited.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import sys
import weakref
from multiprocessing import synchronize
from typing import Any

from pytest_mpcheck._trace.codec import encode_held, encode_one_held

__all__ = [
    "BOOK",
    "LOCK_CONTEXT",
    "LockBook",
    "register_own_lock",
]

# Locks are created with the spawn context: such a lock is inherited by fork
# children and pickled to spawn/forkserver children alike, where a lock made
# by the fork context may not be sent to a spawn child.
LOCK_CONTEXT = multiprocessing.get_context("spawn")


class LockBook:
    """Which known locks this process holds, and what it knows of the user's primitives.

    ``foreign`` holds the ``multiprocessing`` primitives of this process that
    are not ours; ``hidden`` says a lock we cannot inspect exists (a manager's
    proxy); ``synced`` says this process used a primitive of the user's since
    its round began.  ``held_record`` and ``holding`` are kept up to date on
    every acquire and release, so that an access reads them without work;
    ``calm`` says, the same way, that nothing foreign can be held (set when that
    was found, cleared by any change that could make it untrue).
    """

    def __init__(self) -> None:
        self.ours: weakref.WeakSet[Any] = weakref.WeakSet()
        self.foreign: weakref.WeakSet[Any] = weakref.WeakSet()
        self.watching = False
        self.hidden = False
        # The foreign locks to inspect on each access, recomputed when the sets change;
        # weak, so that watching a lock never keeps it (and its semaphore) alive.
        self.suspects: list[weakref.ref[Any]] | None = None
        self.calm = False
        self.fresh()

    def fresh(self) -> None:
        """A forked child holds and has used nothing; what is known of primitives stays."""
        self.pid = os.getpid()
        self.synced = False
        self.held: dict[int, list[int]] = {}
        self.serials = itertools.count(1)
        self.holding = 0
        self.held_record = b""

    def acquired(self, lock_id: int) -> None:
        held = self.held
        serial = next(self.serials)
        if not held:  # the common case, kept short: the first lock held
            held[lock_id] = [serial]
            self.holding, self.held_record = 1, encode_one_held(lock_id, serial)
            return
        serials = held.get(lock_id)
        if serials:
            # Reentered: the record names the outermost acquisition, which stays.
            serials.append(serial)
            return
        held[lock_id] = [serial]
        self._changed()

    def released(self, lock_id: int) -> None:
        held = self.held
        serials = held.get(lock_id)
        if not serials:
            return
        if len(serials) > 1:
            serials.pop()
            return
        del held[lock_id]
        if held:
            self._changed()
        else:
            self.holding, self.held_record = 0, b""

    def _changed(self) -> None:
        held = self.held
        self.holding = len(held)
        self.held_record = (
            encode_held([(lock_id, serials[0]) for lock_id, serials in held.items()])
            if held
            else b""
        )

    def new_round(self) -> None:
        """A round starts: nothing held, no primitive of the user's used yet."""
        self.held.clear()
        self._changed()
        self.synced = False

    def register(self, *locks: Any) -> None:
        self.ours.update(locks)
        self.unsettle()
        for lock in locks:
            _unwatch_acquire(lock)

    def unsettle(self) -> None:
        """The primitives known changed: which to inspect is to be found again."""
        self.suspects = None
        self.calm = False

    def foreign_lock_held(self) -> bool:
        """Whether something the trace cannot see may order this process's accesses."""
        if self.hidden or self.synced:
            return True
        suspects = self.suspects
        if suspects is None:
            self.watch()
            if self.hidden:
                return True
            suspects = self.suspects = [
                weakref.ref(lock) for lock in self.foreign if lock not in self.ours
            ]
        if not suspects:
            self.calm = True
            return False
        for ref in suspects:
            lock = ref()
            try:
                if lock is not None and lock._semlock._is_mine():
                    return True
            except (AttributeError, OSError, ValueError):
                continue
        return False

    def watch(self) -> None:
        """Watch the user's ``multiprocessing`` primitives in this process, now and from now on.

        Done once per process, at its first access; a check calls it before forking
        so that its children inherit the result instead of each scanning the heap.
        """
        if self.watching:
            return
        self.watching = True
        proxy = _manager_lock_type()
        for obj in gc.get_objects():
            if isinstance(obj, synchronize.SemLock):
                self.foreign.add(obj)
                if obj not in self.ours:
                    _watch_acquire(obj)
            elif isinstance(obj, proxy):
                self.hidden = True
                self.calm = False
        _watch_new_semlocks()

    def used(self, lock: Any) -> None:
        """A primitive was used: if it is the user's, this process is synced from now on
        in its round (the watching wrappers skip this call once it is, to stay cheap)."""
        if lock not in self.ours:
            self.synced = True
            self.calm = False


#: This process's book: one object for the life of the process, refreshed in a forked child.
BOOK = LockBook()
os.register_at_fork(after_in_child=BOOK.fresh)


def register_own_lock(*locks: Any) -> None:
    """Mark ``multiprocessing`` primitives as part of our machinery, not the user's."""
    BOOK.register(*locks)


def _watch_new_semlocks() -> None:
    """Make every ``SemLock`` created from now on known to the book, and its use seen."""
    semlock: Any = synchronize.SemLock
    original = semlock._make_methods
    if getattr(original, "_mpcheck_watch", False):
        return

    def make_methods(self: Any) -> None:
        original(self)
        BOOK.foreign.add(self)
        BOOK.unsettle()
        _watch_acquire(self)

    def enter(self: Any) -> Any:
        if not BOOK.synced:
            BOOK.used(self)
        return self._semlock.__enter__()

    make_methods._mpcheck_watch = True  # type: ignore[attr-defined]
    semlock._make_methods = make_methods
    semlock.__enter__ = enter


def _watch_acquire(lock: Any) -> None:
    """Rebind one primitive's ``acquire`` (an instance attribute) so that its use is seen."""
    acquire = lock.__dict__.get("acquire")
    if acquire is None or getattr(acquire, "_mpcheck_watch", False):
        return

    def watched(*args: Any, **kwargs: Any) -> Any:
        if not BOOK.synced:
            BOOK.used(lock_ref())
        return acquire(*args, **kwargs)

    lock_ref = weakref.ref(lock)
    watched._mpcheck_watch = True  # type: ignore[attr-defined]
    lock.acquire = watched


def _unwatch_acquire(lock: Any) -> None:
    """Our own primitives are never the user's: their ``acquire`` goes unwatched (and fast)."""
    acquire = lock.__dict__.get("acquire")
    if getattr(acquire, "_mpcheck_watch", False):
        lock.acquire = lock._semlock.acquire


def _manager_lock_type() -> Any:
    """A manager's lock proxy type, if managers are in use at all (never imported here)."""
    managers = sys.modules.get("multiprocessing.managers")
    return getattr(managers, "AcquirerProxy", ()) if managers is not None else ()
