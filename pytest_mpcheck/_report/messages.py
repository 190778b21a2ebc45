"""Where every failure message is written.

Each finding record from the checks becomes one ``MpCheckError`` subclass
with a message a user can act on: what differs, where (start method, via,
processes, chunksize, index, input), the values, and what to do.  Headlines
are module constants so tests can match them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_mpcheck._errors import (
    CheckTimeoutError,
    DeadlockError,
    ExceptionMismatchError,
    ExpectationError,
    IncomparableError,
    LeakError,
    LostUpdateError,
    MpCheckError,
    NondeterministicError,
    ResultMismatchError,
    TargetError,
    UnguardedUpdateError,
    UnpicklableError,
    WorkerCrashError,
)
from pytest_mpcheck._model import (
    BlockTimeout,
    Deadlock,
    DeadlockStep,
    ExpectFailure,
    Finding,
    Incomparable,
    Leak,
    LostUpdate,
    MemberDied,
    Mismatch,
    MultisetMismatch,
    Nondeterminism,
    NothingShared,
    RaceFinding,
    Raised,
    Result,
    Returned,
    Run,
    RunBroken,
    RunTimeout,
    StressFinding,
    StressRun,
    StressTimeout,
    TargetRaised,
    Unloadable,
    Unpicklable,
)
from pytest_mpcheck._report.advice import PYTEST, Advice
from pytest_mpcheck._report.witness import histogram, local_path, witness_table

__all__ = [
    "DAEMONIC",
    "DEADLOCK",
    "EXCEPTION_MISMATCH",
    "EXPECT_FAILED",
    "INCOMPARABLE",
    "LEAKED",
    "LOST_UPDATE",
    "MULTISET_MISMATCH",
    "NONDETERMINISTIC",
    "NO_SHARED_OBJECT",
    "POTENTIAL_DEADLOCK",
    "RESULT_MISMATCH",
    "TARGET_RAISED",
    "TIMEOUT",
    "UNGUARDED_UPDATE",
    "UNLOADABLE",
    "UNPICKLABLE",
    "WORKER_CRASH",
    "error_for",
    "format_finding",
    "leak_error",
    "leak_message",
    "no_shared_object_message",
    "short_repr",
]

RESULT_MISMATCH = "parallel result differs from the sequential run"
EXCEPTION_MISMATCH = "parallel and sequential runs disagree on an exception"
MULTISET_MISMATCH = "unordered parallel results are not the sequential results in some order"
NONDETERMINISTIC = "function is nondeterministic: two sequential runs differ"
INCOMPARABLE = "results cannot be compared by value"
UNPICKLABLE = "cannot be pickled"
UNLOADABLE = "a worker could not load what it was sent"
TIMEOUT = "check timed out"
WORKER_CRASH = "a worker process died"
LOST_UPDATE = "lost update"
UNGUARDED_UPDATE = "unguarded read-modify-write"
EXPECT_FAILED = "expect() failed after a stress round"
TARGET_RAISED = "the stress target raised in a child process"
NO_SHARED_OBJECT = "stress found no mpcheck Value or Array in its arguments"
DEADLOCK = "deadlock"
POTENTIAL_DEADLOCK = "potential deadlock"

_REPR_LIMIT = 160
_TRACE_LINES = 12
_STACK_LINES = 40

_STATE_HINT = (
    "hint: fork workers inherit the test process's memory as it is now; spawn and "
    "forkserver workers import modules afresh and never see state set at run time "
    "(module globals, class attributes, configuration changed after import). Pass such "
    "state as an argument, or set it in a Pool initializer."
)
_WORKER_STATE_HINT = (
    "hint: results that depend on which items a worker ran before point to state kept "
    "across calls (caches, counters, globals); workers each keep their own copy."
)


def short_repr(value: Any) -> str:
    """``repr`` cut to a readable length, keeping both ends."""
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}: {exc}>"
    if len(text) <= _REPR_LIMIT:
        return text
    return f"{text[:100]} ... {text[-40:]} ({len(text)} characters)"


def _describe(result: Result | None) -> str:
    if isinstance(result, Returned):
        return short_repr(result.value)
    if isinstance(result, Raised):
        args = ", ".join(short_repr(arg) for arg in result.exc.args)
        return f"raised {type(result.exc).__qualname__}({args})"
    return "(not reached: an earlier item raised)"


def _chunks(run: Run) -> str:
    return "default" if run.chunksize is None else str(run.chunksize)


def _context(run: Run) -> str:
    path, _, line = run.site.rpartition(":")
    called = f", called at {local_path(path)}:{line}" if run.site else ""
    return (
        f"start method: {run.method}, via: {run.via}, processes: {run.processes}, "
        f"chunksize: {_chunks(run)}, function: {run.func}{called}"
    )


def _trace_tail(trace: str) -> str:
    lines = trace.rstrip().splitlines()
    if not lines:
        return ""
    tail = lines[-_TRACE_LINES:]
    return "\n".join(["  worker traceback (last lines):", *(f"    {line}" for line in tail)])


@dataclass(frozen=True)
class _Context:
    """What a message needs besides its finding: every start method's verdict, and
    how the user reruns a check where it ran."""

    verdicts: Mapping[str, Finding | None]
    advice: Advice


_Formatter = Callable[[Any, _Context], str]
_ErrorOf = Callable[[Any], type[MpCheckError]]
# One registration per finding: its error class (or how to choose it) and its formatter.
_REGISTRY: dict[type[Any], tuple[_ErrorOf, _Formatter]] = {}
_F = TypeVar("_F", bound=Callable[..., str])


def _formats(kind: type[Any], error: type[MpCheckError] | _ErrorOf) -> Callable[[_F], _F]:
    """Register the decorated function as the formatter of ``kind``."""

    def register(formatter: _F) -> _F:
        choose: _ErrorOf = (lambda _: error) if isinstance(error, type) else error
        _REGISTRY[kind] = (choose, formatter)
        return formatter

    return register


#: What a pool worker that starts processes of its own gets (pool workers are daemonic).
DAEMONIC = "daemonic processes are not allowed to have children"
_NESTED_POOL_HINT = (
    "hint: func starts processes of its own (a Pool, a Process, an executor) inside a pool "
    "worker, and pool workers are daemonic: they may not have children. Call the function "
    "that starts the pool directly in the test, or map the function each of its workers runs."
)


def _hint(
    finding: Mismatch | MultisetMismatch, verdicts: Mapping[str, Finding | None]
) -> str | None:
    """The likely cause that what was observed points to, if it points to one."""
    parallel = finding.parallel if isinstance(finding, Mismatch) else None
    if isinstance(parallel, Raised) and DAEMONIC in str(parallel.exc):
        return _NESTED_POOL_HINT
    # A pattern across start methods hints at a cause; one method alone shows none.
    if len(verdicts) < 2:
        return None
    differ = {method for method, verdict in verdicts.items() if verdict is not None}
    if differ and "fork" in verdicts and "fork" not in differ:
        return _STATE_HINT
    values_differ = isinstance(finding, MultisetMismatch) or isinstance(parallel, Returned)
    if differ == set(verdicts) and values_differ:
        return _WORKER_STATE_HINT
    return None


def _verdict_lines(
    finding: Mismatch | MultisetMismatch, verdicts: Mapping[str, Finding | None]
) -> list[str]:
    """Which other start methods differ too, and the likely cause, if any."""
    run = finding.run
    differ = [m for m in verdicts if m != run.method and verdicts[m] is not None]
    same = [m for m in verdicts if verdicts[m] is None]
    lines = []
    if differ:
        lines.append(f"  also differs under: {', '.join(differ)}")
    if same:
        lines.append(f"  matches under: {', '.join(same)}")
    hint = _hint(finding, verdicts)
    if hint is not None:
        lines.append(f"  {hint}")
    return lines


_PLACEMENT_KINDS = {
    "busy": "chunks dealt to the workers in turn",
    "random": "seeded random",
    "one": "one worker ran every chunk in order",
}
_RUNS_SHOWN = 6
_WORKERS_SHOWN = 8


def _items(runs: tuple[tuple[int, int], ...]) -> str:
    """A worker's runs of items in the order it ran them, first to last joined by an en dash."""
    shown = [str(first) if first == last else f"{first}\u2013{last}" for first, last in runs]
    if len(shown) > _RUNS_SHOWN:
        shown = [*shown[:_RUNS_SHOWN], f"... ({len(shown) - _RUNS_SHOWN} more runs)"]
    return " then ".join(shown)


