"""What the stress arguments hold: a bounded walk that names each value by its access path.

``stress`` resets and traces the shared objects the arguments hold, however
the user packed them: in lists, tuples, dicts, sets and deques, or in their
own objects' attributes (instance ``__dict__``, dataclass fields,
``__slots__``, inherited ones too).  The walk reads only what is stored:
container items through the built-in types' own methods, attributes through
the interpreter's ``__dict__`` and slot descriptors.  So no code of the
user's runs (no property, ``__getattr__``, ``__iter__`` or ``__getitem__``),
no iterator is consumed, and other containers (a user's ``Mapping`` or
``Sequence``) are read only as objects, by their attributes.

Types are tested on ``type(value)``, never with ``isinstance``, which asks
the object for its ``__class__`` (a proxy may answer with another class).
The walk is breadth first, so an object reachable by two paths is named by
the shorter one; it visits each object once, so cycles end; and it is
bounded, so huge or deep arguments cost little: ``DEPTH`` steps below an
argument, ``ITEMS`` items per container or object, ``VISITS`` objects in all.
"""

from __future__ import annotations

import collections
import itertools
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DEPTH", "ITEMS", "VISITS", "Reach", "entries", "reach"]

#: Steps below an argument: ``args[0].a.b.c.d`` is reached, what ``d`` holds is not.
DEPTH = 4
#: Items read from one container, and attributes from one object.
ITEMS = 1000
#: Objects looked into in all.
VISITS = 10_000

# Values that hold nothing: never counted, never looked into.
_ATOMS = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray, range})
# Dict keys shown by their repr in a path; other keys by their type.
_PLAIN_KEYS = frozenset({type(None), bool, int, float, str, bytes})
_SEQUENCES: tuple[type[Any], ...] = (list, tuple, collections.deque, set, frozenset)
# Objects whose insides are multiprocessing's or ours, not the user's: reached, not entered.
_OPAQUE = frozenset({"multiprocessing", "pytest_mpcheck"})


@dataclass(frozen=True)
class Reach:
    """What the walk reached, nearest first, and where its bounds stopped it."""

    #: Each value once, with the path that reached it first (``args[0].counter``).
    values: tuple[tuple[str, Any], ...]
    #: The first value whose contents the bounds left unsearched, or None.
    cut: str | None


def reach(args: tuple[Any, ...]) -> Reach:
    """Every value ``args`` holds, within the bounds, each once, with its access path."""
    values: list[tuple[str, Any]] = []
    seen = {id(args)}
    cut: str | None = None
    queue: collections.deque[tuple[str, Any, int]] = collections.deque()
    for index, arg in enumerate(args):
        if type(arg) not in _ATOMS and id(arg) not in seen:
            seen.add(id(arg))
            queue.append((f"args[{index}]", arg, 0))
    while queue:
        path, value, depth = queue.popleft()
        values.append((path, value))
        if str(type(value).__module__).partition(".")[0] in _OPAQUE:
            continue
        children = list(itertools.islice(_children(value), ITEMS + 1))
        if len(children) > ITEMS:
            cut = cut or path
        for step, child in children[:ITEMS]:
            if type(child) in _ATOMS or id(child) in seen:
                continue
            if depth == DEPTH or len(seen) > VISITS:
                cut = cut or path
                break
            seen.add(id(child))
            queue.append((path + step, child, depth + 1))
    return Reach(tuple(values), cut)


def entries(value: Any) -> Iterator[tuple[Any, Any]]:
    """``(key, item)`` of a built-in container, read by the built-in type's own methods.

    The key is the index for lists, tuples, deques (and the place in iteration
    order for sets), the key for dicts.  Subclasses are read as their base
    type, whatever they override.  Nothing for any other value.
    """
    cls = type(value)  # never isinstance(), which asks the object for its __class__
    if issubclass(cls, dict):
        yield from dict.items(value)
        return
    for base in _SEQUENCES:
        if issubclass(cls, base):
            yield from enumerate(base.__iter__(value))
            return


def _children(value: Any) -> Iterator[tuple[str, Any]]:
    """What ``value`` holds, each with the step that names it: items, then attributes."""
    for key, item in entries(value):
        yield _item_step(type(value), key), item
    yield from _stored(value)


def _item_step(cls: type[Any], key: Any) -> str:
    """How a path names the item at ``key`` of a container of type ``cls``."""
    if issubclass(cls, (set, frozenset)):
        return f"{{#{key}}}"  # no index reads a set's item: its place in iteration order
    if issubclass(cls, tuple):
        fields = getattr(cls, "_fields", None)  # a namedtuple names its items
        if isinstance(fields, tuple) and key < len(fields) and isinstance(fields[key], str):
            return f".{fields[key]}"
    if issubclass(cls, dict) and type(key) not in _PLAIN_KEYS:
        return f"[<{type(key).__name__} key>]"  # a user's key's repr is the user's code
    return f"[{key!r}]"


def _stored(obj: Any) -> Iterator[tuple[str, Any]]:
    """An object's instance attributes and filled slots, read from where they are stored."""
    cls = type(obj)
    namespaces = [vars(klass) for klass in cls.__mro__]
    # The interpreter's own __dict__ descriptor; a class that defines __dict__ itself is skipped.
    store = next((space["__dict__"] for space in namespaces if "__dict__" in space), None)
    if isinstance(store, types.GetSetDescriptorType):
        attributes = store.__get__(obj, cls)
        if type(attributes) is dict:  # a class's namespace is a mappingproxy: not instance state
            for name, item in dict.items(attributes):
                if isinstance(name, str):
                    yield f".{name}", item
    for klass, space in zip(cls.__mro__, namespaces, strict=True):
        slots = space.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{klass.__name__.lstrip('_')}{name}"  # as the class body mangled it
            slot = space.get(name)
            if isinstance(slot, types.MemberDescriptorType):
                try:
                    item = slot.__get__(obj, cls)
                except AttributeError:  # declared, never set
                    continue
                yield f".{name}", item
