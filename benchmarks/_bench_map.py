"""The benchmark run by ``bench_map.py``; see that file for what it measures.

Kept apart from the launcher so that the ``__main__`` module spawn workers
re-import stays as light as a user's script: nothing here is imported by
workers, only ``_work``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from _runs import machine
from _work import square

import pytest_mpcheck

#: Targets of issue 2, point 9: ours / (a) and ours / (b) at most this much.
TARGET_VS_FRESH = 0.35
TARGET_VS_WARM = 3.0

Work = Callable[[int], int]

#: A baseline's map that takes longer than this fails the benchmark instead of
#: hanging it: a plain Pool waits forever when its workers cannot start.  Its
#: ``map`` is ``map_async(...).get()``, so this costs nothing.
BASELINE_TIMEOUT = 300.0

# Python 3.12+ warns when a process with threads forks.  The baselines fork
# while no pool threads are alive (methods run in canonical order, fork
# first) and the engine silences the warning for its own threads; this only
# keeps a stray warning from cluttering the table.
warnings.filterwarnings(
    "ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning
)


@dataclass(frozen=True)
class Workload:
    """One variant's job: ``checks`` maps of ``square`` under each of ``methods``."""

    methods: tuple[str, ...]
    checks: int
    items: int
    processes: int
    square: Work


# --------------------------------------------------------------------------
# The three variants.  Each does the whole job, start-up and shutdown included.
# --------------------------------------------------------------------------


def fresh_pools(job: Workload) -> None:
    """(a) A fresh ``ctx.Pool`` per check and start method, as tests are written today."""
    contexts = [multiprocessing.get_context(method) for method in job.methods]
    for _ in range(job.checks):
        for ctx in contexts:
            with ctx.Pool(job.processes) as pool:
                got = pool.map_async(job.square, range(job.items)).get(BASELINE_TIMEOUT)
            expected = list(map(job.square, range(job.items)))
            if got != expected:
                raise AssertionError(f"{ctx.get_start_method()}: {got} != {expected}")


def warm_pools(job: Workload) -> None:
    """(b) One warm ``ctx.Pool`` per start method, reused by every check."""
    pools: list[tuple[str, Any]] = []
    try:
        for method in job.methods:
            pools.append((method, multiprocessing.get_context(method).Pool(job.processes)))
        for _ in range(job.checks):
            for method, pool in pools:
                got = pool.map_async(job.square, range(job.items)).get(BASELINE_TIMEOUT)
                expected = list(map(job.square, range(job.items)))
                if got != expected:
                    raise AssertionError(f"{method}: {got} != {expected}")
    finally:
        for _, pool in pools:
            pool.terminate()
            pool.join()


def ours(job: Workload) -> None:
    """``assert_map_equal`` per check, from no warm pool to ``close_pools()``."""
    for _ in range(job.checks):
        pytest_mpcheck.assert_map_equal(
            job.square, range(job.items), processes=job.processes, start_methods=job.methods
        )
    pytest_mpcheck.close_pools()


VARIANTS: dict[str, Callable[[Workload], None]] = {
    "(a)": fresh_pools,
    "(b)": warm_pools,
    "ours": ours,
}
LABELS = {
    "(a)": "(a) fresh ctx.Pool per check",
    "(b)": "(b) one warm ctx.Pool per method",
    "ours": "ours assert_map_equal",
}


# --------------------------------------------------------------------------
# Peak resident memory of this process.
# --------------------------------------------------------------------------


class PeakRss:
    """Peak RSS of this process during a measurement, in MiB.

    On Linux, writing ``5`` to ``/proc/self/clear_refs`` resets the peak
    (``VmHWM``), so each measurement gets its own.  Elsewhere only the
    lifetime high-water mark of ``resource.getrusage`` is available, which
    never goes down: the figure is then the peak so far, not per variant.
    """

    def __init__(self) -> None:
        self.resettable = self._reset_hwm()

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def reset(self) -> None:
        if self.resettable:
            self._reset_hwm()

    def read(self) -> float:
        if self.resettable:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Kilobytes on Linux, bytes on macOS.
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --------------------------------------------------------------------------
# Measurement.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mib: float