def _placement_lines(run: Run, total: int, advice: Advice) -> list[str]:
    """Which worker ran which items, in what order, when the oracle chose it."""
    placement = run.placement
    if placement is None:
        return []
    covered = sum(last - first + 1 for runs in placement.workers for first, last in runs)
    part = f", on the first {covered} of {total} items" if covered < total else ""
    busy = [(w, runs) for w, runs in enumerate(placement.workers, 1) if runs]
    idle = [str(w) for w, runs in enumerate(placement.workers, 1) if not runs]
    ran = [f"worker {w} ran items {_items(runs)}" for w, runs in busy[:_WORKERS_SHOWN]]
    if len(busy) > _WORKERS_SHOWN:
        ran.append(f"... ({len(busy) - _WORKERS_SHOWN} more workers)")
    if idle:
        ran.append(f"idle: worker{'s' if len(idle) > 1 else ''} {', '.join(idle)}")
    lines = [
        f"  placement {placement.number} of {placement.count} under {run.method} "
        f"({_PLACEMENT_KINDS[placement.kind]}{part}): {'; '.join(ran)}"
    ]
    if placement.number > 1:
        before, left = (
            ("placement 1", "it")
            if placement.number == 2
            else (f"placements 1\u2013{placement.number - 1}", "they")
        )
        lines.append(
            f"  the same workers ran {before} of this check first; what {left} left in a "
            "worker carried over, as in a reused pool"
        )
    lines.append(
        f"  the seed fixes the placements: {advice.rerun(run.seed, run.method)} to run these again"
    )
    return lines


