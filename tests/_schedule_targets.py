"""Small broken programs and their fixed twins, for the controlled-schedule tests.

Spawn and forkserver processes import this module by name (``tests/`` is on
``sys.path``), so every target lives here at module level.  Where the two
processes play different parts, each takes its part in the order it first
gets the shared ``roles`` counter.
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
    """The check and the sale under one holding of the lock."""
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
    """The data first, then the flag."""
    if _role(roles) == 0:
        data.value = 42
        flag.value = 1
    elif flag.value:
        got.value = data.value


def move(pair: Any, torn: Any) -> None:
    """Two slots that must move together, each updated under the lock, but not both at once:
    a process that checks their sum between the two updates sees it torn."""
    with pair.get_lock():
        pair[0] -= 1
    with pair.get_lock():
        pair[1] += 1
    with pair.get_lock():
        if pair[0] + pair[1] != 10:
            torn.value = 1


def move_fixed(pair: Any, torn: Any) -> None:
    """Both slots under one holding."""
    with pair.get_lock():
        pair[0] -= 1
        pair[1] += 1
    with pair.get_lock():
        if pair[0] + pair[1] != 10:
            torn.value = 1


def _await(ready: Any, data: Any) -> None:
    if not ready.wait(10):
        raise TimeoutError("the other process never set the event")
    ready.clear()  # for the next round
    if data.value != 42:
        raise ValueError(f"data is {data.value}, not 42")


def await_data(roles: Any, ready: Any, data: Any) -> None:
    """One process waits on its own event for the other, which forgets to write the data."""
    if _role(roles) == 0:
        _await(ready, data)
    else:
        ready.set()


def await_data_fixed(roles: Any, ready: Any, data: Any) -> None:
    """The data first, then the event."""
    if _role(roles) == 0:
        _await(ready, data)
    else:
        data.value = 42
        ready.set()


def transfer(first: Any, second: Any, roles: Any) -> None:
    """Two locks taken in opposite orders by the two processes."""
    a, b = (first, second) if _role(roles) == 0 else (second, first)
    with a, b:
        pass


def transfer_fixed(first: Any, second: Any, roles: Any) -> None:
    """The same locks, in one order."""
    _role(roles)
    with first, second:
        pass


def sell_checked(stock: Any) -> None:
    """Check-then-act that finds out when it oversold: only the last ticket is raced for,
    so with more tickets than one the buyers of the first ones take part in the failure."""
    if stock.value > 0:
        with stock.get_lock():
            stock.value -= 1
            if stock.value < 0:
                raise RuntimeError("sold a ticket that was not there")
