"""The lost/unguarded-update analysis, on hand-made access traces.

Each trace is what one object's ring buffer would hold for one round: steps in
memory order, the process, read or write, the location range, the value, and
the known locks held (lock id, acquisition serial).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_mpcheck._checks.races import (
    LostUpdate,
    UnguardedUpdate,
    analyze,
    shortfall,
    worst_loss,
)
from pytest_mpcheck._report.witness import histogram, witness_table
from pytest_mpcheck._trace.codec import READ, WRITE, Event

A, B, C = 101, 202, 303
LOCK = 7


class Trace:
    """Builds an event list, numbering steps in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def _add(
        self,
        pid: int,
        op: int,
        value: object,
        held: tuple[tuple[int, int], ...],
        foreign: bool,
        lo: int,
        hi: int | None,
    ) -> Event:
        event = Event(
            step=len(self.events),
            proc=pid // 101,
            pid=pid,
            op=op,
            lo=lo,
            hi=lo + 1 if hi is None else hi,
            value=value,
            file="counter.py",
            line=3,
            held=held,
            foreign=foreign,
        )
        self.events.append(event)
        return event

    def read(
        self,
        pid: int,
        value: object = 0,
        held: tuple[tuple[int, int], ...] = (),
        foreign: bool = False,
        lo: int = 0,
        hi: int | None = None,
    ) -> Event:
        return self._add(pid, READ, value, held, foreign, lo, hi)

    def write(
        self,
        pid: int,
        value: object = 1,
        held: tuple[tuple[int, int], ...] = (),
        foreign: bool = False,
        lo: int = 0,
        hi: int | None = None,
    ) -> Event:
        return self._add(pid, WRITE, value, held, foreign, lo, hi)


# --- lost updates ---------------------------------------------------------------


def test_a_write_based_on_a_stale_read_is_a_lost_update() -> None:
    t = Trace()
    stale = t.read(A, 0)
    t.read(B, 0)
    overwritten = t.write(B, 1)
    lost = t.write(A, 1)
    races = analyze(t.events)
    assert len(races.lost) == 1
    found = races.lost[0]
    assert isinstance(found, LostUpdate)
    assert (found.location, found.read, found.overwritten, found.write) == (
        0,
        stale,
        overwritten,
        lost,
    )
    # The witness runs from the stale read to the write that lost the other one.
    assert found.window[0] == stale
    assert found.window[-1] == lost
    assert overwritten in found.window


def test_a_lost_update_is_found_even_when_a_lock_is_held_at_both_ends() -> None:
    # Lock held at the read and at the write, but released in between: another
    # process got in and its write was lost.  Locks do not excuse a lost update.
    t = Trace()
    t.read(A, 0, held=((LOCK, 1),))
    t.read(B, 0, held=((LOCK, 2),))
    t.write(B, 1, held=((LOCK, 2),))
    t.write(A, 1, held=((LOCK, 3),))
    assert len(analyze(t.events).lost) == 1


def test_the_only_writer_of_a_location_never_loses_an_update() -> None:
    t = Trace()
    for value in range(3):
        t.read(A, value)
        t.write(A, value + 1)
    t.read(B, 3)
    t.read(C, 3)
    races = analyze(t.events)
    assert races.lost == []
    assert races.unguarded == []


def test_a_write_without_a_read_loses_nothing() -> None:
    # Plain stores (``x.value = 5``) are not read-modify-writes.
    t = Trace()
    t.write(A, 5)
    t.write(B, 6)
    t.write(A, 7)
    races = analyze(t.events)
    assert races.lost == []
    assert races.unguarded == []


# --- unguarded updates ----------------------------------------------------------


def test_the_same_lock_acquisition_across_read_and_write_guards_the_update() -> None:
    t = Trace()
    serial = 0
    for _ in range(3):
        for pid in (A, B):
            serial += 1
            value = serial - 1
            t.read(pid, value, held=((LOCK, serial),))
            t.write(pid, value + 1, held=((LOCK, serial),))
    races = analyze(t.events)
    assert races.lost == []
    assert races.unguarded == []