def _either_raised(finding: Mismatch) -> bool:
    return isinstance(finding.sequential, Raised) or isinstance(finding.parallel, Raised)


@_formats(
    Mismatch,
    lambda finding: ExceptionMismatchError if _either_raised(finding) else ResultMismatchError,
)
def _mismatch(finding: Mismatch, context: _Context) -> str:
    run = finding.run
    headline = EXCEPTION_MISMATCH if _either_raised(finding) else RESULT_MISMATCH
    lines = [
        f"{headline} at index {finding.index} under {run.method} "
        f"(via={run.via}, processes={run.processes}, chunksize={_chunks(run)})",
        f"  {_context(run)}",
        f"  index {finding.index} of {finding.total}, input: {short_repr(finding.item)}",
        f"    sequential: {_describe(finding.sequential)}",
        f"    parallel:   {_describe(finding.parallel)}",
        *_placement_lines(run, finding.total, context.advice),
        *_verdict_lines(finding, context.verdicts),
    ]
    if isinstance(finding.parallel, Raised):
        lines.append(_trace_tail(finding.parallel.trace))
    return "\n".join(lines)


@_formats(MultisetMismatch, ResultMismatchError)
def _multiset(finding: MultisetMismatch, context: _Context) -> str:
    run = finding.run
    lines = [
        f"{MULTISET_MISMATCH} under {run.method} "
        f"(via={run.via}, processes={run.processes}, chunksize={_chunks(run)})",
        f"  {_context(run)}",
    ]
    for title, entries in (
        ("missing from the parallel results", finding.missing),
        ("extra in the parallel results", finding.extra),
    ):
        if entries:
            lines.append(f"  {title} ({len(entries)}):")
            for index, item, value in entries[:5]:
                lines.append(f"    {short_repr(value)}  (index {index}, input: {short_repr(item)})")
            if len(entries) > 5:
                lines.append(f"    ... and {len(entries) - 5} more")
    lines.extend(_placement_lines(run, finding.total, context.advice))
    lines.extend(_verdict_lines(finding, context.verdicts))
    return "\n".join(lines)


