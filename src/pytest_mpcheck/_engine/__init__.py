"""Engine: starting and supervising worker processes.  Knows nothing of pytest."""

from __future__ import annotations

from .pools import VIAS, Engine, PoolBroken, PoolTimeout, engine

__all__ = ["VIAS", "Engine", "PoolBroken", "PoolTimeout", "engine"]
