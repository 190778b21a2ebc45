"""Run-level reporting: per-check records, the terminal summary and the JSON report.

A ``CheckRecord`` is a plain dict of JSON values so that it can ride on a
pytest report (``user_properties``) through pytest-xdist to the controller,
and land unchanged in ``--junitxml`` and ``--mp-report``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from pytest_mpcheck._settings import START_METHOD_ORDER

__all__ = ["PROPERTY", "SCHEMA_VERSION", "make_record", "report_document", "summary_lines"]

#: Name of the ``user_properties`` entry that carries one check record.
PROPERTY = "mpcheck"
#: Version of the ``--mp-report`` JSON layout; bumped on incompatible change.
SCHEMA_VERSION = 1


def make_record(
    kind: str,
    start_methods: Sequence[str],
    processes: int,
    duration: float,
    outcome: str,
    finding: str | None,
    via: str | None = None,
    items: int | None = None,
    rounds: int | None = None,
    schedule: str | None = None,
) -> dict[str, Any]:
    """One check, as JSON values: what ran, how long, and how it ended."""
    return {
        "kind": kind,
        "start_methods": list(start_methods),
        "via": via,
        "rounds": rounds,
        "schedule": schedule,
        "processes": processes,
        "items": items,
        "duration": round(duration, 6),
        "outcome": outcome,
        "finding": finding,
    }


def summary_lines(
    records: Sequence[tuple[str, dict[str, Any]]], seed: int, verbosity: int
) -> list[str]:
    """The terminal summary: per start method, findings by kind, slowest checks, the seed."""
    if not records:
        return []
    per_method: dict[str, Counter[str]] = defaultdict(Counter)
    findings: Counter[str] = Counter()
    for _, record in records:
        for method in record["start_methods"]:
            tally = per_method[method]
            tally["checks"] += 1
            tally[record["kind"]] += 1
            tally["items"] += record["items"] or 0
            tally["rounds"] += record["rounds"] or 0
            tally["processes"] += record["processes"] if record["rounds"] else 0
            if record.get("schedule"):
                tally[record["schedule"]] += 1
        if record["finding"] and record["outcome"] == "failed":
            findings[record["finding"].split(":", 1)[0]] += 1
    lines = [f"{len(records)} checks; rerun with --mp-seed={seed}"]
    order = {method: rank for rank, method in enumerate(START_METHOD_ORDER)}
    for method in sorted(per_method, key=lambda m: (order.get(m, len(order)), m)):
        tally = per_method[method]
        lines.append(
            f"  {method}: {tally['checks']} checks ({tally['map_equal']} map, "
            f"{tally['stress']} stress, {tally['instrument']} instrument), "
            f"{tally['items']} items compared, {tally['rounds']} stress rounds"
            + (
                f", schedules: {tally['controlled']} controlled, {tally['free']} free"
                if tally["stress"]
                else ""
            )
        )
    if findings:
        lines.append("  findings: " + ", ".join(f"{k} x{n}" for k, n in findings.most_common()))
    else:
        lines.append("  findings: none")
    if verbosity >= 1:
        slowest = sorted(records, key=lambda entry: -entry[1]["duration"])[:5]
        lines.append("  slowest checks:")
        lines += [
            f"    {record['duration']:.2f}s {record['kind']} in {nodeid}"
            for nodeid, record in slowest
        ]
    return lines


def report_document(settings: dict[str, Any], records: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """The ``--mp-report`` JSON text."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "settings": settings,
        "checks": [{"test": nodeid, **record} for nodeid, record in records],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
