"""Whatever cannot travel between processes is reported by name, with advice, never hangs."""

from __future__ import annotations

import functools
import pickle
import re
import threading
from collections.abc import Iterator

import pytest

from _support import METHODS, run_pytest, section
from pytest_mpcheck._checks.pickling import (
    describe_object,
    find_problem,
    pickle_or_explain,
    round_trip_problem,
)
from pytest_mpcheck._report.messages import UNLOADABLE, UNPICKLABLE

LOCK_REASON = "a lock can only be shared with worker processes when they start"


def module_level(x: int) -> int:
    return x


def shadowed(x: int) -> int:
    return x


_first_shadowed = shadowed


def shadowed(x: int) -> int:
    # Redefined on purpose: the name `shadowed` no longer leads to `_first_shadowed`.
    return -x


class Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()


class Refuses:
    def __reduce__(self) -> object:
        raise RuntimeError("no way")


class NeedsTwo(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(a)
        self.b = b


def _numbers() -> Iterator[int]:
    yield 1


# Unit tests: find_problem and friends ---------------------------------------


@pytest.mark.parametrize(
    "obj", [1, "x", [1, {"a": (2, 3)}], module_level, functools.partial(max, 1)]
)
def test_picklable_objects_have_no_problem(obj: object) -> None:
    assert find_problem(obj, "x") is None
    packed = pickle_or_explain(obj, "x")
    assert isinstance(packed, bytes)
    assert repr(pickle.loads(packed)) == repr(obj)


def test_lambda() -> None:
    problem = find_problem(lambda x: x, "function")
    assert problem is not None
    assert problem.where == "function"
    assert problem.what.startswith("test_lambda.<locals>.<lambda>")
    assert "lambda has no importable name" in problem.reason
    assert "define it with `def` at module level" in problem.advice


def test_local_function() -> None:
    def inner(x: int) -> int:
        return x

    problem = find_problem(inner, "function")
    assert problem is not None
    assert problem.what.startswith("test_local_function.<locals>.inner (")
    assert "defined inside another function" in problem.reason
    assert "move it to module level" in problem.advice


def test_function_whose_name_leads_elsewhere() -> None:
    problem = find_problem(_first_shadowed, "function")
    assert problem is not None
    assert "does not lead back to this function" in problem.reason
    assert "functools.wraps" in problem.advice


def test_lock() -> None:
    problem = find_problem(threading.Lock(), "x")
    assert problem is not None
    assert problem.what.startswith("<unlocked _thread.lock object")
    assert LOCK_REASON in problem.reason
    assert "initargs" in problem.advice
    assert problem.error == "TypeError: cannot pickle '_thread.lock' object"


def test_generator() -> None:
    problem = find_problem(_numbers(), "x")
    assert problem is not None
    assert "<generator object _numbers" in problem.what
    assert "a generator is a paused computation" in problem.reason
    assert "list(...)" in problem.advice


@pytest.mark.parametrize(
    ("obj", "where"),
    [
        ([1, 2, {"lock": threading.Lock()}], "x[2]['lock']"),
        ((0, [0, (0, 0, threading.RLock())]), "x[1][1][2]"),
        (Holder(), "x.lock"),
        ({"holder": Holder()}, "x['holder'].lock"),
        (functools.partial(max, threading.Lock()), "x.args[0]"),
        (functools.partial(max, key=threading.Lock()), "x.keywords['key']"),
    ],
)
def test_nested_culprit_is_located(obj: object, where: str) -> None:
    problem = find_problem(obj, "x")
    assert problem is not None
    assert problem.where == where
    assert LOCK_REASON in problem.reason


def test_closure_culprit_is_named() -> None:
    lock = threading.Lock()

    def uses_lock(x: int) -> int:
        with lock:
            return x

    problem = find_problem(uses_lock, "function")
    assert problem is not None
    # The function itself is the first thing that cannot travel.
    assert "defined inside another function" in problem.reason


def test_open_file() -> None:
    with open(__file__) as handle:
        problem = find_problem({"f": handle}, "x")
    assert problem is not None
    assert problem.where == "x['f']"
    assert "open file" in problem.reason


def test_unknown_unpicklable_gets_generic_advice() -> None:
    class Local:
        pass

    problem = find_problem(Local(), "x")
    assert problem is not None
    assert "defined inside a function" in problem.reason

    problem = find_problem([Refuses()], "x")
    assert problem is not None
    assert problem.reason == "RuntimeError: no way"
    assert "make it picklable" in problem.advice


def test_exception_that_cannot_be_rebuilt() -> None:
    exc = NeedsTwo(1, 2)
    data = pickle.dumps(exc)
    problem = round_trip_problem(exc, data, "exception raised for index 0")
    assert problem is not None
    assert problem.reason.startswith("it pickles but cannot be rebuilt: TypeError:")
    assert "super().__init__" in problem.advice
    packed = pickle_or_explain(exc, "exception raised for index 0")
    assert not isinstance(packed, bytes)
    assert packed.where == "exception raised for index 0"


def test_describe_object() -> None:
    assert describe_object(module_level).startswith("module_level (")
    assert describe_object(module_level).endswith(f"test_pickling.py:{_line_of(module_level)})")
    assert describe_object([1, 2]) == "[1, 2]"
    long = describe_object(list(range(100)))
    assert len(long) == 80
    assert long.endswith("...")


def _line_of(func: object) -> int:
    return func.__code__.co_firstlineno  # type: ignore[attr-defined]


# End to end: the message a user reads ---------------------------------------


def _no_raw_pickling_traceback(matcher: pytest.LineMatcher) -> None:
    """The finding is our message, not a PicklingError traceback from deep inside pickle."""
    text = "\n".join(matcher.lines)
    assert not re.search(r"^E\s+\S*PicklingError", text, re.MULTILINE), text
    assert "multiprocessing/" not in text, text


BEFORE_ANY_WORKER = """
    import threading


    def ident(x):
        return x


    def test_lambda(mpcheck):
        mpcheck.assert_map_equal(lambda x: x, range(3))


    def test_local_function(mpcheck):
        def inner(x):
            return x

        mpcheck.assert_map_equal(inner, range(3))


    def test_lock_argument(mpcheck):
        mpcheck.assert_map_equal(ident, [1, 2, {"lock": threading.Lock()}])


    def test_generator_argument(mpcheck):
        mpcheck.assert_map_equal(ident, [0, (i for i in range(3))])


    def test_module_level_function_and_plain_arguments(mpcheck):
        mpcheck.assert_map_equal(ident, [1, 2, {"lock": None}], start_methods="fork")
"""


def test_unpicklable_function_and_arguments(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, BEFORE_ANY_WORKER, "--mp-processes=2", "--mp-timeout=30")
    result.assert_outcomes(passed=1, failed=4)

    matcher = section(result, "test_lambda")
    matcher.fnmatch_lines(
        [
            "E *pytest_mpcheck.UnpicklableError: the function test_lambda.<locals>.<lambda> "
            f"(*test_unpicklable_function_and_arguments.py:*) {UNPICKLABLE} to send it to the "
            "workers (before any worker started)",
            "E *why: a lambda has no importable name, and pickle sends functions by name",
            "E *what to do: define it with `def` at module level*",
            "E *pickle said: *",
        ]
    )
    _no_raw_pickling_traceback(matcher)

    matcher = section(result, "test_local_function")
    matcher.fnmatch_lines(
        [
            "E *UnpicklableError: the function test_local_function.<locals>.inner (*) "
            f"{UNPICKLABLE} to send it to the workers (before any worker started)",
            "E *why: a function defined inside another function has no importable name*",
            "E *what to do: move it to module level*",
        ]
    )
    _no_raw_pickling_traceback(matcher)

    matcher = section(result, "test_lock_argument")
    matcher.fnmatch_lines(
        [
            f"E *UnpicklableError: input at index 2 {UNPICKLABLE} to send it to a worker "
            "(before any worker started)",
            "E *input: {'lock': <unlocked _thread.lock object at *>}",
            "E *culprit: argument at index 2*'lock'* is <unlocked _thread.lock object at *>",
            f"E *why: {LOCK_REASON}*",
            "E *what to do: *Manager().Lock()*",
        ]
    )
    _no_raw_pickling_traceback(matcher)

    matcher = section(result, "test_generator_argument")
    matcher.fnmatch_lines(
        [
            f"E *UnpicklableError: input at index 1 {UNPICKLABLE} to send it to a worker*",
            "E *input: <generator object *>",
            "E *why: a generator is a paused computation tied to this process",
            "E *what to do: pass the values instead*",
        ]
    )
    _no_raw_pickling_traceback(matcher)


IN_A_WORKER = """
    import threading


    def make_generator(n):
        return (i for i in range(n))


    def make_list(n):
        return list(range(n))


    class NeedsTwo(Exception):
        def __init__(self, a, b):
            super().__init__(a)
            self.b = b


    class Rebuilds(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)


    def raise_needs_two(x):
        raise NeedsTwo(x, "extra")


    def raise_rebuilds(x):
        raise Rebuilds(x, "extra")


    def raise_with_lock(x):
        raise ValueError("bad", threading.Lock())


    def test_generator_result(mpcheck):
        mpcheck.assert_map_equal(make_generator, [1, 2])


    def test_list_result(mpcheck):
        mpcheck.assert_map_equal(make_list, [1, 2])


    def test_exception_needs_two(mpcheck):
        mpcheck.assert_map_equal(raise_needs_two, [1, 2])


    def test_exception_rebuilds(mpcheck):
        mpcheck.assert_map_equal(raise_rebuilds, [1, 2])


    def test_exception_with_lock(mpcheck):
        mpcheck.assert_map_equal(raise_with_lock, [1, 2])
"""


@pytest.mark.parametrize("method", METHODS)
def test_unpicklable_results_and_exceptions(pytester: pytest.Pytester, method: str) -> None:
    result = run_pytest(
        pytester, IN_A_WORKER, f"--mp-start-methods={method}", "--mp-processes=2", "--mp-timeout=30"
    )
    result.assert_outcomes(passed=2, failed=3)

    matcher = section(result, "test_generator_result")
    matcher.fnmatch_lines(
        [
            f"E *UnpicklableError: the result for index 0 {UNPICKLABLE} to send it back "
            f"from the worker (under {method}, via=map)",
            "E *input: 1",
            "E *why: a generator is a paused computation tied to this process",
            "E *what to do: *",
        ]
    )
    _no_raw_pickling_traceback(matcher)

    # A plain Pool hangs forever on this one.
    matcher = section(result, "test_exception_needs_two")
    matcher.fnmatch_lines(
        [
            f"E *UnpicklableError: the exception raised for index 0 {UNPICKLABLE} to send it "
            f"back from the worker (under {method}, via=map)",
            "E *input: 1",
            "E *why: it pickles but cannot be rebuilt: TypeError: *NeedsTwo.__init__()*",
            "E *what to do: pass every constructor argument on to super().__init__(...)*",
            "E *note: a plain multiprocessing.Pool hangs forever*",
            "E *worker traceback (last lines):",
            "E *raise NeedsTwo(x, *",
        ]
    )
    _no_raw_pickling_traceback(matcher)

    matcher = section(result, "test_exception_with_lock")
    matcher.fnmatch_lines(
        [
            f"E *UnpicklableError: the exception raised for index 0 {UNPICKLABLE} to send it "
            f"back from the worker (under {method}, via=map)",
            "E *why: *",
            "E *what to do: *",
            "E *pickle said: TypeError: cannot pickle '_thread.lock' object",
            "E *raise ValueError(*threading.Lock())",
        ]
    )
    _no_raw_pickling_traceback(matcher)


def test_culprit_inside_an_exception_is_located(pytester: pytest.Pytester) -> None:
    """A lock in an exception's args is named, with the lock's reason and advice."""
    source = """
        import threading


        def raise_with_lock(x):
            raise ValueError("bad", threading.Lock())


        def test_exception_with_lock(mpcheck):
            mpcheck.assert_map_equal(raise_with_lock, [1, 2], start_methods="fork")
    """
    result = run_pytest(pytester, source, "--mp-processes=2", "--mp-timeout=30")
    result.assert_outcomes(failed=1)
    section(result, "test_exception_with_lock").fnmatch_lines(
        [
            "E *culprit: exception raised for index 0.args[[]1[]] is <unlocked _thread.lock *>",
            f"E *why: {LOCK_REASON}*",
            "E *what to do: *initargs*",
        ]
    )


def test_argument_report_shows_no_plugin_frames(pytester: pytest.Pytester) -> None:
    """An unpicklable argument is reported at the user's call, not inside the plugin."""
    source = """
        import threading


        def ident(x):
            return x


        def test_lock_argument(mpcheck):
            mpcheck.assert_map_equal(ident, [threading.Lock()])
    """
    result = run_pytest(pytester, source, "--mp-processes=2")
    result.assert_outcomes(failed=1)
    text = "\n".join(section(result, "test_lock_argument").lines)
    assert "pytest_mpcheck" not in text.replace("pytest_mpcheck.UnpicklableError", ""), text


UNLOADABLE_SOURCE = """
    import sys
    import types

    import pytest


    def ghost():
        # A module that exists only in this process (made at run time, not on import).
        if "ghost_module" not in sys.modules:
            module = types.ModuleType("ghost_module")
            exec("def twice(x):\\n    return 2 * x\\n\\nclass Box:\\n    pass\\n", module.__dict__)
            sys.modules["ghost_module"] = module
        return sys.modules["ghost_module"]


    def type_name(x):
        return type(x).__name__


    @pytest.mark.parametrize("method", METHODS)
    def test_function(mpcheck, method):
        mpcheck.assert_map_equal(ghost().twice, [1, 2], start_methods=method)


    @pytest.mark.parametrize("method", METHODS)
    def test_argument(mpcheck, method):
        mpcheck.assert_map_equal(type_name, [1, ghost().Box()], start_methods=method)
"""


def test_what_a_worker_cannot_import_is_reported(pytester: pytest.Pytester) -> None:
    """Under fork the worker has the parent's modules; spawned workers must import them."""
    spawned = [m for m in METHODS if m != "fork"]
    source = UNLOADABLE_SOURCE.replace("METHODS", repr(list(METHODS)))
    result = run_pytest(pytester, source, "--mp-processes=2", "--mp-timeout=30")
    result.assert_outcomes(passed=2 * ("fork" in METHODS), failed=2 * len(spawned))
    for method in spawned:
        section(result, f"test_function[{method}]").fnmatch_lines(
            [
                f"E *UnpicklableError: {UNLOADABLE}: the function under {method} (via=map)",
                "E *error in the worker: ModuleNotFoundError: No module named 'ghost_module'",
                "E *why: * module 'ghost_module' could not provide them there.",
                "E *what to do: define them in an importable module*",
            ]
        )
        section(result, f"test_argument[{method}]").fnmatch_lines(
            [
                f"E *UnpicklableError: {UNLOADABLE}: the argument at index 1 under {method}*",
                "E *error in the worker: ModuleNotFoundError: No module named 'ghost_module'",
            ]
        )
