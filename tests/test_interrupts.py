"""Ctrl-C and pytest-timeout cut a check short: the workers' stacks are shown, nothing survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from _support import METHODS, SUBPROCESS_TIMEOUT, run_pytest

SOURCE = """
    import os
    import time

    import pytest

    def hang(x):
        with open(os.path.join(os.environ["RUNNING_DIR"], str(os.getpid())), "w"):
            pass
        time.sleep(120)
        return x

    def hang_target(counter):
        hang(0)

    def test_map(mpcheck):
        mpcheck.assert_map_equal(hang, range(4))

    def test_stress(mpcheck):
        mpcheck.stress(hang_target, mpcheck.Value("i", 0), processes=2)
"""


def _tree(root: int) -> list[int]:
    """Live processes below ``root``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stream:
                    fields = stream.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, frontier = [], [root]
    while frontier:
        below = children.get(frontier.pop(), [])
        found += below
        frontier += below
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_WITH_CTRL_C = (
    "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.exit(pytest.console_main())"
)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list processes")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("check", ["map", "stress"])
@pytest.mark.parametrize("target", ["pytest", "group"])
def test_ctrl_c_leaves_nothing_running(
    pytester: pytest.Pytester, method: str, check: str, target: str
) -> None:
    """SIGINT to pytest alone, or to its whole process group as a terminal's Ctrl-C does."""
    pytester.makepyfile(textwrap.dedent(SOURCE))
    running = pytester.path / "running"
    running.mkdir()
    # pytest as a terminal starts it, with Ctrl-C raising KeyboardInterrupt, even where this
    # suite runs with SIGINT ignored (a background job of a shell inherits it ignored).
    command = [sys.executable, "-c", _WITH_CTRL_C, "-p", "no:cacheprovider", "-k", check]
    command += [f"--mp-start-methods={method}", "--mp-processes=2"]
    pytest_run = subprocess.Popen(
        command,
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RUNNING_DIR": str(running)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while not any(running.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)  # until a worker runs the hanging function
        assert any(running.iterdir()), "no worker ever ran the function"
        time.sleep(0.5)
        workers = _tree(pytest_run.pid)
        if target == "group":
            os.killpg(pytest_run.pid, signal.SIGINT)
        else:
            pytest_run.send_signal(signal.SIGINT)
        output, _ = pytest_run.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        if pytest_run.poll() is None:
            os.killpg(pytest_run.pid, signal.SIGKILL)
            pytest_run.communicate()
    assert "KeyboardInterrupt" in output
    if target == "pytest":  # with the group signalled, the workers may be gone already
        assert "Their stacks:" in output, output
    time.sleep(0.5)
    assert [pid for pid in workers if _alive(pid)] == []


def test_pytest_timeout_firing_first_still_shows_and_stops_the_workers(
    pytester: pytest.Pytester,
) -> None:
    source = """
        import time

        import pytest

        def hang(x):
            time.sleep(120)
            return x

        @pytest.mark.timeout(3)
        def test_map(mpcheck):
            mpcheck.assert_map_equal(hang, range(4))
    """
    result = run_pytest(pytester, source, "--mp-start-methods=spawn", "--mp-processes=2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Failed: Timeout*",
            "*pytest-mpcheck: map under spawn was interrupted; its workers were stopped.*",
            "*--- worker pid * (job *) ---*",
            "*in hang*",
        ]
    )
