"""Which schedules a controlled stress check tries, how a failing one shrinks, and the
replay token's text: pure functions over hand-made round logs."""

from __future__ import annotations

import itertools

import pytest

from pytest_mpcheck._checks.explore import Explorer, alone, explicit, shrink, without
from pytest_mpcheck._model import ReplayToken
from pytest_mpcheck._trace.schedule import LOG, MAX_CHANGES, Plan, RoundLog

BOTH = 0b11


def _log(choices: list[tuple[int, int, int]]) -> RoundLog:
    entries = tuple(chosen | current << 16 | mask << 32 for current, chosen, mask in choices)
    return RoundLog(len(choices), entries, 7, 0, (), {})


#: Two processes, two points each: 1 runs, then 2 (after 1 ended).
NO_PREEMPTION = _log([(0, 1, BOTH), (1, 1, BOTH), (1, 1, BOTH), (1, 2, 0b10), (2, 2, 0b10)])


def test_the_first_round_has_no_preemption_then_each_one_preemption_in_order() -> None:
    explorer = Explorer(2, rounds=20, key="1:fork")
    first = explorer.next_plan()
    assert first == Plan()
    explorer.learn(first, NO_PREEMPTION)
    # Process 1 could go on at steps 2 and 3: each is a place to switch to process 2.
    plans = [explorer.next_plan() for _ in range(2)]
    assert plans == [Plan(((2, 2),)), Plan(((3, 2),))]


def test_a_level_that_does_not_fit_the_rounds_left_gives_way_to_randomized_schedules() -> None:
    explorer = Explorer(2, rounds=2, key="1:fork")
    explorer.learn(explorer.next_plan(), NO_PREEMPTION)
    plan = explorer.next_plan()
    assert len(plan.changes) == 2
    assert sorted(plan.priorities) == [MAX_CHANGES + 1, MAX_CHANGES + 2]
    assert all(1 <= step <= NO_PREEMPTION.steps for step in plan.changes)
    assert explorer.describe() == (
        "2 processes, 5 scheduling points: the schedule without preemption, "
        "then 1 PCT schedule of depth 3"
    )


def test_randomized_schedules_come_from_the_seed() -> None:
    def plans(key: str) -> list[Plan]:
        explorer = Explorer(3, rounds=6, key=key)
        explorer.learn(explorer.next_plan(), _log([(1, 1, 0b111)] * 400))
        return [explorer.next_plan() for _ in range(5)]

    assert plans("1:fork") == plans("1:fork")
    assert plans("1:fork") != plans("2:fork")
    assert plans("1:fork") != plans("1:spawn")


def test_a_small_program_is_covered_up_to_the_bound_and_says_so() -> None:
    explorer = Explorer(2, rounds=20, key="1:fork")
    for _ in range(20):
        plan = explorer.next_plan()
        # Every schedule of this program looks the same: a switch is possible at 2 and 3.
        explorer.learn(plan, NO_PREEMPTION)
    assert explorer.describe() == (
        "2 processes, 5 scheduling points: all 4 schedules with at most 2 preemptions, "
        "then 16 PCT schedules of depth 3"
    )


def test_a_randomized_schedule_is_written_as_the_choices_that_differ_from_the_default() -> None:
    pct = Plan(priorities=(17, 18), changes=(3, 4))
    # Process 2 ran first although 1 was ready, and 1 came back at step 4 while 2 could go on.
    log = _log([(0, 2, BOTH), (2, 2, BOTH), (2, 2, BOTH), (2, 1, BOTH), (1, 1, 0b01)])
    assert explicit(pct, log) == Plan(((1, 2), (4, 1)))
    assert explicit(Plan(((1, 2),)), log) == Plan(((1, 2),))


def test_shrinking_drops_every_choice_the_failure_does_not_need() -> None:
    needed = (5, 2)
    tries: list[Plan] = []

    def fails(plan: Plan) -> bool:
        tries.append(plan)
        return needed in plan.overrides

    plan = Plan(((1, 2), (3, 1), (5, 2), (8, 1)))
    assert shrink(plan, fails, budget=10) == Plan((needed,))
    assert len(tries) == 4
    assert shrink(plan, fails, budget=1) == Plan(((1, 2), (3, 1), (5, 2)))


def test_a_replay_token_round_trips_and_garbage_says_what_it_is() -> None:
    token = ReplayToken("spawn", 3, "buy", 140, 2**60 + 3, ((4, 2), (9, 1)), (18, 17), (5,), (2,))
    text = token.encode()
    assert text.startswith("1")
    assert text.replace("-", "").replace("_", "").isalnum()
    assert ReplayToken.decode(text) == token
    assert ReplayToken.decode(f"  {text}\n") == token
    for bad in ("", "2abc", "1!!!", text[:-4], "1" + "A" * 12):
        with pytest.raises(ValueError, match="is not a replay token"):
            ReplayToken.decode(bad)


def _runs(*order: int) -> RoundLog:
    """A round in which the processes ran in ``order``, one label per step."""
    steps = [(0, order[0], 0b1111)]
    steps += [(current, chosen, 0b1111) for current, chosen in itertools.pairwise(order)]
    return _log(steps)


def test_the_processes_that_ran_alone_are_those_whose_span_no_other_touched() -> None:
    # 4 ran first, then 1, then 2 was switched away from for 3, and came back.
    log = _runs(4, 4, 1, 1, 2, 3, 3, 2, 2)
    assert alone(log, 4) == (1, 4)


def test_no_process_ran_alone_when_all_interleaved_or_one_is_left() -> None:
    assert alone(_runs(1, 2, 3, 4, 1, 2, 3, 4), 4) == ()
    # 1 and 4 ran alone, and so did 3 (after 2): nothing interleaved at all.
    assert alone(_runs(1, 2, 2, 3, 4), 4) == ()
    stalled = _runs(4, 1, 2, 3, 2)._replace(stalled=(3,))
    assert alone(stalled, 4) == ()


def test_a_process_left_out_takes_its_steps_and_hands_the_turn_where_it_went() -> None:
    # 4, then 1 (handed the turn by 4, giving it to 2), then 2 and 3 interleaved.
    log = _runs(4, 4, 1, 1, 2, 3, 3, 2, 2)
    # Without 1: 4 hands the turn straight to 2; the others' choices as they were, each
    # written where it differs from the default among processes 2 to 4.
    assert without(log, 1) == ((1, 4), (3, 2), (4, 3), (6, 2))
    # The last to run, left out: the step that handed it the turn now ends the round.
    last = _log([(0, 1, BOTH), (1, 1, BOTH), (1, 2, BOTH), (2, 2, 0b10), (2, 0, 0)])
    assert without(last, 2) == ()
    # The first, left out: the round starts with whom it handed the turn to, 3 of 2 and 3.
    first = _log([(0, 1, 0b111), (1, 1, 0b111), (1, 3, 0b110), (3, 3, 0b110), (3, 2, 0b10)])
    assert without(first, 1) == ((1, 3),)


def test_nothing_is_left_out_of_a_log_that_misses_points_or_lost_control() -> None:
    log = _runs(4, 1, 2, 3, 2)
    assert without(log._replace(stalled=(3,)), 4) is None
    assert without(log._replace(steps=LOG + 1), 4) is None
