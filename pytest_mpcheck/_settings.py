"""The one frozen settings object, and the rules that build and validate it.

Every option is declared once in ``OPTIONS``; the pytest wiring turns each
declaration into a CLI flag and its ini twin, and the marker and the public
API validate through the same parsers, so a value means the same thing
wherever it is written.  Precedence: marker > CLI > ini > default.
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pytest_mpcheck._model import ReplayToken, ScheduleMode

__all__ = [
    "LEAK_MODES",
    "MARKER_KEYS",
    "OPTIONS",
    "SCHEDULES",
    "START_METHOD_ORDER",
    "Option",
    "Settings",
    "available_start_methods",
    "default_settings",
    "parse_leak_allow",
    "parse_leak_check",
    "parse_marker",
    "parse_processes",
    "parse_replay",
    "parse_report_path",
    "parse_rounds",
    "parse_schedule",
    "parse_seed",
    "parse_start_methods",
    "parse_timeout",
    "resolve",
]

#: Canonical order in which start methods are run and listed.
START_METHOD_ORDER = ("fork", "spawn", "forkserver")

DEFAULT_PROCESSES = 4
DEFAULT_ROUNDS = 20
DEFAULT_TIMEOUT = 60.0
SCHEDULES: tuple[ScheduleMode, ...] = ("controlled", "free")
DEFAULT_SCHEDULE: ScheduleMode = "controlled"


@dataclass(frozen=True)
class Settings:
    """Effective settings of one check; the seed and these reproduce a run."""

    start_methods: tuple[str, ...]
    processes: int
    rounds: int
    seed: int
    timeout: float
    leak_check: str
    leak_allow: tuple[str, ...] = ()
    schedule: ScheduleMode = DEFAULT_SCHEDULE
    #: A controlled schedule to run instead of exploring (a ``ReplayToken``'s text).
    replay: str | None = None

    def describe(self) -> str:
        """One line with every setting, as printed in the header and messages."""
        return (
            f"start methods: {', '.join(self.start_methods)}; processes: {self.processes}; "
            f"rounds: {self.rounds}; schedule: {self.schedule}; timeout: {self.timeout:g}s; "
            f"leak check: {self.leak_check}; seed: {self.seed}"
            + (f"; leak allow: {', '.join(self.leak_allow)}" if self.leak_allow else "")
            + (f"; replay: {self.replay}" if self.replay else "")
        )


def available_start_methods() -> tuple[str, ...]:
    """Start methods this platform offers, in canonical order."""
    offered = set(multiprocessing.get_all_start_methods())
    return tuple(method for method in START_METHOD_ORDER if method in offered)


def _accepted_methods() -> str:
    return ", ".join(available_start_methods()) + " (comma-separated), or 'all'"


def parse_start_methods(value: object) -> tuple[str, ...]:
    """Parse ``"fork,spawn"``, ``"all"`` or a sequence of names into canonical order."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable):
        names = list(value)
        if not all(isinstance(name, str) for name in names):
            raise TypeError(f"start methods must be strings; accepted: {_accepted_methods()}")
    else:
        raise TypeError(
            f"start methods must be a string or a sequence of strings, not "
            f"{type(value).__name__}; accepted: {_accepted_methods()}"
        )
    if names == ["all"]:
        return available_start_methods()
    if not names:
        raise ValueError(f"no start method given; accepted: {_accepted_methods()}")
    offered = available_start_methods()
    for name in names:
        if name not in offered:
            why = (
                "is not available on this platform"
                if name in START_METHOD_ORDER
                else "is not a start method"
            )
            raise ValueError(f"{name!r} {why}; accepted: {_accepted_methods()}")
    return tuple(method for method in offered if method in names)


