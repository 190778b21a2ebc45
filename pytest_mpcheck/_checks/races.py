"""Lost-update analysis of one round's access trace.

A read-modify-write is a process's write to a location preceded by its own
read of that location (its latest read since its last write).  Two findings:

* a *lost update*: another process wrote the location between that read and
  that write, so the write was based on a stale read and overwrote it;
* an *unguarded update*: no known lock was held across the read and the
  write (no lock id with the same acquisition serial at both), and at least
  two processes update the location that way.  It is a bug even in a round
  where the timing happened to spare it.  (Requiring two unguarded updaters
  keeps code that orders a single updater by other means — an Event, a
  Queue, a join — from being blamed.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pytest_mpcheck._model import READ, Event, LostUpdate, UnguardedUpdate

__all__ = ["RoundRaces", "analyze", "shortfall", "worst_loss"]

_WINDOW = 10
# Witness windows are cut for the first few findings of a round only: they are what is shown.
_WITNESSES = 3


@dataclass
class RoundRaces:
    lost: list[LostUpdate] = field(default_factory=list)
    unguarded: list[UnguardedUpdate] = field(default_factory=list)


def analyze(events: list[Event]) -> RoundRaces:
    """Find lost and unguarded updates in one object's trace, oldest event first."""
    last_read: dict[tuple[int, int], Event] = {}
    last_write: dict[int, Event] = {}
    races = RoundRaces()
    candidates: list[tuple[int, Event, Event]] = []
    for event in events:
        for location in range(event.lo, event.hi):
            if event.op == READ:
                last_read[(event.pid, location)] = event
                continue
            read = last_read.pop((event.pid, location), None)
            previous = last_write.get(location)
            if read is not None:
                if previous is not None and previous.step > read.step:
                    window = (
                        _window(events, location, read, event, previous.pid, after=False)
                        if len(races.lost) < _WITNESSES
                        else ()
                    )
                    races.lost.append(LostUpdate(location, read, previous, event, window))
                elif not (read.foreign or event.foreign or set(read.held) & set(event.held)):
                    candidates.append((location, read, event))
            last_write[location] = event
    unguarded_by: dict[int, set[int]] = defaultdict(set)
    for location, _, write in candidates:
        unguarded_by[location].add(write.pid)
    for location, read, write in candidates:
        if len(unguarded_by[location]) > 1:
            other = min(unguarded_by[location] - {write.pid})
            window = (
                _window(events, location, read, write, other)
                if len(races.unguarded) < _WITNESSES
                else ()
            )
            races.unguarded.append(UnguardedUpdate(location, read, write, window))
    return races


def _window(
    events: list[Event], location: int, read: Event, write: Event, other: int, after: bool = True
) -> tuple[Event, ...]:
    """Accesses to ``location`` by the two processes around the read and the write.

    From the read to the write, plus the other process's nearest two accesses
    before (and, with ``after``, after), so an unguarded update shows whom it
    could have raced.
    """
    first = events[0].step

    def touches(e: Event, pids: tuple[int, ...]) -> bool:
        return e.pid in pids and e.lo <= location < e.hi

    before = [e for e in events[: read.step - first] if touches(e, (other,))][-2:]
    span = events[read.step - first : write.step - first + 1]
    inside = [e for e in span if touches(e, (read.pid, other))]
    later = [e for e in events[write.step - first + 1 :] if touches(e, (other,))][:2]
    if len(inside) > _WINDOW:
        inside = inside[: _WINDOW // 2] + inside[-(_WINDOW // 2) :]
    return (*before, *inside, *(later if after else ()))


def shortfall(events: list[Event], location: int) -> float | None:
    """How far the final value of ``location`` falls short of what its updates add up to.

    Every write must be a read-modify-write of a number (its change is the written
    value minus the value its process read), the first access a read of the initial
    value, and the trace complete; otherwise the loss cannot be counted: None.
    """
    if not events or events[0].step != 0:
        return None
    initial: float | None = None
    final: float | None = None
    changes: float = 0
    reads: dict[int, float] = {}
    for event in events:
        if not event.lo <= location < event.hi:
            continue
        value = event.value
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if event.hi - event.lo != 1 or not numeric:
            return None
        if event.op == READ:
            if initial is None and final is None:
                initial = value
            reads[event.pid] = value
            continue
        read = reads.pop(event.pid, None)
        if read is None:
            return None
        changes += value - read
        final = value
    if initial is None or final is None:
        return None
    return initial + changes - final


def worst_loss(rounds: list[tuple[float | None, int]]) -> tuple[float, bool]:
    """The worst of racy rounds given as ``(shortfall or None, stale writes)``:
    ``(largest shortfall, True)`` when every round's loss could be counted, else
    ``(most writes based on a stale read, False)``."""
    shortfalls = [short for short, _ in rounds]
    if all(short is not None and short > 0 for short in shortfalls):
        return max(short for short in shortfalls if short is not None), True
    return max(stale for _, stale in rounds), False
