"""The equivalence oracle end to end: each finding fails with our message, its twin passes."""

from __future__ import annotations

import pytest

from _support import METHODS, fnmatch_escape, outcomes_of, run_pytest, section
from pytest_mpcheck import VIAS
from pytest_mpcheck._report.messages import (
    DAEMONIC,
    EXCEPTION_MISMATCH,
    INCOMPARABLE,
    MULTISET_MISMATCH,
    NONDETERMINISTIC,
    RESULT_MISMATCH,
)

SPAWNED = [m for m in METHODS if m != "fork"]

STATE_HINT = "*hint: fork workers inherit the test process's memory as it is now*"
WORKER_STATE_HINT = "*hint: results that depend on which items a worker ran before*"


def test_correct_function_passes_through_every_via(pytester: pytest.Pytester) -> None:
    source = """
        import pytest


        def square(x):
            return x * x


        @pytest.mark.parametrize("via", VIAS)
        def test_square(mpcheck, via):
            if via == "starmap":
                mpcheck.assert_map_equal(pow, [(x, 2) for x in range(12)], via=via)
            else:
                mpcheck.assert_map_equal(square, range(12), via=via)


        def test_square_with_chunks(mpcheck):
            mpcheck.assert_map_equal(square, range(12), chunksize=5)


        def test_nothing_to_map(mpcheck):
            mpcheck.assert_map_equal(square, [])
    """.replace("VIAS", repr(list(VIAS)))
    result = run_pytest(pytester, source, "--mp-processes=2", "--mp-timeout=60")
    result.stdout.fnmatch_lines([f"mpcheck: start methods: {', '.join(METHODS)}; processes: 2*"])
    result.assert_outcomes(passed=len(VIAS) + 2)


@pytest.mark.parametrize("via", ["imap", "imap_unordered"])
def test_chunksize_is_honoured_by_imap(pytester: pytest.Pytester, via: str) -> None:
    source = f"""
        def square(x):
            return x * x


        def test_square(mpcheck):
            mpcheck.assert_map_equal(square, range(12), via={via!r}, chunksize=3)
    """
    result = run_pytest(pytester, source, "--mp-processes=2", "--mp-start-methods=fork")
    result.assert_outcomes(passed=1)


MODULE_STATE = """
    import pytest

    SCALE = 1


    def scaled(x):
        return x * SCALE


    @pytest.mark.parametrize("method", METHODS)
    def test_state_set_at_run_time(mpcheck, method):
        global SCALE
        SCALE = 10
        mpcheck.assert_map_equal(scaled, range(5), start_methods=method)


    def test_every_method(mpcheck):
        global SCALE
        SCALE = 10
        mpcheck.assert_map_equal(scaled, range(5))


    @pytest.mark.mpcheck(start_methods="fork")
    def test_fork_sees_the_parent_as_it_is_now(mpcheck):
        global SCALE
        SCALE = 10
        mpcheck.assert_map_equal(scaled, range(5))
        SCALE = 20
        mpcheck.assert_map_equal(scaled, range(5))
"""


def test_module_state_set_at_run_time(pytester: pytest.Pytester) -> None:
    source = MODULE_STATE.replace("METHODS", repr(list(METHODS)))
    result = run_pytest(pytester, source, "-rA", "--mp-processes=2")
    forked = "fork" in METHODS
    result.assert_outcomes(passed=2 if forked else 0, failed=len(SPAWNED) + (1 if SPAWNED else 0))
    for method in SPAWNED:
        section(result, f"test_state_set_at_run_time[{method}]").fnmatch_lines(
            [
                f"E *pytest_mpcheck.ResultMismatchError: {RESULT_MISMATCH} at index 1 under "
                f"{method} (via=map, processes=2, chunksize=default)",
                f"E *start method: {method}, via: map, processes: 2, chunksize: default, "
                "function: scaled",
                "E *index 1 of 5, input: 1",
                "E *sequential: 10",
                "E *parallel:   1",
            ]
        )
    if forked and SPAWNED:
        section(result, "test_every_method").fnmatch_lines(
            [
                f"E *ResultMismatchError: {RESULT_MISMATCH} at index 1 under {SPAWNED[0]} *",
                "E *index 1 of 5, input: 1",
                "E *sequential: 10",
                "E *parallel:   1",
                *([f"E *also differs under: {', '.join(SPAWNED[1:])}"] if SPAWNED[1:] else []),
                "E *matches under: fork",
                STATE_HINT,
            ]
        )


