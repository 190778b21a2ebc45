"""Does ``stress`` catch the classic guide's missing lock, every time, and how fast?

Workload: the counter of the ``multiprocessing`` guide, 4 processes each
doing ``counter.value += 1`` 100 times (``count_unlocked`` in ``_work.py``),
and its fixed twin that holds ``counter.get_lock()`` across the increment
(``count_locked``).  Per start method (fork, spawn, forkserver), ``--runs``
times (100):

plain   the broken program run as-is: ``ctx.Value("i", 0)``, 4 ``ctx.Process``,
        start, join; a run "detects" the bug iff the final value is not 400;
broken  ``stress(count_unlocked, counter, processes=4, start_methods=method,
        expect=lambda: counter.value == 400)`` with default rounds and
        timeout, ``counter = pytest_mpcheck.Value("i", 0)``; detected iff it
        raises ``MpCheckError`` (the class is recorded);
locked  the same with ``count_locked``: any ``MpCheckError`` is a false alarm.

Each run draws a fresh seed, as a fresh pytest session does (``--seed N``
fixes one).  Printed per start method: detection rates of plain and
stress, false alarms, the median and 90th percentile of a stress call on the
locked program and of the time to failure on the broken one, the plain
program's median as a reference, and PASS/FAIL against the targets: 100%
detection, 0 false alarms, median call <= 1 s on correct code, median time
to failure <= 0.5 s.  ``--phases`` adds where a stress call's time goes.

Run from the repository root with pytest-mpcheck installed::

    python benchmarks/bench_stress.py              # exit code 0 unless it errors
    python benchmarks/bench_stress.py --runs 10    # a quick look
    python benchmarks/bench_stress.py --check      # exit code 1 if a target is missed

This file stays tiny on purpose: spawn children re-import the ``__main__``
module, and a heavy one would slow down every process the benchmark starts.
The benchmark itself is in ``_bench_stress.py``, the workers in ``_work.py``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from _bench_stress import main

    sys.exit(main())
