"""The check and the act under one holding of the lock; the data before the flag."""

from __future__ import annotations


def buy(tickets, sold):
    with tickets.get_lock():
        if tickets.value > 0:
            tickets.value -= 1
            with sold.get_lock():
                sold.value += 1


def publish(roles, flag, data, got):
    with roles.get_lock():
        role = roles.value
        roles.value += 1
    if role == 0:
        data.value = 42
        flag.value = 1
    elif flag.value:
        got.value = data.value
