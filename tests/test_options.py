"""Command line, ini, marker and header: what a user configures and sees first."""

from __future__ import annotations

import textwrap

import pytest

from _support import METHODS, assert_no_traceback, run_pytest, section

# --help and --markers ---------------------------------------------------------


def test_help_lists_the_group_and_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "pytest-mpcheck: checks for parallel code:",
            "*--mp-start-methods=METHODS*",
            "*comma-separated start methods to check under (fork,*",
            "*--mp-processes=N*worker processes per pool (integer >= 1); default: 4",
        ]
    )
    text = result.stdout.str()
    for flag in ("--mp-start-methods", "--mp-processes", "--mp-seed", "--mp-timeout"):
        assert flag in text
    for ini in ("mp_start_methods", "mp_processes", "mp_seed", "mp_timeout"):
        result.stdout.fnmatch_lines([f"  {ini} *"])


def test_markers_show_the_mpcheck_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.mpcheck(start_methods=None, processes=None, *timeout=None*): "
            "settings for this test's pytest-mpcheck checks; they take precedence over "
            "command-line options and ini values."
        ]
    )


def test_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest


            @pytest.mark.mpcheck(processes=2)
            def test_marked():
                pass
            """
        )
    )
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# The header ------------------------------------------------------------------


def test_header_shows_defaults_and_a_random_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            f"mpcheck: start methods: {', '.join(METHODS)}; processes: 4; *; seed: * "
            "(rerun with --mp-seed=*)",
        ]
    )
    line = next(line for line in result.outlines if line.startswith("mpcheck: "))
    seed = line.split("; seed: ")[1].split(" ")[0]
    assert seed.isdigit()
    assert line.endswith(f"(rerun with --mp-seed={seed})")


def test_header_respects_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--mp-seed=1234",
        "--mp-processes=3",
        "--mp-start-methods=spawn,fork",
        "--mp-timeout=7.5",
    )
    result.stdout.fnmatch_lines(
        [
            "mpcheck: start methods: fork, spawn; processes: 3; *timeout: 7.5s; *seed: 1234 "
            "(rerun with --mp-seed=1234)"
        ]
    )


def test_header_respects_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        mp_seed = 99
        mp_processes = 2
        mp_start_methods = forkserver
        mp_timeout = 12
        """
    )
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["mpcheck: start methods: forkserver; processes: 2; *timeout: 12s; *seed: 99 *"]
    )


def test_all_selects_every_method(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("-p", "no:cacheprovider", "--mp-start-methods=all")
    result.stdout.fnmatch_lines([f"mpcheck: start methods: {', '.join(METHODS)}; *"])


# Usage errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--mp-start-methods=bogus", "argument --mp-start-methods: 'bogus' is not a start method*"),
        ("--mp-start-methods=,", "argument --mp-start-methods: no start method given*"),
        ("--mp-processes=0", "argument --mp-processes: processes must be an integer >= 1, not 0"),
        ("--mp-processes=x", "argument --mp-processes: processes must be an integer >= 1*'x'"),
        ("--mp-timeout=-1", "argument --mp-timeout: timeout must be a *number of seconds > 0*"),
        ("--mp-timeout=0", "argument --mp-timeout: timeout must be a *number of seconds > 0*"),
        ("--mp-timeout=inf", "argument --mp-timeout: timeout must be a finite number*"),
        ("--mp-seed=-3", "argument --mp-seed: seed must be an integer >= 0, not -3"),
    ],
)
def test_bad_command_line_value_is_a_usage_error(
    pytester: pytest.Pytester, argument: str, message: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", argument, timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*error: {message}"])
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("mp_start_methods = bogus", "'bogus' is not a start method; accepted: *"),
        ("mp_processes = 0", "processes must be an integer >= 1, not 0"),
        ("mp_processes = x", "processes must be an integer >= 1, not 'x'"),
        ("mp_timeout = -1", "timeout must be a *number of seconds > 0*"),
        ("mp_timeout = 0", "timeout must be a *number of seconds > 0*"),
        ("mp_seed = -3", "seed must be an integer >= 0, not -3"),
    ],
)
def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester, ini: str, message: str) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    key, value = (part.strip() for part in ini.split("="))
    result.stderr.fnmatch_lines([f"ERROR: ini option {key} = {value!r}: {message}"])
    assert_no_traceback(result)


# Precedence: marker > CLI > ini > default --------------------------------------

PRECEDENCE = """
    import pytest


    def test_default(mpcheck):
        print("SETTINGS test_default", mpcheck.settings)


    @pytest.mark.mpcheck(processes=1)
    def test_marker(mpcheck):
        print("SETTINGS test_marker", mpcheck.settings)


    @pytest.mark.mpcheck(start_methods="spawn", processes=None, timeout=3)
    def test_marker_all(mpcheck):
        print("SETTINGS test_marker_all", mpcheck.settings)


    @pytest.mark.mpcheck(processes=1)
    class TestClass:
        @pytest.mark.mpcheck(timeout=5)
        def test_closest_marker_wins(self, mpcheck):
            print("SETTINGS test_closest_marker_wins", mpcheck.settings)


    def test_module_level_api_sees_the_same():
        import pytest_mpcheck

        print("SETTINGS test_module_level_api_sees_the_same", pytest_mpcheck.active_settings())
"""


