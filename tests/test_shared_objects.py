"""``mpcheck.Value``/``Array``/``Lock``/``RLock`` keep the ``multiprocessing`` API.

Each behaviour is checked side by side with the ``multiprocessing`` object
it replaces, and the objects are used from processes of every start method.
"""

from __future__ import annotations

import copy
import ctypes
import multiprocessing
import pickle
import re
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any

import pytest

import pytest_mpcheck
from _stress_targets import fill_raw, forking_quietly, write_from_child
from pytest_mpcheck._model import READ, WRITE

METHODS = pytest_mpcheck.available_start_methods()


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double)]


BOTH_VALUES = pytest.mark.parametrize(
    "make", [multiprocessing.Value, pytest_mpcheck.Value], ids=["multiprocessing", "mpcheck"]
)
BOTH_ARRAYS = pytest.mark.parametrize(
    "make", [multiprocessing.Array, pytest_mpcheck.Array], ids=["multiprocessing", "mpcheck"]
)


# --- Value ----------------------------------------------------------------------


@BOTH_VALUES
@pytest.mark.parametrize(
    ("kind", "initial", "new"),
    [
        ("i", 3, -5),
        ("d", 1.5, 2.25),
        ("c", b"a", b"z"),
        (ctypes.c_int, 7, 8),
        (ctypes.c_double, 0.5, -0.5),
    ],
    ids=["i", "d", "c", "c_int", "c_double"],
)
def test_value_reads_and_writes_like_multiprocessing(
    make: Callable[..., Any], kind: Any, initial: Any, new: Any
) -> None:
    value = make(kind, initial)
    assert value.value == initial
    value.value = new
    assert value.value == new


@BOTH_VALUES
def test_value_defaults_to_zero(make: Callable[..., Any]) -> None:
    assert make("i").value == 0
    assert make("d").value == 0.0


@BOTH_VALUES
def test_a_structure_value_has_its_fields_as_attributes(make: Callable[..., Any]) -> None:
    point = make(Point, 1, 2.5)
    assert (point.x, point.y) == (1, 2.5)
    point.x = 5
    point.y += 1
    assert (point.x, point.y) == (5, 3.5)
    assert (point.get_obj().x, point.get_obj().y) == (5, 3.5)


def test_structure_field_accesses_are_recorded_per_field() -> None:
    point = pytest_mpcheck.Value(Point, 1, 2.5)
    point.y += 1
    events = point._trace.events()
    assert [(event.op, event.lo, event.value) for event in events] == [
        (READ, 1, 2.5),
        (WRITE, 1, 3.5),
    ]
    assert events[0].file == __file__


def test_a_structure_value_has_no_dot_value() -> None:
    with pytest.raises(AttributeError):
        _ = pytest_mpcheck.Value(Point, 1, 2.5).value


@BOTH_VALUES
@pytest.mark.parametrize("lock", [True, None], ids=["True", "None"])
def test_a_value_with_its_own_lock(make: Callable[..., Any], lock: object) -> None:
    value = make("i", 3, lock=lock)
    own = value.get_lock()
    assert value.acquire()
    try:
        # An RLock by default, as in multiprocessing: re-entrant in the owner.
        assert own.acquire(timeout=1)
        own.release()
    finally:
        value.release()
    with value:
        value.value += 1
    with value.get_lock():
        value.value += 1
    assert value.value == 5
    assert isinstance(value.get_obj(), ctypes.c_int)
    assert value.get_obj().value == 5


@pytest.mark.parametrize(
    ("make_lock", "reentrant"),
    [
        (pytest_mpcheck.Lock, False),
        (pytest_mpcheck.RLock, True),
        (multiprocessing.get_context("spawn").Lock, False),
        (multiprocessing.get_context("spawn").RLock, True),
    ],
    ids=["mpcheck.Lock", "mpcheck.RLock", "multiprocessing.Lock", "multiprocessing.RLock"],
)
def test_a_value_guarded_by_a_given_lock_uses_it(
    make_lock: Callable[[], Any], reentrant: bool
) -> None:
    lock = make_lock()
    value = pytest_mpcheck.Value("i", 0, lock=lock)
    value.value += 1
    with value.get_lock():
        # It is the given lock: held now, so only a re-entrant one can be taken again.
        assert bool(lock.acquire(False)) is reentrant
        if reentrant:
            lock.release()
            # Accesses take the lock too, so (as in multiprocessing) only a
            # re-entrant one allows them while it is held.
            value.value += 1
    assert lock.acquire(False)
    lock.release()
    assert value.value == (2 if reentrant else 1)
    if isinstance(lock, pytest_mpcheck.Lock):
        assert value.get_lock() is lock


