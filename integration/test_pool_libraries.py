"""Pools that are closed when the ``with`` block ends leave nothing behind.

mpire's ``WorkerPool``, pebble's ``ProcessPool`` and ``concurrent.futures``'
``ProcessPoolExecutor`` all stop their workers on leaving the block, so a
checked test that uses them passes, under every default start method and
with every start method a pool can be given. mpire reads tqdm's shared lock
(``tqdm.get_lock()``) even with no progress bar, which creates it on first
use: a lock tqdm keeps, not one the test left behind.
"""

from __future__ import annotations

import pytest

from _e2e import METHODS, assert_clean, run_pytest

SOURCE = """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import pytest
    from mpire import WorkerPool
    from pebble import ProcessPool

    METHODS = ("fork", "spawn", "forkserver")

    def square(x):
        return x * x

    def test_mpire_worker_pool(mpcheck):
        with WorkerPool(n_jobs=2) as pool:
            assert pool.map(square, range(4)) == [0, 1, 4, 9]
        mpcheck.assert_map_equal(square, range(4))

    @pytest.mark.parametrize("method", METHODS)
    def test_mpire_start_method(mpcheck, method):
        with WorkerPool(n_jobs=2, start_method=method) as pool:
            assert pool.map(square, range(4)) == [0, 1, 4, 9]

    def test_pebble_process_pool(mpcheck):
        with ProcessPool(max_workers=2) as pool:
            assert list(pool.map(square, range(4)).result()) == [0, 1, 4, 9]
            assert pool.schedule(square, args=(3,)).result(timeout=60) == 9

    @pytest.mark.parametrize("method", METHODS)
    def test_process_pool_executor(mpcheck, method):
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
            assert list(executor.map(square, range(4), timeout=60)) == [0, 1, 4, 9]

    def test_process_pool_executor_and_a_check(mpcheck):
        with ProcessPoolExecutor(max_workers=2) as executor:
            assert executor.submit(square, 3).result(timeout=60) == 9
        mpcheck.assert_map_equal(square, range(4))
"""

TESTS = (
    "test_mpire_worker_pool",
    *(f"test_mpire_start_method[{method}]" for method in METHODS),
    "test_pebble_process_pool",
    *(f"test_process_pool_executor[{method}]" for method in METHODS),
    "test_process_pool_executor_and_a_check",
)


@pytest.mark.parametrize("method", METHODS)
def test_closed_pools_under_each_default_start_method(
    pytester: pytest.Pytester, method: str
) -> None:
    """Every pool is closed by its ``with`` block: nothing to report."""
    result = run_pytest(pytester, SOURCE, start_method=method)
    assert_clean(result, TESTS)


def test_closed_pools_under_xdist(pytester: pytest.Pytester) -> None:
    """The same with ``-n 2``, under ``spawn``, where tqdm's lock is a named semaphore."""
    result = run_pytest(pytester, SOURCE, "-n", "2", start_method="spawn")
    assert_clean(result, TESTS)