def _run_precedence(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    pytester.makepyfile(textwrap.dedent(PRECEDENCE))
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA", *args)
    result.assert_outcomes(passed=5)
    return {
        line.split(" ", 2)[1]: line.split(" ", 2)[2]
        for line in result.outlines
        if line.startswith("SETTINGS ")
    }


def _fields(text: str) -> dict[str, str]:
    """``Settings(a=1, b=(...), ...)`` repr as a dict of field -> repr."""
    body = text[text.index("(") + 1 : -1]
    fields: dict[str, str] = {}
    depth, key, start = 0, "", 0
    for position, char in enumerate(body + ","):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "=" and depth == 0 and not key:
            key = body[start:position].strip()
            start = position + 1
        elif char == "," and depth == 0 and key:
            fields[key] = body[start:position].strip()
            key, start = "", position + 1
    return fields


def test_defaults_apply_without_configuration(pytester: pytest.Pytester) -> None:
    seen = {name: _fields(text) for name, text in _run_precedence(pytester).items()}
    default = seen["test_default"]
    assert default["start_methods"] == repr(METHODS)
    assert (default["processes"], default["timeout"]) == ("4", "60.0")
    assert seen["test_marker"]["processes"] == "1"
    assert seen["test_marker"]["start_methods"] == repr(METHODS)
    assert seen["test_module_level_api_sees_the_same"] == default


def test_marker_over_cli_over_ini_over_default(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        mp_processes = 3
        mp_seed = 11
        mp_timeout = 20
        mp_start_methods = fork,spawn
        """
    )
    seen = {
        name: _fields(text)
        for name, text in _run_precedence(pytester, "--mp-processes=2", "--mp-seed=12").items()
    }
    # CLI over ini for processes and seed; ini over default for the rest.
    assert seen["test_default"]["processes"] == "2"
    assert seen["test_default"]["seed"] == "12"
    assert seen["test_default"]["timeout"] == "20.0"
    assert seen["test_default"]["start_methods"] == "('fork', 'spawn')"
    # Marker over CLI, and only for what it sets.
    assert seen["test_marker"]["processes"] == "1"
    assert seen["test_marker"]["timeout"] == "20.0"
    assert seen["test_marker"]["start_methods"] == "('fork', 'spawn')"
    # None in the marker means "not set here".
    assert seen["test_marker_all"]["processes"] == "2"
    assert seen["test_marker_all"]["start_methods"] == "('spawn',)"
    assert seen["test_marker_all"]["timeout"] == "3.0"
    # The seed is per session: a marker does not change it.
    assert {fields["seed"] for fields in seen.values()} == {"12"}
    # The closest marker wins (method over class), the module-level API agrees.
    assert seen["test_closest_marker_wins"]["timeout"] == "5.0"
    assert seen["test_module_level_api_sees_the_same"] == seen["test_default"]


# Invalid markers ---------------------------------------------------------------

BAD_MARKERS = """
    import pytest


    @pytest.mark.mpcheck(processes=0)
    def test_zero_processes(mpcheck):
        pass


    @pytest.mark.mpcheck(timeout=-1)
    def test_negative_timeout(mpcheck):
        pass


    @pytest.mark.mpcheck(start_methods="bogus")
    def test_bogus_method(mpcheck):
        pass


    @pytest.mark.mpcheck(colour="red")
    def test_unknown_keyword(mpcheck):
        pass


    @pytest.mark.mpcheck("spawn")
    def test_positional(mpcheck):
        pass


    @pytest.mark.mpcheck(processes=2)
    def test_good_marker(mpcheck):
        assert mpcheck.settings.processes == 2


    def test_unmarked():
        pass
"""


def test_invalid_marker_fails_that_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent(BAD_MARKERS))
    result = pytester.runpytest("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 2
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 5
    expected = {
        "test_zero_processes": "@pytest.mark.mpcheck(processes=0): processes must be an "
        "integer >= 1, not 0",
        "test_negative_timeout": "@pytest.mark.mpcheck(timeout=-1): timeout must be *> 0*",
        "test_bogus_method": "@pytest.mark.mpcheck(start_methods='bogus'): 'bogus' is not a "
        "start method; accepted: *",
        "test_unknown_keyword": "@pytest.mark.mpcheck got unknown argument 'colour'; "
        "accepted: start_methods, processes*",
        "test_positional": "@pytest.mark.mpcheck takes keyword arguments only (*), "
        "got positional [[]'spawn'[]]",
    }
    for test, pattern in expected.items():
        matcher = section(result, test)
        matcher.fnmatch_lines([f"invalid marker: {pattern}"])
        matcher.no_fnmatch_line("*Traceback*")


def test_header_without_the_fixture_in_use(pytester: pytest.Pytester) -> None:
    """The plugin costs nothing for a suite that does not use it: no process is started."""
    result = run_pytest(
        pytester,
        """
        import multiprocessing


        def test_no_children():
            assert multiprocessing.active_children() == []
        """,
    )
    result.assert_outcomes(passed=1)
