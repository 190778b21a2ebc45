"""The leak check: what a test leaves behind is named, cleaned up, and (by default) an error."""

from __future__ import annotations

import pytest

from _support import METHODS, outcomes_of, run_pytest, section
from pytest_mpcheck._report.messages import LEAKED

SOURCE = """
    import multiprocessing
    import time
    from multiprocessing import shared_memory

    def sleeper():
        time.sleep(60)

    def square(x):
        return x * x

    def test_leaves_a_process(mpcheck):
        mpcheck.assert_map_equal(square, range(3))
        multiprocessing.get_context("spawn").Process(target=sleeper, daemon=True).start()

    def test_leaves_shared_memory(mpcheck):
        shared_memory.SharedMemory(create=True, size=64).close()

    def test_joins_its_process(mpcheck):
        process = multiprocessing.get_context("forkserver").Process(target=square, args=(2,))
        process.start()
        process.join()
        memory = shared_memory.SharedMemory(create=True, size=64)
        memory.close()
        memory.unlink()

    def test_without_the_plugin_is_not_checked():
        process = multiprocessing.get_context("fork").Process(target=sleeper)
        process.start()
        process.terminate()
        process.join()

    def test_runs_after_the_leaks():
        assert multiprocessing.active_children() == []
"""

ARGS = ("--mp-processes=2", "-rA")


def test_leaks_are_test_errors_naming_each_leak(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, SOURCE, *ARGS)
    assert outcomes_of(result) == {
        "test_leaves_a_process": "ERROR",
        "test_leaves_shared_memory": "ERROR",
        "test_joins_its_process": "PASSED",
        "test_without_the_plugin_is_not_checked": "PASSED",
        "test_runs_after_the_leaks": "PASSED",
    }
    section(result, "test_leaves_a_process").fnmatch_lines(
        [
            f"E   *LeakError: 1 process(es) or shared memory block(s) {LEAKED}*"
            "test_leaves_a_process:",
            "*process pid * SpawnProcess-* start method spawn",
            "*They were killed and unlinked so the next test starts clean.",
        ]
    )
    section(result, "test_leaves_shared_memory").fnmatch_lines(
        ["*LeakError*", "*shared_memory /psm_*: never unlinked"]
    )


def test_warn_reports_in_the_summary_and_never_fails(pytester: pytest.Pytester) -> None:
    # Warn leaves the process running: the test that checks nothing is left would fail.
    result = run_pytest(pytester, SOURCE, *ARGS, "--mp-leak-check=warn", "-k", "not after")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*= mpcheck leaks (--mp-leak-check=warn) =*",
            f"*{LEAKED} test_*.py::test_leaves_a_process:",
        ]
    )
    assert "LeakError" not in result.stdout.str()


def test_off_checks_nothing(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmp_leak_check = off\n")
    source = SOURCE.replace("test_runs_after_the_leaks", "test_runs_later")
    result = run_pytest(pytester, source, *ARGS, "-k", "shared_memory or joins")
    assert result.ret == pytest.ExitCode.OK


def test_bad_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, "def test_x():\n    pass\n", "--mp-leak-check=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*leak check must be one of error, warn, off*"])


BY_DESIGN = """
    import concurrent.futures
    import multiprocessing
    import os
    import signal
    import subprocess
    import sys
    import time

    # A library's class-level lock: its semaphore lives as long as the class.
    LOCK = multiprocessing.get_context("spawn").RLock()
    HELPERS = []

    def sleeper():
        time.sleep(60)

    def square(x):
        return x * x

    def test_a_lock_kept_by_a_library_is_not_a_leak(mpcheck):
        with LOCK:
            mpcheck.assert_map_equal(square, range(3))

    def test_a_pool_shut_down_without_waiting_is_not_a_leak(mpcheck):
        context = multiprocessing.get_context("spawn")
        executor = concurrent.futures.ProcessPoolExecutor(2, mp_context=context)
        assert list(executor.map(square, range(4))) == [0, 1, 4, 9]
        executor.shutdown(wait=False)

    def test_an_allowed_helper_is_not_a_leak(mpcheck):
        code = "import time; time.sleep(60)  # allowed-helper"
        HELPERS.append(subprocess.Popen([sys.executable, "-c", code]))

    def test_an_allowed_process_name_is_not_a_leak(mpcheck):
        context = multiprocessing.get_context("spawn")
        process = context.Process(target=sleeper, name="allowed-worker", daemon=True)
        process.start()
        HELPERS.append(process)

    def test_helpers_are_still_running():
        assert [helper.poll() if hasattr(helper, "poll") else helper.exitcode
                for helper in HELPERS] == [None, None]
        for helper in HELPERS:
            helper.kill()
            if hasattr(helper, "poll"):
                helper.wait()
            else:
                helper.join()
"""

