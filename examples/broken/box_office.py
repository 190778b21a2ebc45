"""Broken: orders that hold whatever the operating system does, and not under every
interleaving: a check made outside the lock that guards the act, a flag raised before
the data it announces, and a seat moved between two sections in two holdings of the lock.

Fix: make the check and the act under one holding of the lock; write the data, then
raise the flag; move the seat in one holding (see examples/correct/box_office_fixed.py).
"""

from __future__ import annotations


def buy(tickets, sold):
    if tickets.value > 0:  # the check, outside the lock
        with tickets.get_lock():
            tickets.value -= 1
        with sold.get_lock():
            sold.value += 1


def publish(roles, flag, data, got):
    with roles.get_lock():
        role = roles.value
        roles.value += 1
    if role == 0:
        flag.value = 1  # raised before the data is there
        data.value = 42
    elif flag.value:
        got.value = data.value


def move_seat(sections, miscounted):
    """Move one seat from the stalls (slot 0) to the balcony (slot 1); the seats add up to
    10 in every audit, or so it seems."""
    with sections.get_lock():
        sections[0] -= 1
    with sections.get_lock():  # the seat is in neither section in between
        sections[1] += 1
    with sections.get_lock():
        if sections[0] + sections[1] != 10:
            miscounted.value = 1
