"""Settings parsing and precedence, without pytest in between."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_mpcheck import Settings, available_start_methods
from pytest_mpcheck._settings import (
    DEFAULT_PROCESSES,
    DEFAULT_TIMEOUT,
    MARKER_KEYS,
    OPTIONS,
    START_METHOD_ORDER,
    default_settings,
    parse_marker,
    parse_processes,
    parse_seed,
    parse_start_methods,
    parse_timeout,
    resolve,
)

METHODS = available_start_methods()


def test_available_start_methods_in_canonical_order() -> None:
    assert METHODS
    assert list(METHODS) == [m for m in START_METHOD_ORDER if m in METHODS]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fork", ("fork",)),
        ("spawn,fork", ("fork", "spawn")),
        (" forkserver , spawn ", ("spawn", "forkserver")),
        ("spawn,spawn", ("spawn",)),
        (["spawn", "fork"], ("fork", "spawn")),
        (("forkserver",), ("forkserver",)),
        ("all", METHODS),
    ],
)
def test_start_methods_parse_into_canonical_order(raw: object, expected: tuple[str, ...]) -> None:
    assert parse_start_methods(raw) == expected


@pytest.mark.parametrize("raw", ["bogus", "fork,bogus", "", ",", []])
def test_bad_start_methods_list_what_is_accepted(raw: object) -> None:
    with pytest.raises(ValueError, match="accepted: ") as caught:
        parse_start_methods(raw)
    for method in METHODS:
        assert method in str(caught.value)
    assert "'all'" in str(caught.value)


def test_unknown_start_method_is_named() -> None:
    with pytest.raises(ValueError, match="'bogus' is not a start method"):
        parse_start_methods("bogus")


@pytest.mark.parametrize("raw", [3, None, [1, 2]])
def test_start_methods_of_wrong_type(raw: object) -> None:
    with pytest.raises(TypeError, match="accepted: "):
        parse_start_methods(raw)


@pytest.mark.parametrize(("raw", "expected"), [(1, 1), ("4", 4), (" 2 ", 2), (64, 64)])
def test_processes(raw: object, expected: int) -> None:
    assert parse_processes(raw) == expected


@pytest.mark.parametrize("raw", [0, -1, "0", "x", "1.5", ""])
def test_bad_processes(raw: object) -> None:
    with pytest.raises(ValueError, match="processes must be an integer >= 1"):
        parse_processes(raw)


@pytest.mark.parametrize("raw", [True, 2.0, None, [2]])
def test_processes_of_wrong_type(raw: object) -> None:
    with pytest.raises(TypeError, match="processes must be an integer >= 1"):
        parse_processes(raw)


@pytest.mark.parametrize(("raw", "expected"), [(0, 0), ("17", 17), (2**40, 2**40)])
def test_seed(raw: object, expected: int) -> None:
    assert parse_seed(raw) == expected


@pytest.mark.parametrize("raw", [-3, "-3", "seed"])
def test_bad_seed(raw: object) -> None:
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        parse_seed(raw)


@pytest.mark.parametrize(("raw", "expected"), [(1, 1.0), ("2.5", 2.5), (0.01, 0.01)])
def test_timeout(raw: object, expected: float) -> None:
    assert parse_timeout(raw) == expected


@pytest.mark.parametrize("raw", [0, -1, "0", "-1", "nan", "inf", "soon"])
def test_bad_timeout(raw: object) -> None:
    with pytest.raises(ValueError, match="timeout must be a"):
        parse_timeout(raw)


@pytest.mark.parametrize("raw", [True, None, [1]])
def test_timeout_of_wrong_type(raw: object) -> None:
    with pytest.raises(TypeError, match="timeout must be a number"):
        parse_timeout(raw)


def _settings(**values: object) -> Settings:
    """Settings with the given values, defaults for the rest (fields may be added later)."""
    return dataclasses.replace(default_settings(seed=1), **values)  # type: ignore[arg-type]


def test_every_option_has_a_flag_an_ini_twin_and_help() -> None:
    flags = {o.flag: o for o in OPTIONS}
    for name in ("start_methods", "processes", "seed", "timeout"):
        option = flags[f"--mp-{name.replace('_', '-')}"]
        assert option.field == name
        assert option.ini == f"mp_{name}"
        assert option.help


def test_defaults() -> None:
    settings = default_settings(seed=7)
    assert settings.start_methods == METHODS
    assert (settings.processes, settings.seed, settings.timeout) == (4, 7, 60.0)
    assert (DEFAULT_PROCESSES, DEFAULT_TIMEOUT) == (4, 60.0)
    assert 0 <= default_settings().seed < 2**32


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_settings().processes = 2  # type: ignore[misc]


def test_describe_names_every_setting() -> None:
    text = _settings(start_methods=("fork", "spawn"), processes=3, seed=42, timeout=1.5).describe()
    assert text.startswith("start methods: fork, spawn; processes: 3; ")
    assert "; timeout: 1.5s; " in text
    assert text.endswith("; seed: 42")


def test_first_layer_that_sets_a_field_wins() -> None:
    base = _settings(start_methods=METHODS, processes=4, seed=1, timeout=60.0)
    marker = {"processes": 1}
    cli = {"processes": "2", "seed": "9", "start_methods": None}
    ini = {"processes": "3", "seed": "8", "timeout": "5", "start_methods": "spawn"}
    expected = dataclasses.replace(base, start_methods=("spawn",), processes=1, seed=9, timeout=5.0)
    assert resolve(base, [marker, cli, ini]) == expected
    assert resolve(base, [{}, {}, ini]) == dataclasses.replace(expected, processes=3, seed=8)
    assert resolve(base, []) == base


def test_resolve_validates() -> None:
    base = default_settings(seed=1)
    with pytest.raises(ValueError, match="processes must be an integer >= 1"):
        resolve(base, [{"processes": "0"}])


def test_marker_keys() -> None:
    assert {"start_methods", "processes", "timeout"} <= set(MARKER_KEYS)
    assert "seed" not in MARKER_KEYS


def test_parse_marker() -> None:
    assert parse_marker((), {"processes": 2, "start_methods": "spawn", "timeout": 3}) == {
        "processes": 2,
        "start_methods": ("spawn",),
        "timeout": 3.0,
    }
    assert parse_marker((), {"processes": None}) == {}


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((), {"processes": 0}, ValueError, ["@pytest.mark.mpcheck(processes=0)", ">= 1"]),
        ((), {"timeout": -1}, ValueError, ["@pytest.mark.mpcheck(timeout=-1)", "> 0"]),
        ((), {"start_methods": "x"}, ValueError, ["start_methods='x'", "accepted"]),
        ((), {"seed": 3}, TypeError, ["unknown argument 'seed'", "accepted"]),
        (("spawn",), {}, TypeError, ["keyword arguments only", "'spawn'"]),
    ],
)
def test_bad_marker_arguments(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as caught:
        parse_marker(args, kwargs)
    for word in words:
        assert word in str(caught.value)