def _parse_int(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{what} must be an integer >= {minimum}, not {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{what} must be an integer >= {minimum}, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, not {number}")
    return number


def parse_processes(value: object) -> int:
    """Worker processes per pool: an integer >= 1."""
    return _parse_int(value, "processes", 1)


def parse_rounds(value: object) -> int:
    """Stress rounds per start method: an integer >= 1."""
    return _parse_int(value, "rounds", 1)


def parse_schedule(value: object) -> ScheduleMode:
    """How stress orders its processes: controlled (one at a time, chosen from the seed at
    each access) or free (as the operating system runs them, with seeded noise)."""
    if value not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {value!r}")
    return value


def parse_replay(value: object) -> str:
    """A replay token, as a controlled failure prints it; checked here, fitted at the run."""
    if not isinstance(value, str):
        raise TypeError(f"a replay token is a string, not {type(value).__name__}")
    ReplayToken.decode(value)
    return value.strip()


def parse_report_path(value: object) -> str:
    """Where to write the JSON report: a file path."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"report path must be a file path, not {value!r}")
    return value


LEAK_MODES = ("error", "warn", "off")


def parse_leak_check(value: object) -> str:
    """What to do with processes and shared objects a test leaves: error, warn or off."""
    if value not in LEAK_MODES:
        raise ValueError(f"leak check must be one of {', '.join(LEAK_MODES)}, not {value!r}")
    return str(value)


def parse_leak_allow(value: object) -> tuple[str, ...]:
    """Command-line patterns of helper processes the leak check allows: globs, one per
    line or comma-separated, matched against a process's command line and its name."""
    if isinstance(value, str):
        patterns = [part.strip() for line in value.splitlines() for part in line.split(",")]
    elif isinstance(value, Iterable) and all(isinstance(part, str) for part in value):
        patterns = [part.strip() for part in value]
    else:
        raise TypeError(
            f"leak allow patterns must be a string or a sequence of strings, not {value!r}"
        )
    return tuple(pattern for pattern in patterns if pattern)


def parse_seed(value: object) -> int:
    """Seed for every random decision of a session: an integer >= 0."""
    return _parse_int(value, "seed", 0)


def parse_timeout(value: object) -> float:
    """Seconds one check may take: a number > 0 (a check never waits forever)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"timeout must be a number of seconds > 0, not {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"timeout must be a number of seconds > 0, not {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"timeout must be a finite number of seconds > 0, not {value!r}")
    return seconds


@dataclass(frozen=True)
class Option:
    """One setting: its CLI flag, ini key, help text (shared by both) and parser."""

    field: str
    flag: str
    metavar: str
    help: str
    parse: Callable[[object], Any]

    @property
    def ini(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(
        "start_methods",
        "--mp-start-methods",
        "METHODS",
        "comma-separated start methods to check under (fork, spawn, forkserver) or 'all'; "
        "default: every method the platform offers",
        parse_start_methods,
    ),
    Option(
        "processes",
        "--mp-processes",
        "N",
        f"worker processes per pool (integer >= 1); default: {DEFAULT_PROCESSES}",
        parse_processes,
    ),
    Option(
        "rounds",
        "--mp-rounds",
        "N",
        f"stress rounds per start method (integer >= 1); default: {DEFAULT_ROUNDS}",
        parse_rounds,
    ),
    Option(
        "leak_check",
        "--mp-leak-check",
        "MODE",
        "after each test that uses pytest-mpcheck, report the child processes and shared "
        "memory it left behind: error (a test error; they are killed and unlinked), warn (a "
        "section of the summary; nothing is touched) or off; helpers libraries keep alive by "
        "design are never counted; default: error",
        parse_leak_check,
    ),
    Option(
        "leak_allow",
        "--mp-leak-allow",
        "PATTERNS",
        "further helper processes the leak check allows: shell-style patterns matched "
        "against a process's command line or name (ini: one per line; command line: "
        "comma-separated); default: none",
        parse_leak_allow,
    ),
    Option(
        "report",
        "--mp-report",
        "PATH",
        "write a JSON report of every check (schema in the docs) to PATH; default: none",
        parse_report_path,
    ),
    Option(
        "seed",
        "--mp-seed",
        "SEED",
        "seed for every random decision (integer >= 0); default: random per session, "
        "shown in the header",
        parse_seed,
    ),
    Option(
        "schedule",
        "--mp-schedule",
        "MODE",
        "how stress runs its processes: controlled (one at a time between accesses to "
        "mpcheck's objects, the order chosen from the seed; failures print a replay token) "
        f"or free (as the operating system schedules them, with seeded noise); default: "
        f"{DEFAULT_SCHEDULE}",
        parse_schedule,
    ),
    Option(
        "replay",
        "--mp-replay",
        "TOKEN",
        "run the one controlled schedule a failure printed (its replay line gives the "
        "whole command); default: none",
        parse_replay,
    ),
    Option(
        "timeout",
        "--mp-timeout",
        "SECONDS",
        "seconds a check may take under each start method before it fails (> 0); "
        f"default: {DEFAULT_TIMEOUT:g}",
        parse_timeout,
    ),
)

#: Keyword arguments ``@pytest.mark.mpcheck`` accepts (the seed is per session).
MARKER_KEYS = (
    "start_methods",
    "processes",
    "rounds",
    "timeout",
    "schedule",
    "replay",
    "leak_check",
)


def default_settings(seed: int | None = None) -> Settings:
    """Defaults: every offered start method, 4 processes, 20 rounds, 60 s, a random seed."""
    return Settings(
        start_methods=available_start_methods(),
        processes=DEFAULT_PROCESSES,
        rounds=DEFAULT_ROUNDS,
        seed=random.randrange(2**32) if seed is None else seed,
        timeout=DEFAULT_TIMEOUT,
        leak_check="error",
    )


def resolve(base: Settings, layers: Sequence[Mapping[str, object]]) -> Settings:
    """Apply raw values over ``base``; the first layer that sets a field wins.

    Raises ``ValueError``/``TypeError`` naming the field and what it accepts.
    """
    parsers = {option.field: option.parse for option in OPTIONS}
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in fields(Settings)}
    for name in values:
        for layer in layers:
            raw = layer.get(name)
            if raw is not None:
                values[name] = parsers[name](raw)
                break
    return Settings(**values)


def parse_marker(args: Sequence[object], kwargs: Mapping[str, object]) -> dict[str, object]:
    """Validate ``@pytest.mark.mpcheck(...)`` arguments into a settings layer."""
    if args:
        raise TypeError(
            "@pytest.mark.mpcheck takes keyword arguments only "
            f"({', '.join(MARKER_KEYS)}), got positional {list(args)!r}"
        )
    unknown = sorted(set(kwargs) - set(MARKER_KEYS))
    if unknown:
        raise TypeError(
            f"@pytest.mark.mpcheck got unknown argument {unknown[0]!r}; "
            f"accepted: {', '.join(MARKER_KEYS)}"
        )
    parsers = {option.field: option.parse for option in OPTIONS}
    layer: dict[str, object] = {}
    for key, raw in kwargs.items():
        if raw is None:
            continue
        try:
            layer[key] = parsers[key](raw)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"@pytest.mark.mpcheck({key}={raw!r}): {exc}") from None
    return layer
