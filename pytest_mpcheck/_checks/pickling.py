"""Why an object cannot travel between processes, in words a user can act on.

``pickle`` reports the innermost failure ("cannot pickle '_thread.lock'
object") without saying where the lock sits or what to do instead.  This
module finds the offending part (a lambda, a local function, a lock, a
generator, an open file…) by walking the object, and pairs it with advice.
"""

from __future__ import annotations

import inspect
import io
import pickle
import socket
import sys
import threading
import types
from typing import Any

from pytest_mpcheck._model import PickleProblem

__all__ = [
    "PickleProblem",
    "describe_object",
    "explain_failure",
    "find_problem",
    "pickle_or_explain",
    "round_trip_problem",
]

_MAX_DEPTH = 6
_MAX_CHILDREN = 200


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _dumps(obj: Any) -> BaseException | None:
    try:
        pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return exc
    return None


def describe_object(obj: Any) -> str:
    """Name an object the way a user recognises it: function name and source line."""
    if isinstance(obj, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
        try:
            where = f" ({inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]})"
        except (OSError, TypeError):
            where = ""
        return f"{name}{where}"
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def _classify(obj: Any) -> tuple[str, str] | None:
    """Reason and advice for objects that can never be pickled, or None."""
    if isinstance(obj, types.FunctionType):
        if obj.__name__ == "<lambda>":
            return (
                "a lambda has no importable name, and pickle sends functions by name",
                "define it with `def` at module level, or use functools.partial of a "
                "module-level function",
            )
        if "<locals>" in obj.__qualname__:
            return (
                "a function defined inside another function has no importable name, "
                "and pickle sends functions by name",
                "move it to module level; pass what it captures as arguments "
                "(functools.partial of a module-level function)",
            )
        module = sys.modules.get(obj.__module__)
        if module is None or getattr(module, obj.__qualname__, None) is not obj:
            return (
                f"pickle looks functions up by name, and {obj.__module__}.{obj.__qualname__} "
                "does not lead back to this function (redefined, decorated or generated)",
                "make the function reachable under its own name at module level "
                "(decorators should use functools.wraps)",
            )
    if isinstance(obj, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)):
        return (
            "a generator is a paused computation tied to this process",
            "pass the values instead (list(...)), or create the generator inside the worker",
        )
    lock_types = (type(threading.Lock()), type(threading.RLock()), threading.Condition)
    if isinstance(obj, lock_types) or type(obj).__module__ == "multiprocessing.synchronize":
        return (
            "a lock can only be shared with worker processes when they start, not sent to them",
            "pass it to the pool at creation (Pool(initializer=..., initargs=(lock,))), use a "
            "multiprocessing.Manager().Lock(), or create it inside the worker",
        )
    if isinstance(obj, (io.IOBase, socket.socket)):
        return (
            "an open file or socket belongs to this process",
            "pass the path or address and open it inside the worker",
        )
    if isinstance(obj, types.ModuleType):
        return ("a module cannot be pickled", "import the module inside the worker instead")
    if isinstance(obj, threading.Thread):
        return ("a thread belongs to this process", "start threads inside the worker")
    if "<locals>" in type(obj).__qualname__:
        return (
            f"its class {type(obj).__qualname__} is defined inside a function, "
            "and pickle finds classes by name",
            "move the class to module level",
        )
    return None


def _children(obj: Any) -> list[tuple[str, Any]]:
    """Parts of ``obj`` that pickle would also have to send, with their access paths."""
    if isinstance(obj, dict):
        return [(f"[{k!r}]", v) for k, v in list(obj.items())[:_MAX_CHILDREN]] + [
            (f" key {k!r}", k) for k in list(obj)[:_MAX_CHILDREN]
        ]
    if isinstance(obj, (list, tuple)):
        return [(f"[{i}]", v) for i, v in enumerate(obj[:_MAX_CHILDREN])]
    if isinstance(obj, (set, frozenset)):
        return [(" element", v) for v in list(obj)[:_MAX_CHILDREN]]
    if isinstance(obj, types.MethodType):
        return [(".__self__", obj.__self__), (".__func__", obj.__func__)]
    if isinstance(obj, types.FunctionType):
        cells = obj.__closure__ or ()
        return [
            (f" (captures {n})", c.cell_contents)
            for n, c in zip(obj.__code__.co_freevars, cells, strict=True)
        ]
    partial_func = getattr(obj, "func", None)
    if callable(partial_func) and hasattr(obj, "args") and hasattr(obj, "keywords"):
        return (
            [(".func", partial_func)]
            + [(f".args[{i}]", v) for i, v in enumerate(obj.args)]
            + [(f".keywords[{k!r}]", v) for k, v in obj.keywords.items()]
        )
    found: list[tuple[str, Any]] = []
    if isinstance(obj, BaseException):
        found += [(f".args[{i}]", v) for i, v in enumerate(obj.args[:_MAX_CHILDREN])]
    attributes = getattr(obj, "__dict__", None)
    if isinstance(attributes, dict):
        found += [(f".{k}", v) for k, v in list(attributes.items())[:_MAX_CHILDREN]]
    return found


def find_problem(obj: Any, where: str) -> PickleProblem | None:
    """None if ``obj`` pickles; otherwise the innermost part that does not, explained."""
    error = _dumps(obj)
    return None if error is None else explain_failure(obj, where, error)


def explain_failure(obj: Any, where: str, error: BaseException) -> PickleProblem:
    """Explain why pickling ``obj`` raised ``error``, naming the innermost culprit."""
    path, culprit = _locate(obj, where, 0)
    known = _classify(culprit)
    reason, advice = known or (
        _error_text(error if culprit is obj else _dumps(culprit) or error),
        "make it picklable (define __reduce__ or __getstate__), or pass something simpler "
        "and build the object inside the worker",
    )
    return PickleProblem(path, describe_object(culprit), reason, advice, _error_text(error))


def _locate(obj: Any, path: str, depth: int) -> tuple[str, Any]:
    if _classify(obj) is not None or depth >= _MAX_DEPTH:
        return path, obj
    for suffix, child in _children(obj):
        if _dumps(child) is not None:
            return _locate(child, path + suffix, depth + 1)
    return path, obj


def pickle_or_explain(obj: Any, where: str) -> bytes | PickleProblem:
    """``obj`` pickled, if it pickles and loads back; otherwise why it cannot travel."""
    try:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return explain_failure(obj, where, exc)
    return round_trip_problem(obj, data, where) or data


def round_trip_problem(obj: Any, data: bytes, where: str) -> PickleProblem | None:
    """None if ``data`` (pickled ``obj``) loads back; otherwise why it cannot be rebuilt."""
    try:
        pickle.loads(data)
    except Exception as exc:
        advice = (
            "pass every constructor argument on to super().__init__(...) so that "
            "exc.args rebuilds it, or define __reduce__"
            if isinstance(obj, BaseException)
            else "define __reduce__ (or __getnewargs__) so the object can be rebuilt"
        )
        return PickleProblem(
            where,
            describe_object(obj),
            f"it pickles but cannot be rebuilt: {_error_text(exc)}",
            advice,
            _error_text(exc),
        )
    return None
