"""Repeated calls of a benchmark's variants, and what they add up to.

Shared by the benchmarks that count detections: each call is an ``Outcome``;
the variants run in a rotating order, because the machine's load drifts.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

__all__ = ["Outcome", "median", "rate", "rotate"]


class Outcome(NamedTuple):
    """One call: the finding's class (None if it passed), seconds, the message."""

    finding: str | None
    seconds: float
    message: str


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
