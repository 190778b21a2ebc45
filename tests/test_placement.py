"""Placement: the oracle chooses which worker runs which chunks, from the seed.

End to end, per start method: state a task leaves in its worker process for the
next one (a first-item initialisation, a running total, an ``id()``-keyed
cache) fails with the placement named, every run; its correct twin passes; the
same seed gives the same message.  Then the placements on their own, and the
engine's placed run.
"""

from __future__ import annotations

import itertools
import os

import pytest

import _helpers
import pytest_mpcheck
from _support import METHODS, outcomes_of, run_pytest, section
from pytest_mpcheck import ResultMismatchError
from pytest_mpcheck._engine.placement import LATER_ITEMS, plans
from pytest_mpcheck._engine.pools import VIAS, engine
from pytest_mpcheck._engine.worker import Task
from pytest_mpcheck._report.messages import MULTISET_MISMATCH, RESULT_MISMATCH

PER_PROCESS_STATE = """
    import functools
    import itertools

    import pytest

    PRICES = [120, 126, 117, 130, 134, 128, 141, 150]
    LEDGER = [("a", 4), ("a", -1), ("a", 2), ("a", 5), ("b", 10), ("b", -3), ("b", 6), ("c", 7)]
    WORDS = ["apple", "brick", "cloud", "dwarf", "eagle", "fjord", "grape", "house"]

    _base = None
    _account, _balance = None, 0
    _scores = {}


    def index(price):
        global _base
        if _base is None:
            _base = price
        return round(100 * price / _base, 2)


    def index_of(base, price):
        return round(100 * price / base, 2)


    def running_balance(entry):
        global _account, _balance
        account, amount = entry
        if account != _account:
            _account, _balance = account, 0
        _balance += amount
        return _balance


    def balances(amounts):
        return list(itertools.accumulate(amounts))


    def score(word):
        key = id(word)
        if key not in _scores:
            _scores[key] = sum(ord(letter) * n for n, letter in enumerate(word))
        return _scores[key]


    @functools.cache
    def exact_score(word):
        return sum(ord(letter) * n for n, letter in enumerate(word))


    @pytest.fixture(autouse=True)
    def fresh():
        global _base, _account, _balance
        _base, _account, _balance = None, None, 0
        _scores.clear()


    @pytest.mark.parametrize("method", METHODS)
    def test_first_item(mpcheck, method):
        mpcheck.assert_map_equal(index, PRICES, start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_first_item_twin(mpcheck, method):
        mpcheck.assert_map_equal(functools.partial(index_of, 120), PRICES, start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_running_total(mpcheck, method):
        mpcheck.assert_map_equal(running_balance, LEDGER, chunksize=3, start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_running_total_twin(mpcheck, method):
        accounts = [(4, -1, 2, 5), (10, -3, 6), (7,)]
        mpcheck.assert_map_equal(balances, accounts, chunksize=1, start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_id_cache(mpcheck, method):
        mpcheck.assert_map_equal(score, WORDS, via="imap_unordered", start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_id_cache_twin(mpcheck, method):
        mpcheck.assert_map_equal(exact_score, WORDS, via="imap_unordered", start_methods=method)
"""


