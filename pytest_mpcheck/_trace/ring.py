"""The bounded access trace that instrumented shared objects write, across processes.

Each instrumented object owns one ``Trace``: a ring buffer of fixed-size
records in shared memory, a counter and a lock — the object's own lock when
it has one, else one of the trace's.  The real memory access and its record
happen under that lock, so the order of records is the order in which the
object's memory was really read and written, whichever process did it.  The
lock is held for one access only, never across a read-modify-write, so races
in the code under test stay races.

Each record carries the process, the operation, the location range, the
value, the source line and the known locks the process held, each with the
serial number of that acquisition: a lock held across a read and a write has
the same serial at both.

Memory per object: ``CAPACITY`` records of ``RECORD.size`` bytes (about
300 KiB) plus a table of ``FILES`` source file names of ``FILE_BYTES``
bytes each; older records are overwritten once the ring is full.
"""

from __future__ import annotations

import contextlib
import operator
import os
import struct
import sys
import zlib
from multiprocessing import sharedctypes, synchronize
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_mpcheck._trace.codec import INT, READ, RECORD, decode, encode_value
from pytest_mpcheck._trace.locks import BOOK, LOCK_CONTEXT, register_own_lock
from pytest_mpcheck._trace.policy import current, noise_from

if TYPE_CHECKING:
    from pytest_mpcheck._model import Event

__all__ = ["CAPACITY", "Records", "Trace"]

CAPACITY = 4096
FILES = 32
FILE_BYTES = 240
_FILE_ENTRY = struct.Struct("<IB")
_pack_into, _SIZE = RECORD.pack_into, RECORD.size
_getframe = sys._getframe
#: The plain ints a record holds as they are (its ``q`` slot).
_SMALLEST, _LARGEST = -(2**63), 2**63 - 1

