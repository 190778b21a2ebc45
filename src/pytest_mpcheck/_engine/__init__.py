"""Engine: starting and supervising worker processes.  Knows nothing of pytest."""

from __future__ import annotations

from pytest_mpcheck._engine.crew import Crew, CrewBroken, CrewTimeout, MemberReport
from pytest_mpcheck._engine.pools import (
    VIAS,
    Engine,
    PoolBroken,
    PoolTimeout,
    describe_exit,
    engine,
    forking,
)

__all__ = [
    "VIAS",
    "Crew",
    "CrewBroken",
    "CrewTimeout",
    "Engine",
    "MemberReport",
    "PoolBroken",
    "PoolTimeout",
    "describe_exit",
    "engine",
    "forking",
]