def measure(variant: Callable[[Workload], None], job: Workload, rss: PeakRss) -> Sample:
    """Time one variant, from no warm pool (and a collected heap) to its own cleanup."""
    pytest_mpcheck.close_pools()
    gc.collect()
    rss.reset()
    start = time.perf_counter()
    variant(job)
    seconds = time.perf_counter() - start
    return Sample(seconds, rss.read())


def rotated(names: Sequence[str], shift: int) -> list[str]:
    shift %= len(names)
    return [*names[shift:], *names[:shift]]


Samples = dict[str, dict[str, list[Sample]]]  # scope -> variant -> samples


def run_all(scopes: dict[str, Workload], repeat: int, rss: PeakRss) -> Samples:
    """Every variant of every scope, ``repeat`` times, in a rotating order."""
    names = list(VARIANTS)
    samples: Samples = {scope: {name: [] for name in names} for scope in scopes}
    for job in scopes.values():  # warm-up, not recorded: imports, page cache
        for name in names:
            measure(VARIANTS[name], replace(job, checks=1), rss)
    for rep in range(repeat):
        for offset, (scope, job) in enumerate(scopes.items()):
            for name in rotated(names, rep + offset):
                samples[scope][name].append(measure(VARIANTS[name], job, rss))
        print(f"  repetition {rep + 1}/{repeat} done", file=sys.stderr, flush=True)
    return samples


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def median_seconds(samples: list[Sample]) -> float:
    return statistics.median(sample.seconds for sample in samples)


def paired_ratios(ours_: list[Sample], base: list[Sample]) -> list[float]:
    """ours / baseline within each repetition (the two ran back to back)."""
    return [a.seconds / b.seconds for a, b in zip(ours_, base, strict=True)]


def print_table(samples: Samples, rss: PeakRss) -> None:
    peak = "peak RSS" if rss.resettable else "RSS so far"
    print(f"{'scope':<11} {'variant':<34} {'median':>9} {'min':>9} {'max':>9} {peak:>11}")
    for scope, by_variant in samples.items():
        for index, (name, runs) in enumerate(by_variant.items()):
            times = [sample.seconds for sample in runs]
            mib = statistics.median(sample.peak_mib for sample in runs)
            print(
                f"{scope if index == 0 else '':<11} {LABELS[name]:<34} "
                f"{statistics.median(times):>8.3f}s {min(times):>8.3f}s {max(times):>8.3f}s "
                f"{mib:>7.1f} MiB"
            )
    print()


def verdicts(samples: Samples) -> bool:
    """Print the targets for the whole workload and the per-method ratios; True if all met."""
    overall = samples["all"]
    ok = True
    print("Targets (every start method together, ratio of medians; per-repetition range):")
    for base, target in (("(a)", TARGET_VS_FRESH), ("(b)", TARGET_VS_WARM)):
        ratio = median_seconds(overall["ours"]) / median_seconds(overall[base])
        paired = paired_ratios(overall["ours"], overall[base])
        met = ratio <= target
        ok = ok and met
        print(
            f"  ours / {base} = {ratio:5.2f}x   target <= {f'{target:g}x':<5}   "
            f"{'PASS' if met else 'FAIL'}   (per repetition {min(paired):.2f}x .. "
            f"{max(paired):.2f}x)"
        )
    methods = [scope for scope in samples if scope != "all"]
    if methods:
        print()
        print("Per start method (each measured alone; informative, no target):")
        print(f"  {'method':<11} {'(a)':>9} {'(b)':>9} {'ours':>9} {'ours/(a)':>9} {'ours/(b)':>9}")
        for method in methods:
            by = samples[method]
            a, b, o = (median_seconds(by[name]) for name in ("(a)", "(b)", "ours"))
            print(f"  {method:<11} {a:>8.3f}s {b:>8.3f}s {o:>8.3f}s {o / a:>8.2f}x {o / b:>8.2f}x")
    print()
    return ok