def test_a_lock_released_and_reacquired_between_read_and_write_guards_nothing() -> None:
    # ``with lock: x = v.value`` then ``with lock: v.value = x + 1``: the lock
    # is held at both accesses, but not across them (different serials).
    t = Trace()
    t.read(A, 0, held=((LOCK, 1),))
    t.write(A, 1, held=((LOCK, 2),))
    t.read(B, 1, held=((LOCK, 3),))
    t.write(B, 2, held=((LOCK, 4),))
    races = analyze(t.events)
    assert races.lost == []
    assert [(u.read.pid, u.write.pid) for u in races.unguarded] == [(A, A), (B, B)]
    assert all(isinstance(u, UnguardedUpdate) for u in races.unguarded)


def test_two_unguarded_updaters_are_found_although_no_update_was_lost() -> None:
    t = Trace()
    t.read(A, 0)
    t.write(A, 1)
    t.read(B, 1)
    t.write(B, 2)
    races = analyze(t.events)
    assert races.lost == []
    assert len(races.unguarded) == 2
    first = races.unguarded[0]
    assert (first.location, first.read.step, first.write.step) == (0, 0, 1)
    # The witness shows the other updater's accesses too.
    assert {event.pid for event in first.window} == {A, B}


def test_a_different_lock_at_each_end_guards_nothing() -> None:
    t = Trace()
    t.read(A, 0, held=((LOCK, 1),))
    t.write(A, 1, held=((LOCK + 1, 2),))
    t.read(B, 1, held=((LOCK, 3),))
    t.write(B, 2, held=((LOCK + 1, 4),))
    assert len(analyze(t.events).unguarded) == 2


def test_one_common_lock_among_several_held_guards_the_update() -> None:
    t = Trace()
    t.read(A, 0, held=((LOCK, 1), (LOCK + 1, 2)))
    t.write(A, 1, held=((LOCK, 1), (LOCK + 1, 3)))
    t.read(B, 1, held=((LOCK, 4),))
    t.write(B, 2, held=((LOCK, 4),))
    assert analyze(t.events).unguarded == []


@pytest.mark.parametrize("where", ["read", "write"])
def test_a_lock_the_analysis_cannot_see_is_never_blamed(where: str) -> None:
    # ``foreign``: the process held a multiprocessing lock that is not ours, so
    # the update may be guarded; only an actual lost update would count.
    t = Trace()
    for pid, value in ((A, 0), (B, 1)):
        t.read(pid, value, foreign=where == "read")
        t.write(pid, value + 1, foreign=where == "write")
    races = analyze(t.events)
    assert races.lost == []
    assert races.unguarded == []


def test_a_single_unguarded_updater_beside_a_plain_writer_is_not_blamed() -> None:
    # Only one process does read-modify-writes; the other only stores.  Code
    # that orders them by other means (an Event, a Queue, a join) is fine.
    t = Trace()
    t.read(A, 0)
    t.write(A, 1)
    t.write(B, 10)
    t.read(A, 10)
    t.write(A, 11)
    races = analyze(t.events)
    assert races.lost == []
    assert races.unguarded == []


def test_a_single_unguarded_updater_beside_a_guarded_updater_is_not_blamed() -> None:
    t = Trace()
    t.read(A, 0)
    t.write(A, 1)
    t.read(B, 1, held=((LOCK, 1),))
    t.write(B, 2, held=((LOCK, 1),))
    assert analyze(t.events).unguarded == []


# --- locations ------------------------------------------------------------------


def test_processes_updating_their_own_slots_do_not_race() -> None:
    t = Trace()
    for round_ in range(3):
        for pid, slot in ((A, 0), (B, 1), (C, 2)):
            t.read(pid, round_, lo=slot)
            t.write(pid, round_ + 1, lo=slot)
    races = analyze(t.events)
    assert races.lost == []
    assert races.unguarded == []


def test_a_slice_access_covers_every_location_of_the_slice() -> None:
    # A reads slots 0..3 at once, B writes slot 2, A writes slots 0..3 back.
    t = Trace()
    t.read(A, None, lo=0, hi=4)
    t.read(B, 0, lo=2)
    t.write(B, 1, lo=2)
    t.write(A, None, lo=0, hi=4)
    races = analyze(t.events)
    assert [lost.location for lost in races.lost] == [2]


