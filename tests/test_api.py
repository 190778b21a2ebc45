"""The public API: names, errors, misuse, and use outside pytest."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import _helpers
import pytest_mpcheck
from _support import METHODS, SUBPROCESS_TIMEOUT
from pytest_mpcheck import (
    VIAS,
    CheckTimeoutError,
    ExceptionMismatchError,
    MpCheck,
    MpCheckError,
    MpCheckWarning,
    NondeterministicError,
    ResultMismatchError,
    UnpicklableError,
    WorkerCrashError,
)
from pytest_mpcheck._report.messages import RESULT_MISMATCH

FINDINGS = [
    ResultMismatchError,
    ExceptionMismatchError,
    UnpicklableError,
    NondeterministicError,
    CheckTimeoutError,
    WorkerCrashError,
]

PUBLIC = {
    "MpCheck",
    "MpCheckError",
    "MpCheckWarning",
    "ResultMismatchError",
    "ExceptionMismatchError",
    "UnpicklableError",
    "NondeterministicError",
    "CheckTimeoutError",
    "WorkerCrashError",
    "Settings",
    "VIAS",
    "active_settings",
    "assert_map_equal",
    "available_start_methods",
    "close_pools",
}


def test_public_names_are_exported() -> None:
    assert set(pytest_mpcheck.__all__) >= PUBLIC
    for name in pytest_mpcheck.__all__:
        assert hasattr(pytest_mpcheck, name), name


def test_vias() -> None:
    assert set(VIAS) >= {"map", "imap", "imap_unordered", "starmap", "map_async", "executor"}


def test_every_finding_is_an_assertion_error() -> None:
    assert issubclass(MpCheckError, AssertionError)
    for error in FINDINGS:
        assert issubclass(error, MpCheckError)
        assert error.__module__ == "pytest_mpcheck"
    with pytest.raises(AssertionError, match="boom"):
        raise ResultMismatchError("boom")


def test_the_warning_is_a_user_warning_of_the_package() -> None:
    assert issubclass(MpCheckWarning, UserWarning)
    assert not issubclass(MpCheckWarning, MpCheckError)
    assert MpCheckWarning.__module__ == "pytest_mpcheck"


def test_plugin_is_cheap_to_import() -> None:
    """Importing the plugin module starts nothing and pulls in no engine or hypothesis."""
    code = textwrap.dedent(
        """
        import sys
        import pytest_mpcheck.plugin
        loaded = [m for m in ("pytest_mpcheck._engine", "pytest_mpcheck._checks", "hypothesis")
                  if m in sys.modules or any(k.startswith(m + ".") for k in sys.modules)]
        print(loaded)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=True,
    )
    assert out.stdout.strip() == "[]"


# Misuse raises ValueError/TypeError listing what is accepted; no process starts. ------


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"via": "bogus"}, ValueError, ["unknown via 'bogus'", "accepted:", *VIAS]),
        ({"processes": 0}, ValueError, ["processes must be an integer >= 1, not 0"]),
        ({"processes": "x"}, ValueError, ["processes must be an integer >= 1"]),
        ({"processes": True}, TypeError, ["processes must be an integer >= 1"]),
        ({"start_methods": "bogus"}, ValueError, ["'bogus' is not a start method", *METHODS]),
        ({"start_methods": ""}, ValueError, ["no start method given", "accepted:"]),
        ({"start_methods": 3}, TypeError, ["start methods must be", "accepted:"]),
        ({"chunksize": 0}, ValueError, ["chunksize must be None or an integer >= 1, not 0"]),
        ({"chunksize": 1.5}, ValueError, ["chunksize must be None or an integer >= 1"]),
        ({"chunksize": True}, ValueError, ["chunksize must be None or an integer >= 1"]),
    ],
)
def test_misuse(kwargs: dict[str, object], error: type[Exception], words: list[str]) -> None:
    for check in (pytest_mpcheck.assert_map_equal, MpCheck().assert_map_equal):
        with pytest.raises(error) as caught:
            check(_helpers.square, range(3), **kwargs)  # type: ignore[arg-type]
        assert not isinstance(caught.value, AssertionError)
        for word in words:
            assert word in str(caught.value)


