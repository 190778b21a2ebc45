"""Controlled against free schedules: detection, false alarms, time, one seed one failure.

Small broken programs whose fixed twins are correct (the test suite's, in
``tests/_schedule_targets.py`` and ``tests/_stress_targets.py``):
a check-then-act, a publication order, a pair of slots that must move
together, and the guide's unlocked counter.  Per start method and program,
``--runs`` times (50), side by side in one run:

plain       the broken program as it is, in plain ``multiprocessing`` processes,
            once: "detected" iff its expectation is false afterwards;
free        ``stress(..., schedule="free")`` with default rounds, a fresh seed;
controlled  ``stress(...)``, the default schedule, a fresh seed;

and each twin under free and controlled: any finding is a false alarm.
Printed: detection rates, false alarms, the median time to failure and the
median call on the twin; then, for the controlled schedule, whether one seed
gives one failure (four runs with the same seed, two of them beside busy
processes) and whether a replay token reproduces the witness (10 of 10).

Run from the repository root with pytest-mpcheck installed::

    python benchmarks/bench_schedules.py             # several minutes
    python benchmarks/bench_schedules.py --runs 10   # a quick look
    python benchmarks/bench_schedules.py --check     # exit code 1 if a target is missed

This file stays tiny: spawn children re-import the ``__main__`` module.  The
benchmark is in ``_bench_schedules.py``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    # The programs are the test suite's; spawned children inherit this path.
    for path in (here, os.path.join(os.path.dirname(here), "tests")):
        if path not in sys.path:
            sys.path.insert(0, path)
    from _bench_schedules import main

    sys.exit(main())
