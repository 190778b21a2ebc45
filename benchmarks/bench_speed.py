"""What tracing costs, side by side with the plain program, in one run.

Three figures, each against its plain baseline and its target:

access  one ``with v.get_lock(): v.value += 1`` on ``pytest_mpcheck.Value``
        against the same on ``multiprocessing.Value`` (target: at most 4x);
stress  ``stress`` of the guide's locked counter (4 processes x 100 locked
        increments) with default settings under every start method, against
        the plain program (4 processes doing the same on a plain
        ``multiprocessing.Value``, started and joined) run once per start
        method (target: at most 3x); both plain figures are measured in a
        process that never imports pytest_mpcheck, which watches the
        ``multiprocessing`` locks of a process it traces in;
member  a spawn or forkserver process that receives what a stress member
        receives and prepares its first round, against a bare process
        (target: at most 20 ms more).

Run from the repository root with pytest-mpcheck installed::

    python benchmarks/bench_speed.py            # exit code 0 unless it errors
    python benchmarks/bench_speed.py --check    # exit code 1 if a target is missed

This file stays tiny on purpose: spawn children re-import the ``__main__``
module.  The benchmark itself is in ``_bench_speed.py``, the workers in
``_work.py``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from _bench_speed import main

    sys.exit(main())
