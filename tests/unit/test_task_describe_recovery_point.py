"""DescribeRecoveryPoint ("DescribeOriginal") against the twin, from the events AWS sends.

The events here are the ones the twin published for real backups and copies, or the "Backup
Needs Finishing" event the reconciliation writes, so the task is proven on the shapes that will
start it, quirks included. Describing never writes.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.accounts import BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import PlanInfo
from tasks.errors import InvalidInput, RecoveryPointNotEligible, ThrottlingException
from tasks.events import finish_request
from tests.unit.conftest import DAY, EBS, World


def test_an_on_demand_backup_is_described_with_its_two_destinations(world: World) -> None:
    event = world.backup_event(lifecycle={"DeleteAfterDays": 35})
    original = world.run("DescribeRecoveryPoint", world.describe_input(event))
    assert original == {
        "RecoveryPointArn": event["resources"][0],
        "BackupVaultName": world.settings.vault_name,
        "BackupVaultArn": event["detail"]["backupVaultArn"],
        "ResourceArn": event["detail"]["resourceArn"],
        "ResourceType": "EFS",
        "CreationDate": "2026-11-20T05:00:00Z",
        "Status": "COMPLETED",
        "StorageClass": "WARM",
        "Lifecycle": {"DeleteAfterDays": 35},
        "CalculatedLifecycle": {"DeleteAt": "2026-12-25T05:00:00Z"},
        "BackupSizeInBytes": 36048,
        "Trigger": "BackupJob",
        "JobId": event["detail"]["backupJobId"],
        "Region": MAIN_REGION,
        "Destinations": world.destinations,
    }


def test_an_ebs_snapshot_is_described_although_its_arn_has_no_account(world: World) -> None:
    event = world.backup_event(resource=EBS)
    original = world.run("DescribeRecoveryPoint", world.describe_input(event))
    assert original["ResourceType"] == "EBS"
    assert original["RecoveryPointArn"].startswith(f"arn:aws:ec2:{MAIN_REGION}::snapshot/snap-")


def test_a_plans_completed_copy_leads_back_to_the_original(world: World) -> None:
    original = world.backup(plan=PlanInfo(), copy_actions=(world.destinations[0],))
    [(_, _, copy_event)] = [
        e
        for e in world.twin.router.events("Copy Job State Change")
        if e[2]["detail"]["state"] == "COMPLETED"
    ]
    writes = world.writes()
    described = world.run("DescribeRecoveryPoint", world.describe_input(copy_event))
    assert described["Trigger"] == "PlanCopyJob"
    assert described["RecoveryPointArn"] == original
    assert described["JobId"] == copy_event["detail"]["copyJobId"]
    assert world.writes() == writes


def test_a_plan_backup_is_refused_unless_scheduled_backups_are_copied(world: World) -> None:
    event = world.backup_event(plan=PlanInfo())
    with pytest.raises(InvalidInput, match="CopyScheduledBackups is false"):
        world.run("DescribeRecoveryPoint", world.describe_input(event))
    copied = world.run(
        "DescribeRecoveryPoint", world.describe_input(event, CopyScheduledBackups="true")
    )
    assert copied["Trigger"] == "BackupJob"


def test_a_continuous_backup_is_not_eligible_for_copying(world: World) -> None:
    event = world.backup_event(continuous=True)
    with pytest.raises(RecoveryPointNotEligible, match="continuous"):
        world.run("DescribeRecoveryPoint", world.describe_input(event))


def test_a_backup_already_in_cold_storage_is_not_eligible_for_copying(world: World) -> None:
    event = world.backup_event(lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 100})
    world.twin.clock.advance(2 * 24 * 3600)
    with pytest.raises(RecoveryPointNotEligible, match="COLD storage"):
        world.run("DescribeRecoveryPoint", world.describe_input(event))


def test_a_backup_in_the_backup_region_copies_to_the_alternate_first(world: World) -> None:
    event = world.backup_event(region=BACKUP_REGION)
    described = world.run(
        "DescribeRecoveryPoint", world.describe_input(event, Region=BACKUP_REGION)
    )
    assert described["Destinations"] == [
        world.destinations[1],  # the alternate (us-east-1) ...
        world.destinations[0],  # ... then this region, the backup region itself
    ]


def test_throttling_reaches_the_caller_as_throttling_after_botocores_retries(
    world: World,
) -> None:
    event = world.backup_event()
    world.twin.backup.throttle(1.0, codes=["ThrottlingException"])
    with pytest.raises(ThrottlingException):
        world.run("DescribeRecoveryPoint", world.describe_input(event))
    attempts = [c for c in world.twin.backup.calls if c.operation == "describe_recovery_point"]
    assert [c.error for c in attempts] == ["ThrottlingException"] * 3


# --- "Backup Needs Finishing" (design.md §3, branch 3) -------------------------------------


def finishing(world: World, arn: str, **changes: Any) -> dict[str, Any]:
    """The event the reconciliation starts an execution with for this backup."""
    vault = (
        f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:backup-vault:{world.settings.vault_name}"
    )
    event = finish_request(
        event_id="756ee994-8f8a-5d05-9e62-cca969e8d0c7",
        account=RESOURCE_ACCOUNT,
        region=MAIN_REGION,
        time=world.twin.clock.iso_now(),
        recovery_point_arn=arn,
        vault_arn=vault,
        reason="no verified copy",
    )
    return {**event, **changes}


def test_a_backup_to_finish_is_described_like_an_on_demand_one(world: World) -> None:
    arn = world.backup()
    with world.nothing_written():
        described = world.run("DescribeRecoveryPoint", world.describe_input(finishing(world, arn)))
    assert described["Trigger"] == "Finish"
    assert described["JobId"] == "756ee994-8f8a-5d05-9e62-cca969e8d0c7"
    assert described["RecoveryPointArn"] == arn
    assert described["Destinations"] == world.destinations


def test_a_plan_backup_to_finish_is_taken_even_when_plan_backups_are_not_copied(
    world: World,
) -> None:
    # The reconciliation finishes a plan's half-done copies (design.md §5b).
    arn = world.backup(plan=PlanInfo(), copy_actions=(world.destinations[0],))
    described = world.run("DescribeRecoveryPoint", world.describe_input(finishing(world, arn)))
    assert described["Trigger"] == "Finish"


def test_a_backup_to_finish_that_has_gone_cold_is_still_taken(world: World) -> None:
    # Its copies may exist already, with only the cut left to do.
    arn = world.backup(lifecycle={"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 100})
    world.twin.clock.advance(2 * DAY)
    described = world.run("DescribeRecoveryPoint", world.describe_input(finishing(world, arn)))
    assert described["StorageClass"] == "COLD"


def test_a_continuous_backup_to_finish_is_not_eligible(world: World) -> None:
    arn = world.backup(continuous=True)
    with world.nothing_written(), pytest.raises(RecoveryPointNotEligible, match="continuous"):
        world.run("DescribeRecoveryPoint", world.describe_input(finishing(world, arn)))
