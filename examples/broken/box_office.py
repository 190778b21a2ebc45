"""Broken: two orders that hold whatever the operating system does, and not under every
interleaving: a check made outside the lock that guards the act, and a flag raised before
the data it announces.

Fix: make the check and the act under one holding of the lock; write the data, then
raise the flag (see examples/correct/box_office_fixed.py).
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
