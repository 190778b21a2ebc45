"""The benchmark run by ``bench_placement.py``; see that file for what it measures.

Kept apart from the launcher so that the ``__main__`` module spawn children
re-import stays as light as a user's script.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import accounts
import ledger
import price_base
import price_index
import scrabble
import word_scores
from _runs import Outcome, machine, median, options, rate, rotate, timed
from _work import busy
from test_self_contained_tasks import LEDGER, PRICES, WORDS  # the guide's data

import pytest_mpcheck

#: Targets of placement: every run caught, no false alarm, one seed one failure.
TARGET_DETECTION = 1.0
SAME_SEED = 20261201
PROCESSES = 2


class Program(NamedTuple):
    """A broken map and its twin: function, items and chunksize of each, and the reset
    of the broken function's module state (a test process starts fresh)."""

    name: str
    broken: tuple[Callable[..., Any], Sequence[Any], int | None]
    fixed: tuple[Callable[..., Any], Sequence[Any], int | None]
    reset: Callable[[], None]
    #: Whether one seed gives the same message: not for ids, which the allocator picks.
    same_message: bool


PROGRAMS = (
    Program(
        "first-item base",
        (price_base.index, PRICES, None),
        (functools.partial(price_index.index, PRICES[0]), PRICES, None),
        price_base.forget_base,
        True,
    ),
    Program(
        "running balance",
        (ledger.running_balance, LEDGER, 3),
        (accounts.running_balances, accounts.by_account(LEDGER), 1),
        ledger.close_books,
        True,
    ),
    Program(
        "id()-keyed cache",
        (word_scores.score, WORDS, 1),
        (scrabble.score, WORDS, 1),
        word_scores.clear_cache,
        False,
    ),
)


def plain(method: str, program: Program) -> Outcome:
    """The broken map once in a fresh plain pool: 'detected' iff it differs from the
    sequential run."""
    func, items, chunksize = program.broken
    program.reset()
    started = time.perf_counter()
    with multiprocessing.get_context(method).Pool(PROCESSES) as pool:
        got = pool.map(func, items, chunksize)
    seconds = time.perf_counter() - started
    program.reset()
    expected = list(map(func, items))
    program.reset()
    return Outcome(None if got == expected else "differs", seconds, "")


def check(method: str, program: Program, fixed: bool, seed: int) -> Outcome:
    """One ``assert_map_equal`` as a test makes it: fresh state, pools closed after."""
    func, items, chunksize = program.fixed if fixed else program.broken
    settings = dataclasses.replace(
        pytest_mpcheck.active_settings(), seed=seed, start_methods=(method,)
    )
    program.reset()
    try:
        return timed(
            lambda: pytest_mpcheck.MpCheck(settings).assert_map_equal(
                func, items, processes=PROCESSES, chunksize=chunksize
            )
        )
    finally:
        pytest_mpcheck.close_pools()
        program.reset()


def measure(
    method: str, program: Program, runs: int, draw: random.Random
) -> dict[str, list[Outcome]]:
    """``runs`` of every variant, in a rotating order (the machine's load drifts)."""
    calls: dict[str, Callable[[int], Outcome]] = {
        "plain": lambda seed: plain(method, program),
        "check": lambda seed: check(method, program, False, seed),
        "twin": lambda seed: check(method, program, True, seed),
    }
    return rotate(calls, runs, draw)


def _placement(message: str) -> list[str]:
    """The lines of a failure that name the placement."""
    return [line for line in message.splitlines() if line.lstrip().startswith("placement ")]


def reproducible(method: str, program: Program) -> bool:
    """Four checks with one seed, two beside busy processes, print one failure (for ids,
    which the allocator picks: one placement)."""
    outcomes = []
    for loaded in (False, True, False, True):
        with busy(2) if loaded else contextlib.nullcontext():
            outcomes.append(check(method, program, False, SAME_SEED))
    if any(outcome.finding is None for outcome in outcomes):
        return False
    seen = {
        outcome.message if program.same_message else "\n".join(_placement(outcome.message))
        for outcome in outcomes
    }
    return len(seen) == 1 and bool(_placement(outcomes[0].message))


def main(argv: Sequence[str] | None = None) -> int:
    args = options("Placement against the pool's own.", argv)
    methods = args.methods
    print(
        f"pytest-mpcheck {pytest_mpcheck.__version__} placement benchmark, {args.runs} runs per "
        f"program and start method, {PROCESSES} processes; {machine()}"
    )
    draw = random.Random()
    ok = True
    for method in methods:
        print(f"\n{method}")
        print(
            f"  {'program':<18} {'detected: plain pool':>20} {'check':>6}  "
            f"{'false alarms':>12}  {'time to failure (s)':>19}  {'call on twin (s)':>16}  "
            "one seed, one failure"
        )
        for program in PROGRAMS:
            results = measure(method, program, args.runs, draw)
            failures = [o.seconds for o in results["check"] if o.finding is not None]
            alarms = [o for o in results["twin"] if o.finding is not None]
            same = reproducible(method, program)
            print(
                f"  {program.name:<18} {rate(results['plain']):>20.0%} "
                f"{rate(results['check']):>6.0%}  {len(alarms):>12}  "
                f"{median(failures):>19}  {median([o.seconds for o in results['twin']]):>16}  "
                f"{'yes' if same else 'NO'}"
            )
            for outcome in alarms:
                print(f"    false alarm: {outcome.message.splitlines()[0]}")
            ok &= rate(results["check"]) >= TARGET_DETECTION and not alarms and same
    print(f"\ntargets {'met' if ok else 'MISSED'}")
    return 0 if ok or not args.check else 1
