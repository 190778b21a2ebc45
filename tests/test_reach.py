"""The walk through the stress arguments: where it looks, how it names what it finds, its bounds.

In-process and without processes: ``reach`` only reads the arguments.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

import pytest

from pytest_mpcheck._checks.reach import DEPTH, ITEMS, VISITS, reach


class Box:
    """A user's object: whatever it is given, in attributes."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


class Private:
    __slots__ = ("__hidden", "shown")

    def __init__(self, hidden: object, shown: object) -> None:
        self.__hidden = hidden
        self.shown = shown


class Derived(Private):
    __slots__ = "extra"


@dataclass(frozen=True)
class Frozen:
    counter: object


@dataclass(slots=True)
class Slotted:
    counter: object
    unset: object = None


class Pair(NamedTuple):
    left: object
    right: object


class Color(Enum):
    RED = 1


class Hostile:
    """Every dynamic attribute access fails: the walk must read storage only."""

    def __init__(self, counter: object) -> None:
        object.__setattr__(self, "counter", counter)

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(f"__getattribute__({name!r}) was called")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"__getattr__({name!r}) was called")

    @property
    def value(self) -> Any:
        raise RuntimeError("a property was read")


class Lazy(Mapping[str, object]):
    """A user's mapping: iterating it runs the user's code, so the walk must not."""

    def __init__(self, counter: object) -> None:
        self.counter = counter

    def __getitem__(self, key: str) -> object:
        raise RuntimeError("__getitem__ was called")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("__iter__ was called")

    def __len__(self) -> int:
        raise RuntimeError("__len__ was called")


class Listish(list[object]):
    def __iter__(self) -> Iterator[object]:
        raise RuntimeError("__iter__ was called")


def paths_of(target: object, *args: object) -> list[str]:
    """The paths by which ``reach`` names ``target`` (at most one, since each value counts once)."""
    return [path for path, value in reach(args).values if value is target]


COUNTER = object()


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ((Box(counter=COUNTER),), "args[0].counter"),
        ((1, Box(inner=Box(counter=COUNTER))), "args[1].inner.counter"),
        ((Frozen(COUNTER),), "args[0].counter"),
        ((Slotted(COUNTER),), "args[0].counter"),
        ((Private(COUNTER, None),), "args[0]._Private__hidden"),
        ((Derived(None, COUNTER),), "args[0].shown"),
        (({"x": [None, COUNTER]},), "args[0]['x'][1]"),
        (({3: COUNTER},), "args[0][3]"),
        (({Color.RED: COUNTER},), "args[0][<Color key>]"),
        (({COUNTER},), "args[0]{#0}"),
        ((frozenset({COUNTER}),), "args[0]{#0}"),
        ((collections.deque([None, COUNTER]),), "args[0][1]"),
        ((Pair(None, COUNTER),), "args[0].right"),
        ((collections.OrderedDict(a=COUNTER),), "args[0]['a']"),
    ],
    ids=[
        "attribute",
        "nested-attribute",
        "dataclass",
        "dataclass-slots",
        "private-slot",
        "inherited-slot",
        "dict-list",
        "int-key",
        "enum-key",
        "set",
        "frozenset",
        "deque",
        "namedtuple",
        "dict-subclass",
    ],
)
def test_the_walk_finds_what_the_arguments_hold_and_names_its_path(
    args: tuple[object, ...], path: str
) -> None:
    assert paths_of(COUNTER, *args) == [path]


def test_an_object_reached_twice_counts_once_by_its_shortest_path() -> None:
    box = Box(counter=COUNTER)
    assert paths_of(COUNTER, [box], Box(again=box), COUNTER) == ["args[2]"]
    assert paths_of(box, [box], Box(again=box)) == ["args[0][0]"]


def test_cycles_end() -> None:
    box = Box()
    items: list[object] = [box]
    items.append(items)
    box.me = box  # type: ignore[attr-defined]
    box.items = items  # type: ignore[attr-defined]
    box.counter = COUNTER  # type: ignore[attr-defined]
    found = reach((box, items))
    assert [path for path, _ in found.values] == ["args[0]", "args[1]", "args[0].counter"]
    assert found.cut is None


def test_no_user_code_runs() -> None:
    assert paths_of(COUNTER, Hostile(COUNTER)) == ["args[0].counter"]
    # A user's mapping is read as an object: by its attributes, never iterated.
    assert paths_of(COUNTER, Lazy(COUNTER)) == ["args[0].counter"]
    # A list subclass is read as a list, whatever it overrides.
    assert paths_of(COUNTER, Listish([COUNTER])) == ["args[0][0]"]


def test_iterators_and_generators_are_never_consumed() -> None:
    generator = (item for item in [COUNTER])
    iterator = iter([COUNTER])
    assert paths_of(COUNTER, generator, iterator) == []
    assert next(generator) is COUNTER
    assert next(iterator) is COUNTER


def test_the_walk_goes_depth_steps_below_an_argument_and_says_where_it_stopped() -> None:
    deepest: Any = Box(counter=COUNTER)
    for _ in range(DEPTH - 1):
        deepest = Box(inner=deepest)
    assert paths_of(COUNTER, deepest) == ["args[0]" + ".inner" * (DEPTH - 1) + ".counter"]
    assert reach((deepest,)).cut is None
    too_deep = Box(inner=deepest)
    assert paths_of(COUNTER, too_deep) == []
    assert reach((too_deep,)).cut == "args[0]" + ".inner" * DEPTH


def test_huge_arguments_are_read_only_in_part_and_quickly() -> None:
    started = time.perf_counter()
    found = reach(([0] * 10**6 + [COUNTER], [Box() for _ in range(ITEMS + 1)]))
    assert time.perf_counter() - started < 1
    assert COUNTER not in [value for _, value in found.values]
    assert found.cut == "args[0]"
    wide = [[Box() for _ in range(ITEMS)] for _ in range(VISITS // ITEMS + 2)]
    assert len(reach((wide,)).values) <= VISITS + 1


def test_the_insides_of_multiprocessing_objects_are_not_searched() -> None:
    import multiprocessing

    lock = multiprocessing.get_context("spawn").Lock()
    assert [path for path, _ in reach((lock,)).values] == ["args[0]"]
