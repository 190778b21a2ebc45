"""Which controlled schedules a stress check tries, round after round, and how a failing
one is made minimal.

Per start method, one schedule per round, all of it from the seed:

1. the schedule without preemptions: a process runs until it ends or waits for a
   lock another holds, then the lowest-numbered process that can run goes;
2. every schedule with one preemption (a switch away from a process that could
   go on), then every one with two, in order, while a whole level fits in the
   rounds left less a quarter: small programs are covered exhaustively up to
   that bound, as in preemption bounding (Musuvathi and Qadeer, 2007);
3. randomized schedules for the rest (PCT, Burckhardt et al., 2010): random
   priorities, the highest-priority process that can run goes, and at
   ``DEPTH - 1`` random steps the running process drops below all others.

A failing schedule is written as the choices that differ from the default one
and shrunk by dropping them one at a time while the same failure remains, so
that the witness shows the few switches that matter.  With few switches, few
processes are involved: the others run alone, each from its start to its end
(``alone``).  Each of those is then left out of the schedule in turn (``without``)
while the others still fail the same way, so that the witness has the fewest
processes that fail.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from pytest_mpcheck._trace.schedule import LOG, MASKED, MAX_CHANGES, MAX_OVERRIDES, Plan, RoundLog

__all__ = ["BOUND", "DEPTH", "Explorer", "alone", "explicit", "shrink", "without"]

#: Most preemptions the systematic schedules have.
BOUND = 2
#: PCT's depth: the bugs it targets need this many ordering constraints.
DEPTH = 3


def _labels(mask: int) -> list[int]:
    return [bit + 1 for bit in range(MASKED) if mask >> bit & 1]


def _default(current: int, mask: int) -> int:
    """The choice without a plan: go on if possible, else the lowest-numbered ready process."""
    if current and mask >> (current - 1) & 1:
        return current
    return (mask & -mask).bit_length()


class Explorer:
    """The plans of one start method's rounds, each learnt from the rounds before it."""

    def __init__(self, processes: int, rounds: int, key: str) -> None:
        self._processes = processes
        self._rounds = rounds
        self._key = key
        self._frontier: deque[Plan] = deque([Plan()])
        self._next: list[Plan] = []
        self._level = 0
        #: Systematic schedules run per number of preemptions.
        self._systematic: list[int] = [0]
        self._pct = 0
        self._run = 0
        self._steps = 0
        self._enumerate = processes <= MASKED

    def next_plan(self) -> Plan:
        """The plan of the next round."""
        self._run += 1
        if self._frontier:
            self._systematic[self._level] += 1
            return self._frontier.popleft()
        if self._next and self._enumerate:
            left = self._rounds - self._run + 1
            if self._level < BOUND and len(self._next) <= left - self._rounds // 4:
                self._level += 1
                self._systematic.append(1)
                self._frontier.extend(self._next[1:])
                first = self._next[0]
                self._next = []
                return first
            self._enumerate = False
        self._pct += 1
        return self._randomized(self._pct)

    def learn(self, plan: Plan, log: RoundLog) -> None:
        """What the round under ``plan`` did: its length and, for a systematic schedule,
        where one more preemption could go."""
        self._steps = max(self._steps, log.steps)
        if not self._enumerate or plan.priorities or len(plan.overrides) >= BOUND:
            return
        if log.steps > LOG:
            self._enumerate = False  # the log does not hold every point: no exhaustive claim
            return
        last = max((step for step, _ in plan.overrides), default=0)
        for index, (current, chosen, mask) in enumerate(log.choices):
            step = index + 1
            if step <= last or not current or not mask >> (current - 1) & 1:
                continue
            for label in _labels(mask):
                if label != chosen:
                    self._next.append(Plan((*plan.overrides, (step, label))))

    def _randomized(self, number: int) -> Plan:
        draw = random.Random(f"{self._key}:pct:{number}")
        priorities = list(range(MAX_CHANGES + 1, MAX_CHANGES + 1 + self._processes))
        draw.shuffle(priorities)
        length = max(1, self._steps)
        changes = sorted(draw.randint(1, length) for _ in range(DEPTH - 1))
        return Plan(priorities=tuple(priorities), changes=tuple(changes))

    def describe(self) -> str:
        """What was explored, in words: the guarantee a pass gives."""
        parts = [f"{self._processes} processes, {self._steps} scheduling points"]
        complete = self._level if not self._frontier else self._level - 1
        if complete == 0 and self._systematic[0]:
            parts.append("the schedule without preemption")
        elif complete > 0:
            count = sum(self._systematic[: complete + 1])
            plural = "s" if complete > 1 else ""
            parts.append(f"all {count} schedules with at most {complete} preemption{plural}")
        if self._pct:
            parts.append(
                f"then {self._pct} PCT schedule{'s' if self._pct > 1 else ''} of depth {DEPTH}"
            )
        return f"{parts[0]}: {', '.join(parts[1:])}" if len(parts) > 1 else parts[0]


