"""The benchmark run by ``bench_schedules.py``; see that file for what it measures.

Kept apart from the launcher so that the ``__main__`` module spawn children
re-import stays as light as a user's script.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

from _runs import Outcome, machine, median, options, rate, rotate, timed
from _work import busy

import pytest_mpcheck
from _schedule_targets import (
    buy,
    buy_fixed,
    move,
    move_fixed,
    publish,
    publish_fixed,
    transfer,
    transfer_fixed,
)
from _stress_targets import add_locked, add_unlocked

#: Targets of the controlled schedule (issue "Controlled schedules").
TARGET_DETECTION = 1.0
TARGET_COUNTER_FAILURE_SECONDS = 0.3
TARGET_REPLAYS = 10
SAME_SEED = 20261201

#: Makes a program's arguments with the given Value, Array and Lock; and its expectation.
Make = Callable[[Any, Any, Any], tuple[tuple[Any, ...], Callable[[], bool]]]
#: Seconds a plain run may take before it counts as hung (a deadlock).
PLAIN_HANG = 5.0


def _tickets(value: Any, array: Any, lock: Any) -> tuple[tuple[Any, ...], Callable[[], bool]]:
    stock, sold = value("i", 1), value("i", 0)
    return (stock, sold), lambda: sold.value == 1


def _publication(value: Any, array: Any, lock: Any) -> tuple[tuple[Any, ...], Callable[[], bool]]:
    roles, flag, data, got = value("i", 0), value("i", 0), value("i", 0), value("i", 42)
    return (roles, flag, data, got), lambda: got.value == 42


def _pair(value: Any, array: Any, lock: Any) -> tuple[tuple[Any, ...], Callable[[], bool]]:
    slots, torn = array("i", [10, 0]), value("i", 0)
    return (slots, torn), lambda: torn.value == 0


def _accounts(value: Any, array: Any, lock: Any) -> tuple[tuple[Any, ...], Callable[[], bool]]:
    return (lock(), lock(), value("i", 0)), lambda: True


def _counter(value: Any, array: Any, lock: Any) -> tuple[tuple[Any, ...], Callable[[], bool]]:
    counter = value("i", 0)
    return (counter,), lambda: counter.value == 400


class Program(NamedTuple):
    name: str
    broken: Callable[..., None]
    fixed: Callable[..., None]
    make: Make
    processes: int


PROGRAMS = (
    Program("check-then-act", buy, buy_fixed, _tickets, 2),
    Program("publication order", publish, publish_fixed, _publication, 2),
    Program("pair of slots", move, move_fixed, _pair, 2),
    Program("unlocked counter", add_unlocked, add_locked, _counter, 4),
    Program("opposite lock orders", transfer, transfer_fixed, _accounts, 2),
)


def plain(method: str, program: Program) -> Outcome:
    """The broken program once, in plain processes: 'detected' iff its expectation fails
    or it hangs (then its processes are killed)."""
    ctx: Any = multiprocessing.get_context(method)
    args, expect = program.make(ctx.Value, ctx.Array, ctx.Lock)
    started = time.perf_counter()
    members = [ctx.Process(target=program.broken, args=args) for _ in range(program.processes)]
    for member in members:
        member.start()
    for member in members:
        member.join(max(0.0, started + PLAIN_HANG - time.perf_counter()))
    hung = [member for member in members if member.is_alive()]
    for member in members:
        if member.is_alive():
            member.kill()
            member.join()
        member.close()
    seconds = time.perf_counter() - started
    verdict = "hung" if hung else None if expect() else "wrong result"
    return Outcome(verdict, seconds, "")


def stress(
    method: str,
    program: Program,
    target: Callable[..., None],
    schedule: Literal["controlled", "free"],
    seed: int,
) -> Outcome:
    settings = dataclasses.replace(
        pytest_mpcheck.active_settings(), seed=seed, start_methods=(method,), schedule=schedule
    )
    check = pytest_mpcheck.MpCheck(settings)
    args, expect = program.make(check.Value, check.Array, check.Lock)
    return timed(lambda: check.stress(target, *args, processes=program.processes, expect=expect))


def measure(
    method: str, program: Program, runs: int, draw: random.Random
) -> dict[str, list[Outcome]]:
    """``runs`` of every variant, in a rotating order (the machine's load drifts)."""
    calls: dict[str, Callable[[int], Outcome]] = {
        "plain": lambda seed: plain(method, program),
        "free": lambda seed: stress(method, program, program.broken, "free", seed),
        "controlled": lambda seed: stress(method, program, program.broken, "controlled", seed),
        "free twin": lambda seed: stress(method, program, program.fixed, "free", seed),
        "controlled twin": lambda seed: stress(method, program, program.fixed, "controlled", seed),
    }
    return rotate(calls, runs, draw)


def _witness(message: str) -> list[str]:
    """What a failure shows of what happened: all but the counts over the rounds explored."""
    return [
        line
        for line in message.splitlines()[1:]
        if not line.lstrip().startswith(("outcomes over", "replay:"))
    ]


def reproducible(method: str, program: Program) -> tuple[bool, int | None, str]:
    """(four runs with one seed, two beside busy processes, print one failure; replays of
    its token that show the same witness, out of 10, None for a failure that is no one
    schedule's and prints no token (a potential deadlock); the token)."""
    messages = []
    for loaded in (False, True, False, True):
        with busy(2) if loaded else contextlib.nullcontext():
            messages.append(stress(method, program, program.broken, "controlled", SAME_SEED))
    same = len({outcome.message for outcome in messages}) == 1 and messages[0].finding is not None
    found = re.search(r"--mp-replay=(\S+)|replay='([^']+)'", messages[0].message)
    if found is None:
        return same, None, ""
    token = found.group(1) or found.group(2)
    settings = dataclasses.replace(
        pytest_mpcheck.active_settings(), seed=SAME_SEED, start_methods=(method,), replay=token
    )
    check = pytest_mpcheck.MpCheck(settings)
    replayed = 0
    for _ in range(TARGET_REPLAYS):
        args, expect = program.make(check.Value, check.Array, check.Lock)
        try:
            check.stress(program.broken, *args, processes=program.processes, expect=expect)
        except pytest_mpcheck.MpCheckError as exc:
            replayed += _witness(str(exc)) == _witness(messages[0].message)
    return same, replayed, token


def main(argv: Sequence[str] | None = None) -> int:
    args = options("Controlled against free schedules.", argv)
    methods = args.methods
    print(
        f"pytest-mpcheck {pytest_mpcheck.__version__} schedules benchmark, {args.runs} runs per "
        f"program and start method; {machine()}"
    )
    draw = random.Random()
    ok = True
    try:
        for method in methods:
            print(f"\n{method}")
            print(
                f"  {'program':<22} {'detected: plain':>15} {'free':>6} {'controlled':>10}  "
                f"{'false alarms: free':>18} {'controlled':>10}  "
                f"{'time to failure (s): free':>25} {'controlled':>10}  "
                f"{'call on twin (s): free':>22} {'controlled':>10}"
            )
            for program in PROGRAMS:
                results = measure(method, program, args.runs, draw)

                failures = {
                    name: [o.seconds for o in results[name] if o.finding is not None]
                    for name in ("free", "controlled")
                }
                twins = {name: [o.seconds for o in results[f"{name} twin"]] for name in failures}
                print(
                    f"  {program.name:<22} {rate(results['plain']):>15.0%} "
                    f"{rate(results['free']):>6.0%} {rate(results['controlled']):>10.0%}  "
                    f"{sum(o.finding is not None for o in results['free twin']):>18} "
                    f"{sum(o.finding is not None for o in results['controlled twin']):>10}  "
                    f"{median(failures['free']):>25} {median(failures['controlled']):>10}  "
                    f"{median(twins['free']):>22} {median(twins['controlled']):>10}"
                )
                met = rate(results["controlled"]) >= TARGET_DETECTION and not any(
                    o.finding for o in results["controlled twin"]
                )
                if program.broken is add_unlocked and method == "fork":
                    middle = statistics.median(failures["controlled"] or [float("inf")])
                    met &= middle <= TARGET_COUNTER_FAILURE_SECONDS
                    print(
                        f"    unlocked counter under fork: median time to failure "
                        f"{middle:.3f} s, target <= {TARGET_COUNTER_FAILURE_SECONDS} s"
                    )
                for outcome in results["controlled twin"]:
                    if outcome.finding:
                        print(f"    false alarm: {outcome.message.splitlines()[0]}")
                ok &= met
            print(
                "  one seed, one failure (controlled; 4 runs with one seed, 2 beside 2 busy "
                "processes) and replays showing the same witness:"
            )
            for program in PROGRAMS:
                same, replayed, _ = reproducible(method, program)
                ok &= same and replayed in (None, TARGET_REPLAYS)
                replays = (
                    "no token: not one schedule's failure (the seed reproduces it)"
                    if replayed is None
                    else f"replays {replayed}/{TARGET_REPLAYS}"
                )
                print(
                    f"    {program.name:<22} identical failure: {'yes' if same else 'NO'}; "
                    f"{replays}"
                )
    finally:
        pytest_mpcheck.close_pools()
    print(f"\ntargets {'met' if ok else 'MISSED'}")
    return 0 if ok or not args.check else 1
