"""The bounded access trace that instrumented shared objects write, across processes.

Each instrumented object owns one ``Trace``: a ring buffer of fixed-size
records in shared memory, a counter and a lock.  The real memory access and
its record happen under that lock, so the order of records is the order in
which the object's memory was really read and written, whichever process did
it.  The lock is held for one access only, never across a read-modify-write,
so races in the code under test stay races.

Each record carries the process, the operation, the location range, the
value, the source line and the known locks the process held, each with the
serial number of that acquisition: a lock held across a read and a write has
the same serial at both.

Memory per object: ``CAPACITY`` records of ``RECORD.size`` bytes (about
300 KiB) plus a table of ``FILES`` source file names of ``FILE_BYTES``
bytes each; older records are overwritten once the ring is full.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import random
import struct
import sys
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing import sharedctypes, synchronize
from typing import Any

from pytest_mpcheck._model import READ, WRITE, Event

__all__ = [
    "CAPACITY",
    "NOISE",
    "READ",
    "WRITE",
    "Event",
    "Trace",
    "configure_process",
    "held_locks",
    "lock_acquired",
    "lock_released",
    "pause_after_read",
    "register_own_lock",
    "set_seed",
]

CAPACITY = 4096
#: Probability of a pause after each instrumented read.
NOISE = 0.1
_seed = [0]
FILES = 32
FILE_BYTES = 240
MAX_HELD = 4

# proc, pid, op, kind, lo, hi, ival, fval, file, line, foreign, nheld, 4 lock ids, 4 serials
RECORD = struct.Struct("<iibbiiqdIibb4I4I")
_NONE, _INT, _FLOAT, _BYTES = 0, 1, 2, 3

#: Source files of the instrumentation itself, skipped when naming the line of an access.
INTERNAL_FILES = {__file__}

# Locks are created with the spawn context: such a lock is inherited by fork
# children and pickled to spawn/forkserver children alike, where a lock made
# by the fork context may not be sent to a spawn child.
_LOCK_CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class _ProcessState:
    """Per-process facts: who we are, which known locks we hold, the noise generator.

    ``foreign`` holds the ``multiprocessing`` locks of this process that are not
    ours; ``hidden`` says a lock we cannot inspect exists (a manager's proxy);
    ``synced`` says this process used a primitive of the user's (a lock, a
    semaphore, a queue, an event) since its round began.
    """

    label: int = 0
    pid: int = field(default_factory=os.getpid)
    watching: bool = False
    foreign: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    ours: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    hidden: bool = False
    synced: bool = False
    # The foreign locks to inspect on each access, recomputed when the sets change;
    # weak, so that watching a lock never keeps it (and its semaphore) alive.
    suspects: list[weakref.ref[Any]] | None = None
    held: dict[int, list[int]] = field(default_factory=dict)
    serials: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    rng: random.Random | None = None
    noise: float = 0.0


_state = _ProcessState()


def _process() -> _ProcessState:
    return _state


def _fresh_state() -> None:
    """A forked child starts with its own identity, locks held and noise; the locks
    that are ours stay ours."""
    global _state
    ours = _state.ours
    _state = _ProcessState()
    _state.ours.update(ours)


os.register_at_fork(after_in_child=_fresh_state)


def register_own_lock(*locks: Any) -> None:
    """Mark ``multiprocessing`` primitives as part of our machinery, not the user's."""
    state = _process()
    state.ours.update(locks)
    state.suspects = None