WORKER_STATE = """
    import multiprocessing
    import os
    import time

    import pytest


    class CoarseSquares:
        # Memoizes squares, but keyed too coarsely: by tens.
        def __init__(self):
            self.cache = {}

        def __call__(self, x):
            return self.cache.setdefault(x // 10, x * x)


    class Squares:
        def __init__(self):
            self.cache = {}

        def __call__(self, x):
            return self.cache.setdefault(x, x * x)


    def test_cache_on_the_callable(mpcheck):
        mpcheck.assert_map_equal(CoarseSquares(), range(40))


    def test_cache_on_the_callable_correct(mpcheck):
        mpcheck.assert_map_equal(Squares(), range(40))


    _cache = {}
    _joined = []


    def _meet(where):
        # The first call in a pool worker waits until a second worker of the same
        # pool has joined, so two workers always share the items (on a busy
        # machine one worker could otherwise run every chunk, like the sequential run).
        if multiprocessing.parent_process() is None or _joined:
            return
        _joined.append(True)
        pool = f"{os.getppid()}-{multiprocessing.current_process().name.split('-')[0]}"
        open(os.path.join(where, f"{pool}-{os.getpid()}"), "w").close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(name.startswith(pool + "-") for name in os.listdir(where)) >= 2:
                return
            time.sleep(0.01)


    def coarse(job):
        where, x = job
        _meet(where)
        return _cache.setdefault(x // 10, x * x)


    def exact(job):
        where, x = job
        _meet(where)
        return _cache.setdefault(x, x * x)


    @pytest.mark.parametrize("method", METHODS)
    def test_module_cache(mpcheck, method, tmp_path):
        _cache.clear()
        jobs = [(str(tmp_path), x) for x in range(40)]
        mpcheck.assert_map_equal(coarse, jobs, start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_module_cache_correct(mpcheck, method, tmp_path):
        _cache.clear()
        jobs = [(str(tmp_path), x) for x in range(40)]
        mpcheck.assert_map_equal(exact, jobs, start_methods=method)
"""


def test_state_kept_across_calls_in_a_worker(pytester: pytest.Pytester) -> None:
    """Caught with default settings: 4 processes, Pool's own chunking (chunks of 3 here)."""
    source = WORKER_STATE.replace("METHODS", repr(list(METHODS)))
    result = run_pytest(pytester, source, "-rA")
    result.assert_outcomes(passed=1 + len(METHODS), failed=1 + len(METHODS))
    # Every chunk gets its own copy of the callable, as with a plain Pool.
    section(result, "test_cache_on_the_callable").fnmatch_lines(
        [
            f"E *ResultMismatchError: {RESULT_MISMATCH} at index 3 under {METHODS[0]} "
            "(via=map, processes=4, chunksize=default)",
            "E *function: <test_state_kept_across_calls_in_a_worker.CoarseSquares object at *",
            "E *index 3 of 40, input: 3",
            "E *sequential: 0",
            "E *parallel:   9",
            *([f"E *also differs under: {', '.join(METHODS[1:])}"] if METHODS[1:] else []),
            WORKER_STATE_HINT,
        ]
    )
    for method in METHODS:
        section(result, f"test_module_cache[{method}]").fnmatch_lines(
            [
                f"E *ResultMismatchError: {RESULT_MISMATCH} at index 3 under {method} *",
                "E *function: coarse",
                "E *index 3 of 40, input: (*, 3)",
                "E *sequential: 0",
                "E *parallel:   9",
            ]
        )


