"""What happens at an instrumented access: the access policy, and how a process gets one.

Every read and write of an instrumented object and every acquire and release
of a known lock is a point where the policy of the running process is called,
after the trace has recorded it and outside the object's lock.  Seeded
noise is one policy; a scheduler that decides who runs next, or a replay of
a recorded schedule, is another implementation of the same four methods,
and nothing else changes.

A process (or a round of a stress member) is configured by setting one
``ContextVar``: its label, the seed and the policy.  Nothing is kept in a
module-level box: a check passes the seed down, and a block that configures
the process restores what was there when it ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from pytest_mpcheck._trace.locks import BOOK
from pytest_mpcheck._trace.waits import WAITS, WaitTable

__all__ = [
    "NOISE",
    "AccessPolicy",
    "Noise",
    "Tracing",
    "configure",
    "configured",
    "current",
    "noise_from",
    "start_round",
]

#: Probability of a pause after each instrumented read.
NOISE = 0.1


class AccessPolicy:
    """Called at each access point of this process; the base class lets everything run.

    ``holding`` says whether the process holds a known lock at that point.
    ``on_reads``, ``on_writes`` and ``on_locks`` say whether a class overrides
    ``read``, ``write``, or the lock methods, and ``held_reads`` whether its
    ``read`` acts on reads made holding a known lock: every access passes
    here, so the calls that would do nothing are skipped (noise acts on reads
    made holding nothing only).
    """

    on_reads = False
    on_writes = False
    on_locks = False
    held_reads = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        base = AccessPolicy
        cls.on_reads = cls.read is not base.read
        cls.on_writes = cls.write is not base.write
        cls.on_locks = any(
            getattr(cls, name) is not getattr(base, name)
            for name in ("acquire", "release", "wait_free")
        )

    def read(self, lo: int, hi: int, holding: bool) -> None:
        """After a read of locations ``lo`` to ``hi`` was recorded."""

    def write(self, lo: int, hi: int, holding: bool) -> None:
        """After a write of locations ``lo`` to ``hi`` was recorded."""

    def acquire(self, lock_id: int, blocking: bool, reentrant: bool) -> bool:
        """Before a known lock is taken; False makes a non-blocking acquire fail."""
        return True

    def release(self, lock_id: int) -> None:
        """After a known lock was released."""

    def wait_free(self, lock_id: int) -> None:
        """Before one access takes the known lock ``lock_id`` for itself only."""


_NOTHING = AccessPolicy()


class Noise(AccessPolicy):
    """Seeded noise: sometimes give the CPU away between a read and what follows.

    A yield or a pause of 10-100 µs widens a read→write window so that lost
    updates show; never under a known lock, where a pause exposes nothing and
    only makes the others wait, and never after writes, which would only
    slow a loaded machine down.
    """

    held_reads = False

    def __init__(self, rng: random.Random, probability: float = NOISE) -> None:
        self._random = rng.random
        self._uniform = rng.uniform
        self._probability = probability

    @classmethod
    def seeded(cls, *key: object, probability: float = NOISE) -> Noise:
        """Noise drawn from a generator seeded by ``key`` (seed, round, label...)."""
        return cls(random.Random(":".join(map(str, key))), probability)

    def read(self, lo: int, hi: int, holding: bool) -> None:
        if holding or self._random() >= self._probability:
            return
        if self._random() < 0.5:
            os.sched_yield()
        else:
            time.sleep(self._uniform(10e-6, 100e-6))


class Tracing:
    """How the running process traces: its label in the check, the seed, its policy.

    ``policy`` None means not configured yet: the first access makes seeded
    noise from the seed its object carries and the process's name.  What the
    policy's class overrides is copied here, into slots: every access reads
    it, and a slot is read faster than a class attribute through an instance.
    ``hooks`` is the policy, or one that does nothing while there is none.
    """

    __slots__ = (
        "free_reads",
        "held_reads",
        "hooks",
        "label",
        "on_locks",
        "on_writes",
        "policy",
        "seed",
    )

    def __init__(self, label: int = 0, seed: int = 0, policy: AccessPolicy | None = None) -> None:
        self.label, self.seed, self.policy = label, seed, policy
        self.hooks = hooks = policy if policy is not None else _NOTHING
        self.free_reads = hooks.on_reads
        self.held_reads = hooks.on_reads and hooks.held_reads
        self.on_writes = hooks.on_writes
        self.on_locks = hooks.on_locks

    def __repr__(self) -> str:
        return f"Tracing(label={self.label}, seed={self.seed}, policy={self.policy!r})"


_TRACING: contextvars.ContextVar[Tracing] = contextvars.ContextVar("pytest_mpcheck_tracing")
#: How the running process traces now (a C-level call: it runs at every access).
current: Callable[[], Tracing] = functools.partial(_TRACING.get, Tracing())


def noise_from(seed: int) -> tuple[Tracing, AccessPolicy]:
    """How an unconfigured process traces from its first access on, and its policy:
    seeded noise, made from ``seed`` and the process name."""
    tracing = current()
    noise = Noise.seeded(seed, multiprocessing.current_process().name)
    made = Tracing(tracing.label, tracing.seed, noise)
    _TRACING.set(made)
    return made, noise


@contextlib.contextmanager
def configured(tracing: Tracing) -> Iterator[Tracing]:
    """Trace with ``tracing`` inside the block; what was configured before comes back after."""
    token = _TRACING.set(tracing)
    try:
        yield tracing
    finally:
        _TRACING.reset(token)


def configure(tracing: Tracing) -> None:
    """Trace with ``tracing`` in this process from now on (a stress member's round)."""
    _TRACING.set(tracing)


def start_round(
    seed: int,
    label: int,
    round_number: int,
    noise: float = NOISE,
    waits: WaitTable | None = None,
) -> Callable[[Callable[..., Any], tuple[Any, ...]], None]:
    """A stress member's set-up before a free round: its label, seeded noise, a clean book,
    and the check's wait table, through which its blocking acquires see deadlocks; returns
    how it runs the target (as it is)."""
    access = Noise.seeded(seed, round_number, label, probability=noise) if noise > 0 else None
    configure(Tracing(label, seed, access or AccessPolicy()))
    BOOK.new_round()
    if waits is not None:
        WAITS.arm(waits, label)
    return _run


def _run(target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    target(*args)


def _fresh_child() -> None:
    """A forked child is a new process: its own label and noise, the same seed."""
    _TRACING.set(Tracing(seed=current().seed))


os.register_at_fork(after_in_child=_fresh_child)
