"""The benchmark run by ``bench_large_map.py``; see that file for what it measures."""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import multiprocessing
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

from _runs import machine
from _work import square

import pytest_mpcheck

#: ours / base at most this much, per start method and via.
TARGET = 2.0
VIAS = ("map", "imap", "imap_unordered", "starmap", "map_async", "executor")

#: A baseline that takes longer than this fails instead of hanging.
BASELINE_TIMEOUT = 600.0

# The baselines fork while no pool thread is alive; this only keeps Python
# 3.12+'s fork-with-threads warning from cluttering the table.
warnings.filterwarnings(
    "ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning
)


def task_size(items: int, processes: int) -> int:
    """Items per task of the check (``Pool.map``'s default chunk size)."""
    size, extra = divmod(items, processes * 4)
    return max(1, size + bool(extra))


def baseline(method: str, via: str, items: int, processes: int) -> None:
    """The plain pool map of ``via`` and the comparison a test author would write."""
    ctx = multiprocessing.get_context(method)
    data = range(items)
    if via == "executor":
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=ctx) as executor:
            got = list(executor.map(square, data, chunksize=task_size(items, processes)))
    else:
        with ctx.Pool(processes) as pool:
            if via == "starmap":
                got = pool.starmap_async(square, [(x,) for x in data]).get(BASELINE_TIMEOUT)
            elif via in ("map", "map_async"):
                got = pool.map_async(square, data).get(BASELINE_TIMEOUT)
            else:
                stream = (pool.imap if via == "imap" else pool.imap_unordered)(square, data)
                got = [stream.next(BASELINE_TIMEOUT) for _ in data]
    expected = list(map(square, data))
    same = Counter(got) == Counter(expected) if via == "imap_unordered" else got == expected
    if not same:
        raise AssertionError(f"{method}/{via}: the pool's results differ")


def ours(method: str, via: str, items: int, processes: int) -> None:
    data: Sequence[object] = [(x,) for x in range(items)] if via == "starmap" else range(items)
    pytest_mpcheck.assert_map_equal(
        square, data, via=via, processes=processes, start_methods=method
    )
    pytest_mpcheck.close_pools()


Job = tuple[str, str, int, int]  # start method, via, items, processes


def measure(run: Callable[[str, str, int, int], None], job: Job) -> float:
    """Seconds of one run, from no warm pool (and a collected heap) to its own cleanup."""
    pytest_mpcheck.close_pools()
    gc.collect()
    start = time.perf_counter()
    run(*job)
    return time.perf_counter() - start


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    offered = pytest_mpcheck.available_start_methods()
    parser = argparse.ArgumentParser(
        description="Benchmark a large assert_map_equal against a plain pool map, per via."
    )
    parser.add_argument("--items", type=int, default=100_000, help="items mapped (100000)")
    parser.add_argument("--processes", type=int, default=4, help="pool processes (4)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions, medians (3)")
    parser.add_argument("--methods", default=",".join(offered), help="start methods")
    parser.add_argument("--vias", default=",".join(VIAS), help="vias")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    for name in ("items", "processes", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    methods = [part.strip() for part in args.methods.split(",") if part.strip()]
    vias = [part.strip() for part in args.vias.split(",") if part.strip()]
    if not methods or not set(methods) <= set(offered):
        parser.error(f"--methods: accepted {', '.join(offered)}; got {args.methods!r}")
    if not vias or not set(vias) <= set(VIAS):
        parser.error(f"--vias: accepted {', '.join(VIAS)}; got {args.vias!r}")
    args.methods, args.vias = methods, vias
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"pytest-mpcheck {pytest_mpcheck.__version__} large map benchmark: square over "
        f"range({args.items}), processes={args.processes}, {args.repeat} repetitions; "
        f"executor baseline chunksize {task_size(args.items, args.processes)}, "
        "imap/imap_unordered baseline chunksize 1 (the pool's default, as the check's chunks)"
    )
    print(machine())
    print()
    print(f"  {'method':<11} {'via':<15} {'base':>9} {'ours':>9} {'ours/base':>10}  target")
    ok = True
    for method in args.methods:
        for via in args.vias:
            job: Job = (method, via, args.items, args.processes)
            measure(ours, job)  # warm-up, not recorded: imports, page cache
            base_times: list[float] = []
            our_times: list[float] = []
            for rep in range(args.repeat):
                pair = [(baseline, base_times), (ours, our_times)]
                for run, times in pair if rep % 2 == 0 else pair[::-1]:
                    times.append(measure(run, job))
            base = statistics.median(base_times)
            mine = statistics.median(our_times)
            met = mine <= TARGET * base
            ok = ok and met
            print(
                f"  {method:<11} {via:<15} {base:>8.3f}s {mine:>8.3f}s {mine / base:>9.2f}x  "
                f"<= {TARGET:g}x {'PASS' if met else 'FAIL'}",
                flush=True,
            )
    print()
    print("All targets met." if ok else "Some targets missed.")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
