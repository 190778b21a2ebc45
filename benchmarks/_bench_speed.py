"""The benchmark run by ``bench_speed.py``; see that file for what it measures.

Kept apart from the launcher so that the ``__main__`` module spawn children
re-import stays as light as a user's script.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _runs import machine
from _work import count_locked, idle, member_start

import pytest_mpcheck

PROCESSES = 4
INCREMENTS = 100

TARGET_ACCESS_RATIO = 4.0
TARGET_STRESS_RATIO = 3.0
TARGET_MEMBER_MS = 20.0


def per_increment(counter: Any, repeat: int) -> float:
    """Best time of one locked increment over ``repeat`` batches (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        count_locked(counter, INCREMENTS)
        best = min(best, time.perf_counter() - start)
    return best / INCREMENTS


def access(baseline: Any, repeat: int) -> tuple[float, float]:
    """(plain, ours) per increment, measured in alternation so that load drift hits both."""
    ours = pytest_mpcheck.Value("i", 0)
    count_locked(ours, 1)  # the first traced access scans the heap once
    plain_best, ours_best = float("inf"), float("inf")
    for _ in range(repeat):
        plain_best = min(plain_best, baseline.ask("access"))
        ours_best = min(ours_best, per_increment(ours, 10))
    return plain_best, ours_best


def serve_baseline(requests: Any) -> None:
    """The plain figures, measured in a process that never imports pytest_mpcheck.

    Tracing rebinds the methods of the ``multiprocessing`` locks of a process it
    runs in (to see the user's own locks being used), which makes them slower
    there: measured beside ours, the plain program would not be plain.
    """
    plain = multiprocessing.get_context("spawn").Value("i", 0)
    while True:
        request = requests.recv()
        if request is None:
            return
        if request == "access":
            requests.send(per_increment(plain, 10))
        else:
            requests.send(plain_program(request))


class Baseline:
    """A clean process that measures the plain figures on request, one at a time."""

    def __init__(self) -> None:
        ctx: Any = multiprocessing.get_context("spawn")
        self._pipe, theirs = ctx.Pipe()
        self._process = ctx.Process(target=serve_baseline, args=(theirs,))
        self._process.start()
        theirs.close()

    def ask(self, request: str) -> float:
        """``"access"`` (one increment, best of a batch) or a start method (the program)."""
        self._pipe.send(request)
        seconds: float = self._pipe.recv()
        return seconds

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send(None)
        self._process.join(10)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()
        self._pipe.close()


def plain_program(method: str) -> float:
    """The guide's locked counter with no checker: value, 4 processes, start, join."""
    ctx: Any = multiprocessing.get_context(method)
    start = time.perf_counter()
    counter = ctx.Value("i", 0)
    members = [ctx.Process(target=count_locked, args=(counter,)) for _ in range(PROCESSES)]
    for member in members:
        member.start()
    for member in members:
        member.join()
        member.close()
    seconds = time.perf_counter() - start
    if counter.value != PROCESSES * INCREMENTS:
        raise RuntimeError(f"plain {method} run: {counter.value} increments")
    return seconds


def stress_call(methods: Sequence[str], seed: int) -> float:
    """``stress`` of the locked counter, default settings but the seed, every method."""
    settings = dataclasses.replace(pytest_mpcheck.active_settings(), seed=seed)
    counter = pytest_mpcheck.Value("i", 0)
    start = time.perf_counter()
    pytest_mpcheck.MpCheck(settings).stress(
        count_locked, counter, processes=PROCESSES, start_methods=methods
    )
    return time.perf_counter() - start


def start_ready(method: str, target: Callable[..., None], args: tuple[Any, ...]) -> float:
    """Seconds from ``start()`` until the process says it is ready (its target ran
    ``args``' set-up and wrote to the pipe it gets first); its exit is not counted."""
    ctx: Any = multiprocessing.get_context(method)
    theirs, ours = ctx.Pipe(False)
    start = time.perf_counter()
    process = ctx.Process(target=target, args=(ours, *args))
    process.start()
    ready = theirs.poll(60)
    seconds = time.perf_counter() - start
    process.join(60)
    theirs.close()
    ours.close()
    if not ready or process.exitcode != 0:
        if process.exitcode is None:
            process.kill()
            process.join()
        raise RuntimeError(f"{method} probe: ready {ready}, exit code {process.exitcode}")
    process.close()
    return seconds


def member_payload() -> tuple[Any, ...]:
    """What a stress member receives besides its pipe and barrier, as ``stress`` builds it
    for the default, controlled schedule."""
    import functools

    from pytest_mpcheck._checks.stress import member_hooks
    from pytest_mpcheck._engine.worker import member
    from pytest_mpcheck._trace.schedule import Schedule, start_controlled_round
    from pytest_mpcheck._trace.waits import WaitTable

    adopt = member_hooks(0)[1]
    prepare = functools.partial(
        start_controlled_round, Schedule(PROCESSES), 0, WaitTable(PROCESSES)
    )
    return (prepare, adopt, pytest_mpcheck.Value("i", 0), member)


def ratio_row(
    label: str, plain: float, ours: float, unit: str, scale: float, target: float
) -> bool:
    ratio = ours / plain
    met = ratio <= target
    print(
        f"  {label:<30} {plain * scale:>10.2f} {ours * scale:>10.2f} {unit:<3} "
        f"{ratio:>6.1f}x  target <= {target:g}x  {'PASS' if met else 'FAIL'}"
    )
    return met


def main(argv: Sequence[str] | None = None) -> int:
    offered = pytest_mpcheck.available_start_methods()
    parser = argparse.ArgumentParser(description="Tracing costs against the plain program.")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per figure (5)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    print(f"pytest-mpcheck {pytest_mpcheck.__version__} speed benchmark; {machine()}")
    print(f"  {'figure':<30} {'plain':>10} {'ours':>10}")
    ok = True
    baseline = Baseline()
    try:
        plain, ours = access(baseline, args.repeat * 20)
        ok &= ratio_row("locked increment (best)", plain, ours, "us", 1e6, TARGET_ACCESS_RATIO)

        draw = random.Random()
        # Warm-up: imports, the forkservers.
        stress_call(offered, draw.randrange(2**32))
        for method in offered:
            baseline.ask(method)
        plains, calls = [], []
        for _ in range(args.repeat):
            plains.append(sum(baseline.ask(method) for method in offered))
            calls.append(stress_call(offered, draw.randrange(2**32)))
        ok &= ratio_row(
            f"stress, {len(offered)} methods (median)",
            statistics.median(plains),
            statistics.median(calls),
            "s",
            1,
            TARGET_STRESS_RATIO,
        )

        payload = member_payload()
        for method in (m for m in offered if m != "fork"):
            bare, member = [], []
            for _ in range(args.repeat * 2):
                bare.append(start_ready(method, idle, ()))
                member.append(start_ready(method, member_start, payload))
            bare_ms, member_ms = statistics.median(bare) * 1000, statistics.median(member) * 1000
            extra = member_ms - bare_ms
            met = extra <= TARGET_MEMBER_MS
            ok &= met
            print(
                f"  {f'{method} member start (median)':<30} {bare_ms:>10.2f} "
                f"{member_ms:>10.2f} ms  {extra:>+6.1f}ms "
                f"target <= +{TARGET_MEMBER_MS:g}ms  {'PASS' if met else 'FAIL'}"
            )
    finally:
        baseline.close()
        pytest_mpcheck.close_pools()
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
