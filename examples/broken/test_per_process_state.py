"""Broken: state one task leaves in its worker process for the next one.

Each check runs the items under placements chosen from the seed (every worker
busy, a seeded random one, one worker running everything in order), so these
fail in every run, under every start method, and the failure says which worker
ran which items.
"""

from __future__ import annotations

import pytest

import ledger
import price_base
import word_scores

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


@pytest.fixture(autouse=True)
def fresh_process_state():
    # The test process starts each test as a new program would (fork workers copy it).
    price_base.forget_base()
    ledger.close_books()
    word_scores.clear_cache()


def test_price_index(mpcheck):
    # Each worker remembers the first price it ran as the base.
    mpcheck.assert_map_equal(price_base.index, PRICES, processes=2)


def test_running_balance(mpcheck):
    # Chunks of 3 entries cut accounts in the middle; the balance is carried in globals.
    mpcheck.assert_map_equal(ledger.running_balance, LEDGER, processes=2, chunksize=3)


def test_word_scores(mpcheck):
    # One word per task: each word is freed before the next arrives, and ids get reused.
    mpcheck.assert_map_equal(word_scores.score, WORDS, processes=2, chunksize=1)
