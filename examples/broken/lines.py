"""Counting lines, and splitting text into words, in worker processes.

The bugs: ``count_lines`` is handed open files, and ``words`` returns a
generator.  Neither can be pickled: an open file belongs to the process
that opened it, and a generator is a paused computation.  A plain ``Pool``
raises a bare ``TypeError: cannot pickle ...`` naming neither the item nor
the fix.

Fix: pass paths and open the files in the worker; return ``list(...)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO


def count_lines(file: TextIO) -> int:
    return sum(1 for _ in file)


def words(text: str) -> Iterator[str]:
    return (word for word in text.split())
