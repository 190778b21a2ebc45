"""What ``assert_map_equal`` costs, against plain ``multiprocessing.Pool``, in one run.

Workload: ``--checks`` checks (15) of a ``map`` of ``square`` over
``range(--items)`` (20) with ``--processes`` workers (4), under every start
method the platform offers (fork, spawn, forkserver).  Three variants do it:

(a)  "what test authors write today": for every check and start method, a
     fresh ``ctx.Pool(processes)`` used as a context manager, its ``map``
     compared with ``list(map(square, items))``;
(b)  "the limit": one warm ``ctx.Pool(processes)`` per start method, created
     at the start of the measurement, reused by every check, terminated and
     joined at the end (creation and shutdown are both counted);
ours ``pytest_mpcheck.assert_map_equal(square, range(items),
     processes=processes, start_methods=methods)`` once per check, starting
     with no warm pool and ending with ``close_pools()`` (both counted).

Each variant runs ``--repeat`` times (5), interleaved in a rotating order so
the drift of a shared, noisy machine spreads over all of them.  Printed:
medians, the ratios ours/(a) and ours/(b) against the targets (<= 0.35x of
(a), <= 3x of (b)) with PASS/FAIL, the same figures per start method, and
the peak RSS of this process.  ``--phases`` adds where the time goes.

Run from the repository root with pytest-mpcheck installed::

    python benchmarks/bench_map.py            # exit code 0 unless it errors
    python benchmarks/bench_map.py --check    # exit code 1 if a target is missed

This file stays tiny on purpose: spawn workers re-import the ``__main__``
module, and a heavy one would slow every baseline pool down.  The benchmark
itself is in ``_bench_map.py``, the mapped function in ``_work.py``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from _bench_map import main

    sys.exit(main())
