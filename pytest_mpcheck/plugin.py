"""pytest wiring only: options, ini keys, marker, header, fixture, per-test settings.

Kept cheap to import (every pytest run of every user imports it): the engine
and the checks are imported only when a test asks for them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

from ._report.summary import PROPERTY
from ._settings import MARKER_KEYS, OPTIONS, Settings, default_settings, parse_marker, resolve

if TYPE_CHECKING:
    from ._api import MpCheck, TestRecord
    from ._checks.leaks import Snapshot

_SESSION_SETTINGS = pytest.StashKey[Settings]()
_ITEM_SETTINGS = pytest.StashKey[Settings]()
_MARKER_ERROR = pytest.StashKey[str]()
_RECORD: pytest.StashKey[TestRecord] = pytest.StashKey()
_SNAPSHOT: pytest.StashKey[Snapshot] = pytest.StashKey()
_CALL_PASSED = pytest.StashKey[bool]()
_REPORT_PATH: pytest.StashKey[str | None] = pytest.StashKey()
_SEED_KEY = "mpcheck_seed"
_SUMMARY: pytest.StashKey[_Coverage] = pytest.StashKey()
_SECTION = "mpcheck"
_START_METHOD = "mp_start_method"
_LEAK_SECTION = "mpcheck leaks"
_LEAK_WARNING = pytest.StashKey[str]()

_MARKER_HELP = (
    "mpcheck({}): settings for this test's pytest-mpcheck checks; "
    "they take precedence over command-line options and ini values."
).format(", ".join(f"{key}=None" for key in MARKER_KEYS))


def _argparse_type(parse: Callable[[object], Any]) -> Callable[[str], Any]:
    """Turn a parser's ValueError/TypeError into argparse's usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpcheck", "pytest-mpcheck: checks for parallel code")
    for option in OPTIONS:
        group.addoption(
            option.flag,
            dest=f"mpcheck_{option.field}",
            metavar=option.metavar,
            type=_argparse_type(option.parse),
            default=None,
            help=option.help,
        )
        parser.addini(option.ini, help=option.help, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    cli = {option.field: config.getoption(f"mpcheck_{option.field}") for option in OPTIONS}
    ini: dict[str, object] = {}
    for option in OPTIONS:
        raw = str(config.getini(option.ini)).strip()
        if raw:
            try:
                ini[option.field] = option.parse(raw)
            except (TypeError, ValueError) as exc:
                raise pytest.UsageError(f"ini option {option.ini} = {raw!r}: {exc}") from None
    workerinput = getattr(config, "workerinput", {})
    shared_seed = workerinput.get(_SEED_KEY)
    config.stash[_SESSION_SETTINGS] = resolve(default_settings(shared_seed), [cli, ini])
    report_path = cli.get("report") or ini.get("report")
    config.stash[_REPORT_PATH] = str(report_path) if report_path else None
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "mpcheck-xdist")
    config.stash[_SUMMARY] = _Coverage()
    config.pluginmanager.register(config.stash[_SUMMARY], "mpcheck-coverage")


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[_SESSION_SETTINGS]
    return f"mpcheck: {settings.describe()} (rerun with --mp-seed={settings.seed})"


def _marked_settings(node: pytest.Item | pytest.Function, session: Settings) -> Settings:
    """Marker over session settings; raises ValueError/TypeError for a bad marker."""
    marker = node.get_closest_marker("mpcheck")
    if marker is None:
        return session
    return resolve(session, [parse_marker(marker.args, marker.kwargs)])


def _item_settings(item: pytest.Item) -> Settings:
    """Marker over session settings; a bad marker is remembered to fail the test.

    A test run once per start method (``mp_start_method``) checks under that one.
    """
    session = item.config.stash[_SESSION_SETTINGS]
    try:
        settings = _marked_settings(item, session)
    except (TypeError, ValueError) as exc:
        item.stash[_MARKER_ERROR] = str(exc)
        return session
    method = _start_method_param(item)
    if method is not None:
        settings = dataclasses.replace(settings, start_methods=(method,))
    return settings


