"""Inside Hypothesis ``@given`` tests: no health-check errors, and mismatches shrink."""

from __future__ import annotations

import re

import pytest

from _support import METHODS, run_pytest, section
from pytest_mpcheck._report.messages import RESULT_MISMATCH

SPAWNED = [m for m in METHODS if m != "fork"]

GIVEN = """
    import pytest
    from hypothesis import given, settings, strategies as st

    import pytest_mpcheck

    FLAG = {"on": False}


    def square(x):
        return x * x


    def doubled_when_flagged(x):
        # Differs only for nonzero input, and only where the run-time flag is not seen.
        return 2 * x if FLAG["on"] else x


    @settings(deadline=None, max_examples=10)
    @given(xs=st.lists(st.integers(), max_size=5))
    def test_fixture(mpcheck, xs):
        mpcheck.assert_map_equal(square, xs)


    @settings(deadline=None, max_examples=10)
    @given(xs=st.lists(st.integers(), max_size=5))
    def test_module_level(xs):
        pytest_mpcheck.assert_map_equal(square, xs)


    @settings(deadline=None, max_examples=10)
    @given(xs=st.lists(st.integers(), max_size=5))
    def test_fixture_unordered(mpcheck, xs):
        mpcheck.assert_map_equal(square, xs, via="imap_unordered")


    @pytest.mark.mpcheck(start_methods="SPAWNED")
    @settings(deadline=None, max_examples=50, database=None)
    @given(xs=st.lists(st.integers(), max_size=5))
    def test_shrinks(mpcheck, xs):
        FLAG["on"] = True
        mpcheck.assert_map_equal(doubled_when_flagged, xs)


    @pytest.mark.mpcheck(start_methods="SPAWNED")
    @settings(deadline=None, max_examples=50, database=None)
    @given(xs=st.lists(st.integers(), max_size=5))
    def test_shrinks_module_level(xs):
        FLAG["on"] = True
        pytest_mpcheck.assert_map_equal(doubled_when_flagged, xs)
"""


@pytest.mark.skipif(not SPAWNED, reason="needs a start method that does not inherit state")
def test_given_tests(pytester: pytest.Pytester) -> None:
    source = GIVEN.replace("SPAWNED", SPAWNED[0])
    result = run_pytest(
        pytester,
        source,
        "-rA",
        "--mp-processes=2",
        # Two start methods keep the run short; the shrinking tests pick their own.
        f"--mp-start-methods={','.join(METHODS[:2])}",
        "-W",
        "error::hypothesis.errors.HypothesisWarning",
    )
    result.assert_outcomes(passed=3, failed=2)
    text = result.stdout.str()
    assert "FailedHealthCheck" not in text
    assert "HealthCheck" not in text
    for test in ("test_shrinks", "test_shrinks_module_level"):
        matcher = section(result, test)
        matcher.fnmatch_lines(
            [
                f"E *pytest_mpcheck.ResultMismatchError: {RESULT_MISMATCH} at index 0 under "
                f"{SPAWNED[0]} *",
                "E *index 0 of 1, input: 1",
                "E *sequential: 2",
                "E *parallel:   1",
            ]
        )
        # The minimal failing example: one item, the smallest nonzero integer.
        matcher.re_match_lines([r"^E?\s*(Falsifying example: .*)?xs=\[1\],?\)?$"])
        lines = "\n".join(matcher.lines)
        assert re.search(r"(Falsifying example|Failing test case)", lines), lines
