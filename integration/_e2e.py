"""Helpers for the integration tests: write a test module, run pytest on it, judge the output.

Each integration test writes a small test module that uses a library inside a
checked test, runs it in a fresh ``pytest`` subprocess (a library's helper
processes must never start inside this suite's own process) and reads what
that run printed. A clean run is one where every test passed, nothing was
reported as left behind, and the library printed no error of its own: a
helper that the leak check killed shows up later as a library traceback, not
always as a failed test.

The module is named apart from ``tests/_support.py``, whose ``section`` it
shares, so that both suites can be collected in one session.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

import pytest

#: Upper bound for one ``pytest`` subprocess run: it only guards against hangs (each
#: inner test has its own 60 s), so it leaves room for a loaded 2-core machine.
SUBPROCESS_TIMEOUT = 300

#: The start methods of Linux, where these tests run (``/proc`` is needed to see processes).
METHODS = ("fork", "spawn", "forkserver")

#: Options of every inner run: a summary line per test, two workers per pool, and a
#: deadline for every inner test (pytest-timeout) and every check.
INNER_ARGS = ("-p", "no:cacheprovider", "-rA", "--mp-processes=2", "--timeout=60")

#: What a library prints when a helper it relies on was killed or mishandled:
#: loky's resource tracker relaunching (``died unexpectedly``), its ``KeyError``
#: tracebacks for names it no longer knows, multiprocessing's warnings about
#: ``leaked`` semaphores at shutdown.
LIBRARY_ERRORS = ("Traceback", "KeyError", "resource_tracker", "died unexpectedly", "leaked")

#: Sets the default start method of an inner run before any test module is
#: imported: libraries create their locks and pools in the default context.
START_METHOD_CONFTEST = """
    from __future__ import annotations

    import multiprocessing

    multiprocessing.set_start_method({method!r}, force=True)
"""


#: The name of the test module ``run_pytest`` writes: node ids are ``test_inner.py::...``.
MODULE = "test_inner"


def run_pytest(
    pytester: pytest.Pytester,
    source: str,
    *args: str,
    start_method: str | None = None,
    timeout: float = SUBPROCESS_TIMEOUT,
) -> pytest.RunResult:
    """Write ``source`` as ``test_inner.py`` and run pytest on it in a subprocess.

    ``start_method`` makes that method the inner run's default, through a
    ``conftest.py``.
    """
    pytester.makepyfile(**{MODULE: textwrap.dedent(source)})
    if start_method is not None:
        conftest = textwrap.dedent(START_METHOD_CONFTEST).format(method=start_method)
        pytester.makeconftest(conftest)
    return pytester.runpytest_subprocess(*INNER_ARGS, *args, timeout=timeout)


def output(result: pytest.RunResult) -> str:
    """Everything the run printed, stdout then stderr."""
    return result.stdout.str() + "\n" + result.stderr.str()


def outcomes_of(result: pytest.RunResult) -> dict[str, str]:
    """``{test id: PASSED/FAILED/ERROR/...}`` from a run made with ``-rA``.

    A test that passed but errored at teardown appears twice in the summary;
    the error wins, since it is what the run is judged by.
    """
    found: dict[str, str] = {}
    for line in result.outlines:
        match = re.match(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) \S+::(\S+)", line)
        if match and found.get(match.group(2)) != "ERROR":
            found[match.group(2)] = match.group(1)
    return found


def headlines(result: pytest.RunResult) -> str:
    """The lines that say what went wrong, first: ``E`` lines and library error lines.

    Put in front of the full output in assertion messages, so that a failure
    shows its cause without scrolling through the whole run.
    """
    text = output(result).splitlines()
    picked = [
        line
        for line in text
        if line.startswith(("E ", "ERROR ", "FAILED "))
        or any(word in line for word in LIBRARY_ERRORS)
    ]
    return "\n".join(picked[:40])


def explain(result: pytest.RunResult) -> str:
    """An assertion message: the headlines, then the whole output."""
    return f"{headlines(result)}\n\n--- full output ---\n{output(result)}"


def assert_clean(result: pytest.RunResult, tests: Iterable[str]) -> None:
    """Every one of ``tests`` passed, nothing was left behind, no library error.

    ``tests`` names every test of the run (with parameters), so that a test
    that was not collected, or ran twice, is noticed too.
    """
    assert_outcomes(result, dict.fromkeys(tests, "PASSED"))
    text = output(result)
    why = explain(result)
    assert result.ret == pytest.ExitCode.OK, why
    assert "LeakError" not in text, why
    assert "mpcheck leaks" not in text, why
    for word in LIBRARY_ERRORS:
        assert word not in text, f"{word!r} in the output:\n{why}"


def assert_outcomes(result: pytest.RunResult, expected: dict[str, str]) -> None:
    """The run's outcomes are exactly ``expected``; on failure, show why first."""
    assert outcomes_of(result) == expected, explain(result)