def _state(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    source = PER_PROCESS_STATE.replace("METHODS", repr(list(METHODS)))
    return run_pytest(pytester, source, "-rA", "--mp-processes=2", *args)


def test_state_carried_between_tasks_is_caught_naming_the_placement(
    pytester: pytest.Pytester,
) -> None:
    result = _state(pytester)
    outcomes = outcomes_of(result)
    for method in METHODS:
        for test in ("test_first_item", "test_running_total", "test_id_cache"):
            assert outcomes[f"{test}[{method}]"] == "FAILED"
            assert outcomes[f"{test}_twin[{method}]"] == "PASSED"
        placed = f"E *placement ? of ? under {method} (*): worker ? ran items *; worker ? ran *"
        rerun = f"E *the seed fixes the placements: rerun with --mp-seed=* *={method} to run these*"
        section(result, f"test_first_item[{method}]").fnmatch_lines(
            [f"E *{RESULT_MISMATCH} at index * under {method} *", placed, rerun]
        )
        # Chunks of 3 entries: the busy placement gives worker 2 the chunk that starts
        # inside account "a", which it runs from its own fresh balance.
        section(result, f"test_running_total[{method}]").fnmatch_lines(
            [
                f"E *{RESULT_MISMATCH} at index 3 under {method} (via=map, processes=2, "
                "chunksize=3)",
                f"E *placement 1 of ? under {method} (chunks dealt to the workers in turn): "
                "worker 1 ran items 0\u20132 then 6\u20137; worker 2 ran items 3\u20135",
                rerun,
            ]
        )
        section(result, f"test_id_cache[{method}]").fnmatch_lines(
            [f"E *{MULTISET_MISMATCH} under {method} (via=imap_unordered*", placed, rerun]
        )


def _failures(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("E ")]


def test_the_same_seed_gives_the_same_placement_and_message(pytester: pytest.Pytester) -> None:
    # Not the id() cache: which ids the allocator hands out again varies from process
    # to process (hash randomisation changes what a worker allocates), and so does
    # which stale value it returns; its placement does not.
    deterministic = ("-k", "first_item or running_total", "--mp-seed=4242")
    first = _state(pytester, *deterministic)
    second = _state(pytester, *deterministic)
    assert _failures(first) == _failures(second)
    assert any("placement 1 of" in line for line in _failures(first))
    assert any("--mp-seed=4242" in line for line in _failures(first))


@pytest.mark.parametrize(("chunks", "processes"), [(10, 4), (7, 2), (3, 3), (40, 2)])
def test_placements_cover_every_chunk_once_in_order(chunks: int, processes: int) -> None:
    tried = plans(chunks, processes, 11, "spawn", chunks)
    kinds = [plan.kind for plan in tried]
    assert kinds[0] == "busy"
    assert kinds == [kind for kind in ("busy", "random", "one") if kind in kinds]
    for plan in tried:
        assert len(plan.workers) == processes
        assert sorted(c for share in plan.workers for c in share) == list(range(chunks))
        assert all(list(share) == sorted(share) for share in plan.workers)
    busy, one = tried[0], plans(chunks, processes, 11, "spawn", chunks)[-1]
    assert all(busy.workers)
    assert not any(b - a == 1 for share in busy.workers for a, b in itertools.pairwise(share))
    assert sorted(map(len, one.workers)) == [0] * (processes - 1) + [chunks]


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
def test_a_large_input_is_placed_again_on_its_leading_items(method: str) -> None:
    items = range(2 * LATER_ITEMS + 1000)
    for via in ("map", "imap_unordered"):
        values = pytest_mpcheck.assert_map_equal(
            _helpers.square, items, via=via, processes=2, start_methods=method
        )
        assert sorted(values) == [x * x for x in items]
    # The busy placement gives each worker half the items, under the limit; the
    # random one, on the leading items, takes each past it.
    worn = _helpers.worn_in_workers_after(len(items) // 2 + LATER_ITEMS // 4)
    with pytest.raises(ResultMismatchError) as caught:
        pytest_mpcheck.assert_map_equal(worn, items, via="imap", processes=2, start_methods=method)
    assert (
        f"  placement 2 of 3 under {method} (seeded random, on the first {LATER_ITEMS} of "
        f"{len(items)} items): worker 1 ran items "
    ) in str(caught.value)


def test_placements_after_the_first_place_the_leading_chunks_only() -> None:
    busy, random, one = plans(50, 4, 11, "fork", 6)
    assert busy.chunks == 50
    assert sorted(c for share in busy.workers for c in share) == list(range(50))
    for plan in (random, one):
        assert plan.chunks == 6
        assert sorted(c for share in plan.workers for c in share) == list(range(6))
    assert sorted(map(len, one.workers)) == [0, 0, 0, 6]


def test_placements_are_a_function_of_the_seed() -> None:
    assert plans(20, 4, 1, "fork", 20) == plans(20, 4, 1, "fork", 20)
    shares = {plans(20, 4, seed, "fork", 20)[1].workers for seed in range(20)}
    assert len(shares) > 1  # the random placement follows the seed
    assert plans(20, 4, 1, "fork", 20)[1] != plans(20, 4, 1, "spawn", 20)[1]


@pytest.mark.parametrize(("chunks", "processes"), [(1, 4), (9, 1)])
def test_placements_that_come_out_the_same_are_tried_once(chunks: int, processes: int) -> None:
    assert len(plans(chunks, processes, 3, "fork", chunks)) == 1


@pytest.mark.usefixtures("pools")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("via", VIAS)
def test_a_placed_run_gives_each_task_a_worker_of_its_own(method: str, via: str) -> None:
    tasks = [Task(worker, 1, None) for worker in range(3)]
    for _ in range(2):  # a warm pool serves a second run too
        pids = engine().run_tasks(method, via, 3, _helpers.pid, tasks, 60, placed=True)
        assert len(set(pids)) == 3
        assert os.getpid() not in pids


def test_a_placed_run_takes_one_task_per_worker() -> None:
    with pytest.raises(ValueError, match="takes 2 tasks, one per worker"):
        engine().run_tasks("fork", "map", 2, _helpers.pid, [Task(0, 1, None)], 60, placed=True)