@_formats(Nondeterminism, NondeterministicError)
def _nondeterministic(finding: Nondeterminism, context: _Context) -> str:
    return "\n".join(
        [
            f"{NONDETERMINISTIC} ({finding.func}, at index {finding.index})",
            f"  input: {short_repr(finding.item)}",
            f"    first sequential run:  {_describe(finding.first)}",
            f"    second sequential run: {_describe(finding.second)}",
            "  Both runs were list(map(func, items)) in the test process, so the difference is "
            "not caused by parallelism:",
            "  func depends on randomness, time, or state it keeps across calls. Make its "
            "result depend only on its input (seed randomness from the input, pass time in), "
            "or check a deterministic property of the result instead.",
        ]
    )


@_formats(Incomparable, IncomparableError)
def _incomparable(finding: Incomparable, context: _Context) -> str:
    run = finding.run
    return "\n".join(
        [
            f"{INCOMPARABLE}: the result for index {finding.index} is or holds {finding.what}",
            f"  {_context(run)}",
            f"  input: {short_repr(finding.item)}, sequential result: {short_repr(finding.value)}",
            "  why: such an object equals only itself, never a copy of it, so a result from a "
            "worker (or from another call) can never equal the sequential one, whatever the "
            "code does.",
            "  what to do: return a value that compares by content: list(...) or tuple(...) of "
            "an iterator, map object or generator, future.result() of a future; give a class "
            "an __eq__ (a @dataclass has one).",
        ]
    )


_UNPICKLABLE_TITLES = {
    "function": "the function {what} " + UNPICKLABLE + " to send it to the workers",
    "argument": "input at index {index} " + UNPICKLABLE + " to send it to a worker",
    "value": "the result for index {index} " + UNPICKLABLE + " to send it back from the worker",
    "raised": "the exception raised for index {index} "
    + UNPICKLABLE
    + " to send it back from the worker",
    "target": "the stress target {what} " + UNPICKLABLE + " to start spawn/forkserver processes",
    "arguments": "the stress arguments " + UNPICKLABLE + " to start {method} processes",
}


_ROOTS = {
    "target": "target",
    "arguments": "args",
    "function": "function",
    "argument": "argument at index {index}",
    "value": "result for index {index}",
    "raised": "exception raised for index {index}",
}


@_formats(Unpicklable, UnpicklableError)
def _unpicklable(finding: Unpicklable, context: _Context) -> str:
    problem = finding.problem
    # A function or target is named as itself; the culprit line says what inside it fails.
    title = _UNPICKLABLE_TITLES[finding.kind].format(
        what=finding.named, index=finding.index, method=finding.method
    )
    where = (
        "before any worker started"
        if finding.run is None
        else f"under {finding.run.method}, via={finding.run.via}"
    )
    lines = [f"{title} ({where})"]
    if finding.index is not None:
        lines.append(f"  input: {short_repr(finding.item)}")
    if problem.where != _ROOTS[finding.kind].format(index=finding.index):
        lines.append(f"  culprit: {problem.where} is {problem.what}")
    lines += [
        f"  why: {problem.reason}",
        f"  what to do: {problem.advice}",
    ]
    if problem.error not in problem.reason:
        lines.append(f"  pickle said: {problem.error}")
    if finding.kind == "raised":
        lines.append(
            "  note: a plain multiprocessing.Pool hangs forever when an exception cannot be "
            "sent back or rebuilt; here it is reported instead."
        )
    if finding.trace:
        lines.append(_trace_tail(finding.trace))
    return "\n".join(lines)


