"""Instrumented drop-ins for ``multiprocessing`` ``Value``, ``Array``, ``Lock`` and ``RLock``.

They accept what ``multiprocessing`` accepts (typecodes and ctypes types,
Structures included; ``lock=True/False/None`` or a given lock) and return
what it returns: with a lock, a synchronized wrapper (``.value`` or a
Structure's fields, indexing and slices, ``.value``/``.raw`` of char arrays,
``len()``, ``get_lock()``, ``get_obj()``) with the same per-access locking;
with ``lock=False``, like ``RawValue``/``RawArray``, the ctypes object
itself.  Every access through them is recorded in the object's ``Trace``;
accesses through ``get_obj()`` or the memory buffer bypass the record, as
they bypass the lock in ``multiprocessing``.

Their locks come from the spawn context so that the objects can be handed
to processes of every start method, unless a context is given (``ctx=``, as
``multiprocessing.sharedctypes`` takes it): then that context makes them,
with its rules.
"""

from __future__ import annotations

import copy
import ctypes
import os
import types
from collections.abc import Callable, Iterable
from multiprocessing import sharedctypes, synchronize
from multiprocessing.context import assert_spawning
from typing import Any, TypeVar

from pytest_mpcheck._trace.codec import READ, WRITE
from pytest_mpcheck._trace.locks import BOOK, LOCK_CONTEXT, register_own_lock
from pytest_mpcheck._trace.policy import current
from pytest_mpcheck._trace.ring import Records, Trace
from pytest_mpcheck._trace.waits import WAITS

__all__ = [
    "Array",
    "Lock",
    "RLock",
    "Shared",
    "Value",
    "describe_shared",
    "location_name",
    "lock_names",
    "reset",
    "semaphore_of",
    "snapshot",
    "stop_tracing",
    "trace_records",
]

