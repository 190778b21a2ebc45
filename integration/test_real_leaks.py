"""Real leaks are still caught: a process never joined, a pool never closed.

Allowing the helpers libraries keep by design must not hide what a test
itself left running. Each leak comes with its correct twin, which must pass:
the check tells the two apart, it does not just pass everything. Under
``warn`` a leak is listed and left alone: the test process still owns it.

The leaked processes are daemons, so that whatever happens, multiprocessing
stops them when the inner run exits. The leaked pool is left with both its
workers busy in a task (the main suite's leak tests cover an idle one).
"""

from __future__ import annotations

import pytest
from _support import section  # tests/ is on sys.path (pytest's pythonpath)

from _e2e import assert_outcomes, explain, output, run_pytest

PROCESS_SOURCE = """
    import multiprocessing
    import signal
    import time

    EXPECT_RUNNING = {expect_running}
    LEFT = []

    def sleeper():
        time.sleep(60)

    def square(x):
        return x * x

    def test_joins_its_process(mpcheck):
        process = multiprocessing.get_context("spawn").Process(target=square, args=(2,))
        process.start()
        process.join(60)
        assert process.exitcode == 0

    def test_process_left_running(mpcheck):
        context = multiprocessing.get_context("fork")
        process = context.Process(target=sleeper, name="sleeper-left-running", daemon=True)
        process.start()
        LEFT.append(process)

    def test_stops_what_was_left():
        alive = [process.is_alive() for process in LEFT]
        for process in LEFT:
            process.terminate()
            process.join(60)
        if EXPECT_RUNNING:
            assert alive == [True], "the process left running was stopped behind the test's back"
            assert [process.exitcode for process in LEFT] == [-signal.SIGTERM]
"""

POOL_SOURCE = """
    import multiprocessing
    import time

    POOLS = []

    def square(x):
        return x * x

    def init(started_):
        global started
        started = started_

    def block():
        started.release()
        time.sleep(60)

    def test_pool_closed_by_with(mpcheck):
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            assert pool.map(square, range(4)) == [0, 1, 4, 9]
        mpcheck.assert_map_equal(square, range(4))

    def test_pool_left_open(mpcheck):
        context = multiprocessing.get_context("fork")
        started = context.Semaphore(0)
        pool = context.Pool(2, initializer=init, initargs=(started,))
        assert pool.map(square, range(4)) == [0, 1, 4, 9]
        # Both workers busy when the test ends: none holds the task queue's lock.
        for _ in range(2):
            pool.apply_async(block)
        for _ in range(2):
            assert started.acquire(timeout=60)
        POOLS.append(pool)

    def test_stops_what_was_left():
        for pool in POOLS:
            pool.terminate()
            pool.join()
"""


def _process_source(expect_running: bool) -> str:
    """The process pair; ``expect_running``: the last test insists the leak outlived its test."""
    return PROCESS_SOURCE.format(expect_running=expect_running)


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["alone", "under xdist"])
def test_process_left_running_is_an_error(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    """A process started and never joined is a LeakError naming it, found by whichever
    process runs the test; a joined one passes."""
    result = run_pytest(pytester, _process_source(expect_running=False), *xdist)
    assert_outcomes(
        result,
        {
            "test_joins_its_process": "PASSED",
            "test_process_left_running": "ERROR",
            "test_stops_what_was_left": "PASSED",
        },
    )
    section(result, "test_process_left_running").fnmatch_lines(
        ["*LeakError*test_process_left_running*", "*process pid *sleeper-left-running*"]
    )


def test_pool_left_open_is_an_error(pytester: pytest.Pytester) -> None:
    """A Pool never closed and kept alive is a LeakError naming its workers;
    ``with Pool(...)`` passes."""
    result = run_pytest(pytester, POOL_SOURCE)
    assert_outcomes(
        result,
        {
            "test_pool_closed_by_with": "PASSED",
            "test_pool_left_open": "ERROR",
            "test_stops_what_was_left": "PASSED",
        },
    )
    section(result, "test_pool_left_open").fnmatch_lines(
        ["*LeakError*test_pool_left_open*", "*process pid *ForkPoolWorker-*"]
    )


def test_warn_lists_the_leak_and_leaves_it_running(pytester: pytest.Pytester) -> None:
    """``warn`` lists the leak at the end and never fails the run, and kills nothing:
    the next test finds the process alive and stops it itself."""
    result = run_pytest(pytester, _process_source(expect_running=True), "--mp-leak-check=warn")
    assert_outcomes(
        result,
        {
            "test_joins_its_process": "PASSED",
            "test_process_left_running": "PASSED",
            "test_stops_what_was_left": "PASSED",
        },
    )
    assert result.ret == pytest.ExitCode.OK, explain(result)
    assert "LeakError" not in output(result), explain(result)
    result.stdout.fnmatch_lines(
        [
            "*= mpcheck leaks*=*",
            "*test_*.py::test_process_left_running*",
            "*process pid *sleeper-left-running*",
        ]
    )
