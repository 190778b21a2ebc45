"""Where stress processes start: a crew of real processes, reused across rounds.

A ``Crew`` starts ``processes`` processes under one start method, once.  Each
round, every member gets a command, calls ``prepare(label, round)``, waits at
a shared gate so that all start the target together, runs ``target(*args)``
the way ``prepare`` returned, and reports back.  The parent waits on the members' pipes
and process sentinels at once (``supervise.Watch``), so a member that dies is
noticed as soon as it dies, and a round that overruns its deadline is cut
short.  ``close()`` stops, then terminates, then kills whatever is left:
nothing outlives the crew.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from pytest_mpcheck._engine.supervise import Overran, Watch, WorkerDied, forking
from pytest_mpcheck._engine.worker import Gate, Runner, member as _member

__all__ = ["Crew", "MemberReport"]

_STOP_SECONDS = 2.0


class MemberReport(NamedTuple):
    """What one member said about one round: None if fine, else its exception."""

    label: int
    error: str | None
    trace: str


class Crew:
    """``processes`` members under ``method`` running ``target(*args)`` each round."""

    def __init__(
        self,
        method: str,
        processes: int,
        target: Callable[..., Any],
        args: tuple[Any, ...],
        prepare: Callable[[int, int], Runner],
        adopt: Callable[..., None],
    ) -> None:
        """``prepare(label, round)`` runs in a member before each round; ``adopt(*primitives)``
        once at its start, with the crew's own synchronization primitives."""
        ctx: Any = multiprocessing.get_context(method)
        self._method = method
        self._conns: list[multiprocessing.connection.Connection] = []
        self._watch = Watch(lambda label: f"process {label}", "processes")
        self._members: list[Any] = []
        # Kept on self: its semaphores must outlive the members' start-up, since
        # spawn children unpickle them after start() returns.
        self._gate = gate = Gate(ctx, processes, "the other processes did not start the round")
        try:
            with forking() if method == "fork" else contextlib.nullcontext():
                for label in range(1, processes + 1):
                    parent_end, child_end = ctx.Pipe()
                    member = ctx.Process(
                        target=_member,
                        args=(
                            label,
                            child_end,
                            gate,
                            target,
                            args,
                            prepare,
                            self._watch.stack_dir.path,
                            adopt,
                        ),
                        # Not daemonic, as a plain Process: the target may start processes
                        # of its own.  ``close`` stops every member and what it left.
                        name=f"mpcheck-stress-{label}",
                    )
                    try:
                        member.start()
                    except BaseException:
                        parent_end.close()
                        raise
                    finally:
                        child_end.close()
                    self._conns.append(parent_end)
                    self._members.append(member)
                    self._watch.add(label, member)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Crew:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run_round(
        self, number: int, deadline: float, meanwhile: Callable[[], None] | None = None
    ) -> list[MemberReport]:
        """Run one round; raises ``WorkerDied`` or ``Overran`` (keyed by member label).

        ``meanwhile()`` runs here while the members work: the caller's reading of
        the previous round then costs no time of its own on a machine whose
        members wait on each other's locks.
        """
        try:
            return self._run_round(number, deadline, meanwhile)
        except (WorkerDied, Overran):
            raise
        except BaseException as exc:
            self._watch.interrupted(exc, f"stress round {number} under {self._method}")
            raise

    def _run_round(
        self, number: int, deadline: float, meanwhile: Callable[[], None] | None
    ) -> list[MemberReport]:
        where = f"round {number}"
        for conn in self._conns:
            conn.send(number)
        if meanwhile is not None:
            meanwhile()
        reports: list[MemberReport] = []
        pending = dict(enumerate(self._conns, start=1))
        while pending:
            labels = {conn: label for label, conn in pending.items()}
            ready = self._watch.wait(list(labels), deadline, where)
            if not ready:
                raise self._watch.overran(
                    where, None, len(reports), len(self._conns), sorted(pending)
                )
            for conn in ready:
                label = labels[conn]
                del pending[label]
                try:
                    error, trace = conn.recv()
                except (EOFError, OSError):
                    raise self._watch.died(where, label) from None
                reports.append(MemberReport(label, error, trace))
        return sorted(reports, key=lambda report: report.label)

    def close(self) -> None:
        """Stop every member: ask, then terminate, then kill; never leaves one running."""
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
        deadline = time.monotonic() + _STOP_SECONDS
        for member in self._members:
            member.join(max(0.0, deadline - time.monotonic()))
        self._watch.kill_descendants()
        for member in self._members:
            if member.is_alive():
                member.terminate()
                member.join(_STOP_SECONDS)
            if member.is_alive():
                member.kill()
                member.join()
            member.close()
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        self._members.clear()
        self._watch.close()