# --------------------------------------------------------------------------
# --phases: where the time goes.
# --------------------------------------------------------------------------


#: What ours' workers import when they start and unpickle their first task
#: (internal module names: the probe skips any that no longer exists).
WORKER_MODULES = ("pytest_mpcheck._engine.supervise", "pytest_mpcheck._checks.task")

_IMPORT_PROBE = """
import importlib, multiprocessing.pool, pickle, sys, time, traceback
start = time.perf_counter()
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
print(time.perf_counter() - start, len([m for m in sys.modules if m.startswith("pytest_mpcheck")]))
"""


def worker_import_cost(repeat: int) -> None:
    """What a fresh spawn/forkserver worker of ours pays in imports.

    Its initializer and its task live in ``pytest_mpcheck`` modules, which
    the worker imports on start-up; a worker of a plain pool has already
    imported ``multiprocessing.pool``, so only the difference is ours.
    """
    seconds: list[float] = []
    modules = 0
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, *WORKER_MODULES],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        seconds.append(float(out[0]))
        modules = int(out[1])
    print(
        f"Imports of a fresh worker of ours (on top of multiprocessing.pool): "
        f"{statistics.median(seconds) * 1000:.1f} ms, {modules} pytest_mpcheck modules; paid "
        "by every worker of every spawn/forkserver pool ours starts."
    )
    print()


def cost_model(job: Workload, repeat: int) -> None:
    """Median cost of each step of a plain ``ctx.Pool``'s life, per start method."""
    steps = ("create", "first map", "warm map", "terminate+join")
    print("Cost model of a plain ctx.Pool (median over repetitions, milliseconds):")
    print(f"  {'method':<11}" + "".join(f"{step:>16}" for step in steps))
    for method in job.methods:
        ctx = multiprocessing.get_context(method)
        times: dict[str, list[float]] = defaultdict(list)
        for _ in range(repeat):
            t0 = time.perf_counter()
            pool = ctx.Pool(job.processes)
            t1 = time.perf_counter()
            pool.map(job.square, range(job.items))
            t2 = time.perf_counter()
            warm = []
            for _ in range(5):
                t = time.perf_counter()
                pool.map(job.square, range(job.items))
                warm.append(time.perf_counter() - t)
            t3 = time.perf_counter()
            pool.terminate()
            pool.join()
            t4 = time.perf_counter()
            times["create"].append(t1 - t0)
            times["first map"].append(t2 - t1)
            times["warm map"].append(statistics.median(warm))
            times["terminate+join"].append(t4 - t3)
        print(
            f"  {method:<11}"
            + "".join(f"{statistics.median(times[step]) * 1000:>14.1f}ms" for step in steps)
        )
    print()


