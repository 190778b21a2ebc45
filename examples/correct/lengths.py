"""Library code as it is: it makes its own pools and takes no context argument."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor


def length(word: str) -> int:
    return len(word)


def lengths(words: Sequence[str]) -> list[int]:
    with multiprocessing.Pool(2) as pool:
        return pool.map(length, words)


def total_length(words: Sequence[str]) -> int:
    with ProcessPoolExecutor(2) as executor:
        return sum(executor.map(length, words))
