"""The small programs of ``bench_schedules.py``: each broken one with its fixed twin.

Spawn and forkserver processes import this module by name, so everything they
run is here at module level, and it imports nothing of pytest_mpcheck: the
same functions run on plain ``multiprocessing`` values.  Where two processes
play different parts, each takes its part in the order it first gets the
shared ``roles`` counter.
"""

from __future__ import annotations

from typing import Any


def _role(roles: Any) -> int:
    with roles.get_lock():
        role = int(roles.value)
        roles.value = role + 1
    return role


def buy(tickets: Any, sold: Any) -> None:
    """Check-then-act: the check reads outside the lock that guards the sale."""
    if tickets.value > 0:
        with tickets.get_lock():
            tickets.value -= 1
        with sold.get_lock():
            sold.value += 1


def buy_fixed(tickets: Any, sold: Any) -> None:
    with tickets.get_lock():
        if tickets.value > 0:
            tickets.value -= 1
            with sold.get_lock():
                sold.value += 1


def publish(roles: Any, flag: Any, data: Any, got: Any) -> None:
    """The writer raises the flag before it writes the data the flag announces."""
    if _role(roles) == 0:
        flag.value = 1
        data.value = 42
    elif flag.value:
        got.value = data.value


def publish_fixed(roles: Any, flag: Any, data: Any, got: Any) -> None:
    if _role(roles) == 0:
        data.value = 42
        flag.value = 1
    elif flag.value:
        got.value = data.value


def move(pair: Any, torn: Any) -> None:
    """Two slots that must move together, each updated under the lock, not both at once."""
    with pair.get_lock():
        pair[0] -= 1
    with pair.get_lock():
        pair[1] += 1
    with pair.get_lock():
        if pair[0] + pair[1] != 10:
            torn.value = 1


def move_fixed(pair: Any, torn: Any) -> None:
    with pair.get_lock():
        pair[0] -= 1
        pair[1] += 1
    with pair.get_lock():
        if pair[0] + pair[1] != 10:
            torn.value = 1


def count(counter: Any, times: int = 100) -> None:
    """The guide's counter with the lock missing."""
    for _ in range(times):
        counter.value += 1


def count_fixed(counter: Any, times: int = 100) -> None:
    for _ in range(times):
        with counter.get_lock():
            counter.value += 1


def transfer(first: Any, second: Any, roles: Any) -> None:
    """Two locks taken in opposite orders by the two processes."""
    a, b = (first, second) if _role(roles) == 0 else (second, first)
    with a, b:
        pass


def transfer_fixed(first: Any, second: Any, roles: Any) -> None:
    _role(roles)
    with first, second:
        pass
