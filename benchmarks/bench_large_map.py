"""What a large ``assert_map_equal`` costs, against a plain pool map, per start method and via.

Workload: ``square`` (in ``_work.py``) over ``range(--items)`` (100,000) with
``--processes`` workers (4).  For every start method and every via, side by
side in one run:

base  a fresh ``ctx.Pool(processes)`` used as a context manager, its
      ``map``/``imap``/``imap_unordered``/``starmap``/``map_async`` (with the
      chunksize the check uses for that via: the pool's own default), or a
      ``ProcessPoolExecutor(processes, mp_context=ctx).map`` with the chunk
      size the check's tasks have; then the ``==`` comparison with
      ``list(map(square, items))`` (a multiset for ``imap_unordered``);
ours  ``pytest_mpcheck.assert_map_equal(square, items, via=via,
      processes=processes, start_methods=method)``, then ``close_pools()``.

Printed: medians over ``--repeat`` (3) interleaved repetitions, and the ratio
ours/base against the target (at most 2x), with PASS/FAIL.

    python benchmarks/bench_large_map.py            # exit code 0 unless it errors
    python benchmarks/bench_large_map.py --check    # exit code 1 if a target is missed

This file stays tiny: spawn workers re-import ``__main__``.  The benchmark is
in ``_bench_large_map.py``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from _bench_large_map import main

    sys.exit(main())