@contextlib.contextmanager
def engine_timers(into: dict[str, float], created: dict[str, int]) -> Iterator[None]:
    """Time the engine's pool start-up, dispatch and shutdown, per start method.

    Wraps ``_Pool.__init__``, ``_Pool.shutdown`` and ``_dispatch`` of
    ``pytest_mpcheck._engine.pools`` (private) for the duration of the block;
    profiling only, never used by the measurements.
    """
    from pytest_mpcheck._engine import pools

    pool_class: Any = pools._Pool
    init = pool_class.__init__
    shutdown = pool_class.shutdown
    dispatch = pools._dispatch

    def timed_init(self: Any, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        init(self, *args, **kwargs)
        into[f"{self.method}:create"] += time.perf_counter() - start
        created[self.method] += 1

    def timed_shutdown(self: Any, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        try:
            shutdown(self, *args, **kwargs)
        finally:
            into[f"{self.method}:shutdown"] += time.perf_counter() - start

    def timed_dispatch(pool: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return dispatch(pool, *args, **kwargs)
        finally:
            into[f"{pool.method}:map"] += time.perf_counter() - start

    pool_class.__init__ = timed_init
    pool_class.shutdown = timed_shutdown
    setattr(pools, "_dispatch", timed_dispatch)  # noqa: B010
    try:
        yield
    finally:
        pool_class.__init__ = init
        pool_class.shutdown = shutdown
        setattr(pools, "_dispatch", dispatch)  # noqa: B010


def engine_timers_available() -> bool:
    """Whether the engine still has what ``engine_timers`` wraps."""
    from pytest_mpcheck._engine import pools

    pool_class = getattr(pools, "_Pool", None)
    return (
        isinstance(pool_class, type)
        and callable(getattr(pool_class, "shutdown", None))
        and callable(getattr(pools, "_dispatch", None))
    )


def ours_phases(job: Workload, repeat: int) -> None:
    """Split ``ours`` into engine phases per start method and work in this process."""
    if not engine_timers_available():
        print("Where ours spends its time: unavailable (the engine's internals changed).\n")
        return
    runs: list[dict[str, float]] = []
    created: dict[str, int] = defaultdict(int)
    for _ in range(repeat):
        pytest_mpcheck.close_pools()
        gc.collect()
        phases: dict[str, float] = defaultdict(float)
        with engine_timers(phases, created):
            start = time.perf_counter()
            ours(job)
            total = time.perf_counter() - start
        phases["in this process (pickling, sequential run, comparison)"] = total - sum(
            phases.values()
        )
        phases["total"] = total
        runs.append(phases)
    keys = sorted({key for run in runs for key in run if ":" in key})
    keys += ["in this process (pickling, sequential run, comparison)", "total"]
    print(
        f"Where ours spends its time ({job.checks} checks, median over repetitions; "
        "create/map/shutdown summed over the checks; a pool's first map includes its "
        "workers' start-up and imports):"
    )
    for key in keys:
        values = [run.get(key, 0.0) for run in runs]
        count = ""
        if key.endswith(":create"):
            pools = created[key.partition(":")[0]] / repeat
            count = f"   ({pools:g} pool{'' if pools == 1 else 's'} per run)"
        print(f"  {key:<56} {statistics.median(values) * 1000:>9.1f} ms{count}")
    print()


# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    offered = pytest_mpcheck.available_start_methods()
    parser = argparse.ArgumentParser(
        description="Benchmark assert_map_equal against fresh and warm multiprocessing pools."
    )
    parser.add_argument("--checks", type=int, default=15, help="checks per variant (15)")
    parser.add_argument("--items", type=int, default=20, help="items mapped per check (20)")
    parser.add_argument("--processes", type=int, default=4, help="pool processes (4)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions, medians reported (5)")
    parser.add_argument(
        "--methods",
        default=",".join(offered),
        help=f"comma-separated start methods (default: {','.join(offered)})",
    )
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the per-start-method measurements"
    )
    parser.add_argument(
        "--phases", action="store_true", help="also show a cost model and ours' time per phase"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    for name in ("checks", "items", "processes", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    requested = {part.strip() for part in args.methods.split(",") if part.strip()}
    if not requested or not requested <= set(offered):
        parser.error(f"--methods: accepted {', '.join(offered)}; got {args.methods!r}")
    args.methods = tuple(method for method in offered if method in requested)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    methods: tuple[str, ...] = args.methods
    job = Workload(methods, args.checks, args.items, args.processes, square)
    scopes = {"all": job}
    if not args.no_breakdown and len(methods) > 1:
        scopes.update({method: replace(job, methods=(method,)) for method in methods})
    rss = PeakRss()

    print(
        f"pytest-mpcheck {pytest_mpcheck.__version__} map benchmark: {job.checks} checks x "
        f"{len(methods)} start methods ({', '.join(methods)}), map of square over "
        f"range({job.items}), processes={job.processes}, {args.repeat} repetitions"
    )
    print(machine())
    print()
    samples = run_all(scopes, args.repeat, rss)
    print_table(samples, rss)
    met = verdicts(samples)
    if not rss.resettable:
        print("RSS: this platform cannot reset the peak; figures are the peak so far.\n")
    if args.phases:
        cost_model(job, args.repeat)
        worker_import_cost(args.repeat)
        ours_phases(job, args.repeat)
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
