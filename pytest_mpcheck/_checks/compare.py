"""Equality as a user means it when comparing a parallel result with a sequential one.

Results come back from workers as unpickled copies, so identity-based
shortcuts that make ``[nan] == [nan]`` true in one process do not hold across
processes; NaN is treated as equal to NaN, and array-like values whose ``==``
is elementwise (NumPy) are reduced to one truth value.
"""

from __future__ import annotations

import concurrent.futures
import enum
import math
import types
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["identity_only", "multiset_difference", "values_equal"]

# Objects of these kinds compare by identity, yet travel by reference (a function or
# class is pickled by name), so a copy from a worker is the very same object.
_BY_REFERENCE = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    enum.Enum,
    type(None),
    type(Ellipsis),
    type(NotImplemented),
)
_DEPTH = 4
_IDENTITY_EQ: Any = object.__eq__


def values_equal(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same value, NaN-aware and array-aware."""
    if a is b:
        return True
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, complex) and isinstance(b, complex):
        return values_equal(a.real, b.real) and values_equal(a.imag, b.imag)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    try:
        verdict = a == b
    except Exception:
        return False
    if isinstance(verdict, bool):
        return verdict
    return _array_equal(a, b, verdict)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, complex)) and not isinstance(value, bool)


def _array_equal(a: Any, b: Any, verdict: Any) -> bool:
    """Reduce an elementwise ``==`` (NumPy, pandas) to one answer, NaN-aware."""
    module = type(a).__module__.split(".")[0]
    if module == "numpy":
        import numpy  # type: ignore[import-not-found]

        try:
            return bool(numpy.array_equal(a, b, equal_nan=True))
        except TypeError:
            return bool(numpy.array_equal(a, b))
    reduce_all = getattr(verdict, "all", None)
    if callable(reduce_all):
        try:
            return bool(reduce_all())
        except Exception:
            return False
    try:
        return bool(verdict)
    except Exception:
        return False


def multiset_difference(
    expected: Sequence[Any], actual: Sequence[Any]
) -> tuple[list[int], list[int]]:
    """Positions of ``expected`` values missing from ``actual`` and of extra ``actual`` ones.

    Works for unhashable values; quadratic only in the number of values that
    do not pair up position by position.
    """
    unmatched_expected = list(range(len(expected)))
    unmatched_actual = list(range(len(actual)))
    if len(expected) == len(actual):
        pairs = [i for i in range(len(expected)) if values_equal(expected[i], actual[i])]
        paired = set(pairs)
        unmatched_expected = [i for i in unmatched_expected if i not in paired]
        unmatched_actual = [i for i in unmatched_actual if i not in paired]
    missing: list[int] = []
    extra = list(unmatched_actual)
    for i in unmatched_expected:
        for position, j in enumerate(extra):
            if values_equal(expected[i], actual[j]):
                del extra[position]
                break
        else:
            missing.append(i)
    return missing, extra


def identity_only(value: Any, depth: int = 0) -> str | None:
    """What in ``value`` has no value equality (``==`` is identity), described, or None.

    Such an object never equals its copy from another process or from another
    call, so no run can ever agree with another on it.
    """
    if isinstance(value, _BY_REFERENCE) or depth > _DEPTH:
        return None
    if isinstance(value, dict):
        parts: Any = value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        parts = value
    elif getattr(type(value), "__eq__", None) is _IDENTITY_EQ:
        return _kind(value)
    else:
        return None
    for part in parts:
        found = identity_only(part, depth + 1)
        if found is not None:
            return found
    return None


def _kind(value: Any) -> str:
    name = type(value).__qualname__
    if isinstance(value, types.GeneratorType):
        return f"a generator ({value.__qualname__})"
    if isinstance(value, concurrent.futures.Future):
        return f"a future ({name})"
    if isinstance(value, Iterator):
        return f"an iterator ({name})"
    return f"an object of class {name}, which defines no __eq__"