def test_lost_updates_on_several_locations_are_reported_per_location() -> None:
    t = Trace()
    for slot in (0, 1):
        t.read(A, 0, lo=slot)
        t.read(B, 0, lo=slot)
        t.write(B, 1, lo=slot)
        t.write(A, 1, lo=slot)
    assert [lost.location for lost in analyze(t.events).lost] == [0, 1]


def test_an_empty_trace_has_no_races() -> None:
    races = analyze([])
    assert races.lost == []
    assert races.unguarded == []


# --- the witness table ----------------------------------------------------------


def test_the_witness_table_has_a_column_per_process_and_marks_the_lost_write() -> None:
    t = Trace()
    t.read(A, 0)
    t.read(B, 0)
    t.write(B, 1)
    t.write(A, 1)
    lost = analyze(t.events).lost[0]
    marks = {lost.read.step: "stale read", lost.write.step: "overwrites step 2"}
    lines = witness_table(lost.window, marks, ".value")
    matcher = pytest.LineMatcher(lines)
    matcher.fnmatch_lines(
        [
            "| step | process 1 * | process 2 * |",
            "|---*|",
            "|    0 | read .value 0  (counter.py:3) * |  <- stale read",
            "|    1 | * | read .value 0  (counter.py:3) * |",
            "|    2 | * | write .value 1  (counter.py:3) * |",
            "|    3 | write .value 1  (counter.py:3) * |  <- overwrites step 2",
        ]
    )


def test_the_histogram_lists_the_most_frequent_outcomes_first() -> None:
    assert histogram([("400", 13), ("399", 9)]) == "400 x13, 399 x9"
    many = [(str(n), 1) for n in range(10)]
    assert histogram(many, limit=3) == "0 x1, 1 x1, 2 x1, ... (7 more)"


# --- how much a round lost ----------------------------------------------------------------


def _increments(t: Trace, pid: int, read: int) -> None:
    t.read(pid, read)
    t.write(pid, read + 1)


def test_the_shortfall_is_what_the_updates_add_up_to_minus_the_final_value() -> None:
    t = Trace()
    _increments(t, A, 0)  # 1
    t.read(A, 1)
    t.read(B, 1)
    t.write(A, 2)
    t.write(B, 2)  # lost A's increment
    _increments(t, C, 2)  # 3
    assert shortfall(t.events, 0) == 1
    assert len(analyze(t.events).lost) == 1


def test_the_shortfall_of_a_clean_round_is_zero() -> None:
    t = Trace()
    for value, pid in enumerate((A, B, A, C)):
        _increments(t, pid, value)
    assert shortfall(t.events, 0) == 0


def test_changes_of_any_size_and_sign_add_up() -> None:
    t = Trace()
    t.read(A, 10)
    t.read(B, 10)
    t.write(A, 5)  # -5
    t.write(B, 13)  # +3, based on the stale 10: final 13 instead of 8
    assert shortfall(t.events, 0) == -5


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda t: (t.write(A, 1), t.read(B, 1), t.write(B, 2)), id="blind write"),
        pytest.param(lambda t: (t.read(A, b"x"), t.write(A, b"y")), id="not a number"),
        pytest.param(lambda t: (t.read(A, [0, 0], hi=2), t.write(A, 1)), id="slice"),
        pytest.param(lambda t: (t.read(A, 0),), id="no write"),
    ],
)
def test_a_shortfall_that_cannot_be_counted_is_none(build: Any) -> None:
    t = Trace()
    build(t)
    assert shortfall(t.events, 0) is None


def test_a_wrapped_trace_cannot_count_a_shortfall() -> None:
    t = Trace()
    _increments(t, A, 0)
    assert shortfall(t.events[1:], 0) is None


def test_worst_loss_counts_shortfalls_only_when_every_round_has_one() -> None:
    assert worst_loss([(3, 5), (7, 9)]) == (7, True)
    assert worst_loss([(3, 5), (None, 9)]) == (9, False)
    assert worst_loss([(0, 2)]) == (2, False)
