"""tqdm under the leak check: the progress bars' shared lock is not a leak.

tqdm creates one ``multiprocessing`` lock for all its bars, on first use, and
keeps it for the rest of the run (``tqdm.get_lock()``). Under ``spawn`` and
``forkserver`` that lock is a named semaphore registered with the resource
tracker, so the checked test that happens to draw the first bar, or to call
``tqdm.contrib.concurrent.process_map`` first, would be blamed for it; under
``fork`` the semaphore is unlinked at once. Every default start method is run.
"""

from __future__ import annotations

import pytest

from _e2e import METHODS, MODULE, assert_clean, run_pytest

SOURCE = """
    from tqdm import tqdm
    from tqdm.contrib.concurrent import process_map

    def square(x):
        return x * x

    def test_progress_bar(mpcheck):
        assert sum(tqdm(range(4))) == 6

    def test_progress_bar_and_a_check(mpcheck):
        assert [square(x) for x in tqdm(range(4))] == [0, 1, 4, 9]
        mpcheck.assert_map_equal(square, range(4))

    def test_process_map(mpcheck):
        assert process_map(square, range(4), max_workers=2) == [0, 1, 4, 9]
"""

TESTS = ("test_progress_bar", "test_progress_bar_and_a_check", "test_process_map")


@pytest.mark.parametrize("method", METHODS)
def test_progress_bars_and_process_map(pytester: pytest.Pytester, method: str) -> None:
    """The first bar is drawn in a checked test, then ``process_map`` runs."""
    result = run_pytest(pytester, SOURCE, start_method=method)
    assert_clean(result, TESTS)


@pytest.mark.parametrize("method", METHODS)
def test_process_map_first(pytester: pytest.Pytester, method: str) -> None:
    """``process_map`` alone: it creates tqdm's lock itself, hands it to its workers,
    and shuts its executor down; the lock stays with tqdm."""
    result = run_pytest(pytester, SOURCE, f"{MODULE}.py::test_process_map", start_method=method)
    assert_clean(result, ["test_process_map"])


@pytest.mark.parametrize("method", ["spawn"])
def test_under_xdist(pytester: pytest.Pytester, method: str) -> None:
    """With ``-n 2``, each xdist worker creates its own lock in its first bar."""
    result = run_pytest(pytester, SOURCE, "-n", "2", start_method=method)
    assert_clean(result, TESTS)