_NO_LOCK = (
    "{} created with lock=False has no get_obj()/get_lock()/acquire()/release(): like "
    "multiprocessing's RawValue/RawArray it is the ctypes object itself; guard it with "
    "a separate Lock"
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

    # Each holding is asked of the policy first (a point where a scheduler may make the
    # process wait), then booked for the records.  The book is this process's alone: on
    # the common path it is written outside the real lock, so that the time others wait
    # for it is the code under test's.  In a stress member the real acquire is
    # ``WAITS.acquire``, which sees deadlocks.
    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        lock_id = self._id
        tracing = current()
        if tracing.on_locks and not tracing.hooks.acquire(lock_id, block, self._reentrant):
            return False
        got = (
            bool(self._lock.acquire(block, timeout))
            if WAITS.table is None
            else WAITS.acquire(self._lock, lock_id, block, timeout)
        )
        if got:
            BOOK.acquired(lock_id)
        elif tracing.on_locks:
            tracing.hooks.release(lock_id)
        return got

    def release(self) -> None:
        self._lock.release()
        self._given_back()

    def __enter__(self) -> bool:
        lock_id = self._id
        tracing = current()
        if tracing.on_locks:
            tracing.hooks.acquire(lock_id, True, self._reentrant)
        BOOK.acquired(lock_id)  # a blocking acquire either succeeds or raises
        try:
            if WAITS.table is None:
                self._lock.acquire()
            else:
                WAITS.acquire(self._lock, lock_id)
        except BaseException:
            self._given_back()
            raise
        return True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._lock.release()
        self._given_back()

    def _given_back(self) -> None:
        """The lock is no longer held (or was never taken): unbook it, tell the policy."""
        lock_id = self._id
        BOOK.released(lock_id)
        tracing = current()
        if tracing.on_locks:
            tracing.hooks.release(lock_id)

    def itself(self) -> Lock:
        """What ``get_lock()`` of the object it guards returns."""
        return self

    @property
    def _semlock(self) -> Any:
        """The wrapped lock's semaphore: ``multiprocessing``'s ``Condition``, given this
        lock, reads it.  (A property, not ``__getattr__``: that would slow down every
        attribute read of every lock.)"""
        return self._lock._semlock

    def __repr__(self) -> str:
        return f"<pytest_mpcheck.{type(self).__name__} {self._lock!r}>"


class RLock(Lock):
    """Drop-in for ``multiprocessing.RLock`` whose acquisitions the analysis can see."""

    _reentrant = True


def _own_lock(lock: object, ctx: Any) -> Lock | None:
    """The lock an object guards itself with, as ``multiprocessing`` chooses it: made by
    ``ctx`` when given, as ``multiprocessing.sharedctypes`` does, else usable by every
    start method."""
    if lock is False:
        return None
    if lock is True or lock is None:
        return RLock(None if ctx is None else synchronize.RLock(ctx=ctx.get_context()))
    if isinstance(lock, Lock):
        return lock
    if not hasattr(lock, "acquire") or not hasattr(lock, "release"):
        raise AttributeError(
            f"{lock!r} has no method 'acquire'; lock= accepts True, False, None or a lock"
        )
    return RLock(lock)


_Kind = TypeVar("_Kind", bound="Shared")


class Shared:
    """What every ``Value`` and ``Array`` has: raw memory, trace, initial bytes.

    ``Value(...)`` and ``Array(...)`` return an instance of a class made by
    ``_class``: a ``Synchronized`` wrapper, or with ``lock=False`` a ``Raw``
    subclass of the ctypes type.
    """

    #: The public class name, for messages (a ``StructureValue`` is a ``Value``).
    _kind: str
    #: ``Value``, ``StructureValue`` or ``Array``: what ``_class`` made the class from.
    _base: type[Shared]
    _raw: Any
    _lock: Lock | None
    _trace: Trace
    _initial: bytes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """``__new__`` did everything; this keeps a ctypes base class's ``__init__``
        from taking the constructor's arguments for an initial value."""

    def _setup(self, lock: object, ctx: Any) -> None:
        raw = self._raw
        self._lock = own = _own_lock(lock, ctx)
        # The object's own lock also orders its records: one lock per access, as in
        # multiprocessing.  The seed is the active check's, for processes nobody configures.
        self._trace = Trace(
            current().seed,
            own._lock if own is not None else None,
            # Holding our own RLock already holds the inner one: the trace needs not retake it.
            own._id if own is not None and lock in (True, None) else 0,
            own._id if own is not None else 0,
        )
        self._initial = bytes(memoryview(raw).cast("B"))

    def __reduce__(self) -> tuple[Any, ...]:
        """Sent only to a process being started (as in ``multiprocessing``), where it is
        rebuilt over the same memory, trace and lock."""
        assert_spawning(self)
        return _instance, (self._base, isinstance(self, Synchronized), self.__dict__.copy())

    def _reset(self) -> None:
        """Restore the value it was created with (stress does this before each round)."""
        ctypes.memmove(ctypes.addressof(self._raw), self._initial, len(self._initial))
        self._trace.clear()

    def _snapshot(self) -> Any:
        raise NotImplementedError


def _lockless() -> Any:
    """A member a ``lock=False`` object does not have (``hasattr()`` is False), saying why.

    A property, not ``__getattr__``: a class with ``__getattr__`` has every attribute
    read of its objects take the slow path, and these are read on every access.
    """

    def missing(self: Shared) -> Any:
        raise AttributeError(_NO_LOCK.format(self._kind))

    return property(missing)


class Synchronized(Shared):
    """A ``Value`` or ``Array`` with a lock, like ``multiprocessing``'s synchronized
    wrappers: ``get_lock()``, ``get_obj()``, ``acquire()``/``release()``, ``with``."""

    _lock: Lock
    get_lock: Callable[[], Lock]
    acquire: Callable[..., bool]
    release: Callable[[], None]

    def _setup(self, lock: object, ctx: Any) -> None:
        super()._setup(lock, ctx)
        own = self._lock
        # Instance attributes, not methods: get_lock() is one call.
        self.get_lock = own.itself
        self.acquire = own.acquire
        self.release = own.release

    def get_obj(self) -> Any:
        """The ctypes object; accesses through it are not recorded (nor locked)."""
        return self._raw

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.__exit__(*exc_info)

    def __repr__(self) -> str:
        return f"<pytest_mpcheck.{self._kind} wrapper for {self._raw!r}>"


class Raw(Shared):
    """A ``Value`` or ``Array`` created with ``lock=False``: like ``RawValue`` and
    ``RawArray``, the ctypes object itself (an instance of a subclass of its type,
    over the same memory), with its accesses recorded."""

    def __repr__(self) -> str:
        # As ctypes shows it: a simple value by its value (c_int(5)), the rest as objects.
        raw = self._raw
        return repr(raw) if isinstance(raw, ctypes._SimpleCData) else object.__repr__(self)

    def __copy__(self) -> Any:
        """A private copy of the memory, as ``copy.copy`` makes of any ctypes object."""
        return copy.copy(self._raw)

    get_obj = get_lock = acquire = release = _lockless()


class Value(Shared):
    """Drop-in for ``multiprocessing.Value``: ``.value`` (or a Structure's fields), recorded.

    A Structure's value is a ``StructureValue``: its fields in place of ``.value``.
    """

    _kind = "Value"
    #: The Structure's fields (a plain value has none).
    _fields: tuple[str, ...] = ()

    def __new__(
        cls, typecode_or_type: Any, *args: Any, lock: object = True, ctx: Any = None
    ) -> Value:
        raw = sharedctypes.RawValue(typecode_or_type, *args)
        return _new(StructureValue if hasattr(raw, "_fields_") else Value, raw, lock, ctx)

    @property
    def value(self) -> Any:
        return self._trace.record(READ, 0, 1, self._raw, "value")

    @value.setter
    def value(self, new: Any) -> None:
        self._trace.record(WRITE, 0, 1, self._raw, "value", new)

    def _snapshot(self) -> Any:
        return self._raw.value


class StructureValue(Value):
    """A ``Value`` of a ``ctypes.Structure``: its fields, recorded (``_class`` makes
    them properties), and no ``.value``."""

    @property
    def value(self) -> Any:
        raise AttributeError(
            f"a Value of {type(self._raw).__name__} has fields "
            f"({', '.join(self._fields)}), not .value"
        )

    @value.setter
    def value(self, new: Any) -> None:
        # As on a plain value: stored on the raw object (ctypes lets it), recorded.
        self._trace.record(WRITE, 0, 1, self._raw, "value", new)

    def _snapshot(self) -> Any:
        return tuple(getattr(self._raw, name) for name in self._fields)


class Array(Shared):
    """Drop-in for ``multiprocessing.Array``: items, slices, ``.value``/``.raw``, recorded."""

    _kind = "Array"

    def __new__(
        cls,
        typecode_or_type: Any,
        size_or_initializer: Any,
        *,
        lock: object = True,
        ctx: Any = None,
    ) -> Array:
        raw = sharedctypes.RawArray(typecode_or_type, size_or_initializer)
        return _new(Array, raw, lock, ctx)

    def __len__(self) -> int:
        return len(self._raw)

    def _span(self, key: int | slice) -> tuple[int, int]:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self._raw))
            indices = range(start, stop, step)
            return (min(indices), max(indices) + 1) if indices else (0, 0)
        index = key + len(self._raw) if key < 0 else key
        return index, index + 1

    # No __iter__: like multiprocessing's, these iterate through __getitem__.
    def __getitem__(self, key: int | slice) -> Any:
        lo, hi = self._span(key)
        return self._trace.record(READ, lo, hi, self._raw, key, item=True)

    def __setitem__(self, key: int | slice, new: Any) -> None:
        lo, hi = self._span(key)
        self._trace.record(WRITE, lo, hi, self._raw, key, new, item=True)

    def _is_string(self) -> bool:
        return getattr(self._raw, "_type_", None) is ctypes.c_char

    def _whole(self, attribute: str) -> Any:
        if not self._is_string():
            raise AttributeError(f"only char arrays have .{attribute}")
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


