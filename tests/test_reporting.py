"""Run-level reporting: the terminal summary, ``--mp-report`` JSON, junitxml, pytest-xdist."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree

import pytest

from _support import run_pytest
from pytest_mpcheck._report.summary import PROPERTY, SCHEMA_VERSION

SOURCE = """
    import os

    import pytest

    PARENT = os.getpid()

    def square(x):
        return x * x

    def broken(x):
        return x if os.getpid() == PARENT else -x

    def test_good(mpcheck):
        mpcheck.assert_map_equal(square, range(6))

    def test_bad(mpcheck):
        mpcheck.assert_map_equal(broken, range(6), via="imap")

    def test_plain():
        assert True
"""

ARGS = ("--mp-start-methods=fork", "--mp-processes=2", "--mp-seed=77")


def test_summary_section_counts_checks_and_findings(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, SOURCE, *ARGS)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= mpcheck =*",
            "2 checks; rerun with --mp-seed=77",
            "  fork: 2 checks (2 map, 0 stress, 0 instrument), 12 items compared, 0 stress rounds",
            "  findings: ResultMismatchError x1",
        ]
    )
    assert "slowest checks" not in result.stdout.str()


def test_summary_is_one_line_with_q_and_fuller_with_v(pytester: pytest.Pytester) -> None:
    quiet = run_pytest(pytester, SOURCE, *ARGS, "-q")
    quiet.stdout.fnmatch_lines(["mpcheck: 2 checks; rerun with --mp-seed=77"])
    assert "findings:" not in quiet.stdout.str()
    verbose = pytester.runpytest_subprocess("-p", "no:cacheprovider", *ARGS, "-v", timeout=120)
    verbose.stdout.fnmatch_lines(["  slowest checks:", "    *s map_equal in *::test_*"])


def test_json_report_has_schema_settings_and_one_record_per_check(
    pytester: pytest.Pytester,
) -> None:
    path = pytester.path / "report.json"
    run_pytest(pytester, SOURCE, *ARGS, f"--mp-report={path}")
    document = json.loads(path.read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["settings"]["seed"] == 77
    assert document["settings"]["start_methods"] == ["fork"]
    records = {record["test"].split("::")[-1]: record for record in document["checks"]}
    assert set(records) == {"test_good", "test_bad"}
    good, bad = records["test_good"], records["test_bad"]
    assert good["outcome"] == "passed"
    assert good["finding"] is None
    assert (good["kind"], good["via"], good["items"], good["processes"]) == (
        "map_equal",
        "map",
        6,
        2,
    )
    assert bad["outcome"] == "failed"
    assert bad["via"] == "imap"
    assert bad["finding"].startswith("ResultMismatchError: parallel result differs")
    assert set(good) == {
        "test",
        "kind",
        "start_methods",
        "via",
        "rounds",
        "schedule",
        "processes",
        "items",
        "duration",
        "outcome",
        "finding",
    }


def test_report_path_from_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmp_report = from-ini.json\n")
    run_pytest(pytester, SOURCE, *ARGS)
    assert len(json.loads((pytester.path / "from-ini.json").read_text())["checks"]) == 2


def test_checks_appear_as_junitxml_properties(pytester: pytest.Pytester) -> None:
    path = pytester.path / "junit.xml"
    run_pytest(pytester, SOURCE, *ARGS, f"--junitxml={path}")
    tree = ElementTree.parse(path)
    found = {}
    for case in tree.iter("testcase"):
        values = [p.get("value") for p in case.iter("property") if p.get("name") == PROPERTY]
        found[case.get("name")] = [json.loads(value or "{}") for value in values]
    assert [record["outcome"] for record in found["test_good"]] == ["passed"]
    assert [record["outcome"] for record in found["test_bad"]] == ["failed"]
    assert found["test_plain"] == []


def test_a_finding_fails_the_run(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, SOURCE, *ARGS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_xdist_workers_share_the_seed_and_the_controller_gets_every_record(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    path = pytester.path / "report.json"
    source = SOURCE + "".join(
        f"\n    def test_more_{n}(mpcheck):\n        mpcheck.assert_map_equal(square, range({n}))\n"
        for n in range(1, 5)
    )
    result = run_pytest(
        pytester,
        source,
        "-n",
        "2",
        "--mp-start-methods=fork",
        "--mp-processes=2",
        f"--mp-report={path}",
        "-rA",
    )
    result.assert_outcomes(passed=6, failed=1)
    document = json.loads(path.read_text())
    assert len(document["checks"]) == 6
    seeds = {int(s) for s in re.findall(r"--mp-seed=(\d+)", result.stdout.str())}
    assert seeds == {document["settings"]["seed"]}
    result.stdout.fnmatch_lines(["*ResultMismatchError: parallel result differs*at index 1*"])
