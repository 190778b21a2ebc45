"""The access trace on its own: the record codec, the access policy, the seed's way in."""

from __future__ import annotations

import contextvars
import ctypes
import multiprocessing
from typing import Any

import pytest

import pytest_mpcheck
from _stress_targets import foreign_after_calm
from pytest_mpcheck import _model
from pytest_mpcheck._model import WRITE
from pytest_mpcheck._trace import codec, policy as policy_module
from pytest_mpcheck._trace.codec import (
    RECORD,
    Fields,
    decode,
    encode_held,
    encode_value,
)
from pytest_mpcheck._trace.locks import BOOK
from pytest_mpcheck._trace.policy import AccessPolicy, Tracing, configured, current, start_round
from pytest_mpcheck._trace.ring import Trace


def test_the_codec_spells_the_operations_as_the_records_do() -> None:
    assert (codec.READ, codec.WRITE) == (_model.READ, _model.WRITE)


@pytest.mark.parametrize("value", [7, -(2**63), 2.5, b"abc", None])
def test_a_record_decodes_to_the_event_it_was_packed_from(value: object) -> None:
    kind, ival, fval = encode_value(value)
    fields = Fields(
        proc=3,
        pid=4242,
        op=WRITE,
        kind=kind,
        lo=2,
        hi=5,
        ival=ival,
        fval=fval,
        file=99,
        line=17,
        foreign=1,
        nheld=2,
        held=encode_held([(11, 1), (12, 8)]),
    )
    plain = fields._replace(kind=encode_value(1)[0], ival=1, file=98, foreign=0, nheld=0, held=b"")
    buffer = bytearray(RECORD.size * 2)
    RECORD.pack_into(buffer, 0, *plain)
    RECORD.pack_into(buffer, RECORD.size, *fields)
    first, event = decode(bytes(buffer), 6, {99: "mod.py"})
    assert event._asdict() == {
        "step": 7,
        "proc": 3,
        "pid": 4242,
        "op": WRITE,
        "lo": 2,
        "hi": 5,
        "value": value,
        "file": "mod.py",
        "line": 17,
        "held": ((11, 1), (12, 8)),
        "foreign": True,
    }
    assert (first.step, first.value, first.file, first.held, first.foreign) == (
        6,
        1,
        "<unknown file>",
        (),
        False,
    )


def test_a_full_ring_keeps_the_newest_records_oldest_first() -> None:
    trace = Trace(seed=0, capacity=5)
    box = ctypes.c_int(0)

    def store(number: int) -> None:  # as a Value does: the line recorded is its caller's
        trace.record(WRITE, 0, 1, box, "value", number)

    for number in range(12):
        store(number)
    events = trace.events()
    assert [(event.step, event.value) for event in events] == [(n, n) for n in range(7, 12)]
    assert {event.file for event in events} == {__file__}


class Recorder(AccessPolicy):
    """Observes every access point, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def read(self, lo: int, hi: int, holding: bool) -> None:
        self.seen.append(("read", lo, hi, holding))

    def write(self, lo: int, hi: int, holding: bool) -> None:
        self.seen.append(("write", lo, hi, holding))

    def acquire(self, lock_id: int, blocking: bool, reentrant: bool) -> bool:
        self.seen.append(("acquire", lock_id, blocking, reentrant))
        return True

    def release(self, lock_id: int) -> None:
        self.seen.append(("release", lock_id))

    def wait_free(self, lock_id: int) -> None:
        self.seen.append(("wait for", lock_id))


def test_the_policy_sees_every_read_write_acquire_and_release_in_order() -> None:
    """Acquires before the lock is taken, releases after it is given back, and an access
    that takes the object's own lock for itself asks first (a scheduler may make it wait)."""
    counter = pytest_mpcheck.Value("i", 0)
    slots = pytest_mpcheck.Array("i", 4, lock=False)
    guard = pytest_mpcheck.Lock()
    recorder = Recorder()
    with configured(Tracing(policy=recorder)):
        with counter.get_lock():
            counter.value += 1
        slots[2] = counter.value
        with guard:
            slots[1:3] = [5, 6]
    lock_id, guard_id = counter.get_lock()._id, guard._id
    assert recorder.seen == [
        ("acquire", lock_id, True, True),
        ("read", 0, 1, True),
        ("write", 0, 1, True),
        ("release", lock_id),
        ("wait for", lock_id),
        ("read", 0, 1, False),
        ("write", 2, 3, False),
        ("acquire", guard_id, True, False),
        ("write", 1, 3, True),
        ("release", guard_id),
    ]
    assert current().policy is not recorder  # the block restored what was there


def _pauses(seed: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Which of 300 unguarded reads the noise of a round with ``seed`` pauses after."""
    paused: list[int] = []
    monkeypatch.setattr(policy_module.os, "sched_yield", lambda: paused.append(len(done)))
    monkeypatch.setattr(policy_module.time, "sleep", lambda _s: paused.append(len(done)))
    counter = pytest_mpcheck.Value("i", 0, lock=False)
    done: list[None] = []

    def run() -> None:
        start_round(seed, 1, 0)
        for _ in range(300):
            counter.value  # noqa: B018
            done.append(None)

    contextvars.copy_context().run(run)
    return paused


def test_the_seed_reaches_the_noise_without_any_global(monkeypatch: pytest.MonkeyPatch) -> None:
    before = current()
    first, second, again = (_pauses(seed, monkeypatch) for seed in (1, 2, 1))
    assert first
    assert second
    assert first != second
    assert first == again
    assert current() == before


def _what_a_forked_child_knows(lock: Any, conn: Any) -> None:
    fresh = (BOOK.watching, lock in BOOK.foreign, BOOK.held, BOOK.synced)
    with lock:
        conn.send((*fresh, BOOK.foreign_lock_held()))


def test_a_forked_child_keeps_what_its_parent_knew_of_primitives_and_holds_nothing() -> None:
    ctx = multiprocessing.get_context("fork")
    users_lock = ctx.Lock()
    BOOK.watch()
    parent_end, child_end = ctx.Pipe()
    with pytest_mpcheck.Lock():  # held here, not in the child
        child = ctx.Process(target=_what_a_forked_child_knows, args=(users_lock, child_end))
        child.start()
    try:
        assert parent_end.poll(60)
        assert parent_end.recv() == (True, True, {}, False, True)
    finally:
        child.join(60)
        parent_end.close()
        child_end.close()


class _Refusing:
    """A lock whose acquire is interrupted."""

    def acquire(self, *args: object) -> bool:
        raise KeyboardInterrupt

    def release(self) -> None:
        raise AssertionError("never acquired")


def test_an_interrupted_acquire_leaves_nothing_booked_as_held() -> None:
    guard = pytest_mpcheck.Lock(_Refusing())
    before = dict(BOOK.held)
    with pytest.raises(KeyboardInterrupt), guard:
        pass
    assert BOOK.held == before


def test_a_users_lock_made_after_an_access_with_nothing_foreign_is_still_seen() -> None:
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=foreign_after_calm, args=(sender,))
    child.start()
    try:
        assert receiver.poll(60)
        assert receiver.recv() == [False, True, True]
    finally:
        child.join(60)
        receiver.close()
        sender.close()
