"""`make demo` tells the truth: what it prints and draws is what happened in the twin."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from local.twin import Twin

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import demo

pytestmark = [pytest.mark.twin, pytest.mark.slow]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Twin, demo.DemoResult, float]]:
    started = time.monotonic()
    with Twin() as twin:
        result = demo.run_demo(twin, tmp_path_factory.mktemp("demo"))
        yield twin, result, time.monotonic() - started


def test_the_demo_finishes_in_under_a_minute(ran: tuple[Twin, demo.DemoResult, float]) -> None:
    assert ran[2] < 60


def test_every_stack_of_two_accounts_in_three_regions_deployed(
    ran: tuple[Twin, demo.DemoResult, float],
) -> None:
    stacks = ran[1].stacks
    assert {(s.account, s.region) for s in stacks} == {
        (a, r) for a in ("999977775555", "000022224444") for r in demo.REGIONS
    }
    assert all(s.status == "CREATE_COMPLETE" for s in stacks)
    resource_stacks = [s for s in stacks if s.account == "000022224444"]
    assert all("StateMachine" in s.resources for s in resource_stacks)
    assert all(s.resources == ["CopiesVault"] for s in stacks if s.account == "999977775555")


def test_the_stories_are_the_executions_the_twin_ran(
    ran: tuple[Twin, demo.DemoResult, float],
) -> None:
    twin, result, _ = ran
    assert {s.arn for s in result.stories} == set(twin.execution_arns())
    for story in result.stories:
        described = twin.describe_execution(story.arn)
        assert story.status == described["status"]
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in twin.history(story.arn)
            if e["type"].endswith("StateEntered")
        ]
        assert story.path == entered
    statuses = sorted((s.region, s.status) for s in result.stories)
    assert statuses == [
        ("us-east-1", "SUCCEEDED"),
        ("us-west-1", "FAILED"),
        ("us-west-1", "SUCCEEDED"),
        ("us-west-2", "SUCCEEDED"),
    ]
    failed = next(s for s in result.stories if s.status == "FAILED")
    assert failed.error == "CopyJobFailed"
    assert "AWS managed key" in demo.cause_text(failed.cause)


def test_the_final_table_matches_every_recovery_point_in_the_twin(
    ran: tuple[Twin, demo.DemoResult, float],
) -> None:
    twin, result, _ = ran
    rows = {row.arn: row for row in result.points}
    assert set(rows) == set(twin.backup.points)
    now = twin.clock.now()
    for arn, point in twin.backup.points.items():
        row = rows[arn]
        assert (row.account, row.region) == (point.account, point.region)
        assert row.storage == point.storage_class(now)
        assert row.role == ("copy" if point.source_backup_vault_arn else "original")
    originals = [r for r in result.points if r.role == "original"]
    copies = [r for r in result.points if r.role == "copy"]
    # Three backups, each copied twice into the backup account, each original cut and expired.
    assert len(originals) == 3
    assert len(copies) == 6
    assert all(r.storage == "DELETED" and r.retention.startswith("8 d") for r in originals)
    assert all(r.account == "999977775555" and r.retention.startswith("14 d") for r in copies)


def test_the_printed_summary_and_the_report_show_the_same_facts(
    ran: tuple[Twin, demo.DemoResult, float],
) -> None:
    _, result, _ = ran
    console = Console(record=True, width=200)
    demo.print_result(result, console)
    printed = console.export_text()
    for story in result.stories:
        assert f"{story.name} ({story.region}): {story.status}" in printed
    for row in result.points:
        assert row.resource in printed
    report = result.report.read_text()
    assert report.count("<svg") == len(result.stories)
    # Each drawing highlights exactly the states its execution entered.
    drawings = report.split("<section>")[1:]
    for story, drawing in zip(result.stories, drawings, strict=True):
        bold = set(re.findall(r'font-weight="bold">([^<]+)</text>', drawing))
        assert bold == set(story.path)