@BOTH_VALUES
def test_a_lock_that_is_no_lock_is_refused_like_multiprocessing(make: Callable[..., Any]) -> None:
    with pytest.raises(AttributeError, match="acquire"):
        make("i", 0, lock="not a lock")


@pytest.mark.parametrize("make", [pytest_mpcheck.Value, pytest_mpcheck.Array])
@pytest.mark.parametrize("member", ["get_obj", "get_lock", "acquire", "release"])
def test_lock_false_gives_a_raw_object_without_lock_members(
    make: Callable[..., Any], member: str
) -> None:
    shared = make("i", 3, lock=False)
    assert not hasattr(shared, member)
    with pytest.raises(AttributeError, match=r"lock=False .*RawValue/RawArray.*separate Lock"):
        getattr(shared, member)
    # Raw multiprocessing objects have none either; a synchronized one has them all.
    assert not hasattr(multiprocessing.Value("i", 3, lock=False), member)
    assert hasattr(make("i", 3), member)


@pytest.mark.parametrize(("kind", "field"), [("d", "value"), (Point, "y")])
def test_a_raw_value_still_reads_and_writes_recorded(kind: Any, field: str) -> None:
    value = pytest_mpcheck.Value(kind, lock=False)
    setattr(value, field, getattr(value, field) + 1.5)
    assert getattr(value, field) == 1.5
    assert [event.op for event in value._trace.events()] == [READ, WRITE, READ]


# --- Array ----------------------------------------------------------------------


@BOTH_ARRAYS
def test_array_indexing_like_multiprocessing(make: Callable[..., Any]) -> None:
    array = make("i", [1, 2, 3, 4])
    assert (array[0], array[-1], array[-4]) == (1, 4, 1)
    array[-1] = 40
    array[1] += 10
    assert array[:] == [1, 12, 3, 40]
    for index in (4, -5):
        with pytest.raises(IndexError):
            array[index]


@BOTH_ARRAYS
def test_array_slices_like_multiprocessing(make: Callable[..., Any]) -> None:
    array = make("i", range(6))
    assert array[1:3] == [1, 2]
    assert array[::2] == [0, 2, 4]
    assert array[-2:] == [4, 5]
    assert array[4:2] == []
    array[0:2] = [9, 8]
    array[::3] = [-1, -2]
    assert array[:] == [-1, 8, 2, -2, 4, 5]
    with pytest.raises(ValueError, match="size"):
        array[0:2] = [1, 2, 3]


@BOTH_ARRAYS
def test_array_len_iteration_and_sizes(make: Callable[..., Any]) -> None:
    array = make(ctypes.c_double, 3)
    assert len(array) == 3
    assert list(array) == [0.0, 0.0, 0.0]
    array = make("d", [0.5, 1.5])
    assert list(array) == [0.5, 1.5]
    assert sum(array) == 2.0


@BOTH_ARRAYS
def test_char_arrays_have_value_and_raw(make: Callable[..., Any]) -> None:
    text = make("c", b"hello")
    assert (text.value, text.raw) == (b"hello", b"hello")
    assert (text[0], text[1:3]) == (b"h", b"el")
    text.value = b"hi"
    assert text.value == b"hi"
    assert text.raw == b"hi\x00lo"
    text.raw = b"world"
    assert text.value == b"world"


@pytest.mark.parametrize("attribute", ["value", "raw"])
def test_only_char_arrays_have_value_and_raw(attribute: str) -> None:
    with pytest.raises(AttributeError, match="char arrays"):
        getattr(pytest_mpcheck.Array("i", 3), attribute)


def test_array_get_obj_is_the_ctypes_array() -> None:
    array = pytest_mpcheck.Array("i", [1, 2])
    raw = array.get_obj()
    assert isinstance(raw, ctypes.Array)
    assert raw[:] == [1, 2]


