"""joblib under the leak check: loky's reusable workers and resource tracker are not leaks.

joblib's default backend, loky, keeps its worker processes after ``Parallel``
returns, to reuse them on the next call, and starts a resource tracker of its
own; its ``multiprocessing`` backend starts that tracker too. Both live until
the end of the run by design. Killing them is worse than reporting them: the
next ``Parallel`` call finds its workers gone (``TerminatedWorkerError``) and
loky prints ``resource_tracker: process died unexpectedly`` and ``KeyError``
tracebacks.
"""

from __future__ import annotations

import textwrap

import pytest

from _e2e import METHODS, assert_clean, run_pytest

SOURCE = """
    from joblib import Parallel, delayed

    def square(x):
        return x * x

    def run(**kwargs):
        return Parallel(n_jobs=2, timeout=60, **kwargs)(delayed(square)(i) for i in range(4))

    def test_loky_starts_its_workers(mpcheck):
        assert run() == [0, 1, 4, 9]

    def test_loky_reuses_its_workers(mpcheck):
        assert run() == [0, 1, 4, 9]

    def test_loky_and_a_check(mpcheck):
        assert run() == [0, 1, 4, 9]
        mpcheck.assert_map_equal(square, range(4))

    def test_loky_after_the_check(mpcheck):
        assert run() == [0, 1, 4, 9]
"""

LOKY_TESTS = (
    "test_loky_starts_its_workers",
    "test_loky_reuses_its_workers",
    "test_loky_and_a_check",
    "test_loky_after_the_check",
)

MULTIPROCESSING_SOURCE = """
    from joblib import Parallel, delayed

    def square(x):
        return x * x

    def run():
        jobs = (delayed(square)(i) for i in range(4))
        return Parallel(n_jobs=2, timeout=60, backend="multiprocessing")(jobs)

    def test_multiprocessing_backend(mpcheck):
        assert run() == [0, 1, 4, 9]

    def test_multiprocessing_backend_and_a_check(mpcheck):
        assert run() == [0, 1, 4, 9]
        mpcheck.assert_map_equal(square, range(4))
"""

MULTIPROCESSING_TESTS = (
    "test_multiprocessing_backend",
    "test_multiprocessing_backend_and_a_check",
)


def test_loky_executor_reused_across_checked_tests(pytester: pytest.Pytester) -> None:
    """Loky's workers, started in the first test and reused by the next, are never
    reported nor killed: every later call still finds them."""
    result = run_pytest(pytester, SOURCE)
    assert_clean(result, LOKY_TESTS)


def test_loky_under_warn_is_not_reported_nor_killed(pytester: pytest.Pytester) -> None:
    """Under ``warn`` nothing of loky's is listed, and nothing is killed behind its back."""
    result = run_pytest(pytester, SOURCE, "--mp-leak-check=warn")
    assert_clean(result, LOKY_TESTS)


def test_loky_under_xdist(pytester: pytest.Pytester) -> None:
    """With ``-n 2`` each xdist worker starts loky in whichever test it runs first:
    the outcome must not depend on that."""
    result = run_pytest(pytester, SOURCE, "-n", "2")
    assert_clean(result, LOKY_TESTS)


@pytest.mark.parametrize("method", METHODS)
def test_multiprocessing_backend(pytester: pytest.Pytester, method: str) -> None:
    """``backend="multiprocessing"`` closes its pool, but starts loky's resource
    tracker, which lives on; under every default start method."""
    result = run_pytest(pytester, MULTIPROCESSING_SOURCE, start_method=method)
    assert_clean(result, MULTIPROCESSING_TESTS)


def test_both_backends_under_xdist(pytester: pytest.Pytester) -> None:
    """Both backends in one ``-n 2`` run, in whatever order the workers get them."""
    pytester.makepyfile(test_more=textwrap.dedent(MULTIPROCESSING_SOURCE))
    result = run_pytest(pytester, SOURCE, "-n", "2")
    assert_clean(result, LOKY_TESTS + MULTIPROCESSING_TESTS)
