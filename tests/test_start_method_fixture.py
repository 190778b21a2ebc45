"""``mp_start_method``: unchanged code runs under each selected start method."""

from __future__ import annotations

import pytest

from _support import METHODS, outcomes_of, run_pytest, section

# A module that registers a handler at run time (in the test), and a worker that
# looks it up: only fork workers see what the test process registered.
REGISTRY = """
    HANDLERS = {}

    def handle(x):
        return HANDLERS["double"](x)

    def double(x):
        return 2 * x

    def handle_with(name_and_x):
        name, x = name_and_x
        return {"double": double}[name](x)
"""

SOURCE = """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import pytest
    from hypothesis import given, settings, strategies as st

    import registry

    def test_default_is_the_method(mp_start_method):
        assert multiprocessing.get_start_method() == mp_start_method
        with multiprocessing.Pool(2) as pool:
            assert pool.map(registry.double, [1, 2]) == [2, 4]

    def test_registry_read_in_workers(mp_start_method):
        registry.HANDLERS["double"] = registry.double
        with multiprocessing.Pool(2) as pool:
            assert pool.map(registry.handle, [1, 2]) == [2, 4]

    def test_registry_passed_as_argument(mp_start_method):
        with ProcessPoolExecutor(2) as executor:
            assert list(executor.map(registry.handle_with, [("double", 1)])) == [2]

    @pytest.mark.mpcheck(start_methods="spawn")
    def test_marker_selects(mp_start_method, mpcheck):
        assert mp_start_method == "spawn"
        assert mpcheck.settings.start_methods == ("spawn",)

    def test_checks_follow_the_method(mp_start_method, mpcheck):
        assert mpcheck.settings.start_methods == (mp_start_method,)

    @given(st.integers(0, 5))
    @settings(max_examples=3, deadline=None)
    def test_with_hypothesis(mp_start_method, x):
        assert multiprocessing.get_start_method() == mp_start_method

    def test_default_restored_after():
        assert multiprocessing.get_start_method(allow_none=True) is None
"""


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["alone", "xdist"])
def test_runs_once_per_method_and_finds_what_breaks_under_spawn(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(registry=REGISTRY)
    result = run_pytest(pytester, SOURCE, "-rA", "-p", "no:randomly", *xdist)
    outcomes = outcomes_of(result)
    for method in METHODS:
        assert outcomes[f"test_default_is_the_method[{method}]"] == "PASSED"
        assert outcomes[f"test_registry_passed_as_argument[{method}]"] == "PASSED"
        assert outcomes[f"test_checks_follow_the_method[{method}]"] == "PASSED"
        assert outcomes[f"test_with_hypothesis[{method}]"] == "PASSED"
        # The registry is set at run time: only fork workers inherit it.
        expected = "PASSED" if method == "fork" else "FAILED"
        assert outcomes[f"test_registry_read_in_workers[{method}]"] == expected
    assert outcomes["test_marker_selects[spawn]"] == "PASSED"
    assert "test_marker_selects[fork]" not in outcomes
    assert outcomes["test_default_restored_after"] == "PASSED"
    section(result, "test_registry_read_in_workers[spawn]").fnmatch_lines(["*KeyError*double*"])


def test_the_command_line_selects_the_methods(pytester: pytest.Pytester) -> None:
    source = """
        import multiprocessing

        def test_method(mp_start_method):
            assert multiprocessing.get_start_method() == mp_start_method
    """
    result = run_pytest(pytester, source, "-rA", "--mp-start-methods=forkserver,spawn")
    assert outcomes_of(result) == {
        "test_method[spawn]": "PASSED",
        "test_method[forkserver]": "PASSED",
    }
