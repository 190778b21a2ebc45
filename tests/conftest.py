"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import pytest

import pytest_mpcheck


@pytest.fixture
def pools() -> Iterator[None]:
    """For in-process tests that start worker processes: nothing may outlive the test."""
    yield
    pytest_mpcheck.close_pools()
    assert multiprocessing.active_children() == []


@pytest.fixture(scope="session", autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """After the whole suite, no worker process of this process may be alive."""
    yield
    pytest_mpcheck.close_pools()
    leftover = multiprocessing.active_children()
    for process in leftover:
        process.terminate()
        process.join(10)
    assert leftover == [], f"processes left running after the test suite: {leftover}"
