"""A check never waits forever, and a dead worker is reported, not waited for."""

from __future__ import annotations

import time

import pytest

from _support import METHODS, run_pytest, section
from pytest_mpcheck._report.messages import TIMEOUT, WORKER_CRASH

HANGS = """
    import os
    import time

    import pytest


    def sleepy(job):
        where, x = job
        if x == 1:
            # Leave a trace of this worker so the test can check that it is gone.
            with open(os.path.join(where, str(os.getpid())), "w"):
                pass
            time.sleep(60)
        return x


    def quick(job):
        return job[1]


    def gone(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


    def wait_until_gone(pids, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not all(gone(pid) for pid in pids):
            time.sleep(0.05)
        return [pid for pid in pids if not gone(pid)]


    @pytest.mark.mpcheck(timeout=1)
    @pytest.mark.parametrize("via", VIAS)
    @pytest.mark.parametrize("method", METHODS)
    def test_hangs(mpcheck, method, via, tmp_path):
        jobs = [(str(tmp_path), x) for x in range(4)]
        try:
            mpcheck.assert_map_equal(sleepy, jobs, via=via, start_methods=method)
        finally:
            # (On a very busy machine the timeout may strike before the task starts.)
            pids = [int(name) for name in os.listdir(tmp_path)]
            assert wait_until_gone(pids) == [], "a sleeping worker is still alive"


    def test_quick(mpcheck, tmp_path):
        mpcheck.assert_map_equal(quick, [(str(tmp_path), x) for x in range(4)])
"""


def test_a_hanging_task_times_out_and_leaves_nothing_running(pytester: pytest.Pytester) -> None:
    vias = ["map", "imap", "executor"]
    source = HANGS.replace("VIAS", repr(vias)).replace("METHODS", repr(list(METHODS)))
    started = time.monotonic()
    result = run_pytest(pytester, source, "-rA", "--mp-processes=2")
    # A generous bound: without the timeout the run would take a minute per check.
    assert time.monotonic() - started < 100
    result.assert_outcomes(passed=1, failed=len(METHODS) * len(vias))
    for method, via in [(method, via) for method in METHODS for via in vias]:
        matcher = section(result, f"test_hangs[{method}-{via}]")
        matcher.fnmatch_lines(
            [
                f"E *pytest_mpcheck.CheckTimeoutError: {TIMEOUT} after 1s under {method} "
                f"(via={via}, processes=2)",
                f"E *start method: {method}, via: {via}, processes: 2, *function: sleepy",
                "E *of 4 results had arrived;*",
                "E *aise the limit with --mp-timeout or @pytest.mark.mpcheck(timeout=...)*",
            ]
        )
        matcher.no_fnmatch_line("*a sleeping worker is still alive*")


def test_timeout_from_the_command_line(pytester: pytest.Pytester) -> None:
    source = """
        import time


        def sleepy(x):
            time.sleep(60)


        def test_hangs(mpcheck):
            mpcheck.assert_map_equal(sleepy, [1])
    """
    result = run_pytest(
        pytester, source, "--mp-timeout=0.5", "--mp-start-methods=fork", "--mp-processes=1"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E *CheckTimeoutError: {TIMEOUT} after 0.5s under fork *"])


CRASHES = """
    import os

    import pytest


    def exits(x):
        if x == 2:
            os._exit(3)
        return x


    @pytest.mark.parametrize("method", METHODS)
    def test_executor_worker_exits(mpcheck, method):
        mpcheck.assert_map_equal(exits, range(4), via="executor", start_methods=method)


    @pytest.mark.mpcheck(timeout=30)
    @pytest.mark.parametrize("method", METHODS)
    def test_pool_worker_exits(mpcheck, method):
        mpcheck.assert_map_equal(exits, range(4), start_methods=method)


    def test_after_the_crashes(mpcheck):
        # The test process survived, and checks go on working.
        mpcheck.assert_map_equal(abs, range(-3, 3), via="executor")
"""


def test_a_worker_that_dies_is_reported(pytester: pytest.Pytester) -> None:
    source = CRASHES.replace("METHODS", repr(list(METHODS)))
    started = time.monotonic()
    result = run_pytest(pytester, source, "-rA", "--mp-processes=2")
    assert time.monotonic() - started < 100
    result.assert_outcomes(passed=1, failed=2 * len(METHODS))
    for method in METHODS:
        section(result, f"test_executor_worker_exits[{method}]").fnmatch_lines(
            [
                f"E *pytest_mpcheck.WorkerCrashError: {WORKER_CRASH} under {method} "
                "(via=executor, processes=2)*",
                f"E *start method: {method}, via: executor, processes: 2, *function: exits",
                "E *The function killed its worker (os._exit, *",
            ]
        )
        # A plain Pool would wait forever for the lost task; the check names the dead worker.
        # Under forkserver the exit code travels over a socket that CPython's Popen.poll()
        # reads without a lock: when the pool's own thread polls at the same moment, one
        # of the two reads nothing, and CPython records 255 (or the status is gone).
        exited = "exit code 3" if method != "forkserver" else ""
        section(result, f"test_pool_worker_exits[{method}]").fnmatch_lines(
            [
                f"E *pytest_mpcheck.WorkerCrashError: {WORKER_CRASH} under {method} "
                f"(via=map, processes=2)*{exited}*",
                f"E *start method: {method}, via: map, processes: 2, *function: exits",
                "E *The function killed its worker (os._exit, *",
            ]
        )
