"""The fixed-size record of one access, and the values it can carry.

A record is packed into the shared ring buffer by one process and decoded
by another, so its layout is a ``struct`` format; both directions go through
the field names of ``Fields``, never through positions.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pytest_mpcheck._model import Event

__all__ = [
    "INT",
    "MAX_HELD",
    "READ",
    "RECORD",
    "WRITE",
    "Fields",
    "decode",
    "encode_held",
    "encode_one_held",
    "encode_value",
]

#: The operation of a record: ``_model.READ`` and ``_model.WRITE`` (a test holds them
#: equal), spelled here so that a member process that only records never imports the
#: records module and its dataclasses.
READ, WRITE = 1, 2

#: Known locks a record can name; a process holding more names its first ones.
MAX_HELD = 4
_HELD = struct.Struct("<II")

#: Kinds of value; ``INT``, the common one, is public for the writer's fast path.
_NONE, INT, _FLOAT, _BYTES = 0, 1, 2, 3
_BIG = 2**63
_INT_RANGE = range(-_BIG, _BIG)


class Fields(NamedTuple):
    """A record as stored: one field per slot of ``RECORD``, in its order."""

    proc: int
    pid: int
    op: int
    kind: int
    lo: int
    hi: int
    ival: int
    fval: float
    file: int
    line: int
    foreign: int
    nheld: int
    #: ``nheld`` pairs of (lock id, acquisition serial), ``_HELD`` each.
    held: bytes


RECORD = struct.Struct(f"<iibbiiqdIibb{MAX_HELD * _HELD.size}s")


def encode_value(value: object) -> tuple[int, int, float]:
    """``(kind, ival, fval)``: ints, floats and short bytes exactly, big ints by checksum."""
    if type(value) is int and -_BIG <= value < _BIG:
        return INT, value, 0.0
    if isinstance(value, int):
        if value in _INT_RANGE:
            return INT, int(value), 0.0
        return _BYTES, zlib.crc32(repr(value).encode()), 0.0
    if isinstance(value, float):
        return _FLOAT, 0, value
    if isinstance(value, bytes | bytearray) and len(value) <= 8:
        return _BYTES, int.from_bytes(bytes(value).ljust(8, b"\0"), "little", signed=True), 0.0
    return _NONE, 0, 0.0


def encode_held(held: list[tuple[int, int]]) -> bytes:
    """The ``held`` field for (lock id, serial) pairs, first ``MAX_HELD`` only."""
    return b"".join([_HELD.pack(lock_id, serial) for lock_id, serial in held[:MAX_HELD]])


#: The ``held`` field for one (lock id, serial) pair: the common case, made cheap.
encode_one_held = _HELD.pack


def decode(records: bytes, first: int, files: dict[int, str]) -> list[Event]:
    """The events that consecutive stored ``records`` stand for, the first at step ``first``;
    ``files`` names the file ids.

    The parent decodes every record of every round, so this is one loop with no call
    per record but the event's own; a record's slots are unpacked into the names of
    ``Fields``, in its order (a test packs a record through ``Fields`` and decodes it).
    """
    from pytest_mpcheck._model import Event  # the parent's analysis only

    new = tuple.__new__
    unknown = "<unknown file>"
    helds: dict[bytes, tuple[tuple[int, int], ...]] = {b"": ()}
    events: list[Event] = []
    step = first
    for record in RECORD.iter_unpack(records):
        proc, pid, op, kind, lo, hi, ival, fval, file, line, foreign, nheld, held = record
        if kind == INT:
            value: object = ival
        elif kind == _FLOAT:
            value = fval
        elif kind == _BYTES:
            value = ival.to_bytes(8, "little", signed=True).rstrip(b"\0")
        else:
            value = None
        held = held[: nheld * _HELD.size]
        pairs = helds.get(held)
        if pairs is None:
            pairs = helds[held] = tuple(_HELD.iter_unpack(held))
        name = files.get(file, unknown)
        event = (step, proc, pid, op, lo, hi, value, name, line, pairs, foreign != 0)
        events.append(new(Event, event))
        step += 1
    return events