EXCEPTIONS = """
    import multiprocessing

    import pytest


    def in_worker():
        return multiprocessing.parent_process() is not None


    def fails_at_three(x):
        if x == 3:
            raise ValueError("three", x)
        return x


    def fails_only_in_workers(x):
        if in_worker():
            raise RuntimeError("in a worker", x)
        return x


    def fails_only_sequentially(x):
        if x == 2 and not in_worker():
            raise ValueError(x)
        return x


    def different_args(x):
        if x == 1:
            raise ValueError(x, "worker" if in_worker() else "test process")
        return x


    def different_types(x):
        if x == 1:
            raise (KeyError if in_worker() else LookupError)(x)
        return x


    def test_same_exception_same_item(mpcheck):
        mpcheck.assert_map_equal(fails_at_three, range(6))


    def test_same_exception_unordered(mpcheck):
        mpcheck.assert_map_equal(fails_at_three, range(6), via="imap_unordered")


    def test_same_exception_executor(mpcheck):
        mpcheck.assert_map_equal(fails_at_three, range(6), via="executor")


    def test_raises_only_in_workers(mpcheck):
        mpcheck.assert_map_equal(fails_only_in_workers, range(4))


    def test_raises_only_sequentially(mpcheck):
        mpcheck.assert_map_equal(fails_only_sequentially, range(4))


    def test_different_args(mpcheck):
        mpcheck.assert_map_equal(different_args, range(4))


    def test_different_types(mpcheck):
        mpcheck.assert_map_equal(different_types, range(4))
"""


def test_exceptions(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, EXCEPTIONS, "-rA", "--mp-processes=2")
    result.assert_outcomes(passed=3, failed=4)
    first = METHODS[0]
    section(result, "test_raises_only_in_workers").fnmatch_lines(
        [
            f"E *pytest_mpcheck.ExceptionMismatchError: {EXCEPTION_MISMATCH} at index 0 "
            f"under {first} (via=map, processes=2, chunksize=default)",
            "E *index 0 of 4, input: 0",
            "E *sequential: 0",
            "E *parallel:   raised RuntimeError('in a worker', 0)",
            "E *worker traceback (last lines):",
            "E *raise RuntimeError(*",
            "E *RuntimeError: ('in a worker', 0)",
        ]
    )
    section(result, "test_raises_only_sequentially").fnmatch_lines(
        [
            f"E *ExceptionMismatchError: {EXCEPTION_MISMATCH} at index 2 under {first} *",
            "E *index 2 of 4, input: 2",
            "E *sequential: raised ValueError(2)",
            "E *parallel:   2",
        ]
    )
    section(result, "test_different_args").fnmatch_lines(
        [
            f"E *ExceptionMismatchError: {EXCEPTION_MISMATCH} at index 1 under {first} *",
            "E *sequential: raised ValueError(1, 'test process')",
            "E *parallel:   raised ValueError(1, 'worker')",
        ]
    )
    section(result, "test_different_types").fnmatch_lines(
        [
            f"E *ExceptionMismatchError: {EXCEPTION_MISMATCH} at index 1 under {first} *",
            "E *sequential: raised LookupError(1)",
            "E *parallel:   raised KeyError(1)",
        ]
    )


NONDETERMINISM = """
    import random


    def noisy(x):
        return x + random.random()


    def seeded(x):
        return x + random.Random(x).random()


    class CallCounter:
        def __init__(self):
            self.calls = 0

        def __call__(self, x):
            self.calls += 1
            return self.calls


    def test_random(mpcheck):
        mpcheck.assert_map_equal(noisy, range(5))


    def test_random_seeded_by_input(mpcheck):
        mpcheck.assert_map_equal(seeded, range(5))


    def test_call_counter(mpcheck):
        mpcheck.assert_map_equal(CallCounter(), range(40))
"""


