"""Tasks that carry everything they need: the fixed twins of the per-process state bugs."""

from __future__ import annotations

import functools

from accounts import by_account, running_balances
from price_index import index
from scrabble import score

PRICES = [120, 126, 117, 130, 134, 128, 141, 150]
LEDGER = [
    ("alice", 40),
    ("alice", -15),
    ("alice", 25),
    ("alice", -10),
    ("bob", 100),
    ("bob", -30),
    ("bob", 5),
    ("bob", -20),
    ("bob", 60),
    ("carol", 70),
    ("carol", -25),
    ("carol", 10),
]
WORDS = ["apple", "brick", "cloud", "dwarf", "eagle", "fjord", "grape", "house", "ivory", "joker"]


def test_price_index(mpcheck):
    # The base travels with every task.
    mpcheck.assert_map_equal(functools.partial(index, PRICES[0]), PRICES, processes=2)


def test_running_balances(mpcheck):
    # One account per task: a task needs nothing an earlier task left behind.
    mpcheck.assert_map_equal(running_balances, by_account(LEDGER), processes=2, chunksize=1)


def test_word_scores(mpcheck):
    # A cache keyed on the word itself is right whichever words a worker ran before.
    mpcheck.assert_map_equal(score, WORDS, processes=2, chunksize=1)
