"""Broken: a function that never returns for one of its inputs."""

from __future__ import annotations

import pytest

from waiting import wait_for


@pytest.mark.mpcheck(timeout=3)
def test_wait_for_outputs(mpcheck, tmp_path):
    (tmp_path / "a.out").write_text("done")
    # b.out is never written: the check gives up after 3 seconds, shows where
    # each worker is stuck, and stops them.
    mpcheck.assert_map_equal(wait_for, [tmp_path / "a.out", tmp_path / "b.out"])


@pytest.mark.timeout(3)
def test_wait_for_outputs_under_pytest_timeout(mpcheck, tmp_path):
    (tmp_path / "a.out").write_text("done")
    # pytest-timeout's limit (3 s) comes before the check's own (60 s): the test
    # fails with pytest-timeout's message, the workers' stacks, and no worker left.
    mpcheck.assert_map_equal(wait_for, [tmp_path / "a.out", tmp_path / "b.out"])
