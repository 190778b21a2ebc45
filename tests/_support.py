"""Helpers for the end-to-end tests: write a test module, run pytest on it, read the output.

End-to-end tests write a test file with ``pytester`` and run it in a fresh
``pytest`` subprocess (anything that starts worker processes must not run
inside the test suite's own process), then match the real output against the
message headlines of ``pytest_mpcheck._report.messages``.
"""

from __future__ import annotations

import re
import textwrap

import pytest

import pytest_mpcheck

#: Upper bound for one ``pytest`` subprocess run: it only guards against hangs.
SUBPROCESS_TIMEOUT = 120

#: Every start method this platform offers, in the plugin's canonical order.
METHODS = pytest_mpcheck.available_start_methods()


def run_pytest(
    pytester: pytest.Pytester, source: str, *args: str, timeout: float = SUBPROCESS_TIMEOUT
) -> pytest.RunResult:
    """Write ``source`` as a test module and run pytest on it in a subprocess."""
    pytester.makepyfile(textwrap.dedent(source))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)


def line_of(source: str, marker: str) -> int:
    """Line number of ``marker`` in ``source`` as ``pytester.makepyfile`` writes it."""
    lines = textwrap.dedent(source).strip("\n").splitlines()
    return next(number for number, line in enumerate(lines, 1) if marker in line)


def section(result: pytest.RunResult, test: str) -> pytest.LineMatcher:
    """The lines of the failure (or error) report of ``test`` in ``result``'s output."""
    header = re.compile(rf"^_+ (ERROR at \w+ of )?{re.escape(test)} _+$")
    lines = result.outlines
    starts = [index for index, line in enumerate(lines) if header.match(line)]
    if not starts:
        raise AssertionError(f"no report section for {test!r} in:\n{result.stdout.str()}")
    start = starts[0]
    end = start + 1
    while end < len(lines) and not re.match(r"^(_{3,} .* _{3,}|={3,}.*)$", lines[end]):
        end += 1
    return pytest.LineMatcher(lines[start:end])


def outcomes_of(result: pytest.RunResult) -> dict[str, str]:
    """``{test id: PASSED/FAILED/ERROR}`` from a run made with ``-rA``."""
    found: dict[str, str] = {}
    for line in result.outlines:
        match = re.match(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) \S+::(\S+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def assert_no_traceback(result: pytest.RunResult) -> None:
    """A usage error is a short message, never a Python traceback."""
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text, text
    assert "INTERNALERROR" not in text, text


def fnmatch_escape(text: str) -> str:
    """``text`` as an fnmatch pattern matching itself literally."""
    return re.sub(r"([\[\]?*])", r"[\1]", text)