@pytest.mark.usefixtures("pools")
def test_function_must_be_callable() -> None:
    with pytest.raises(TypeError, match="func must be callable, not int"):
        pytest_mpcheck.assert_map_equal(3, range(3))  # type: ignore[arg-type]


@pytest.mark.usefixtures("pools")
def test_iterable_must_be_iterable() -> None:
    with pytest.raises(TypeError, match="iterable must be iterable, not int"):
        pytest_mpcheck.assert_map_equal(_helpers.square, 3)  # type: ignore[arg-type]


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("item", [3, "ab", b"ab"])
def test_starmap_needs_argument_tuples(item: object) -> None:
    with pytest.raises(TypeError, match="via='starmap' takes an iterable of argument tuples"):
        pytest_mpcheck.assert_map_equal(pow, [(2, 2), item], via="starmap")


# In-process checks: a few, with cleanup, to show the API works without pytester. ----


@pytest.mark.usefixtures("pools")
def test_in_process_check_passes_and_fails() -> None:
    pytest_mpcheck.assert_map_equal(_helpers.square, range(6), processes=2, start_methods="fork")
    with pytest.raises(ResultMismatchError, match=RESULT_MISMATCH):
        pytest_mpcheck.assert_map_equal(_helpers.pid, [0, 1], processes=2, start_methods=["fork"])


def test_the_fixture_is_bound_to_the_running_test(mpcheck: MpCheck) -> None:
    assert mpcheck.settings == pytest_mpcheck.active_settings()
    assert repr(mpcheck) == f"<MpCheck {mpcheck.settings.describe()}>"


def test_an_mpcheck_can_be_bound_to_its_own_settings() -> None:
    settings = dataclasses.replace(
        pytest_mpcheck.active_settings(), processes=3, start_methods=("spawn",)
    )
    bound = MpCheck(settings)
    assert bound.settings is settings
    assert MpCheck().settings == pytest_mpcheck.active_settings()


@pytest.mark.mpcheck(processes=3, timeout=9)
def test_module_level_functions_use_the_running_tests_settings(mpcheck: MpCheck) -> None:
    settings = pytest_mpcheck.active_settings()
    assert (settings.processes, settings.timeout) == (3, 9.0)
    assert mpcheck.settings == settings


# Outside pytest: a plain script -------------------------------------------------

SCRIPT = """
    import sys

    import pytest_mpcheck

    FACTOR = 1


    def scale(x):
        return x * FACTOR


    if __name__ == "__main__":
        pytest_mpcheck.assert_map_equal(scale, range(10), processes=2)
        print("first check passed", pytest_mpcheck.active_settings().start_methods)
        if sys.argv[1:] == ["break"]:
            FACTOR = 3
            pytest_mpcheck.assert_map_equal(scale, range(10), processes=2)
        print("done")
"""


def _run_script(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=path.parent,
    )


def test_plain_script_passes(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = _run_script(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"first check passed {METHODS!r}", "done"]
    assert done.stderr == ""


def test_plain_script_fails_with_our_message(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = _run_script(script, "break")
    assert done.returncode == 1
    assert "done" not in done.stdout
    matcher = pytest.LineMatcher(done.stderr.splitlines())
    spawned = [m for m in METHODS if m != "fork"]
    if not spawned:
        pytest.skip("only fork is available: run-time state is inherited")
    matcher.fnmatch_lines(
        [
            f"pytest_mpcheck.ResultMismatchError: {RESULT_MISMATCH} at index 1 under "
            f"{spawned[0]} (via=map, processes=2, chunksize=default)",
            "*index 1 of 10, input: 1",
            "*sequential: 3",
            "*parallel:   1",
        ]
    )