@_formats(Unloadable, UnpicklableError)
def _unloadable(finding: Unloadable, context: _Context) -> str:
    run = finding.run
    return "\n".join(
        [
            f"{UNLOADABLE}: the {finding.where} under {run.method} (via={run.via})",
            f"  {_context(run)}",
            f"  error in the worker: {finding.error}",
            f"  why: {run.method} workers import the function and the classes of the arguments "
            f"by module name, and module {finding.module!r} could not provide them there.",
            "  what to do: define them in an importable module (a package or a module on "
            "sys.path), not in a test file collected with --import-mode=importlib, not in an "
            f"interactive __main__; or {context.advice.without_method()}.",
        ]
    )


def _stacks(title: str, text: str, limit: int = _STACK_LINES) -> list[str]:
    lines = text.rstrip().splitlines()
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more lines)"]
    return [f"  {title}", *(f"    {line}" for line in lines)]


@_formats(RunTimeout, CheckTimeoutError)
def _timeout(finding: RunTimeout, context: _Context) -> str:
    run = finding.run
    lines = [
        f"{TIMEOUT} after {finding.timeout:g}s under {run.method} "
        f"(via={run.via}, processes={run.processes})",
        f"  {_context(run)}",
        f"  {finding.done} of {finding.total} results had arrived; every worker was "
        "stopped, with anything it had started.",
    ]
    for pid, index, item, stack in finding.workers:
        doing = "idle" if index is None else f"running index {index}, input {short_repr(item)}"
        lines += _stacks(f"worker pid {pid} ({doing}):", stack)
    if finding.parent:
        lines += _stacks("test process:", finding.parent, limit=12)
    lines.append(
        "  A task hangs (a deadlock, a wait that never ends) or is just slow: "
        f"{context.advice.more_time()} if so."
    )
    return "\n".join(lines)


@_formats(RunBroken, WorkerCrashError)
def _broken(finding: RunBroken, context: _Context) -> str:
    run = finding.run
    doing = (
        ""
        if finding.index is None
        else f" while running index {finding.index}, input {short_repr(finding.item)}"
    )
    return "\n".join(
        [
            f"{WORKER_CRASH} under {run.method} (via={run.via}, processes={run.processes}): "
            f"{finding.detail}{doing}",
            f"  {_context(run)}",
            "  The function killed its worker (os._exit, sys.exit, a signal, a crash in C code, "
            "or the out-of-memory killer); a plain Pool would wait forever for its result.",
        ]
    )


def _stress_context(run: StressRun) -> str:
    if run.in_block:
        return f"  processes that accessed it: {run.processes}, seed: {run.seed}"
    return (
        f"  target: {run.target}, start method: {run.method}, processes: {run.processes}, "
        f"rounds: {run.rounds}, seed: {run.seed}, schedule: {run.schedule}"
    )


def _processes(labels: Sequence[int]) -> str:
    """``process 1``, ``processes 1 and 4``, ``processes 1, 3 and 4``."""
    if len(labels) == 1:
        return f"process {labels[0]}"
    return f"processes {', '.join(map(str, labels[:-1]))} and {labels[-1]}"


def _rerun(run: StressRun, context: _Context) -> list[str]:
    """How to see the failure again: the replay of a controlled schedule (best-effort
    where a process ran outside control), else the seed."""
    if run.replay is None or run.method is None:
        why = (
            " (the seed fixes the noise schedule, not the OS scheduler)"
            if run.schedule == "free"
            else ""
        )
        return [f"  {context.advice.rerun(run.seed, run.method)}{why}"]
    lines = []
    kept = [label for label in range(1, run.processes + 1) if label not in run.left_out]
    if run.left_out:
        lines.append(
            f"  the failure needs only {_processes(kept)}: it happens the same way with "
            f"{_processes(run.left_out)} left out of the schedule (not running the target)"
        )
    if run.alone:
        others = [label for label in kept if label not in run.alone]
        lines.append(
            f"  {_processes(run.alone)} ran alone, each from its start to its end: the "
            f"failure comes from how {_processes(others)} interleaved"
        )
    lines.append(f"  replay: {context.advice.replay(run.replay, run.method)}")
    if run.uncontrolled:
        lines.append(
            f"  not fully controlled: {run.uncontrolled}; what a process does outside "
            "mpcheck's objects is not ordered by the schedule, so the replay is best-effort"
        )
    return lines


