"""Instrumented drop-ins for ``multiprocessing`` ``Value``, ``Array``, ``Lock`` and ``RLock``.

They keep the ``multiprocessing`` API (typecodes and ctypes types, Structures
included; ``lock=True/False/None`` or a given lock; ``.value``/``.raw`` of
char arrays, indexing and slices, ``get_lock()``, ``get_obj()``, ``len()``)
and the same per-access locking, and every access through them is recorded
in the object's ``Trace``.  Accesses through ``get_obj()`` bypass the record,
as they bypass the lock in ``multiprocessing``.

Their locks come from the spawn context so that the objects can be handed
to processes of every start method.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterator
from multiprocessing import sharedctypes, synchronize
from multiprocessing.context import assert_spawning
from typing import Any

from pytest_mpcheck._trace.codec import READ, WRITE
from pytest_mpcheck._trace.locks import BOOK, LOCK_CONTEXT, register_own_lock
from pytest_mpcheck._trace.policy import acquired, current, releasing
from pytest_mpcheck._trace.ring import Records, Trace

__all__ = [
    "Array",
    "Lock",
    "RLock",
    "Shared",
    "Value",
    "describe_shared",
    "location_name",
    "reset",
    "semaphore_of",
    "snapshot",
    "trace_records",
]

_NO_LOCK = (
    "{} created with lock=False has no get_lock()/acquire()/release(), like "
    "multiprocessing's Raw objects; guard it with a separate Lock"
)


class Lock:
    """Drop-in for ``multiprocessing.Lock`` whose acquisitions the analysis can see."""

    _reentrant = False

    def __init__(self, wrap: Any = None) -> None:
        if wrap is None:
            # The classes, not the context's factories, which instrument() replaces.
            kind = synchronize.RLock if self._reentrant else synchronize.Lock
            wrap = kind(ctx=LOCK_CONTEXT)
        self._lock = wrap
        # Random (ids must not collide across processes), odd (never 0, "no lock").
        self._id = int.from_bytes(os.urandom(4), "little") >> 1 | 1
        register_own_lock(wrap)

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        register_own_lock(self._lock)

    # Each holding is booked (for the records) and told to the policy (a point where it may
    # act).  The book is this process's alone: on the common path it is written outside
    # the real lock, so that the time others wait for it is the code under test's.
    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        got = bool(self._lock.acquire(block, timeout))
        if got:
            BOOK.acquired(self._id)
            acquired(self._id)
        return got

    def release(self) -> None:
        releasing(self._id)
        self._lock.release()
        BOOK.released(self._id)

    def __enter__(self) -> bool:
        BOOK.acquired(self._id)  # a blocking acquire either succeeds or raises
        try:
            self._lock.acquire()
        except BaseException:
            BOOK.released(self._id)
            raise
        acquired(self._id)
        return True

    def __exit__(self, *exc_info: object) -> None:
        releasing(self._id)
        self._lock.release()
        BOOK.released(self._id)

    def itself(self) -> Lock:
        """What ``get_lock()`` of the object it guards returns."""
        return self

    def __repr__(self) -> str:
        return f"<pytest_mpcheck.{type(self).__name__} {self._lock!r}>"


class RLock(Lock):
    """Drop-in for ``multiprocessing.RLock`` whose acquisitions the analysis can see."""

    _reentrant = True


def _own_lock(lock: object) -> Lock | None:
    """The lock an object guards itself with, as ``multiprocessing`` chooses it."""
    if lock is False:
        return None
    if lock is True or lock is None:
        return RLock()
    if isinstance(lock, Lock):
        return lock
    if not hasattr(lock, "acquire") or not hasattr(lock, "release"):
        raise AttributeError(
            f"{lock!r} has no method 'acquire'; lock= accepts True, False, None or a lock"
        )
    return RLock(lock)


class Shared:
    """What ``Value`` and ``Array`` share: raw memory, own lock, trace, initial bytes."""

    #: The public class name, for messages (a ``StructureValue`` is a ``Value``).
    _kind: str
    _raw: Any
    _lock: Lock | None
    _trace: Trace
    _initial: bytes
    get_lock: Callable[[], Lock]
    acquire: Callable[..., bool]
    release: Callable[[], None]

    def _setup(self, raw: Any, lock: object) -> None:
        self._raw = raw
        self._lock = _own_lock(lock)
        # The object's own lock also orders its records: one lock per access, as in
        # multiprocessing.  The seed is the active check's, for processes nobody configures.
        own = self._lock
        self._trace = Trace(
            current().seed,
            own._lock if own is not None else None,
            # Holding our own RLock already holds the inner one: the trace needs not retake it.
            own._id if own is not None and lock in (True, None) else 0,
        )
        self._initial = bytes(memoryview(raw).cast("B"))
        if own is not None:
            # Instance attributes, not properties: like multiprocessing's Raw objects a
            # lock=False object has none (hasattr() is False), and get_lock() is one call.
            self.get_lock = own.itself
            self.acquire = own.acquire
            self.release = own.release

    def __getstate__(self) -> dict[str, Any]:
        assert_spawning(self)
        return self.__dict__.copy()

    def _reset(self) -> None:
        """Restore the value it was created with (stress does this before each round)."""
        ctypes.memmove(ctypes.addressof(self._raw), self._initial, len(self._initial))
        self._trace.clear()

    def _snapshot(self) -> Any:
        raise NotImplementedError

    def get_obj(self) -> Any:
        return self._raw

    def _guard(self) -> Lock:
        if self._lock is None:
            raise AttributeError(_NO_LOCK.format(self._kind))
        return self._lock

    def __getattr__(self, name: str) -> Any:
        """Only reached when an attribute is missing (a lock=False object's
        ``get_lock``, a Structure's ``value``): say why."""
        if name in ("get_lock", "acquire", "release") and self.__dict__.get("_lock") is None:
            raise AttributeError(_NO_LOCK.format(self._kind))
        raise AttributeError(f"{self._kind!r} object has no attribute {name!r}")

    def __enter__(self) -> bool:
        return self._guard().__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._guard().__exit__(*exc_info)


class Value(Shared):
    """Drop-in for ``multiprocessing.Value``: ``.value`` (or a Structure's fields), recorded.

    A Structure's value is a ``StructureValue``, so that a plain value pays for
    no ``__setattr__`` override on its every write.
    """

    _kind = "Value"
    #: The Structure's fields (a plain value has none).
    _fields: tuple[str, ...] = ()

    def __new__(cls, typecode_or_type: Any = None, *args: Any, lock: object = True) -> Value:
        structure = cls is Value and getattr(typecode_or_type, "_fields_", None)
        return super().__new__(StructureValue if structure else cls)

    def __init__(self, typecode_or_type: Any, *args: Any, lock: object = True) -> None:
        self._setup(sharedctypes.RawValue(typecode_or_type, *args), lock)

    @property
    def value(self) -> Any:
        return self._trace.record(READ, 0, 1, self._raw, "value")

    @value.setter
    def value(self, new: Any) -> None:
        self._trace.record(WRITE, 0, 1, self._raw, "value", new)

    def _snapshot(self) -> Any:
        return self._raw.value

    def __repr__(self) -> str:
        return f"<pytest_mpcheck.Value wrapper for {self._raw!r}>"


class StructureValue(Value):
    """A ``Value`` of a ``ctypes.Structure``: its fields, recorded, and no ``.value``."""

    def __init__(self, typecode_or_type: Any, *args: Any, lock: object = True) -> None:
        super().__init__(typecode_or_type, *args, lock=lock)
        self._fields = tuple(field[0] for field in type(self._raw)._fields_)

    @property
    def value(self) -> Any:
        raise AttributeError("value")  # __getattr__ explains

    @value.setter
    def value(self, new: Any) -> None:
        # As on a plain value: stored on the raw object (ctypes lets it), recorded.
        self._trace.record(WRITE, 0, 1, self._raw, "value", new)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        fields = self._fields
        if name in fields:
            index = fields.index(name)
            return self._trace.record(READ, index, index + 1, self._raw, name)
        if name == "value":
            raise AttributeError(
                f"a Value of {type(self._raw).__name__} has fields ({', '.join(fields)}), "
                "not .value"
            )
        return super().__getattr__(name)

    def __setattr__(self, name: str, new: Any) -> None:
        if name.startswith("_") or name == "value" or name not in self._fields:
            object.__setattr__(self, name, new)
            return
        index = self._fields.index(name)
        self._trace.record(WRITE, index, index + 1, self._raw, name, new)

    def _snapshot(self) -> Any:
        return tuple(getattr(self._raw, name) for name in self._fields)


class Array(Shared):
    """Drop-in for ``multiprocessing.Array``: items, slices, ``.value``/``.raw``, recorded."""

    _kind = "Array"

    def __init__(
        self, typecode_or_type: Any, size_or_initializer: Any, *, lock: object = True
    ) -> None:
        self._setup(sharedctypes.RawArray(typecode_or_type, size_or_initializer), lock)

    def __len__(self) -> int:
        return len(self._raw)

    def _span(self, key: int | slice) -> tuple[int, int]:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self._raw))
            indices = range(start, stop, step)
            return (min(indices), max(indices) + 1) if indices else (0, 0)
        index = key + len(self._raw) if key < 0 else key
        return index, index + 1

    def __getitem__(self, key: int | slice) -> Any:
        lo, hi = self._span(key)
        return self._trace.record(READ, lo, hi, self._raw, key, item=True)

    def __setitem__(self, key: int | slice, new: Any) -> None:
        lo, hi = self._span(key)
        self._trace.record(WRITE, lo, hi, self._raw, key, new, item=True)

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self)):
            yield self[index]

    def _is_string(self) -> bool:
        return getattr(self._raw, "_type_", None) is ctypes.c_char

    def __getattr__(self, name: str) -> Any:
        if name in ("value", "raw") and not self._is_string():
            raise AttributeError(f"only char arrays have .{name}")
        return super().__getattr__(name)

    def _whole(self, attribute: str) -> Any:
        if not self._is_string():
            raise AttributeError(attribute)  # __getattr__ explains
        return self._trace.record(READ, 0, len(self._raw), self._raw, attribute)

    def _set_whole(self, attribute: str, new: Any) -> None:
        if not self._is_string():
            raise AttributeError(f"only char arrays have .{attribute}")
        self._trace.record(WRITE, 0, len(self._raw), self._raw, attribute, new)

    @property
    def value(self) -> Any:
        return self._whole("value")

    @value.setter
    def value(self, new: Any) -> None:
        self._set_whole("value", new)

    @property
    def raw(self) -> Any:
        return self._whole("raw")

    @raw.setter
    def raw(self, new: Any) -> None:
        self._set_whole("raw", new)

    def _snapshot(self) -> Any:
        return self._raw.raw if self._is_string() else tuple(self._raw[:])

    def __repr__(self) -> str:
        return f"<pytest_mpcheck.Array wrapper for {self._raw!r}>"