def test_array_slice_accesses_are_recorded_with_their_span() -> None:
    array = pytest_mpcheck.Array("i", 8)
    array[2:5] = [1, 2, 3]
    _ = array[-1]
    _ = array[6:3]
    events = array._trace.events()
    assert [(event.op, event.lo, event.hi) for event in events] == [
        (WRITE, 2, 5),
        (READ, 7, 8),
        (READ, 0, 0),
    ]


def test_array_get_lock_across_a_slice_read_modify_write() -> None:
    array = pytest_mpcheck.Array("i", [1, 2, 3], lock=True)
    with array.get_lock():
        array[0:2] = [x + 1 for x in array[0:2]]
    assert array[:] == [2, 3, 3]
    events = array._trace.events()
    assert events[0].held
    assert events[0].held == events[1].held


# --- lock=False: the ctypes object itself, as RawValue and RawArray are ---------------

#: What a ctypes type, a shared ctypes object and the objects of the two kinds may have.
SURFACE = [
    "value",
    "raw",
    "x",
    "y",
    "get_obj",
    "get_lock",
    "acquire",
    "release",
    "_fields_",
    "_type_",
    "_length_",
    "__enter__",
    "__exit__",
    "__len__",
    "__iter__",
    "__bool__",
    "__buffer__",
]

KINDS = pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("Value", ("i", 3)),
        ("Value", ("d", 0.0)),
        ("Value", (Point, 1, 2.5)),
        ("Array", ("i", [1, 2, 3])),
        ("Array", ("c", b"hey")),
    ],
    ids=["int", "double", "Structure", "Array", "char Array"],
)


def both(kind: str, args: tuple[Any, ...], lock: bool) -> tuple[Any, Any]:
    """The same object made by mpcheck and by multiprocessing."""
    return (
        getattr(pytest_mpcheck, kind)(*args, lock=lock),
        getattr(multiprocessing, kind)(*args, lock=lock),
    )


@KINDS
@pytest.mark.parametrize("lock", [True, False])
def test_the_members_are_those_of_the_multiprocessing_object(
    kind: str, args: tuple[Any, ...], lock: bool
) -> None:
    ours, theirs = both(kind, args, lock)
    assert {name: hasattr(ours, name) for name in SURFACE} == {
        name: hasattr(theirs, name) for name in SURFACE
    }


@KINDS
def test_a_raw_object_is_an_object_of_its_ctypes_type(kind: str, args: tuple[Any, ...]) -> None:
    ours, theirs = both(kind, args, False)
    assert isinstance(ours, type(theirs))
    assert isinstance(ours, getattr(pytest_mpcheck, kind))
    assert type(ours).__name__ == type(theirs).__name__
    assert ctypes.sizeof(ours) == ctypes.sizeof(theirs)
    assert bytes(memoryview(ours)) == bytes(memoryview(theirs))
    assert bool(ours) is bool(theirs)
    # Its own memory is the shared one, which its recorded accessors read.
    assert ctypes.addressof(ours) == ctypes.addressof(ours._raw)


@KINDS
def test_a_raw_object_shows_as_its_ctypes_object(kind: str, args: tuple[Any, ...]) -> None:
    ours, theirs = both(kind, args, False)
    assert re.sub("0x[0-9a-f]+", "0x?", repr(ours)) == re.sub("0x[0-9a-f]+", "0x?", repr(theirs))
    if " at 0x" in repr(ours):
        assert repr(ours).endswith(f" at {id(ours):#x}>")
    assert str(ours) == repr(ours)
    with pytest.raises(AttributeError) as caught:
        _ = ours.no_such_member
    assert caught.match(f"^'{type(theirs).__name__}' object has no attribute 'no_such_member'$")


@pytest.mark.parametrize("kind", ["Value", "Array"])
def test_a_raw_object_is_false_when_a_raw_one_is(kind: str) -> None:
    ours, theirs = both(kind, ("i", 0) if kind == "Value" else ("i", []), False)
    assert not ours
    assert not theirs
    synchronized, _ = both(kind, ("i", 0) if kind == "Value" else ("i", 1), True)
    assert synchronized


