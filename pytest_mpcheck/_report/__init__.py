"""Reporting: turning findings into the words a user reads.  Knows nothing of pytest."""

from __future__ import annotations