def _outcomes(finding: RaceFinding | ExpectFailure) -> str:
    stop = (
        "exploring stops at the first failure"
        if finding.run.schedule == "controlled"
        else "rounds stop shortly after one fails"
    )
    skipped = (
        f" (of {finding.run.rounds}: {stop})" if finding.rounds_run < finding.run.rounds else ""
    )
    return f"  outcomes over {finding.rounds_run} rounds{skipped}: {histogram(finding.histogram)}"


def _loss(finding: RaceFinding) -> str:
    """How much was lost: the shortfall of the final value where it can be counted,
    else the writes based on a stale read."""
    amount = f"{finding.worst_lost:g}"
    where = f"{finding.subject}{finding.location}"
    if finding.run.in_block:
        if finding.counted:
            return f"the final value of {where} fell {amount} short of what its updates add up to"
        return f"{amount} write(s) to {where} were based on a stale read"
    if finding.counted:
        return (
            f"in the worst round its final value fell {amount} short of what its updates add up to"
        )
    return f"the worst round had {amount} write(s) based on a stale read"


@_formats(
    RaceFinding,
    lambda finding: (
        LostUpdateError if isinstance(finding.witness, LostUpdate) else UnguardedUpdateError
    ),
)
def _race(finding: RaceFinding, context: _Context) -> str:
    run = finding.run
    witness = finding.witness
    if isinstance(witness, LostUpdate):
        target = f"{finding.subject}{finding.location}"
        headline = (
            f"{LOST_UPDATE} in an instrument() block (seed {run.seed}): {_loss(finding)}"
            if run.in_block
            else f"{LOST_UPDATE} under {run.method} (seed {run.seed}): {finding.racy_rounds} of "
            f"{finding.rounds_run} rounds run lost writes to {target}; {_loss(finding)}"
        )
        marks = {
            witness.read.step: "stale read",
            witness.write.step: f"overwrites step {witness.overwritten.step}",
        }
        explain = (
            f"  the write at step {witness.write.step} was computed from the read at step "
            f"{witness.read.step}; another process wrote at step {witness.overwritten.step} "
            "in between, and that write was lost."
        )
    else:
        where = "in an instrument() block" if run.in_block else f"under {run.method}"
        headline = (
            f"{UNGUARDED_UPDATE} {where} (seed {run.seed}): "
            f"{finding.subject}{finding.location} is written by several processes, and a "
            f"read-modify-write of it holds no lock ({finding.racy_rounds} of "
            f"{finding.rounds_run} rounds)"
        )
        marks = {witness.read.step: "read, no lock held", witness.write.step: "write, no lock held"}
        explain = (
            "  No update happened to be lost in these rounds, but nothing stops another "
            "process from writing between this read and this write."
        )
    lines = [
        headline,
        _stress_context(run),
        *(f"  {line}" for line in witness_table(witness.window, marks, finding.location)),
        explain,
        f"  final value: {finding.histogram[0][0]}" if run.in_block else _outcomes(finding),
        "  fix: hold one lock across the read and the write, e.g. "
        "`with counter.get_lock(): counter.value += 1`",
        *_rerun(run, context),
    ]
    return "\n".join(lines)