# What the checks read and do to a shared object, without reaching into it.


def reset(obj: Shared) -> None:
    """Restore the value it was created with, and forget its trace (before a round)."""
    obj._reset()


def snapshot(obj: Shared) -> Any:
    """Its value now: a number, a tuple of a Structure's fields or an Array's items."""
    return obj._snapshot()


def trace_records(obj: Shared) -> Records:
    """Its recorded accesses as they stand now; ``.events()`` decodes them, oldest first."""
    return obj._trace.records()


# What keeps its lock in ``_lock``: objects of ours and of multiprocessing.
_LOCK_HOLDERS = (Shared, Lock, sharedctypes.SynchronizedBase, synchronize.Condition)


def semaphore_of(value: Any) -> Any:
    """The semaphore under a lock, which tells the context that made it; None if no lock.

    A ``multiprocessing`` lock holds one; our ``Lock``, a shared object (ours or
    ``multiprocessing``'s) and a ``Condition`` hold a lock in ``_lock``.
    """
    # type(), not isinstance(): the values are the user's, and a proxy may claim any __class__.
    while issubclass(type(value), _LOCK_HOLDERS):
        value = value._lock
    return value._semlock if issubclass(type(value), synchronize.SemLock) else None


def describe_shared(path: str, obj: Shared) -> str:
    """How a message names it: where it was found, its kind and type."""
    raw = obj.get_obj()
    if isinstance(obj, Array):
        return f"{path} (Array of {raw._type_.__name__} x{len(raw)})"
    return f"{path} (Value of {type(raw).__name__})"


def location_name(obj: Shared, location: int) -> str:
    """How a message names one location: ``.value``, ``.field`` or ``[index]``."""
    if isinstance(obj, Value):
        fields = obj._fields
        return f".{fields[location]}" if fields else ".value"
    return f"[{location}]"