def explicit(plan: Plan, log: RoundLog) -> Plan:
    """The same schedule as choices that differ from the default one, if the log holds
    every point and they fit in a plan; else the plan as it is."""
    if not plan.priorities or log.steps > LOG:
        return plan
    overrides = tuple(
        (index + 1, chosen)
        for index, (current, chosen, mask) in enumerate(log.choices)
        if chosen and chosen != _default(current, mask)
    )
    return Plan(overrides) if len(overrides) <= MAX_OVERRIDES else plan


def without(log: RoundLog, label: int) -> tuple[tuple[int, int], ...] | None:
    """The choices that replay ``log`` with process ``label`` left out: the others' steps
    in the same order, each hand-over to ``label`` going where ``label`` handed the turn
    on.  None if the log does not hold every point or a process ran outside control,
    or if the choices do not fit in a plan."""
    if log.steps > LOG or log.stalled:
        return None
    bit = 1 << (label - 1)
    kept: list[list[int]] = []  # [process at the point, process chosen, processes ready]
    handed: list[int] | None = None  # the kept step that handed the turn to ``label``
    for current, chosen, mask in log.choices:
        if current == label:
            if chosen != label and handed is not None:
                handed[1] = chosen
                handed = None
            continue
        kept.append([current, chosen, mask & ~bit])
        if chosen == label:
            handed = kept[-1]
    overrides = tuple(
        (index + 1, chosen)
        for index, (current, chosen, mask) in enumerate(kept)
        if chosen and chosen != _default(current, mask)
    )
    return overrides if len(overrides) <= MAX_OVERRIDES else None


def shrink(plan: Plan, fails: Callable[[Plan], bool], budget: int) -> Plan:
    """Drop choices from ``plan`` one at a time, last first, while ``fails`` still holds;
    at most ``budget`` tries."""
    if plan.priorities:
        return plan
    kept = list(plan.overrides)
    for index in reversed(range(len(kept))):
        if budget <= 0:
            break
        budget -= 1
        trial = plan._replace(overrides=tuple(kept[:index] + kept[index + 1 :]))
        if fails(trial):
            kept = list(trial.overrides)
    return plan._replace(overrides=tuple(kept))


def alone(log: RoundLog, processes: int) -> tuple[int, ...]:
    """The processes that ran alone in a round: from its first step to its last no other
    process ran, and it ran in no other's span.  Only when at least two others did
    not: the failure of such a round comes from how those others interleaved.  Empty
    when the log does not hold every point or a process ran outside control."""
    if log.steps > LOG or log.stalled:
        return ()
    spans: dict[int, list[int]] = {}  # label: [first step, last step]
    for step, (_, chosen, _) in enumerate(log.choices):
        if chosen:
            spans.setdefault(chosen, [step, step])[1] = step
    by_themselves = tuple(
        label
        for label, (first, last) in sorted(spans.items())
        if all(
            last < start or end < first for other, (start, end) in spans.items() if other != label
        )
    )
    return by_themselves if processes - len(by_themselves) >= 2 else ()
