"""The leak check: what a test leaves behind is named, cleaned up, and (by default) an error."""

from __future__ import annotations

import pytest

from _support import outcomes_of, run_pytest, section
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
        multiprocessing.get_context("spawn").Process(target=sleeper).start()

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
            f"E   *LeakError: 1 process(es) or shared object(s) {LEAKED}*test_leaves_a_process:",
            "*process pid * SpawnProcess-* start method spawn",
            "*Processes were killed and shared memory unlinked*",
        ]
    )
    section(result, "test_leaves_shared_memory").fnmatch_lines(
        ["*LeakError*", "*shared_memory /psm_*: never unlinked"]
    )


def test_warn_reports_in_the_summary_and_never_fails(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, SOURCE, *ARGS, "--mp-leak-check=warn")
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
