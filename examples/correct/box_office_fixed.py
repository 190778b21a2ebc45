"""The check and the act under one holding of the lock; the data before the flag; a seat
moved between sections in one holding."""

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


def move_seat(sections, miscounted):
    with sections.get_lock():
        sections[0] -= 1
        sections[1] += 1
    with sections.get_lock():
        if sections[0] + sections[1] != 10:
            miscounted.value = 1
