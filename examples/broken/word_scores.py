"""Word scores, with a per-process cache keyed on ``id(word)``.

The bug: an id is unique only among objects alive at the same time.  A pool
worker frees each task's argument before it takes the next one, so the next
word it unpickles often gets the same id, and the cache hands back the
previous word's score.  Sequentially every word is alive in the list at once,
the ids all differ, and the bug stays hidden.

Fix: key the cache on the word itself (``functools.cache``), as
``examples/correct/scrabble.py`` does.
"""

from __future__ import annotations

_scores: dict[int, int] = {}

LETTERS = {letter: 1 + index % 10 for index, letter in enumerate("abcdefghijklmnopqrstuvwxyz")}


def _letter_sum(word: str) -> int:
    return sum(LETTERS[letter] for letter in word)


def score(word: str) -> int:
    key = id(word)  # BUG: another word can get this id once this one is freed
    if key not in _scores:
        _scores[key] = _letter_sum(word)
    return _scores[key]


def clear_cache() -> None:
    _scores.clear()