def _watch_locks(state: _ProcessState) -> None:
    """Watch the user's ``multiprocessing`` primitives in this process, now and from now on.

    Something the trace cannot see (a lock inherited by fork or passed to a
    process at start, a semaphore, a queue handing a token around) may order
    the read-modify-writes; an access by a process that has used such a
    primitive in its round, or holds one, is flagged so that it is never
    blamed as unguarded (an actual lost update still is).
    """
    state.watching = True
    proxy = _manager_lock_type()
    for obj in gc.get_objects():
        if isinstance(obj, synchronize.SemLock):
            state.foreign.add(obj)
            _watch_acquire(obj)
        elif isinstance(obj, proxy):
            state.hidden = True
    semlock: Any = synchronize.SemLock
    original = semlock._make_methods
    if getattr(original, "_mpcheck_watch", False):
        return

    def make_methods(self: Any) -> None:
        original(self)
        state = _process()
        state.foreign.add(self)
        state.suspects = None
        _watch_acquire(self)

    def enter(self: Any) -> Any:
        _used(self)
        return self._semlock.__enter__()

    make_methods._mpcheck_watch = True  # type: ignore[attr-defined]
    semlock._make_methods = make_methods
    semlock.__enter__ = enter


def _used(lock: Any) -> None:
    state = _process()
    if lock not in state.ours:
        state.synced = True


def _watch_acquire(lock: Any) -> None:
    """Rebind one primitive's ``acquire`` (an instance attribute) so that its use is seen."""
    acquire = lock.__dict__.get("acquire")
    if acquire is None or getattr(acquire, "_mpcheck_watch", False):
        return

    def watched(*args: Any, **kwargs: Any) -> Any:
        _used(lock_ref())
        return acquire(*args, **kwargs)

    lock_ref = weakref.ref(lock)
    watched._mpcheck_watch = True  # type: ignore[attr-defined]
    lock.acquire = watched


def _manager_lock_type() -> Any:
    """A manager's lock proxy type, if managers are in use at all (never imported here)."""
    managers = sys.modules.get("multiprocessing.managers")
    return getattr(managers, "AcquirerProxy", ()) if managers is not None else ()


def _foreign_lock_held(state: _ProcessState) -> bool:
    if not state.watching:
        _watch_locks(state)
    if state.hidden or state.synced:
        return True
    if state.suspects is None:
        state.suspects = [weakref.ref(lock) for lock in state.foreign if lock not in state.ours]
    for ref in state.suspects:
        lock = ref()
        try:
            if lock is not None and lock._semlock._is_mine():
                return True
        except (AttributeError, OSError, ValueError):
            continue
    return False


def set_seed(seed: int) -> None:
    """The seed new traces carry to the processes that use them."""
    _seed[0] = seed


def configure_process(label: int, seed: int, round_number: int, noise: float) -> None:
    """Name this process and seed its noise for one round (called by stress workers)."""
    state = _process()
    state.label = label
    state.rng = random.Random(f"{seed}:{round_number}:{label}")
    state.noise = noise
    state.held.clear()
    state.synced = False


def held_locks() -> tuple[tuple[int, int], ...]:
    """(lock id, acquisition serial) of each known lock this process holds now."""
    held = _process().held
    return tuple((lock_id, serials[0]) for lock_id, serials in held.items() if serials)


def lock_acquired(lock_id: int) -> None:
    state = _process()
    state.held.setdefault(lock_id, []).append(next(state.serials))


def lock_released(lock_id: int) -> None:
    serials = _process().held.get(lock_id)
    if serials:
        serials.pop()


def pause_after_read() -> None:
    """Seeded noise: sometimes give the CPU away between a read and what follows."""
    state = _process()
    if state.rng is None or state.noise <= 0 or any(state.held.values()):
        # Under a known lock a pause exposes nothing: it only makes the others wait.
        return
    if state.rng.random() < state.noise:
        if state.rng.random() < 0.5:
            os.sched_yield()
        else:
            time.sleep(state.rng.uniform(10e-6, 100e-6))


def _encode(value: object) -> tuple[int, int, float]:
    if isinstance(value, bool | int):
        if -(2**63) <= int(value) < 2**63:
            return _INT, int(value), 0.0
        return _BYTES, zlib.crc32(repr(value).encode()), 0.0
    if isinstance(value, float):
        return _FLOAT, 0, value
    if isinstance(value, bytes | bytearray) and len(value) <= 8:
        return _BYTES, int.from_bytes(bytes(value).ljust(8, b"\0"), "little", signed=True), 0.0
    return _NONE, 0, 0.0


