"""Library pools as users call them, unchanged: under each start method, inside ``instrument()``.

The inner tests request ``mp_start_method`` and call mpire, pebble, joblib and
tqdm's ``process_map`` with no context argument, inside an ``instrument()``
block. Correct code passes cleanly under each start method; a function whose
result depends on the process that runs it, mapped by ``process_map`` (a
``ProcessPoolExecutor`` inside tqdm), fails with our message, naming the line
in tqdm that made the call.

Each start method gets an inner run of its own: tqdm keeps one lock per
process, made by the default context of its first use, and hands it to the
workers of every later ``process_map``. Under spawn after fork in one process
that is tqdm's own error ("A SemLock created in a fork context is being
shared with a process in a spawn context"), with or without the plugin.
"""

from __future__ import annotations

import pytest

from _e2e import METHODS, assert_clean, assert_outcomes, output, run_pytest

SOURCE = """
    import os

    from joblib import Parallel, delayed
    from mpire import WorkerPool
    from pebble import ProcessPool
    from tqdm.contrib.concurrent import process_map

    def square(x):
        return x * x

    def pid_of(x):
        return os.getpid()

    def test_libraries_unchanged(mpcheck, mp_start_method):
        with mpcheck.instrument():
            with WorkerPool(n_jobs=2) as pool:
                assert pool.map(square, range(4)) == [0, 1, 4, 9]
            assert process_map(square, range(4), max_workers=2, disable=True) == [0, 1, 4, 9]
            with ProcessPool(max_workers=2) as pool:
                assert list(pool.map(square, range(4)).result()) == [0, 1, 4, 9]
            assert Parallel(n_jobs=2)(delayed(square)(i) for i in range(4)) == [0, 1, 4, 9]
"""

BROKEN = """
    def test_process_map_of_a_process_dependent_function(mpcheck, mp_start_method):
        with mpcheck.instrument():
            process_map(pid_of, range(4), max_workers=2, disable=True)
"""


@pytest.mark.parametrize("method", METHODS)
def test_library_pools_pass_unchanged(pytester: pytest.Pytester, method: str) -> None:
    result = run_pytest(pytester, SOURCE, f"--mp-start-methods={method}", start_method=method)
    assert_clean(result, [f"test_libraries_unchanged[{method}]"])


@pytest.mark.parametrize("method", METHODS)
def test_a_wrong_result_through_a_library_pool_fails_with_its_call_site(
    pytester: pytest.Pytester, method: str
) -> None:
    result = run_pytest(
        pytester, SOURCE + BROKEN, f"--mp-start-methods={method}", start_method=method
    )
    assert_outcomes(
        result,
        {
            f"test_libraries_unchanged[{method}]": "PASSED",
            f"test_process_map_of_a_process_dependent_function[{method}]": "FAILED",
        },
    )
    text = output(result)
    assert "ResultMismatchError: parallel result differs from the sequential run" in text
    assert "via: ProcessPoolExecutor.map" in text
    assert "called at " in text
    assert "tqdm/contrib/concurrent.py:" in text
    assert "LeakError" not in text
