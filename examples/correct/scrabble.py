"""Word scores, with a per-process cache keyed on the word itself.

Compare ``examples/broken/word_scores.py``, whose cache is keyed on
``id(word)``, which another word can get once the first one is freed.
"""

from __future__ import annotations

import functools

LETTERS = {letter: 1 + index % 10 for index, letter in enumerate("abcdefghijklmnopqrstuvwxyz")}


@functools.cache
def score(word: str) -> int:
    return sum(LETTERS[letter] for letter in word)
