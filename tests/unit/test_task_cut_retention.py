"""CutRetention against the twin: the one task that deletes data early, on purpose.

It must re-check everything itself (both copies COMPLETED according to AWS Backup, the vault
not locked, the point not continuous) and write nothing at all whenever it refuses or has
nothing to do. Each write it makes is logged with its request and AWS's answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import CopyAction, PlanInfo
from tasks.errors import (
    CopiesExpireTooSoon,
    CopiesNotVerified,
    InvalidInput,
    RecoveryPointNotEligible,
)
from tests.unit.conftest import EXECUTION, World

DAY = 24 * 3600.0


def lifecycle_updates(world: World) -> list[dict[str, object]]:
    return [
        c.params
        for c in world.twin.backup.write_calls()
        if c.operation == "update_recovery_point_lifecycle"
    ]


def test_with_both_copies_the_original_is_cut_to_the_quick_start_8_days(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    world.copy_both(original)
    result = world.run("CutRetention", world.cut_input(original))
    assert result["Action"] == "update"
    assert result["OldLifecycle"] == {"DeleteAfterDays": 35}
    assert result["NewLifecycle"] == {"DeleteAfterDays": 8}
    assert result["CalculatedLifecycle"] == {"DeleteAt": "2026-11-28T05:00:00Z"}
    assert [c["DestinationBackupVaultArn"] for c in result["Copies"]] == world.destinations
    assert world.twin.backup.points[original].lifecycle == {"DeleteAfterDays": 8}
    assert [u["Lifecycle"] for u in lifecycle_updates(world)] == [{"DeleteAfterDays": 8}]


def test_a_second_cut_writes_nothing(world: World) -> None:
    original = world.backup()
    world.copy_both(original)
    world.run("CutRetention", world.cut_input(original))
    writes = world.writes()
    again = world.run("CutRetention", world.cut_input(original))
    assert again["Action"] == "unchanged"
    assert again["OldLifecycle"] == again["NewLifecycle"] == {"DeleteAfterDays": 8}
    assert world.writes() == writes


def test_a_retention_already_short_enough_is_not_written(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 5})
    world.copy_both(original)
    writes = world.writes()
    result = world.run("CutRetention", world.cut_input(original))
    assert result["Action"] == "unchanged"
    assert "already 5 days" in result["Reason"]
    assert world.writes() == writes
    assert world.twin.backup.points[original].lifecycle == {"DeleteAfterDays": 5}


@pytest.mark.parametrize("done", [0, 1])
def test_without_both_copies_verified_nothing_is_written(world: World, done: int) -> None:
    original = world.backup()
    for destination in range(done):
        world.run("StartCopyJob", world.copy_input(original, destination))
        world.twin.clock.advance(3600)
    writes = world.writes()
    with pytest.raises(CopiesNotVerified) as refused:
        world.run("CutRetention", world.cut_input(original))
    assert world.destinations[1] in str(refused.value)
    assert world.writes() == writes
    assert world.twin.backup.points[original].lifecycle == {"DeleteAfterDays": 35}


def test_a_copy_still_running_does_not_count(world: World) -> None:
    original = world.backup()
    world.run("StartCopyJob", world.copy_input(original, 0))
    world.twin.clock.advance(3600)
    world.run("StartCopyJob", world.copy_input(original, 1))
    writes = world.writes()
    with pytest.raises(CopiesNotVerified):
        world.run("CutRetention", world.cut_input(original))
    assert world.writes() == writes


def test_one_copy_named_twice_is_refused_rather_than_verified(world: World) -> None:
    original = world.backup()
    world.run("StartCopyJob", world.copy_input(original, 0))
    world.twin.clock.advance(3600)
    writes = world.writes()
    twice = [world.destinations[0]] * 2
    with pytest.raises(InvalidInput, match="two different regions"):
        world.run("CutRetention", world.cut_input(original, Destinations=twice))
    assert world.writes() == writes


def plan_copied(world: World, first_copy_days: int) -> str:
    """A plan backup kept 35 days whose first copy action keeps its copy `first_copy_days`."""
    original = world.backup(
        lifecycle={"DeleteAfterDays": 35},
        plan=PlanInfo(),
        copy_actions=(
            CopyAction(world.destinations[0], {"DeleteAfterDays": first_copy_days}),
            world.destinations[1],
        ),
    )
    world.twin.clock.advance(2 * 3600)
    assert [j.state for j in world.copy_jobs(original)] == ["COMPLETED", "COMPLETED"]
    return original


def test_a_copy_kept_shorter_than_the_original_stops_the_cut(world: World) -> None:
    # Cutting the original to 8 days would leave the data in one 7-day copy and one 35-day
    # copy, where the user had asked for 35 days everywhere.
    original = plan_copied(world, first_copy_days=7)
    writes = world.writes()
    with pytest.raises(CopiesExpireTooSoon) as refused:
        world.run("CutRetention", world.cut_input(original))
    assert (
        f"The copy in {world.destinations[0]} is kept 7 days, shorter than the original's 35 days"
        in str(refused.value)
    )
    assert world.destinations[1] not in str(refused.value)
    assert world.writes() == writes
    assert world.twin.backup.points[original].lifecycle == {"DeleteAfterDays": 35}


def test_copies_kept_at_least_as_long_as_the_original_let_the_cut_go_ahead(world: World) -> None:
    original = plan_copied(world, first_copy_days=35)
    result = world.run("CutRetention", world.cut_input(original))
    assert result["Action"] == "update"
    assert result["Copies"][0]["DestinationRecoveryPointLifecycle"] == {"DeleteAfterDays": 35}
    assert world.twin.backup.points[original].lifecycle == {"DeleteAfterDays": 8}


def test_a_short_lived_copy_does_not_matter_when_nothing_is_cut(world: World) -> None:
    original = world.backup(
        lifecycle={"DeleteAfterDays": 5},
        plan=PlanInfo(),
        copy_actions=tuple(CopyAction(d, {"DeleteAfterDays": 3}) for d in world.destinations),
    )
    world.twin.clock.advance(2 * 3600)
    result = world.run("CutRetention", world.cut_input(original))
    assert result["Action"] == "unchanged"


def test_a_point_in_a_locked_vault_is_not_eligible(world: World) -> None:
    original = world.backup()
    world.copy_both(original)
    world.twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION).put_backup_vault_lock_configuration(
        BackupVaultName=world.settings.vault_name, MinRetentionDays=1
    )
    writes = world.writes()
    with pytest.raises(RecoveryPointNotEligible, match="Vault Lock"):
        world.run("CutRetention", world.cut_input(original))
    assert world.writes() == writes


def test_a_continuous_point_is_not_eligible(world: World) -> None:
    # A plan can copy a continuous backup (as a snapshot); its own retention still cannot be
    # changed (aws-facts.md §B.4), so the cut refuses even with both copies done.
    original = world.backup(
        plan=PlanInfo(), continuous=True, copy_actions=tuple(world.destinations)
    )
    world.twin.clock.advance(2 * 3600)
    assert [j.state for j in world.copy_jobs(original)] == ["COMPLETED", "COMPLETED"]
    writes = world.writes()
    with pytest.raises(RecoveryPointNotEligible, match="Continuous"):
        world.run("CutRetention", world.cut_input(original))
    assert world.writes() == writes


def test_an_old_backup_keeps_a_day_past_its_age(world: World) -> None:
    original = world.backup(lifecycle={"DeleteAfterDays": 35})
    world.copy_both(original)
    world.twin.clock.advance(13 * DAY)  # 13 days and a few hours old: age rounds up to 14
    result = world.run("CutRetention", world.cut_input(original))
    assert result["NewLifecycle"] == {"DeleteAfterDays": 15}
    point = world.twin.backup.points[original]
    assert point.creation_date + timedelta(days=15) > world.twin.clock.now() + timedelta(days=1)


def test_every_write_is_logged_with_its_request_and_answer(
    world: World, task_logs: Callable[[], str]
) -> None:
    original = world.backup()
    world.copy_both(original)
    task_logs()  # only the cut's lines below
    world.run("CutRetention", world.cut_input(original))
    lines = [json.loads(line) for line in task_logs().splitlines()]
    assert lines
    for line in lines:
        assert line["execution"] == EXECUTION
        assert line["recovery_point_arn"] == original
    [request] = [x for x in lines if x["message"] == "update_recovery_point_lifecycle request"]
    assert request["aws_request"] == {
        "BackupVaultName": world.settings.vault_name,
        "RecoveryPointArn": original,
        "Lifecycle": {"DeleteAfterDays": 8},
    }
    [response] = [x for x in lines if x["message"] == "update_recovery_point_lifecycle response"]
    assert response["aws_response"]["Lifecycle"] == {"DeleteAfterDays": 8}
    assert response["aws_response"]["CalculatedLifecycle"] == {"DeleteAt": "2026-11-28T05:00:00Z"}


def test_every_task_logs_the_execution_and_the_point_on_every_line(
    world: World, task_logs: Callable[[], str]
) -> None:
    event = world.backup_event()
    original = world.run("DescribeRecoveryPoint", world.describe_input(event))
    arn = original["RecoveryPointArn"]
    for destination in (0, 1):
        started = world.run("StartCopyJob", world.copy_input(arn, destination))
        world.twin.clock.advance(3600)
        world.run("DescribeCopyJob", world.wait_input(arn, started["CopyJobId"], 3600))
    world.run("VerifyCopies", world.verify_input(arn))
    world.run("CutRetention", world.cut_input(arn))
    lines = [json.loads(line) for line in task_logs().splitlines()]
    # describe, 2 x (start request + response, copy job state), verification, decision,
    # update request + response
    assert len(lines) == 11
    assert {(line["execution"], line["recovery_point_arn"]) for line in lines} == {(EXECUTION, arn)}
    writes = [line["message"] for line in lines if "aws_request" in line or "aws_response" in line]
    assert writes == [
        "start_copy_job request",
        "start_copy_job response",
        "start_copy_job request",
        "start_copy_job response",
        "update_recovery_point_lifecycle request",
        "update_recovery_point_lifecycle response",
    ]
