"""Equality as the oracle judges it: NaN-aware, nested, and as a multiset."""

from __future__ import annotations

import concurrent.futures
import enum
import math
from collections import OrderedDict
from collections.abc import Iterator
from fractions import Fraction

import pytest

from pytest_mpcheck._checks.compare import identity_only, multiset_difference, values_equal

NAN = math.nan


class Elementwise:
    """An array-like whose ``==`` is elementwise and which has ``.all()``."""

    def __init__(self, *values: int) -> None:
        self.values = values

    def __eq__(self, other: object) -> Verdict:  # type: ignore[override]
        assert isinstance(other, Elementwise)
        return Verdict([a == b for a, b in zip(self.values, other.values, strict=True)])

    __hash__ = None  # type: ignore[assignment]


class Verdict:
    def __init__(self, flags: list[bool]) -> None:
        self.flags = flags

    def all(self) -> bool:
        return all(self.flags)

    def __bool__(self) -> bool:
        raise ValueError("ambiguous truth value")


class Explodes:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparison")

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1),
        (NAN, NAN),
        (float("nan"), NAN),
        ([NAN, 1], [NAN, 1]),
        ((1, (2, [NAN])), (1, (2, [NAN]))),
        ({"a": [NAN], "b": {"c": NAN}}, {"a": [NAN], "b": {"c": NAN}}),
        (complex(NAN, 1), complex(NAN, 1)),
        (1, 1.0),
        ("x", "x"),
        (None, None),
        ({1, 2}, {2, 1}),
        (Fraction(1, 2), Fraction(2, 4)),
        (OrderedDict(a=1), OrderedDict(a=1)),
        (Elementwise(1, 2), Elementwise(1, 2)),
    ],
)
def test_equal(a: object, b: object) -> None:
    assert values_equal(a, b)
    assert values_equal(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 2),
        (NAN, 1.0),
        (NAN, None),
        ([NAN], [1.0]),
        ([1, 2], [1, 2, 3]),
        ([1, 2], (1, 2)),
        ({"a": NAN}, {"b": NAN}),
        ({"a": [1]}, {"a": [2]}),
        (1, True),
        (0, "0"),
        (0.0, -1e-300),
        (Elementwise(1, 2), Elementwise(1, 3)),
    ],
)
def test_not_equal(a: object, b: object) -> None:
    assert not values_equal(a, b)
    assert not values_equal(b, a)


def test_a_comparison_that_raises_is_not_equal() -> None:
    assert not values_equal(Explodes(), Explodes())


def test_identity_is_equal() -> None:
    thing = Explodes()
    assert values_equal(thing, thing)


@pytest.mark.parametrize(
    ("expected", "actual", "missing", "extra"),
    [
        ([], [], [], []),
        ([1, 2, 3], [1, 2, 3], [], []),
        ([1, 2, 3], [3, 1, 2], [], []),
        ([NAN, 1], [1, NAN], [], []),
        ([[1], {"a": 2}], [{"a": 2}, [1]], [], []),
        ([1, 1, 2], [1, 2, 2], [1], [1]),
        ([1, 2, 3], [1, 2, 4], [2], [2]),
        ([1, 2, 3], [1, 2], [2], []),
        ([1, 2], [2, 1, 7], [], [2]),
        ([[0], [1]], [[1], [5]], [0], [1]),
    ],
)
def test_multiset_difference(
    expected: list[object], actual: list[object], missing: list[int], extra: list[int]
) -> None:
    assert multiset_difference(expected, actual) == (missing, extra)


class _Plain:
    """A class without ``__eq__``: its objects compare by identity."""


class _Valued:
    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Valued) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


def _generator() -> Iterator[int]:
    yield 1


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (reversed([1, 2]), "an iterator (list_reverseiterator)"),
        (map(abs, [1]), "an iterator (map)"),
        (_generator(), "a generator (_generator)"),
        (concurrent.futures.Future(), "a future (Future)"),
        (_Plain(), "an object of class _Plain, which defines no __eq__"),
        ([1, {"k": (2, _Plain())}], "an object of class _Plain, which defines no __eq__"),
    ],
)
def test_identity_only_names_what_has_no_value_equality(value: object, what: str) -> None:
    assert identity_only(value) == what


@pytest.mark.parametrize(
    "value",
    [1, "a", [1, (2, 3)], {"a": {1, 2}}, None, _Valued(1), abs, int, enum.Enum("E", "A").A],
)
def test_identity_only_accepts_values_and_what_travels_by_reference(value: object) -> None:
    assert identity_only(value) is None