#: Frames in files under this directory (the package) are the instrumentation's own:
#: the line of an access is the first frame outside it.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Trace:
    """Shared ring buffer of access records for one object; picklable to children."""

    def __init__(
        self,
        seed: int,
        lock: Any = None,
        lock_id: int = 0,
        guard_id: int = 0,
        capacity: int = CAPACITY,
    ) -> None:
        """``seed`` seeds the noise of processes nobody configured; ``lock`` is the
        object's own lock, if it has one, which then also guards the records; a
        process holding the known reentrant lock ``lock_id`` holds ``lock`` already;
        ``guard_id`` is the known lock whose real lock ``lock`` is, which a policy may
        make an access wait for."""
        self._lock_id = lock_id
        self._guard_id = guard_id
        self._capacity = capacity
        self._seed = seed
        self._buffer: Any = sharedctypes.RawArray("b", capacity * RECORD.size)
        self._count: Any = sharedctypes.RawValue("q", 0)
        self._files: Any = sharedctypes.RawArray("b", FILES * FILE_BYTES)
        self.lock: Any = lock if lock is not None else synchronize.Lock(ctx=LOCK_CONTEXT)
        register_own_lock(self.lock)
        self._process_local()

    def _process_local(self) -> None:
        """What each process keeps for itself: file ids by name, a view of the ring, and,
        once stopped, the untraced access in place of ``record``."""
        self._sites: dict[str, int] = {}
        self._view = memoryview(self._buffer).cast("B")
        self._counter = memoryview(self._count).cast("B").cast("q")
        if self.__dict__.get("_stopped"):
            self.record = self._untraced  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_sites"], state["_view"], state["_counter"]
        state.pop("record", None)
        return state

    def stop(self) -> None:
        """Record nothing more, here and in the processes the object is handed to from now
        on: each access goes to memory under the lock, as the original object's does."""
        self._stopped = True
        self._process_local()

    def _untraced(
        self, op: int, lo: int, hi: int, target: Any, key: Any, new: Any = None, item: bool = False
    ) -> Any:
        store, load = (operator.setitem, operator.getitem) if item else (setattr, getattr)
        with contextlib.nullcontext() if self._lock_id in BOOK.held else self.lock:
            if op != READ:
                store(target, key, new)
            return load(target, key)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._process_local()
        register_own_lock(self.lock)

    def record(
        self, op: int, lo: int, hi: int, target: Any, key: Any, new: Any = None, item: bool = False
    ) -> Any:
        """Access ``target``'s attribute ``key`` (its item if ``item``), record it under the
        lock, then let the policy act.

        A read returns the value read; a write stores ``new`` and returns the value
        then stored.  The source line recorded is the first frame outside the package;
        the search starts above the caller, always a wrapper of the package's own.
        Kept in one function, with no callable per access: this is every access's path.
        """
        frame: Any = _getframe(2)
        file_id = self._sites.get(frame.f_code.co_filename)
        if not file_id:
            frame, file_id = self._site(frame)
        process = BOOK
        tracing = current()
        chosen = tracing.policy
        if chosen is None:
            tracing, chosen = noise_from(self._seed)
        lock = None if self._lock_id in process.held else self.lock
        if lock is not None:
            if tracing.on_locks and self._guard_id:
                chosen.wait_free(self._guard_id)
            lock.acquire()
        try:
            if op != READ:
                if item:
                    target[key] = new
                else:
                    setattr(target, key, new)
            value = target[key] if item else getattr(target, key)
            if type(value) is int and _SMALLEST <= value <= _LARGEST:
                kind, ival, fval = INT, value, 0.0
            else:
                kind, ival, fval = encode_value(value)
            counter = self._counter
            step = counter[0]
            _pack_into(
                self._view,
                (step % self._capacity) * _SIZE,
                tracing.label,
                process.pid,
                op,
                kind,
                lo,
                hi,
                ival,
                fval,
                file_id,
                frame.f_lineno,
                # No call while nothing may be foreign: the common case.
                not process.calm and process.foreign_lock_held(),
                process.holding,
                process.held_record,
            )
            counter[0] = step + 1
        finally:
            if lock is not None:
                lock.release()
        if op == READ:
            if tracing.held_reads if process.holding else tracing.free_reads:
                chosen.read(lo, hi, process.holding > 0)
        elif tracing.on_writes:
            chosen.write(lo, hi, process.holding > 0)
        return value

    def _site(self, frame: Any) -> tuple[Any, int]:
        """The first frame from ``frame`` out that is outside the package, and its file's id
        (the outermost frame and 0 if there is none): the rare path, where a file is seen
        for the first time or an access goes through another wrapper of the package."""
        sites = self._sites
        while True:
            filename = frame.f_code.co_filename
            file_id = sites.get(filename)
            if file_id is None:
                file_id = self._learn(filename)
            if file_id or frame.f_back is None:
                return frame, file_id
            frame = frame.f_back

    def _learn(self, filename: str) -> int:
        """The id of a source file (0 for the package's own), entered in the shared table."""
        if filename.startswith(_PACKAGE):
            self._sites[filename] = 0
            return 0
        file_id = zlib.crc32(filename.encode()) or 1
        self._sites[filename] = file_id
        files = memoryview(self._files).cast("B")
        name = filename.encode()[-(FILE_BYTES - _FILE_ENTRY.size) :]
        entry = _FILE_ENTRY.pack(file_id, len(name)) + name
        for offset in range(0, FILES * FILE_BYTES, FILE_BYTES):
            current = _FILE_ENTRY.unpack_from(files, offset)[0]
            if current == file_id:
                break
            if current == 0:
                files[offset : offset + len(entry)] = entry
                break
        return file_id

    def clear(self) -> None:
        with self.lock:
            self._count.value = 0

    def records(self) -> Records:
        """The records still in the ring, copied under the lock, to decode outside it."""
        view = self._view
        with self.lock:
            count = self._count.value
            first = max(0, count - self._capacity)
            # The ring unrolled: from the oldest record's slot to the end, then from the start.
            split = (first % self._capacity) * _SIZE
            end = split + (count - first) * _SIZE
            data = bytes(view[split:end]) + bytes(view[: max(0, end - len(view))])
            files = bytes(memoryview(self._files).cast("B"))
        return Records(data, first, files)

    def events(self) -> list[Event]:
        """The records still in the ring, oldest first."""
        return self.records().events()


class Records(NamedTuple):
    """A trace's records as they stood when copied: the oldest one's step, its file table."""

    data: bytes
    first: int
    files: bytes

    def events(self) -> list[Event]:
        """The events the records stand for, oldest first."""
        files = self.files
        names: dict[int, str] = {}
        for offset in range(0, len(files), FILE_BYTES):
            file_id, length = _FILE_ENTRY.unpack_from(files, offset)
            if file_id:
                start = offset + _FILE_ENTRY.size
                names[file_id] = files[start : start + length].decode(errors="replace")
        return decode(self.data, self.first, names)
