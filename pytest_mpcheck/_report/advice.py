"""How a user reruns or relaxes a check, in the words of the place it ran.

Under pytest that is command-line flags and the marker; in a plain script it
is keyword arguments and settings.  The caller picks one; the messages never
assume.
"""

from __future__ import annotations

import shlex
from typing import Protocol

__all__ = ["PYTEST", "SCRIPT", "Advice", "for_test"]


class Advice(Protocol):
    def rerun(self, seed: int, method: str | None) -> str:
        """How to rerun with this seed (and only this start method, if given)."""
        ...

    def more_time(self) -> str:
        """How to give a check a longer timeout."""
        ...

    def without_method(self) -> str:
        """How to leave a start method out."""
        ...

    def replay(self, token: str, method: str) -> str:
        """How to run one controlled schedule again, exactly."""
        ...


class _PytestAdvice:
    def __init__(self, nodeid: str | None = None) -> None:
        self._nodeid = nodeid

    def rerun(self, seed: int, method: str | None) -> str:
        only = "" if method is None else f" --mp-start-methods={method}"
        return f"rerun with --mp-seed={seed}{only}"

    def more_time(self) -> str:
        return "raise the limit with --mp-timeout or @pytest.mark.mpcheck(timeout=...)"

    def without_method(self) -> str:
        return "leave this start method out with --mp-start-methods"

    def replay(self, token: str, method: str) -> str:
        test = "" if self._nodeid is None else f" {shlex.quote(self._nodeid)}"
        return f"pytest{test} --mp-start-methods={method} --mp-replay={token}"


class _ScriptAdvice:
    _SETTINGS = "pytest_mpcheck.MpCheck(dataclasses.replace(pytest_mpcheck.active_settings(), {}))"

    def rerun(self, seed: int, method: str | None) -> str:
        only = "" if method is None else f", then call it with start_methods={method!r}"
        return f"rerun with {self._SETTINGS.format(f'seed={seed}')}{only}"

    def more_time(self) -> str:
        return f"raise the limit with {self._SETTINGS.format('timeout=...')}"

    def without_method(self) -> str:
        return "leave this start method out with the start_methods= keyword"

    def replay(self, token: str, method: str) -> str:
        return f"call stress() again with replay={token!r}"


PYTEST: Advice = _PytestAdvice()
SCRIPT: Advice = _ScriptAdvice()


def for_test(nodeid: str) -> Advice:
    """Advice under pytest for the test ``nodeid``: a replay names it."""
    return _PytestAdvice(nodeid)
