"""Broken library code: each result is named after the process that made it."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence


def shard_name(word: str) -> str:
    # The name depends on which process runs the call, not only on the word:
    # the same input gives another name in another run, or sequentially.
    return f"{word}-{os.getpid()}.txt"


def shard_names(words: Sequence[str]) -> list[str]:
    with multiprocessing.Pool(2) as pool:
        return pool.map(shard_name, words)