def _field(index: int, name: str) -> property:
    """A Structure's field as a recorded attribute at location ``index``."""

    def get(self: Shared) -> Any:
        return self._trace.record(READ, index, index + 1, self._raw, name)

    def put(self: Shared, new: Any) -> None:
        self._trace.record(WRITE, index, index + 1, self._raw, name, new)

    return property(get, put)


#: The classes ``_class`` made, by its arguments.
_CLASSES: dict[tuple[type[Shared], type[Any], bool], type[Any]] = {}


def _class(base: type[Shared], ctype: type[Any], locked: bool) -> type[Any]:
    """The class of a ``base`` object over memory of ``ctype``, made once.

    With a lock, a ``Synchronized`` wrapper.  Without, a ``Raw`` subclass of
    ``ctype`` with its name, so that it is a ctypes object wherever that shows
    (``isinstance``, ``repr``, ``memoryview``, ``ctypes.addressof``) while
    reads and writes go through the recorded accessors.  A Structure's fields
    are properties, which also hide the ctypes ones of a raw object.
    """
    key = (base, ctype, locked)
    made = _CLASSES.get(key)
    if made is not None:
        return made
    namespace: dict[str, Any] = {"_base": base}
    if base is StructureValue:
        fields = tuple(field[0] for field in ctype._fields_)
        namespace["_fields"] = fields
        namespace.update((name, _field(index, name)) for index, name in enumerate(fields))
    if locked:
        made = type(base._kind, (Synchronized, base), namespace)
    else:
        namespace.update(__module__=ctype.__module__, __qualname__=ctype.__qualname__)
        made = types.new_class(
            ctype.__name__, (Raw, base, ctype), exec_body=lambda ns: ns.update(namespace)
        )
    _CLASSES[key] = made
    return made


