"""A registry of parsers that the program fills at run time.

The bug: ``register()`` adds to a module-level dict in the parent process.
``fork`` workers get a copy with the entry; ``spawn`` and ``forkserver``
workers import this module afresh, find the registry empty and raise
``KeyError``.

Fix: register at import time (a decorator in the module that defines the
parser), or register in every worker through ``Pool(initializer=...)``.
"""

from __future__ import annotations

from collections.abc import Callable

PARSERS: dict[str, Callable[[str], object]] = {}


def register(name: str, parser: Callable[[str], object]) -> None:
    PARSERS[name] = parser


def parse_csv(text: str) -> list[str]:
    return text.split(",")


def parse(job: tuple[str, str]) -> object:
    name, text = job
    return PARSERS[name](text)
