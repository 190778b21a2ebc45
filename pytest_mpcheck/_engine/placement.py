"""Which worker runs which chunks of a map, and in what order: chosen from the seed.

A real pool hands out its chunks first come, first served: each worker runs
the chunks it takes in their order, and which worker takes the next one is up
to the operating system.  So any split of the chunks among the workers, each
running its share in order, is a run a real pool could make.  Instead of one
split by chance, the oracle tries a few on purpose, the same for the same seed:

* in turn: chunk k goes to worker k mod n, so every worker is busy, no worker
  runs two neighbouring chunks, and every chunk meets a worker that did not run
  the one before it;
* a seeded random split;
* one worker running every chunk in order, the others idle (a busy machine, or
  a pool whose other workers are slow to start).

Each worker runs its share of each placement in this order, in one task (see
``pools.Engine.run_tasks``): what one placement leaves in a worker carries over
to the next, as it would in a pool used twice.

The first placement runs every chunk.  On a large input the later two run only
the chunks of its first ``LATER_ITEMS`` items (at least two chunks): they come
after the first, so what it left in the workers still shows in them, and the
check costs about one map, not three.

Splits that come out the same (one worker, or one chunk) are tried once.
"""

from __future__ import annotations

import random
from typing import Literal, NamedTuple

__all__ = ["LATER_ITEMS", "Kind", "Plan", "plans"]

#: How many leading items the placements after the first run, at least (whole chunks).
LATER_ITEMS = 2000

#: Why a placement was chosen: chunks dealt in turn, seeded random, one worker.
Kind = Literal["busy", "random", "one"]


class Plan(NamedTuple):
    """One placement of the first ``chunks`` chunks: ``workers[w]`` is the chunk numbers
    worker w+1 runs, in order."""

    kind: Kind
    chunks: int
    workers: tuple[tuple[int, ...], ...]


def plans(chunks: int, processes: int, seed: int, method: str, later: int) -> list[Plan]:
    """The placements of ``chunks`` chunks on ``processes`` workers tried under ``method``,
    the first of every chunk, the others of the first ``later``.

    A function of its arguments only, so the same seed tries the same placements.
    """
    rng = random.Random(f"placement/{seed}/{method}/{chunks}/{processes}/{later}")
    shares: list[list[int]] = [[] for _ in range(processes)]
    for chunk, worker in enumerate(rng.choices(range(processes), k=later)):
        shares[worker].append(chunk)
    # A worker runs its shares one after the other: the one with the least to do
    # before runs everything, which keeps the check's longest worker short.
    one = min(range(processes), key=lambda w: len(range(w, chunks, processes)) + len(shares[w]))
    candidates = [
        Plan("busy", chunks, tuple(tuple(range(w, chunks, processes)) for w in range(processes))),
        Plan("random", later, tuple(map(tuple, shares))),
        Plan(
            "one", later, tuple(tuple(range(later)) if w == one else () for w in range(processes))
        ),
    ]
    tried: list[Plan] = []
    for plan in candidates:
        if all(_shape(plan) != _shape(other) for other in tried):
            tried.append(plan)
    return tried


def _shape(plan: Plan) -> tuple[int, frozenset[tuple[int, ...]]]:
    """What a placement does, whatever its workers' numbers."""
    return plan.chunks, frozenset(share for share in plan.workers if share)
