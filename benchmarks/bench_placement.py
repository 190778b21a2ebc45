"""Placement against the pool's own: per-process state bugs in ``Pool.map``.

The guide's three functions that keep state from one task to the next in their
worker process (``examples/broken``: a base remembered from the first item, a
running balance in module globals, a cache keyed on ``id(item)``) and their
self-contained twins (``examples/correct``).  Per start method and program,
``--runs`` times (50), side by side in one run:

plain   a fresh ``ctx.Pool(2)`` and its ``map`` with the example's chunksize,
        against ``list(map(...))`` in this process: "detected" iff they differ;
check   ``assert_map_equal(...)`` with the same arguments and a fresh seed
        (placements chosen from the seed);
twin    the same check of the fixed function: any finding is a false alarm.

Printed: detection rates, false alarms, the median time to failure and the
median call on the twin; then whether one seed gives one failure (four checks
with the same seed, two of them beside busy processes).

Run from the repository root with pytest-mpcheck installed::

    python benchmarks/bench_placement.py             # a few minutes
    python benchmarks/bench_placement.py --runs 10   # a quick look
    python benchmarks/bench_placement.py --check     # exit code 1 if a target is missed

This file stays tiny: spawn children re-import the ``__main__`` module.  The
benchmark is in ``_bench_placement.py``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    examples = os.path.join(os.path.dirname(here), "examples")
    # The programs are the examples'; spawned children inherit this path.
    for path in (here, os.path.join(examples, "broken"), os.path.join(examples, "correct")):
        if path not in sys.path:
            sys.path.insert(0, path)
    from _bench_placement import main

    sys.exit(main())