def test_nondeterministic_function_is_not_blamed_on_parallelism(
    pytester: pytest.Pytester,
) -> None:
    result = run_pytest(pytester, NONDETERMINISM, "-rA", "--mp-processes=2")
    result.assert_outcomes(passed=1, failed=2)
    for test, function in (("test_random", "noisy"), ("test_call_counter", "CallCounter")):
        matcher = section(result, test)
        matcher.fnmatch_lines(
            [
                f"E *pytest_mpcheck.NondeterministicError: {NONDETERMINISTIC} (*{function}*, "
                "at index 0)",
                "E *input: 0",
                "E *first sequential run: *",
                "E *second sequential run: *",
                "E *not caused by parallelism*",
            ]
        )
        matcher.no_fnmatch_line("*MismatchError*")


MULTISET = """
    import math
    import multiprocessing


    def in_worker():
        return multiprocessing.parent_process() is not None


    def square(x):
        return x * x


    def off_in_workers(x):
        return x + 100 if in_worker() and x == 2 else x


    def nan_pair(x):
        return [math.nan, {"x": x, "nan": float("nan"), "z": complex(math.nan, x)}]


    def nan_in_workers(x):
        return math.nan if in_worker() else 0.0


    def long_text(s):
        return s + ("!" if in_worker() else "")


    def test_unordered(mpcheck):
        mpcheck.assert_map_equal(square, range(30), via="imap_unordered")


    def test_unordered_wrong(mpcheck):
        mpcheck.assert_map_equal(off_in_workers, range(8), via="imap_unordered", chunksize=1)


    def test_nan_is_nan(mpcheck):
        mpcheck.assert_map_equal(nan_pair, range(4))


    def test_nan_is_not_zero(mpcheck):
        mpcheck.assert_map_equal(nan_in_workers, range(2))


    def test_long_values_are_shortened(mpcheck):
        mpcheck.assert_map_equal(long_text, ["a" * 500])
"""


def test_unordered_nan_and_long_values(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, MULTISET, "-rA", "--mp-processes=2")
    result.assert_outcomes(passed=2, failed=3)
    first = METHODS[0]
    section(result, "test_unordered_wrong").fnmatch_lines(
        [
            f"E *pytest_mpcheck.ResultMismatchError: {MULTISET_MISMATCH} under {first} "
            "(via=imap_unordered, processes=2, chunksize=1)",
            "E *missing from the parallel results (1):",
            "E *2  (index 2, input: 2)",
            "E *extra in the parallel results (1):",
            "E *102  (index 2, input: 2)",
        ]
    )
    section(result, "test_nan_is_not_zero").fnmatch_lines(
        [
            f"E *ResultMismatchError: {RESULT_MISMATCH} at index 0 under {first} *",
            "E *sequential: 0.0",
            "E *parallel:   nan",
        ]
    )
    matcher = section(result, "test_long_values_are_shortened")
    matcher.fnmatch_lines(
        [
            f"E *ResultMismatchError: {RESULT_MISMATCH} at index 0 under {first} *",
            "E *index 0 of 1, input: 'aaaa*aaaa ... aaaa*aaaa' (502 characters)",
            "E *sequential: 'aaaa*' (502 characters)",
            "E *parallel:   'aaaa*!' (503 characters)",
        ]
    )
    matcher.no_fnmatch_line(fnmatch_escape("a" * 200))


DIAGNOSES = """
    import multiprocessing

    import pytest


    class Plain:
        def __init__(self, value):
            self.value = value


    def boxed(x):
        return Plain(x)


    def listed(x):
        return list(reversed(x))


    def with_own_pool(x):
        with multiprocessing.get_context("fork").Pool(1) as pool:
            return pool.map(abs, [x])[0]


    def test_iterators_compare_by_identity(mpcheck):
        mpcheck.assert_map_equal(reversed, [[1, 2], [3]])


    def test_objects_without_eq(mpcheck):
        mpcheck.assert_map_equal(boxed, [1, 2], via="imap_unordered")


    def test_values_compare_by_content(mpcheck):
        assert mpcheck.assert_map_equal(listed, [[1, 2], [3]]) == [[2, 1], [3]]


    def test_pool_inside_a_pool_worker(mpcheck):
        mpcheck.assert_map_equal(with_own_pool, [-1, -2])


    def test_the_same_function_called_directly(mpcheck):
        assert [with_own_pool(x) for x in (-1, -2)] == [1, 2]
"""


