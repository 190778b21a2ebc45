"""Shared state under stress: the guide's counter and the other correct patterns."""

from __future__ import annotations

import multiprocessing

import pytest
import pytest_mpcheck

from counter import Tally, count_words, fill_own_slot, record_hits, worker, worker_with_lock

TEXTS = ["the quick brown fox", "jumps over", "the lazy dog", "again"]


def test_counter(mpcheck):
    # 4 processes, 100 increments each, released together round after round,
    # under every start method.
    counter = mpcheck.Value("i", 0)
    mpcheck.stress(worker, counter, processes=4, expect=lambda: counter.value == 400)


def test_raw_value_with_a_separate_lock(mpcheck):
    # lock=False makes a raw value, with no get_lock(); an mpcheck.Lock guards it.
    counter = mpcheck.Value("i", 0, lock=False)
    lock = mpcheck.Lock()
    mpcheck.stress(
        worker_with_lock, counter, lock, processes=4, expect=lambda: counter.value == 400
    )


def test_each_process_writes_its_own_slot(mpcheck):
    # Both objects are reset to their initial values before each round.
    next_slot = mpcheck.Value("i", 0)
    slots = mpcheck.Array("i", 4)
    mpcheck.stress(
        fill_own_slot, next_slot, slots, processes=4, expect=lambda: slots[:] == [100] * 4
    )


def test_counter_kept_in_an_object(mpcheck):
    # stress finds the Value inside the Tally it is given (args[0].count): it is
    # reset before each round and traced, like a Value passed on its own.
    tally = Tally("hits", mpcheck.Value("i", 0))
    mpcheck.stress(record_hits, tally, processes=4, expect=lambda: tally.count.value == 400)


@pytest.mark.parametrize("method", pytest_mpcheck.available_start_methods())
def test_count_words_unchanged(mpcheck, method):
    # Inside the block, multiprocessing.Value (and ctx.Value) make instrumented
    # objects: the library's own total is traced and checked when the block ends.
    # --8<-- [start:instrument]
    with mpcheck.instrument():
        total = count_words(TEXTS, multiprocessing.get_context(method))
    assert total == 10
    # --8<-- [end:instrument]
