"""Interleaving witnesses and outcome histograms, as text tables."""

from __future__ import annotations

import os
from collections.abc import Sequence

from pytest_mpcheck._model import READ, Event

__all__ = ["histogram", "local_path", "witness_table"]

_CELL = 34


def local_path(path: str) -> str:
    """A source path as the user reads it: relative to the current directory when under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _where(event: Event) -> str:
    return f"{local_path(event.file)}:{event.line}"


def _process_name(event: Event, ordinals: dict[int, int]) -> str:
    if event.proc:
        return f"process {event.proc}"
    return f"process {ordinals.setdefault(event.pid, len(ordinals) + 1)} (pid {event.pid})"


def witness_table(events: Sequence[Event], marks: dict[int, str], location: str) -> list[str]:
    """One column per process, one row per access, in the order memory saw them.

    ``marks`` maps a step to a note printed at the end of its row.
    """
    ordinals: dict[int, int] = {}
    columns: list[int] = []
    names: dict[int, str] = {}
    for event in events:
        if event.pid not in columns:
            columns.append(event.pid)
            names[event.pid] = _process_name(event, ordinals)
    cell = max([_CELL, *(len(_cell(e, location)) + 2 for e in events)])
    header = "| step | " + " | ".join(names[pid].ljust(cell) for pid in columns) + " |"
    lines = [header, "|" + "-" * (len(header) - 2) + "|"]
    for event in events:
        cells = [
            (_cell(event, location) if pid == event.pid else "").ljust(cell) for pid in columns
        ]
        row = f"| {event.step:>4} | " + " | ".join(cells) + " |"
        note = marks.get(event.step)
        lines.append(f"{row}  <- {note}" if note else row)
    return lines


def _cell(event: Event, location: str) -> str:
    verb = "read" if event.op == READ else "write"
    value = "?" if event.value is None else repr(event.value)
    return f"{verb} {location} {value}  ({_where(event)})"


def histogram(outcomes: Sequence[tuple[str, int]], limit: int = 8) -> str:
    """``400 x13, 399 x9, ...`` over the rounds, most frequent first."""
    shown = [f"{outcome} x{count}" for outcome, count in outcomes[:limit]]
    if len(outcomes) > limit:
        shown.append(f"... ({len(outcomes) - limit} more)")
    return ", ".join(shown)