def test_results_without_value_equality_and_pools_inside_workers(
    pytester: pytest.Pytester,
) -> None:
    result = run_pytest(pytester, DIAGNOSES, "-rA", "--mp-processes=2")
    assert outcomes_of(result) == {
        "test_iterators_compare_by_identity": "FAILED",
        "test_objects_without_eq": "FAILED",
        "test_values_compare_by_content": "PASSED",
        "test_pool_inside_a_pool_worker": "FAILED",
        "test_the_same_function_called_directly": "PASSED",
    }
    section(result, "test_iterators_compare_by_identity").fnmatch_lines(
        [
            f"E *IncomparableError: {INCOMPARABLE}: the result for index 0 is or holds an "
            "iterator (list_reverseiterator)",
            "E * what to do: return a value that compares by content*",
        ]
    )
    section(result, "test_objects_without_eq").fnmatch_lines(
        [
            f"E *IncomparableError: {INCOMPARABLE}: the result for index * is or holds an "
            "object of class Plain, which defines no __eq__",
        ]
    )
    assert NONDETERMINISTIC not in result.stdout.str()
    nested = section(result, "test_pool_inside_a_pool_worker")
    nested.fnmatch_lines(
        [
            f"E *ExceptionMismatchError: {EXCEPTION_MISMATCH} at index 0*",
            f"E * parallel:   raised AssertionError('{DAEMONIC}')",
            "E * hint: func starts processes of its own (a Pool, a Process, an executor) inside "
            "a pool worker*",
        ]
    )
    assert "state kept across calls" not in "\n".join(nested.lines)


def test_assert_map_equal_returns_the_parallel_results(pytester: pytest.Pytester) -> None:
    source = """
        def square(x):
            return x * x


        def odd_only(x):
            if x % 2 == 0:
                raise ValueError(x)
            return x


        def test_results(mpcheck):
            assert mpcheck.assert_map_equal(square, range(6)) == [0, 1, 4, 9, 16, 25]
            unordered = mpcheck.assert_map_equal(square, range(6), via="imap_unordered")
            assert sorted(unordered) == [0, 1, 4, 9, 16, 25]


        def test_an_item_that_raised_holds_its_exception(mpcheck):
            results = mpcheck.assert_map_equal(odd_only, [1, 3, 4, 5])
            assert results[:2] == [1, 3]
            assert isinstance(results[2], ValueError)
            assert results[2].args == (4,)
    """
    result = run_pytest(pytester, source, "--mp-processes=2")
    result.assert_outcomes(passed=2)


def test_the_timeout_is_a_limit_per_start_method(pytester: pytest.Pytester) -> None:
    """Each method's run takes about 3 s (two items of 1 s: each worker runs one, then
    its share of a random placement, then one worker runs both): within 6 s each
    (with room for a loaded machine), beyond 6 s together."""
    source = """
        import time

        import pytest


        def slow(x):
            time.sleep(1)
            return x


        def slower(x):
            time.sleep(10)
            return x


        @pytest.mark.mpcheck(timeout=6)
        def test_each_method_within_the_limit(mpcheck):
            mpcheck.assert_map_equal(slow, [1, 2])


        @pytest.mark.mpcheck(timeout=6)
        def test_one_method_beyond_it(mpcheck):
            mpcheck.assert_map_equal(slower, [1, 2], start_methods="fork")
    """
    result = run_pytest(pytester, source, "-rA", "--mp-processes=2")
    assert outcomes_of(result) == {
        "test_each_method_within_the_limit": "PASSED",
        "test_one_method_beyond_it": "FAILED",
    }
    section(result, "test_one_method_beyond_it").fnmatch_lines(
        ["E *CheckTimeoutError: check timed out after 6s under fork*"]
    )
