"""Broken: shared counters updated without their lock."""

from __future__ import annotations

from unlocked_counter import add_result, count_words, worker

TEXTS = ["the quick brown fox", "jumps over", "the lazy dog", "again"]


def test_counter(mpcheck):
    counter = mpcheck.Value("i", 0)
    mpcheck.stress(worker, counter, processes=4, expect=lambda: counter.value == 400)


def test_results(mpcheck):
    # The total is right in every round; the missing lock is reported all the same.
    total = mpcheck.Value("i", 0)
    next_id = mpcheck.Value("i", 0)
    mpcheck.stress(add_result, total, next_id, processes=4, expect=lambda: total.value == 4)


def test_count_words(mpcheck):
    # The library creates its own Value and processes; the block checks them,
    # whatever total this run happened to return.
    with mpcheck.instrument():
        count_words(TEXTS)
