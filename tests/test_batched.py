"""Items and results travel a chunk at once; the findings are those of the item-by-item path.

Each case runs the check twice in this process under fork (workers see the
helpers' ``PARENT``): as it runs, and with the batching switched off, which
sends and describes every item on its own.  Messages must be identical, but for
the placement that only the batched run chooses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import _helpers
import pytest_mpcheck
from pytest_mpcheck._checks import equivalence

pytestmark = pytest.mark.usefixtures("pools")

LARGE = 100_000
MANY = 5_000


@pytest.fixture
def item_by_item(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Calling it switches the batching off for the rest of the test."""

    def switch_off() -> None:
        monkeypatch.setattr(equivalence, "_scripts", lambda *args, **kwargs: None)

    return switch_off


def _finding(func: Callable[..., Any], items: list[Any], via: str) -> str:
    with pytest.raises(pytest_mpcheck.MpCheckError) as caught:
        pytest_mpcheck.assert_map_equal(func, items, via=via, processes=2, start_methods="fork")
    return str(caught.value)


def _both(
    item_by_item: Callable[[], None], func: Callable[..., Any], items: list[Any], via: str
) -> str:
    batched = _finding(func, items, via)
    item_by_item()
    assert _finding(func, items, via) == _unplaced(batched)
    return batched


def _unplaced(message: str) -> str:
    """The message without its placement: items sent one by one go where the pool puts them."""
    lines = message.splitlines()
    return "\n".join(
        line for line in lines if not line.startswith(("  placement ", "  the seed fixes"))
    )


@pytest.mark.parametrize("via", ["map", "imap_unordered", "executor"])
def test_an_unpicklable_item_among_many(item_by_item: Callable[[], None], via: str) -> None:
    items: list[Any] = list(range(MANY))
    items[3_210] = threading.Lock()
    message = _both(item_by_item, _helpers.square, items, via)
    assert "index 3210" in message


@pytest.mark.parametrize("via", ["map", "imap", "executor"])
def test_an_unpicklable_result_among_many(item_by_item: Callable[[], None], via: str) -> None:
    message = _both(item_by_item, _helpers.lock_at_500, list(range(MANY)), via)
    assert "index 500" in message


@pytest.mark.parametrize("via", ["map", "imap_unordered", "executor"])
def test_an_item_raising_only_in_workers_among_many(
    item_by_item: Callable[[], None], via: str
) -> None:
    message = _both(item_by_item, _helpers.raises_in_workers_at_777, list(range(MANY)), via)
    assert "no 777 in a worker" in message


@pytest.mark.parametrize("via", ["map", "imap", "executor"])
def test_an_item_raising_everywhere_among_many_passes_with_its_exception(
    item_by_item: Callable[[], None], via: str
) -> None:
    def check() -> list[Any]:
        return pytest_mpcheck.assert_map_equal(
            _helpers.raises_at_777, range(MANY), via=via, processes=2, start_methods="fork"
        )

    batched = check()
    item_by_item()
    one_by_one = check()
    for results in (batched, one_by_one):
        assert results[:777] == list(range(777))
        assert isinstance(results[777], ValueError)
        assert results[777].args == ("no 777", 777)
        assert results[778:] == list(range(778, MANY))


@pytest.mark.parametrize("via", ["map", "imap_unordered"])
def test_a_mismatch_late_in_a_large_input(item_by_item: Callable[[], None], via: str) -> None:
    message = _both(item_by_item, _helpers.off_in_workers_at(LARGE - 7), list(range(LARGE)), via)
    assert str(LARGE - 7) in message
    twin = pytest_mpcheck.assert_map_equal(
        _helpers.off_in_workers_at(-1), range(LARGE), via=via, processes=2, start_methods="fork"
    )
    assert sorted(twin) == list(range(LARGE))