def _start_method_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    method = None if callspec is None else callspec.params.get(_START_METHOD)
    return method if isinstance(method, str) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``mp_start_method`` runs once per selected start method."""
    if _START_METHOD not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[_SESSION_SETTINGS]
    try:
        methods = _marked_settings(metafunc.definition, session).start_methods
    except (TypeError, ValueError):
        methods = session.start_methods  # the marker's error fails the test at setup
    # Session scope: a parameter, not a per-test fixture, so Hypothesis tests take it too.
    metafunc.parametrize(_START_METHOD, methods, ids=list(methods), scope="session")


@pytest.fixture
def mp_start_method() -> str:
    """The start method this run of the test uses, as ``multiprocessing``'s default.

    A test that takes it runs once per selected start method (``--mp-start-methods``,
    marker ``start_methods``; ids ``[fork]``, ``[spawn]``, ``[forkserver]``), with that
    method as the default for its setup, call and teardown, so code that takes no
    context runs under each; the previous default is restored after.
    """
    # Parametrized by pytest_generate_tests; reached only when requested dynamically
    # (request.getfixturevalue), where no parametrization is possible.
    import multiprocessing

    return multiprocessing.get_start_method()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    from ._api import TestRecord, close_pools, using
    from ._report.advice import for_test

    settings = _item_settings(item)
    item.stash[_ITEM_SETTINGS] = settings
    record = TestRecord(on_first_check=lambda: _snapshot(item, only_if_missing=True))
    item.stash[_RECORD] = record
    with (
        using(settings, record, for_test(item.nodeid)),
        _default_start_method(_start_method_param(item)),
    ):
        yield
    close_pools()


@contextlib.contextmanager
def _default_start_method(method: str | None) -> Generator[None, None, None]:
    """Make ``method`` multiprocessing's default for setup, call and teardown."""
    if method is None:
        yield
        return
    import multiprocessing

    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(method, force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(previous, force=True)


def _uses_plugin(item: pytest.Item) -> bool:
    return "mpcheck" in getattr(item, "fixturenames", ()) or bool(
        item.get_closest_marker("mpcheck")
    )


def _snapshot(item: pytest.Item, only_if_missing: bool = False) -> None:
    """Remember what exists before the test, for the leak check after it."""
    if item.stash[_ITEM_SETTINGS].leak_check == "off":
        return
    if only_if_missing and _SNAPSHOT in item.stash:
        return
    from ._checks.leaks import Snapshot

    item.stash[_SNAPSHOT] = Snapshot.take()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Put what the checks covered on the report, so it travels (xdist) with it."""
    outcome = yield
    report = outcome.get_result()
    record = item.stash.get(_RECORD, None)
    if record is None:
        return
    if call.when == "teardown":
        # On the teardown report (what --junitxml reads) and through xdist.
        for check in record.checks:
            report.user_properties.append((PROPERTY, json.dumps(check, sort_keys=True)))
        if _LEAK_WARNING in item.stash:
            report.sections.append((_LEAK_SECTION, item.stash[_LEAK_WARNING]))
    if call.when != "call":
        return
    item.stash[_CALL_PASSED] = report.passed
    if record.notes:
        report.sections.append((_SECTION, "\n".join(record.notes)))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """After the test's own teardown: stop our pools, then report and clean up leaks."""
    __tracebackhide__ = True
    if _SNAPSHOT not in item.stash:
        return
    from ._api import close_pools
    from ._checks.leaks import find_leaks, release
    from ._report.messages import leak_error, leak_message

    close_pools()
    settings = item.stash[_ITEM_SETTINGS]
    leaks = find_leaks(item.stash[_SNAPSHOT], settings.leak_allow)
    if not item.stash.get(_CALL_PASSED, False):
        # A failed test's traceback keeps its objects alive: only processes count then.
        leaks = [leak for leak in leaks if leak.kind == "process"]
    if not leaks:
        return
    if settings.leak_check == "error":
        release(leaks)
        raise leak_error(item.nodeid, leaks)
    item.stash[_LEAK_WARNING] = leak_message(item.nodeid, leaks, released=False)


class _Coverage:
    """Collects check records and coverage notes from reports (here or from xdist
    workers), shows them at the end and writes the JSON report."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self.records: list[tuple[str, dict[str, Any]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            found = [text for name, text in report.sections if name == _SECTION]
            self.notes += [(report.nodeid, text) for text in found]
        if report.when == "teardown":
            self.records += [
                (report.nodeid, json.loads(str(value)))
                for name, value in report.user_properties
                if name == PROPERTY
            ]
            self.warnings += [text for name, text in report.sections if name == _LEAK_SECTION]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = session.config
        path = config.stash[_REPORT_PATH]
        if path is None or hasattr(config, "workerinput"):
            return
        from ._report.summary import report_document

        settings = dataclasses.asdict(config.stash[_SESSION_SETTINGS])
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(report_document(settings, self.records))

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        from ._report.summary import summary_lines

        verbosity = config.get_verbosity()
        seed = config.stash[_SESSION_SETTINGS].seed
        lines = summary_lines(self.records, seed, verbosity)
        if lines and verbosity >= 0:
            terminalreporter.section("mpcheck")
            for line in lines:
                terminalreporter.write_line(line)
        elif lines and verbosity == -1:
            terminalreporter.write_line(f"mpcheck: {lines[0]}")
        if self.warnings:
            terminalreporter.section("mpcheck leaks (--mp-leak-check=warn)")
            for text in self.warnings:
                terminalreporter.write_line(text)
        if config.get_verbosity() < 1 or not self.notes:
            return
        terminalreporter.section("mpcheck coverage")
        for nodeid, text in self.notes:
            for line in text.splitlines():
                terminalreporter.write_line(f"{nodeid}: {line}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    error = item.stash.get(_MARKER_ERROR, None)
    if error is not None:
        pytest.fail(f"invalid marker: {error}", pytrace=False)
    yield
    # After the fixtures: what a session or module fixture starts is not the test's leak.
    if _uses_plugin(item):
        _snapshot(item)


def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    api = sys.modules.get("pytest_mpcheck._api")
    if api is not None:
        api.close_pools()


@pytest.fixture(scope="session")
def mpcheck() -> MpCheck:
    """pytest-mpcheck's checks, bound to the running test's settings.

    Session-scoped so that it also works in Hypothesis ``@given`` tests; each
    call reads the settings of the test running at that moment
    (``@pytest.mark.mpcheck`` > command line > ini > defaults).
    """
    from ._api import MpCheck

    return MpCheck()


class _XdistHooks:
    """Registered only when pytest-xdist is present: every worker gets the session seed."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_SEED_KEY] = self._config.stash[_SESSION_SETTINGS].seed