@_formats(ExpectFailure, ExpectationError)
def _expect_failed(finding: ExpectFailure, context: _Context) -> str:
    run = finding.run
    return "\n".join(
        [
            f"{EXPECT_FAILED} under {run.method} (seed {run.seed}): "
            f"{finding.failed_rounds} of {finding.rounds_run} rounds, first in round "
            f"{finding.round_number}: {finding.message}",
            _stress_context(run),
            _outcomes(finding),
            *_rerun(run, context),
        ]
    )


@_formats(TargetRaised, TargetError)
def _target_raised(finding: TargetRaised, context: _Context) -> str:
    run = finding.run
    return "\n".join(
        [
            f"{TARGET_RAISED} under {run.method}: process {finding.label} in round "
            f"{finding.round_number}: {finding.error}",
            _stress_context(run),
            _trace_tail(finding.trace),
            *(_rerun(run, context) if run.replay is not None else []),
        ]
    )


@_formats(StressTimeout, CheckTimeoutError)
def _stress_timeout(finding: StressTimeout, context: _Context) -> str:
    run = finding.run
    waiting = ", ".join(str(label) for label in finding.waiting)
    more_time = context.advice.more_time()
    return "\n".join(
        [
            f"{TIMEOUT} after {finding.timeout:g}s under {run.method} in stress round "
            f"{finding.round_number}: process(es) {waiting} did not finish",
            _stress_context(run),
            *(
                line
                for label, stack in finding.stacks
                for line in _stacks(f"process {label}:", stack)
            ),
            "  The target hangs (a deadlock, a lock never released, a wait on a process "
            f"that never comes). {more_time[0].upper()}{more_time[1:]} if it is just slow.",
        ]
    )


def _site(site: str) -> str:
    path, _, line = site.rpartition(":")
    return f"{local_path(path)}:{line}"


def _deadlock_step(step: DeadlockStep, actual: bool) -> str:
    if actual:
        return (
            f"  process {step.process} holds {step.held} (taken at {_site(step.held_at)}) "
            f"and waits for {step.wanted} at {_site(step.wanted_at)}"
        )
    return (
        f"  process {step.process} took {step.wanted} at {_site(step.wanted_at)} while "
        f"holding {step.held} (taken at {_site(step.held_at)})"
    )


@_formats(Deadlock, DeadlockError)
def _deadlock(finding: Deadlock, context: _Context) -> str:
    run = finding.run
    cycle = finding.cycle
    processes = sorted({step.process for step in cycle})
    who = (
        f"process {processes[0]}"
        if len(processes) == 1
        else f"processes {', '.join(map(str, processes[:-1]))} and {processes[-1]}"
    )
    itself = len(cycle) == 1  # a Lock taken again by the process that holds it
    if finding.actual:
        headline = f"{DEADLOCK} under {run.method} in stress round {finding.round_number}: " + (
            f"{who} waits for a lock it holds itself"
            if itself
            else f"{who} wait for locks held by each other"
        )
        explain = (
            "  It waited for itself, forever; the round was ended at once."
            if itself
            else "  Each waited for a lock that the next one holds, forever; the round was "
            "ended as soon as the cycle formed."
        )
    else:
        order = " -> ".join([step.held for step in cycle] + [cycle[0].held])
        headline = (
            f"{POTENTIAL_DEADLOCK} under {run.method}: locks taken in a cycle of orders "
            f"({order}) by {who}"
        )
        explain = (
            f"  No deadlock happened in this run ({finding.rounds_run} round(s)), but "
            "processes running these steps at the same time would each wait for a lock the "
            "next one holds, forever."
        )
    fix = (
        "  fix: do not take a Lock again while holding it, or make it an RLock"
        if itself
        else "  fix: take these locks in one order everywhere (e.g. always "
        f"{min(step.held for step in cycle)} first), or take them all under one outer lock"
    )
    return "\n".join(
        [
            headline,
            _stress_context(run),
            *(_deadlock_step(step, finding.actual) for step in cycle),
            explain,
            fix,
            *_rerun(run, context),
        ]
    )


