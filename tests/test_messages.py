"""The report layer on its own: finding records in, error class and message out."""

from __future__ import annotations

import pytest

from pytest_mpcheck import (
    ExceptionMismatchError,
    NondeterministicError,
    ResultMismatchError,
)
from pytest_mpcheck._checks.findings import (
    Mismatch,
    MultisetMismatch,
    Nondeterminism,
    Raised,
    Returned,
    Run,
)
from pytest_mpcheck._report import messages
from pytest_mpcheck._report.messages import (
    EXCEPTION_MISMATCH,
    MULTISET_MISMATCH,
    NONDETERMINISTIC,
    RESULT_MISMATCH,
    format_finding,
    raise_finding,
    short_repr,
)

RUN = Run("spawn", "map", 2, None, "scaled", 7)


def test_headlines_are_distinct_constants() -> None:
    names = [
        "RESULT_MISMATCH",
        "EXCEPTION_MISMATCH",
        "MULTISET_MISMATCH",
        "NONDETERMINISTIC",
        "UNPICKLABLE",
        "UNLOADABLE",
        "TIMEOUT",
        "WORKER_CRASH",
    ]
    headlines = [getattr(messages, name) for name in names]
    assert all(isinstance(text, str) and text for text in headlines)
    assert len(set(headlines)) == len(headlines)


def test_short_repr_keeps_short_values() -> None:
    assert short_repr([1, "a"]) == "[1, 'a']"
    assert short_repr("x" * 158) == repr("x" * 158)


def test_short_repr_shortens_long_values_keeping_both_ends() -> None:
    value = "a" * 200 + "END"
    text = short_repr(value)
    assert len(text) < 170
    assert text.startswith("'aaaa")
    assert text.endswith("aaEND' (205 characters)")
    assert " ... " in text


def test_short_repr_survives_a_broken_repr() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert short_repr(Broken()) == "<repr failed: RuntimeError: no repr>"


def test_result_mismatch() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    error, text = format_finding(finding, {"fork": None, "spawn": finding, "forkserver": finding})
    assert error is ResultMismatchError
    lines = text.splitlines()
    assert lines[0] == (
        f"{RESULT_MISMATCH} at index 1 under spawn (via=map, processes=2, chunksize=default)"
    )
    assert (
        "  start method: spawn, via: map, processes: 2, chunksize: default, function: scaled"
        in (lines)
    )
    assert "  index 1 of 5, input: 1" in lines
    assert "    sequential: 10" in lines
    assert "    parallel:   1" in lines
    assert "  also differs under: forkserver" in lines
    assert "  matches under: fork" in lines
    assert any(line.startswith("  hint: fork workers inherit") for line in lines)


def test_exception_mismatch_names_both() -> None:
    finding = Mismatch(
        Run("fork", "imap", 3, 4, "f", 7),
        2,
        3,
        "in",
        Raised(ValueError("a", 1), ""),
        Raised(KeyError("b"), "Traceback (most recent call last):\nKeyError: 'b'\n"),
    )
    error, text = format_finding(finding)
    assert error is ExceptionMismatchError
    assert text.startswith(
        f"{EXCEPTION_MISMATCH} at index 2 under fork (via=imap, processes=3, chunksize=4)"
    )
    assert "    sequential: raised ValueError('a', 1)" in text
    assert "    parallel:   raised KeyError('b')" in text
    assert "KeyError: 'b'" in text.split("worker traceback", 1)[1]


def test_value_against_exception_is_an_exception_mismatch() -> None:
    finding = Mismatch(RUN, 0, 1, 0, Returned(0), Raised(RuntimeError("worker"), ""))
    error, text = format_finding(finding)
    assert error is ExceptionMismatchError
    assert "    sequential: 0" in text
    assert "    parallel:   raised RuntimeError('worker')" in text


def test_multiset_mismatch_lists_missing_and_extra() -> None:
    missing = tuple((i, i, i) for i in range(7))
    finding = MultisetMismatch(
        Run("fork", "imap_unordered", 2, None, "f", 7), 9, missing, ((3, 3, 99),)
    )
    error, text = format_finding(finding)
    assert error is ResultMismatchError
    lines = text.splitlines()
    assert lines[0] == (
        f"{MULTISET_MISMATCH} under fork (via=imap_unordered, processes=2, chunksize=default)"
    )
    assert "  missing from the parallel results (7):" in lines
    assert "    4  (index 4, input: 4)" in lines
    assert "    5  (index 5, input: 5)" not in lines
    assert "    ... and 2 more" in lines
    assert "  extra in the parallel results (1):" in lines
    assert "    99  (index 3, input: 3)" in lines


def test_nondeterminism() -> None:
    finding = Nondeterminism("noisy", 0, 0, Returned(0.25), Returned(0.5))
    error, text = format_finding(finding)
    assert error is NondeterministicError
    assert text.splitlines()[:4] == [
        f"{NONDETERMINISTIC} (noisy, at index 0)",
        "  input: 0",
        "    first sequential run:  0.25",
        "    second sequential run: 0.5",
    ]
    assert "not caused by parallelism" in text


def test_raise_finding_raises_the_class_with_the_message() -> None:
    finding = Mismatch(RUN, 1, 5, 1, Returned(10), Returned(1))
    with pytest.raises(ResultMismatchError) as caught:
        raise_finding(finding)
    assert str(caught.value) == format_finding(finding)[1]
