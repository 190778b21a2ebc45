"""Telling the leak check about a helper: the ``mp_leak_allow`` ini list and the marker.

A project's own long-lived helper (a cache daemon a library starts on first
use, say) is allowed by a pattern of its command line under
``mp_leak_allow``; one test that leaks on purpose says so with
``@pytest.mark.mpcheck(leak_check=...)``. Neither may loosen the check for
anything else: the helper whose command line matches no pattern is still an
error, and the marker overrides the command line both ways.
"""

from __future__ import annotations

import textwrap

import pytest
from _support import section  # tests/ is on sys.path (pytest's pythonpath)

from _e2e import MODULE, assert_outcomes, explain, output, run_pytest

HELPER_SOURCE = """
    import subprocess
    import sys

    EXPECT_RUNNING = {expect_running}
    HELPERS = []

    def test_starts_a_helper(mpcheck):
        # Reads its stdin until the test process closes it (or dies): it never outlives the run.
        command = [sys.executable, "-c", "import sys; sys.stdin.read()", "demo-cache-daemon"]
        HELPERS.append(subprocess.Popen(command, stdin=subprocess.PIPE))

    def test_stops_the_helper():
        helper = HELPERS.pop()
        running = helper.poll() is None
        helper.stdin.close()
        helper.wait(timeout=60)
        if EXPECT_RUNNING:
            assert running, f"the allowed helper was stopped (exit code {{helper.returncode}})"
            assert helper.returncode == 0
"""

ALLOW_INI = """
    [pytest]
    mp_leak_allow =
        *some-other-helper*
        {pattern}
"""


def _run_helper(pytester: pytest.Pytester, pattern: str, expect_running: bool) -> pytest.RunResult:
    """The helper pair, with ``pattern`` under ``mp_leak_allow`` in a ``pytest.ini``."""
    ini = textwrap.dedent(ALLOW_INI).format(pattern=pattern)
    pytester.makefile(".ini", pytest=ini)
    return run_pytest(pytester, HELPER_SOURCE.format(expect_running=expect_running))


def test_allowed_helper_is_not_reported_nor_stopped(pytester: pytest.Pytester) -> None:
    """A helper whose command line matches a pattern of ``mp_leak_allow`` passes,
    and is still running when the next test stops it."""
    result = _run_helper(pytester, "*demo-cache-daemon*", expect_running=True)
    assert_outcomes(result, {"test_starts_a_helper": "PASSED", "test_stops_the_helper": "PASSED"})
    text, why = output(result), explain(result)
    assert result.ret == pytest.ExitCode.OK, why
    assert "LeakError" not in text, why
    assert "mpcheck leaks" not in text, why
    assert "Unknown config option" not in text, why


def test_helper_matching_no_pattern_is_an_error(pytester: pytest.Pytester) -> None:
    """The same helper, with an allow list that does not name it: a LeakError."""
    result = _run_helper(pytester, "*demo-cache-server*", expect_running=False)
    assert_outcomes(result, {"test_starts_a_helper": "ERROR", "test_stops_the_helper": "PASSED"})
    section(result, "test_starts_a_helper").fnmatch_lines(
        ["*LeakError*test_starts_a_helper*", "*process pid *demo-cache-daemon*"]
    )


def _warn_section(result: pytest.RunResult) -> str:
    """The text of the ``mpcheck leaks`` section at the end of the run ("" if none)."""
    lines = result.outlines
    starts = [i for i, line in enumerate(lines) if line.startswith("=") and "mpcheck leaks" in line]
    if not starts:
        return ""
    end = starts[0] + 1
    while end < len(lines) and not lines[end].startswith("="):
        end += 1
    return "\n".join(lines[starts[0] + 1 : end])


MARKER_SOURCE = """
    import multiprocessing
    import time

    import pytest

    LEFT = []

    def sleeper():
        time.sleep(60)

    def start(name):
        context = multiprocessing.get_context("fork")
        process = context.Process(target=sleeper, name=name, daemon=True)
        process.start()
        LEFT.append(process)

    @pytest.mark.mpcheck(leak_check="off")
    def test_marked_off():
        start("left-running-off")

    @pytest.mark.mpcheck(leak_check="warn")
    def test_marked_warn(mpcheck):
        start("left-running-warn")

    @pytest.mark.mpcheck(leak_check="error")
    def test_marked_error(mpcheck):
        start("left-running-error")

    def test_stops_what_was_left():
        alive = {process.name: process.is_alive() for process in LEFT}
        for process in LEFT:
            process.terminate()
            process.join(60)
        print("still running:", sorted(name for name, running in alive.items() if running))
"""


def test_marker_off_and_warn_override_error(pytester: pytest.Pytester) -> None:
    """Under the default ``error``, a test marked ``leak_check="off"`` that leaks passes
    unreported, one marked ``"warn"`` is listed; neither process is stopped."""
    result = run_pytest(pytester, MARKER_SOURCE, "--deselect", f"{MODULE}.py::test_marked_error")
    assert_outcomes(
        result,
        {
            "test_marked_off": "PASSED",
            "test_marked_warn": "PASSED",
            "test_stops_what_was_left": "PASSED",
        },
    )
    why = explain(result)
    assert result.ret == pytest.ExitCode.OK, why
    assert "LeakError" not in output(result), why
    # The last test's captured output, shown by -rA.
    assert "still running: ['left-running-off', 'left-running-warn']" in result.outlines, why
    listed = _warn_section(result)
    assert "::test_marked_warn" in listed, why
    assert "left-running-warn" in listed, why
    assert "left-running-off" not in listed, why


def test_marker_error_overrides_off(pytester: pytest.Pytester) -> None:
    """Under ``--mp-leak-check=off``, a test marked ``leak_check="error"`` is still checked."""
    selected = f"{MODULE}.py::test_marked_error"
    result = run_pytest(pytester, MARKER_SOURCE, selected, "--mp-leak-check=off")
    assert_outcomes(result, {"test_marked_error": "ERROR"})
    section(result, "test_marked_error").fnmatch_lines(
        ["*LeakError*test_marked_error*", "*process pid *left-running-error*"]
    )
