"""Parsing records, raising a custom exception on bad input.

The bug: ``RecordError.__init__`` takes two arguments but passes one message
to ``Exception.__init__``, so ``exc.args`` cannot rebuild it and unpickling
it fails.  A plain ``multiprocessing.Pool`` that gets this exception back
from a worker loses its result-handler thread and waits forever.

Fix: pass every constructor argument on,
``super().__init__(line, reason)``, and format the message in ``__str__``.
"""

from __future__ import annotations


class RecordError(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def parse_record(record: tuple[int, str]) -> int:
    line, text = record
    if not text.isdigit():
        raise RecordError(line, f"not a number: {text!r}")
    return int(text)