@KINDS
def test_copy_copies_a_raw_object_and_refuses_a_synchronized_one(
    kind: str, args: tuple[Any, ...]
) -> None:
    ours, theirs = both(kind, args, False)
    mine = copy.copy(ours)
    assert type(mine) is type(copy.copy(theirs))
    assert bytes(memoryview(mine)) == bytes(memoryview(ours))
    assert ctypes.addressof(mine) != ctypes.addressof(ours)
    for synchronized in both(kind, args, True):
        with pytest.raises(RuntimeError, match="through inheritance"):
            copy.copy(synchronized)


@KINDS
def test_sending_a_raw_object_outside_a_process_start_fails_as_for_a_raw_one(
    kind: str, args: tuple[Any, ...]
) -> None:
    messages = []
    for obj in both(kind, args, False):
        with pytest.raises(RuntimeError, match="through inheritance") as caught:
            ForkingPickler.dumps(obj)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_accesses_through_the_memory_of_a_raw_object_are_not_recorded() -> None:
    value = pytest_mpcheck.Value("i", 1, lock=False)
    ctypes.c_int.from_buffer(value).value = 7
    assert value.value == 7
    assert [event.op for event in value._trace.events()] == [READ]


# --- Lock and RLock -------------------------------------------------------------


@pytest.mark.parametrize("make", [pytest_mpcheck.Lock, multiprocessing.Lock])
def test_lock_is_not_reentrant(make: Callable[[], Any]) -> None:
    lock = make()
    assert lock.acquire()
    assert not lock.acquire(False)
    assert not lock.acquire(True, 0.01)
    lock.release()
    with lock:
        pass


@pytest.mark.parametrize("make", [pytest_mpcheck.RLock, multiprocessing.RLock])
def test_rlock_is_reentrant(make: Callable[[], Any]) -> None:
    lock = make()
    with lock, lock:
        assert lock.acquire(False)
        lock.release()


# --- pickling and processes -----------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: pytest_mpcheck.Value("i", 1),
        lambda: pytest_mpcheck.Value("i", 1, lock=False),
        lambda: pytest_mpcheck.Array("i", 3),
        pytest_mpcheck.Lock,
        pytest_mpcheck.RLock,
        lambda: multiprocessing.Value("i", 1),
        multiprocessing.Lock,
    ],
    ids=[
        "Value",
        "raw Value",
        "Array",
        "Lock",
        "RLock",
        "multiprocessing.Value",
        "multiprocessing.Lock",
    ],
)
def test_pickling_outside_process_start_fails_like_multiprocessing(
    make: Callable[[], Any],
) -> None:
    with pytest.raises(RuntimeError, match="inheritance"):
        pickle.dumps(make())


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_writes_in_a_child_are_seen_by_the_parent(method: str) -> None:
    value = pytest_mpcheck.Value("i", 1)
    array = pytest_mpcheck.Array("i", 4)
    point = pytest_mpcheck.Value(Point, 0, 0.0)
    text = pytest_mpcheck.Array("c", 8)
    ctx = multiprocessing.get_context(method)
    child = ctx.Process(target=write_from_child, args=(value, array, point, text))
    with forking_quietly():
        child.start()
    child.join(60)
    assert child.exitcode == 0
    pid = child.pid
    child.close()
    assert value.value == 42
    assert array[:] == [7, 5, 6, 14]
    assert (point.x, point.y) == (3, 3.5)
    assert text.value == b"child"
    # The child's accesses were recorded in the same trace, with its pid.
    writers = {event.pid for event in array._trace.events() if event.op == WRITE}
    assert writers == {pid}


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "make_lock",
    [pytest_mpcheck.Lock, pytest_mpcheck.RLock],
    ids=["Lock", "RLock"],
)
def test_raw_objects_and_our_locks_work_in_a_child(
    method: str, make_lock: Callable[[], Any]
) -> None:
    value = pytest_mpcheck.Value("d", 0.0, lock=False)
    array = pytest_mpcheck.Array("i", 3, lock=False)
    lock = make_lock()  # referenced until the child has unpickled it, as multiprocessing needs
    ctx = multiprocessing.get_context(method)
    child = ctx.Process(target=fill_raw, args=(value, array, lock))
    with forking_quietly():
        child.start()
    child.join(60)
    assert child.exitcode == 0
    pid = child.pid
    child.close()
    assert value.value == 2.5
    assert array[:] == [9, 8, 7]
    # The child's accesses were recorded in the same traces.
    for shared in (value, array):
        assert {event.pid for event in shared._trace.events() if event.op == WRITE} == {pid}
