"""Deadlock analysis: the lock-order graph of a stress run, and findings in words of the run.

An order edge says that a process, holding lock A (and maybe others), took
lock B.  Edges that close a cycle (A before B somewhere, B before A
elsewhere) are a *potential* deadlock: processes running those steps at the
same time would each hold one lock and wait for the next.  That can only
happen if they can hold what they held at those steps all at once, so a
cycle counts only when the locks held at its steps are pairwise disjoint: a
common outer lock (a "gate") held at two steps keeps them apart, and the
cycle is no deadlock.  Pure functions over edges, tested on hand-made ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from pytest_mpcheck._model import Deadlock, DeadlockStep, StressRun
from pytest_mpcheck._trace.waits import LockStep

__all__ = ["LONGEST", "deadlock", "order_cycle"]

#: Locks in the longest cycle looked for.
LONGEST = 6


def order_cycle(edges: Iterable[LockStep]) -> tuple[LockStep, ...] | None:
    """A cycle of order edges whose steps could all be waiting at once; None if none.

    Each edge's ``guards`` are all the locks held when its lock was taken (its
    ``held`` among them).  Locks are tried in increasing id, so the same edges give
    the same cycle.
    """
    graph: dict[int, list[LockStep]] = defaultdict(list)
    for edge in edges:
        graph[edge.held].append(edge)

    def close(path: list[LockStep], held: frozenset[int]) -> tuple[LockStep, ...] | None:
        start, last = path[0].held, path[-1].wanted
        visited = {step.held for step in path}
        for edge in graph.get(last, ()):
            if held.intersection(edge.guards):
                continue  # a lock held at both steps: they cannot wait at the same time
            if edge.wanted == start:
                return (*path, edge)
            if edge.wanted in visited or len(path) + 1 >= LONGEST:
                continue
            found = close([*path, edge], held.union(edge.guards))
            if found is not None:
                return found
        return None

    for start in sorted(graph):
        for edge in graph[start]:
            found = close([edge], frozenset(edge.guards))
            if found is not None:
                return found
    return None


def deadlock(
    run: StressRun,
    actual: bool,
    steps: Sequence[LockStep],
    names: Mapping[int, str],
    round_number: int,
    rounds_run: int,
) -> Deadlock:
    """The finding for a cycle of ``steps``, its locks named as ``names`` says (a lock
    not there by its id), told from the step holding the lock whose name sorts first."""

    def name(lock_id: int) -> str:
        return names.get(lock_id, f"an mpcheck lock not among the arguments (#{lock_id:x})")

    cycle = [
        DeadlockStep(step.label, name(step.held), step.held_at, name(step.wanted), step.wanted_at)
        for step in steps
    ]
    # Told from the lock named first, so that the same cycle always reads the same.
    first = min(range(len(cycle)), key=lambda index: (cycle[index].held, index))
    return Deadlock(run, actual, (*cycle[first:], *cycle[:first]), round_number, rounds_run)
