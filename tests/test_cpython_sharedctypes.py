"""CPython's own tests of shared ctypes objects and locks, run on ours.

Ported from ``Lib/test/_test_multiprocessing.py`` (the same in 3.10 to 3.13),
assertions kept:

* ``_TestValue``: ``test_value``, ``test_rawvalue``, ``test_getobj_getlock``;
* ``_TestArray``: ``test_array``, ``test_array_from_size``, ``test_rawarray``,
  ``test_getobj_getlock_obj``;
* ``_TestSharedCTypes``: ``test_sharedctypes``, ``test_synchronize``, ``test_copy``;
* ``_TestLock``: ``test_lock``, ``test_rlock``, ``test_lock_context``.

``pytest_mpcheck``'s objects stand in for ``multiprocessing``'s: ``Value``,
``Array``, ``Lock`` and ``RLock`` for themselves, ``Value(..., lock=False)`` for
``RawValue`` and ``Array(..., lock=False)`` for ``RawArray``.  As in CPython,
every test runs under each start method, its processes started by that
method's context.  The tests are copied rather than imported because the
``test`` package is missing from some Python builds.
"""

from __future__ import annotations

import array
import ctypes
import functools
import multiprocessing
import threading
from multiprocessing.sharedctypes import copy
from typing import Any

import pytest

from _stress_targets import (
    CODES_VALUES,
    Foo,
    double,
    forking_quietly,
    prefix_sums,
    write_codes_values,
)
from _support import METHODS
from pytest_mpcheck import Array, Lock, RLock, Value

pytestmark = [pytest.mark.timeout(120), pytest.mark.parametrize("method", METHODS)]

#: How long a child may take; CPython waits forever, a hang here fails the test instead.
CHILD_TIMEOUT = 60


RawValue = functools.partial(Value, lock=False)
RawArray = functools.partial(Array, lock=False)


def run_child(method: str, target: Any, *args: Any) -> None:
    """Start ``target(*args)`` in a daemon process of ``method`` and wait for it."""
    process = multiprocessing.get_context(method).Process(target=target, args=args)
    process.daemon = True
    with forking_quietly():
        process.start()
    process.join(CHILD_TIMEOUT)
    assert process.exitcode == 0
    process.close()


# --- _TestValue -----------------------------------------------------------------


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("raw", [False, True], ids=["test_value", "test_rawvalue"])
def test_value(method: str, raw: bool) -> None:
    if raw:
        values = [RawValue(code, value) for code, value, _ in CODES_VALUES]
    else:
        values = [Value(code, value) for code, value, _ in CODES_VALUES]

    for sv, cv in zip(values, CODES_VALUES, strict=True):
        assert sv.value == cv[1]

    run_child(method, write_codes_values, values)

    for sv, cv in zip(values, CODES_VALUES, strict=True):
        assert sv.value == cv[2]


def test_getobj_getlock(method: str) -> None:
    val1 = Value("i", 5)
    val1.get_lock()
    val1.get_obj()

    val2 = Value("i", 5, lock=None)
    val2.get_lock()
    val2.get_obj()

    lock = Lock()
    val3 = Value("i", 5, lock=lock)
    lock3 = val3.get_lock()
    val3.get_obj()
    assert lock == lock3

    arr4 = Value("i", 5, lock=False)
    assert not hasattr(arr4, "get_lock")
    assert not hasattr(arr4, "get_obj")

    with pytest.raises(AttributeError):
        Value("i", 5, lock="navalue")

    arr5 = RawValue("i", 5)
    assert not hasattr(arr5, "get_lock")
    assert not hasattr(arr5, "get_obj")


# --- _TestArray -----------------------------------------------------------------


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("raw", [False, True], ids=["test_array", "test_rawarray"])
def test_array(method: str, raw: bool) -> None:
    seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831]
    arr = RawArray("i", seq) if raw else Array("i", seq)

    assert len(arr) == len(seq)
    assert arr[3] == seq[3]
    assert list(arr[2:7]) == list(seq[2:7])

    arr[4:8] = seq[4:8] = array.array("i", [1, 2, 3, 4])

    assert list(arr[:]) == seq

    prefix_sums(seq)

    run_child(method, prefix_sums, arr)

    assert list(arr[:]) == seq


def test_array_from_size(method: str) -> None:
    size = 10
    # Zeroed memory (CPython issue #11675), also when a new array reuses freed memory.
    for _ in range(3):
        arr = Array("i", size)
        assert len(arr) == size
        assert list(arr) == [0] * size
        arr[:] = range(10)
        assert list(arr) == list(range(10))
        del arr


def test_getobj_getlock_obj(method: str) -> None:
    arr1 = Array("i", list(range(10)))
    arr1.get_lock()
    arr1.get_obj()

    arr2 = Array("i", list(range(10)), lock=None)
    arr2.get_lock()
    arr2.get_obj()

    lock = Lock()
    arr3 = Array("i", list(range(10)), lock=lock)
    lock3 = arr3.get_lock()
    arr3.get_obj()
    assert lock == lock3

    arr4 = Array("i", range(10), lock=False)
    assert not hasattr(arr4, "get_lock")
    assert not hasattr(arr4, "get_obj")
    with pytest.raises(AttributeError):
        Array("i", range(10), lock="notalock")

    arr5 = RawArray("i", range(10))
    assert not hasattr(arr5, "get_lock")
    assert not hasattr(arr5, "get_obj")


# --- _TestSharedCTypes ----------------------------------------------------------


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("lock", [False, True], ids=["test_sharedctypes", "test_synchronize"])
def test_sharedctypes(method: str, lock: bool) -> None:
    x = Value("i", 7, lock=lock)
    y = Value(ctypes.c_double, 1.0 / 3.0, lock=lock)
    z = Value(ctypes.c_longlong, 2**33, lock=lock)
    foo = Value(Foo, 3, 2, lock=lock)
    arr = Array("d", list(range(10)), lock=lock)
    string = Array("c", 20, lock=lock)
    string.value = b"hello"

    run_child(method, double, x, y, z, foo, arr, string)

    assert x.value == 14
    assert y.value == pytest.approx(2.0 / 3.0)
    assert z.value == 2**34
    assert foo.x == 6
    assert foo.y == pytest.approx(4.0)
    for i in range(10):
        assert arr[i] == pytest.approx(i * 2)
    assert string.value == b"hellohello"


def test_copy(method: str) -> None:
    foo = Foo(2, 5.0, 2**33)
    bar = copy(foo)
    foo.x = 0
    foo.y = 0
    foo.z = 0
    assert bar.x == 2
    assert bar.y == pytest.approx(5.0)
    assert bar.z == 2**33


# --- _TestLock ------------------------------------------------------------------


def test_lock(method: str) -> None:
    lock = Lock()
    assert lock.acquire() is True
    assert lock.acquire(False) is False
    assert lock.release() is None
    with pytest.raises((ValueError, threading.ThreadError)):
        lock.release()


def test_rlock(method: str) -> None:
    lock = RLock()
    assert lock.acquire() is True
    assert lock.acquire() is True
    assert lock.acquire() is True
    assert lock.release() is None
    assert lock.release() is None
    assert lock.release() is None
    with pytest.raises((AssertionError, RuntimeError)):
        lock.release()


def test_lock_context(method: str) -> None:
    with Lock():
        pass