ALLOW = "[pytest]\nmp_leak_allow =\n    *allowed-helper*\n    allowed-w?rker\n"


def test_what_libraries_keep_by_design_is_not_a_leak(pytester: pytest.Pytester) -> None:
    pytester.makeini(ALLOW)
    result = run_pytest(pytester, BY_DESIGN, *ARGS, "-p", "no:randomly")
    assert set(outcomes_of(result).values()) == {"PASSED"}, result.stdout.str()
    assert len(outcomes_of(result)) == 5
    assert "LeakError" not in result.stdout.str()


def test_without_the_allow_list_the_same_helpers_are_leaks(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, BY_DESIGN, *ARGS, "-k", "allowed", "--mp-leak-check=error")
    assert outcomes_of(result) == {
        "test_an_allowed_helper_is_not_a_leak": "ERROR",
        "test_an_allowed_process_name_is_not_a_leak": "ERROR",
    }
    section(result, "test_an_allowed_helper_is_not_a_leak").fnmatch_lines(
        ["*LeakError*", "*process pid *: command line: *allowed-helper*"]
    )
    section(result, "test_an_allowed_process_name_is_not_a_leak").fnmatch_lines(
        ["*LeakError*", "*process pid *: allowed-worker (*), start method spawn"]
    )


def test_allow_patterns_on_the_command_line(pytester: pytest.Pytester) -> None:
    result = run_pytest(
        pytester,
        BY_DESIGN,
        *ARGS,
        "--mp-leak-allow=*allowed-helper*,allowed-worker",
    )
    assert set(outcomes_of(result).values()) == {"PASSED"}, result.stdout.str()


WARN_KEEPS = """
    import multiprocessing
    import os
    import signal
    import time
    import pytest

    def sleeper():
        time.sleep(60)

    PIDS = []

    @pytest.mark.mpcheck(leak_check="warn")
    def test_leaks_under_warn(mpcheck):
        process = multiprocessing.get_context("spawn").Process(target=sleeper, daemon=True)
        process.start()
        PIDS.append(process)

    @pytest.mark.mpcheck(leak_check="off")
    def test_leaks_with_the_check_off(mpcheck):
        process = multiprocessing.get_context("fork").Process(target=sleeper, daemon=True)
        process.start()
        PIDS.append(process)

    def test_warn_and_off_touched_nothing():
        assert [process.is_alive() for process in PIDS] == [True, True]
        for process in PIDS:
            process.kill()
            process.join()
"""


def test_the_marker_relaxes_the_check_and_warn_never_kills(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, WARN_KEEPS, *ARGS)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert len(outcomes_of(result)) == 3
    result.stdout.fnmatch_lines(
        [
            "*= mpcheck leaks (--mp-leak-check=warn) =*",
            f"*{LEAKED} test_*.py::test_leaks_under_warn:",
            "*They were left as they are (warn changes nothing).",
        ]
    )
    assert "test_leaks_with_the_check_off:" not in result.stdout.str()


IDLE_POOL = """
    import multiprocessing

    KEPT = []

    def square(x):
        return x * x

    def test_keeps_an_idle_pool(mpcheck):
        pool = multiprocessing.get_context("METHOD").Pool(2)
        assert pool.map(square, range(4)) == [0, 1, 4, 9]
        KEPT.append(pool)

    def test_runs_after_it():
        assert multiprocessing.active_children() == []
"""


@pytest.mark.parametrize("method", METHODS)
def test_a_leaked_idle_pool_is_stopped_and_the_run_still_ends(
    pytester: pytest.Pytester, method: str
) -> None:
    """Its idle workers hold the task queue's lock: killing them must not hang the exit."""
    result = run_pytest(pytester, IDLE_POOL.replace("METHOD", method), *ARGS, timeout=60)
    assert outcomes_of(result) == {
        "test_keeps_an_idle_pool": "ERROR",
        "test_runs_after_it": "PASSED",
    }
    section(result, "test_keeps_an_idle_pool").fnmatch_lines(
        ["*LeakError: 2 process(es)*", "*process pid *: *PoolWorker-*"]
    )
