"""Repeated calls of a benchmark's variants, and what they add up to.

Shared by the benchmarks that count detections: each call is an ``Outcome``;
the variants run in a rotating order, because the machine's load drifts.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import pytest_mpcheck

__all__ = ["Options", "Outcome", "load", "machine", "median", "options", "rate", "rotate", "timed"]


class Options(NamedTuple):
    """What a counting benchmark was asked: runs per cell, start methods, exit 1 on a miss."""

    runs: int
    methods: tuple[str, ...]
    check: bool


def options(description: str, argv: Sequence[str] | None) -> Options:
    """The command line of a counting benchmark."""
    offered = pytest_mpcheck.available_start_methods()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=50, help="runs per program and method (50)")
    parser.add_argument("--methods", default=",".join(offered), help="start methods to run")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    methods = tuple(m for m in args.methods.split(",") if m in offered)
    return Options(args.runs, methods, args.check)


def load() -> str:
    """The load average over 1, 5 and 15 minutes ("n/a" where the system has none)."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    """The Python, the system, its CPUs and its load: what the figures depend on."""
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load()}"
    )


class Outcome(NamedTuple):
    """One call: the finding's class (None if it passed), seconds, the message."""

    finding: str | None
    seconds: float
    message: str


def timed(check: Callable[[], object]) -> Outcome:
    """One call of a check, timed: the ``MpCheckError`` it raised, if any, is its finding."""
    started = time.perf_counter()
    try:
        check()
    except pytest_mpcheck.MpCheckError as exc:
        return Outcome(type(exc).__name__, time.perf_counter() - started, str(exc))
    return Outcome(None, time.perf_counter() - started, "")


def rotate(
    calls: Mapping[str, Callable[[int], Outcome]], runs: int, draw: random.Random
) -> dict[str, list[Outcome]]:
    """``runs`` calls of every variant, each given a fresh seed from ``draw`` (one seed per
    run, the same for every variant), in a rotating order; after one unrecorded call of
    each (imports, the forkserver)."""
    names = list(calls)
    for name in names:
        calls[name](draw.randrange(2**32))
    results: dict[str, list[Outcome]] = {name: [] for name in names}
    for run in range(runs):
        seed = draw.randrange(2**32)
        for offset in range(len(names)):
            name = names[(run + offset) % len(names)]
            results[name].append(calls[name](seed))
    return results


def rate(outcomes: Sequence[Outcome]) -> float:
    """The share of calls that found something."""
    return sum(outcome.finding is not None for outcome in outcomes) / len(outcomes)


def median(values: Sequence[float]) -> str:
    """The median to three places, or ``-`` for none."""
    return f"{statistics.median(values):.3f}" if values else "-"