def _instance(base: type[_Kind], locked: bool, state: dict[str, Any]) -> _Kind:
    """A ``base`` object over ``state["_raw"]`` with ``state`` as its attributes: how
    one starts (the raw object alone) and how a child rebuilds one (all of them)."""
    raw = state["_raw"]
    cls = _class(base, type(raw), locked)
    obj: _Kind = object.__new__(cls) if locked else cls.from_buffer(raw)
    obj.__dict__.update(state)
    return obj


def _new(base: type[_Kind], raw: Any, lock: object, ctx: Any) -> _Kind:
    """A new ``base`` object over the shared ctypes object ``raw``, guarded as ``lock`` says
    (a new lock made by ``ctx``, if given)."""
    obj = _instance(base, lock is not False, {"_raw": raw})
    obj._setup(lock, ctx)
    return obj


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


def stop_tracing(obj: Shared) -> None:
    """From now on it acts as the ``multiprocessing`` object it stands in for: no record,
    no noise (after an ``instrument()`` block)."""
    obj._trace.stop()


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
    raw = obj._raw
    if isinstance(obj, Array):
        return f"{path} (Array of {raw._type_.__name__} x{len(raw)})"
    return f"{path} (Value of {type(raw).__name__})"


def lock_names(values: Iterable[tuple[str, Any]]) -> dict[int, str]:
    """How a message names each known lock among ``values`` (paths, nearest first): by
    its path, or an object's own lock as ``path.get_lock()``; the first path wins."""
    names: dict[int, str] = {}
    for path, value in values:
        if issubclass(type(value), Lock):
            names.setdefault(value._id, path)
        elif issubclass(type(value), Synchronized):
            names.setdefault(value._lock._id, f"{path}.get_lock()")
    return names


def location_name(obj: Shared, location: int) -> str:
    """How a message names one location: ``.value``, ``.field`` or ``[index]``."""
    if isinstance(obj, Value):
        fields = obj._fields
        return f".{fields[location]}" if fields else ".value"
    return f"[{location}]"
