"""Broken: caught in every run, with a schedule that replays exactly."""

from __future__ import annotations

from box_office import buy, move_seat, publish


def test_last_ticket(mpcheck):
    tickets, sold = mpcheck.Value("i", 1), mpcheck.Value("i", 0)
    mpcheck.stress(buy, tickets, sold, processes=2, expect=lambda: sold.value == 1)


def test_publication(mpcheck):
    roles, flag, data = mpcheck.Value("i", 0), mpcheck.Value("i", 0), mpcheck.Value("i", 0)
    got = mpcheck.Value("i", 42)
    mpcheck.stress(publish, roles, flag, data, got, processes=2, expect=lambda: got.value == 42)


def test_seat_move(mpcheck):
    sections, miscount = mpcheck.Array("i", [10, 0]), mpcheck.Value("i", 0)
    mpcheck.stress(move_seat, sections, miscount, processes=2, expect=lambda: not miscount.value)