@_formats(BlockTimeout, CheckTimeoutError)
def _block_timeout(finding: BlockTimeout, context: _Context) -> str:
    more_time = context.advice.more_time()
    return "\n".join(
        [
            f"{TIMEOUT} after {finding.timeout:g}s in an instrument() block: the code under "
            f"test did not finish; {finding.stopped} process(es) it had started were stopped",
            *(
                line
                for pid, stack in finding.stacks
                for line in _stacks("this process:" if pid == 0 else f"process {pid}:", stack)
            ),
            "  The code hangs (a deadlock, a lock never released, a wait on a process that "
            f"never comes, a pool whose worker died). {more_time[0].upper()}{more_time[1:]} "
            "if it is just slow.",
        ]
    )


@_formats(MemberDied, WorkerCrashError)
def _member_died(finding: MemberDied, context: _Context) -> str:
    run = finding.run
    return "\n".join(
        [
            f"{WORKER_CRASH} under {run.method}: process {finding.label} in stress round "
            f"{finding.round_number} ({finding.exit})",
            _stress_context(run),
        ]
    )


LEAKED = "left behind after the test"


def leak_message(test: str, leaks: Sequence[Leak], released: bool) -> str:
    """What a test left running or allocated, one line each, and whether it was cleaned up."""
    lines = [f"{len(leaks)} process(es) or shared memory block(s) {LEAKED} {test}:"]
    for leak in leaks:
        name = f"pid {leak.name}" if leak.kind == "process" else leak.name
        lines.append(f"  {leak.kind} {name}: {leak.detail}")
    lines.append(
        "  They were killed and unlinked so the next test starts clean."
        if released
        else "  They were left as they are (warn changes nothing)."
    )
    lines.append(
        "  Join every process you start (use `with Pool(...)`) and unlink shared memory you "
        "create. A helper a library keeps alive by design can be allowed by its command line "
        "in the ini list mp_leak_allow; --mp-leak-check=warn|off or "
        "@pytest.mark.mpcheck(leak_check=...) relaxes this check."
    )
    return "\n".join(lines)


def no_shared_object_message(search: NothingShared) -> str:
    """Why a stress check without a shared object checks less, and how to give it one."""
    cut = (
        f"; the search stopped at {search.cut}, whose contents were not all searched"
        if search.cut is not None
        else ""
    )
    return (
        f"{NO_SHARED_OBJECT} (target: {search.target}): it searched the {search.arguments} "
        "argument(s), the items of lists, tuples, dicts, sets and deques, and the attributes "
        "of objects (instance __dict__, dataclass fields, __slots__), up to "
        f"{search.depth} steps below each argument{cut}; module globals are not searched. "
        "Without a shared object nothing is reset between rounds and lost updates cannot be "
        "seen: only expect(), exceptions, crashes, hangs and deadlocks are checked. Create "
        "the shared state with mpcheck.Value/Array (or inside `with mpcheck.instrument():`) "
        "and pass it, or an object that holds it, to stress as an argument."
    )


def format_finding(
    finding: Finding | StressFinding,
    verdicts: Mapping[str, Finding | None] | None = None,
    advice: Advice = PYTEST,
) -> tuple[type[MpCheckError], str]:
    """The error class and message for ``finding``; ``advice`` words how to rerun."""
    error_of, formatter = _REGISTRY[type(finding)]
    return error_of(finding), formatter(finding, _Context(verdicts or {}, advice))


def error_for(
    finding: Finding | StressFinding,
    verdicts: Mapping[str, Finding | None] | None = None,
    advice: Advice = PYTEST,
) -> MpCheckError:
    """The ``MpCheckError`` that reports ``finding``, ready to raise."""
    error, message = format_finding(finding, verdicts, advice)
    return error(message)


def leak_error(test: str, leaks: Sequence[Leak]) -> LeakError:
    """The error for leaks found (and cleaned up) under ``--mp-leak-check=error``."""
    return LeakError(leak_message(test, leaks, released=True))