def _decode(kind: int, ival: int, fval: float) -> object:
    if kind == _INT:
        return ival
    if kind == _FLOAT:
        return fval
    if kind == _BYTES:
        return ival.to_bytes(8, "little", signed=True).rstrip(b"\0")
    return None


class Trace:
    """Shared ring buffer of access records for one object; picklable to children."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._seed = _seed[0]
        self._buffer: Any = sharedctypes.RawArray("b", capacity * RECORD.size)
        self._count: Any = sharedctypes.RawValue("q", 0)
        self._files: Any = sharedctypes.RawArray("b", FILES * FILE_BYTES)
        self._lock = synchronize.Lock(ctx=_LOCK_CONTEXT)
        register_own_lock(self._lock)
        self._known_files: set[int] = set()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_known_files"] = set()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        register_own_lock(self._lock)

    def record(self, op: int, lo: int, hi: int, access: Callable[[], Any]) -> Any:
        """Perform ``access`` and record it, atomically; returns what ``access`` returns.

        For a write, ``access`` returns the value written.  The source line
        recorded is the first frame outside the instrumentation.
        """
        frame: Any = sys._getframe(1)
        while frame.f_back is not None and frame.f_code.co_filename in INTERNAL_FILES:
            frame = frame.f_back
        filename, line = frame.f_code.co_filename, frame.f_lineno
        file_id = zlib.crc32(filename.encode())
        with self._lock:
            value = access()
            self._remember_file(file_id, filename)
            kind, ival, fval = _encode(value)
            held = held_locks()[:MAX_HELD]
            ids = [lock_id for lock_id, _ in held] + [0] * (MAX_HELD - len(held))
            serials = [serial for _, serial in held] + [0] * (MAX_HELD - len(held))
            slot = self._count.value % self._capacity
            state = _process()
            if state.rng is None:
                name = multiprocessing.current_process().name
                state.rng, state.noise = random.Random(f"{self._seed}:{name}"), NOISE
            foreign = _foreign_lock_held(state)
            RECORD.pack_into(
                self._buffer,
                slot * RECORD.size,
                state.label,
                state.pid,
                op,
                kind,
                lo,
                hi,
                ival,
                fval,
                file_id,
                line,
                foreign,
                len(held),
                *ids,
                *serials,
            )
            self._count.value += 1
        return value

    def _remember_file(self, file_id: int, filename: str) -> None:
        if file_id in self._known_files:
            return
        self._known_files.add(file_id)
        files = memoryview(self._files).cast("B")
        name = filename.encode()[-(FILE_BYTES - 5) :]
        entry = struct.pack("<IB", file_id, len(name)) + name
        for offset in range(0, FILES * FILE_BYTES, FILE_BYTES):
            current = struct.unpack_from("<I", files, offset)[0]
            if current == file_id:
                return
            if current == 0:
                files[offset : offset + len(entry)] = entry
                return

    def clear(self) -> None:
        with self._lock:
            self._count.value = 0

    def events(self) -> list[Event]:
        """The records still in the ring, oldest first."""
        with self._lock:
            count = self._count.value
            raw = bytes(memoryview(self._buffer).cast("B"))
            files = bytes(memoryview(self._files).cast("B"))
        names: dict[int, str] = {}
        for offset in range(0, len(files), FILE_BYTES):
            file_id, length = struct.unpack_from("<IB", files, offset)
            if file_id:
                names[file_id] = files[offset + 5 : offset + 5 + length].decode(errors="replace")
        first = max(0, count - self._capacity)
        events = []
        for step in range(first, count):
            fields = RECORD.unpack_from(raw, (step % self._capacity) * RECORD.size)
            nheld = fields[11]
            held = tuple(zip(fields[12 : 12 + nheld], fields[16 : 16 + nheld], strict=True))
            events.append(
                Event(
                    step,
                    fields[0],
                    fields[1],
                    fields[2],
                    fields[4],
                    fields[5],
                    _decode(fields[3], fields[6], fields[7]),
                    names.get(fields[8], "<unknown file>"),
                    fields[9],
                    held,
                    bool(fields[10]),
                )
            )
        return events
