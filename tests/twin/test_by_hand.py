"""One on-demand backup driven through both copies by hand: what the workflow will automate.

No state machine: the backup is started as the console would (the twin's control API), the two
copies with StartCopyJob through boto3 from the resource account, one after the other
(docs/design.md §2), and the original's retention is then cut with UpdateRecoveryPointLifecycle.
The test then looks at every account and region, as a person with the console would.
Facts: docs/aws-facts.md §A.2-§A.4 (events: shapes, only where the job runs), §B.1 (copies keep the
original's creation date and lifecycle), §B.3, §B.4.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.twin import Twin
from tests.twin.helpers import ALL_REGIONS, EFS, VAULT, Layout, role
from tests.twin.test_events import assert_shaped_like

pytestmark = pytest.mark.twin

DAY = timedelta(days=1)


def everything(twin: Twin) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """Every recovery point in every vault, per (account, region), as DescribeRecoveryPoint says."""
    found: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for account in (RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT, BACKUP_ACCOUNT):
        for region in ALL_REGIONS:
            backup = twin.client("backup", account, region)
            points: dict[str, dict[str, Any]] = {}
            for vault in backup.list_backup_vaults()["BackupVaultList"]:
                name = vault["BackupVaultName"]
                listed = backup.list_recovery_points_by_backup_vault(BackupVaultName=name)
                for item in listed["RecoveryPoints"]:
                    arn = item["RecoveryPointArn"]
                    points[arn] = backup.describe_recovery_point(
                        BackupVaultName=name, RecoveryPointArn=arn
                    )
            if points:
                found[(account, region)] = points
    return found


def test_one_backup_copied_to_both_regions_by_hand_then_cut(layout: Layout, twin: Twin) -> None:
    source = twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION)
    clock = twin.clock
    started_at = clock.now()

    # 1. The on-demand backup, 14 days, made as the console would.
    backup_job = twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS, lifecycle={"DeleteAfterDays": 14}
    )
    clock.advance(600)
    described_job = source.describe_backup_job(BackupJobId=backup_job)
    assert described_job["State"] == "COMPLETED"
    original = described_job["RecoveryPointArn"]

    # 2. Copy 1: to the backup account in the backup region; wait until it is COMPLETED.
    copies: dict[str, str] = {}
    for destination in (layout.to_backup_region, layout.to_this_region):
        job_id = source.start_copy_job(
            RecoveryPointArn=original,
            SourceBackupVaultName=VAULT,
            DestinationBackupVaultArn=destination,
            IamRoleArn=role(),
            IdempotencyToken=f"{original}-{destination}",
        )["CopyJobId"]
        while source.describe_copy_job(CopyJobId=job_id)["CopyJob"]["State"] != "COMPLETED":
            assert clock.now() < started_at + DAY, "copy never completed"
            clock.advance(300)  # a poll every five minutes
        copies[destination] = source.describe_copy_job(CopyJobId=job_id)["CopyJob"][
            "DestinationRecoveryPointArn"
        ]
    # 3. Copy 2 (above, second) went to the backup account in this region. Now cut to 8 days.
    source.update_recovery_point_lifecycle(
        BackupVaultName=VAULT, RecoveryPointArn=original, Lifecycle={"DeleteAfterDays": 8}
    )

    # Recovery points: one in each of three places, none anywhere else.
    points = everything(twin)
    assert {where: set(found) for where, found in points.items()} == {
        (RESOURCE_ACCOUNT, MAIN_REGION): {original},
        (BACKUP_ACCOUNT, BACKUP_REGION): {copies[layout.to_backup_region]},
        (BACKUP_ACCOUNT, MAIN_REGION): {copies[layout.to_this_region]},
    }
    the_original = points[(RESOURCE_ACCOUNT, MAIN_REGION)][original]
    created = the_original["CreationDate"]
    assert created == started_at
    assert the_original["Lifecycle"] == {"DeleteAfterDays": 8}
    assert the_original["CalculatedLifecycle"] == {"DeleteAt": created + 8 * DAY}
    for where, arn in (
        ((BACKUP_ACCOUNT, BACKUP_REGION), copies[layout.to_backup_region]),
        ((BACKUP_ACCOUNT, MAIN_REGION), copies[layout.to_this_region]),
    ):
        copy = points[where][arn]
        assert copy["CreationDate"] == created  # §B.1: the original's date
        assert copy["Lifecycle"] == {"DeleteAfterDays": 14}  # the original's, before the cut
        assert copy["CalculatedLifecycle"] == {"DeleteAt": created + 14 * DAY}
        assert copy["SourceBackupVaultArn"] == layout.source_vault
        assert (copy["ResourceArn"], copy["StorageClass"], copy["Status"]) == (
            EFS,
            "WARM",
            "COMPLETED",
        )

    # Events: 3 for the backup and 3 per copy, all in the resource account and region.
    published = twin.router.published
    assert {(account, region) for account, region, _ in published} == {
        (RESOURCE_ACCOUNT, MAIN_REGION)
    }
    assert [(e["detail-type"], e["detail"]["state"]) for _, _, e in published] == [
        ("Backup Job State Change", "CREATED"),
        ("Backup Job State Change", "RUNNING"),
        ("Backup Job State Change", "COMPLETED"),
        ("Copy Job State Change", "CREATED"),
        ("Copy Job State Change", "RUNNING"),
        ("Copy Job State Change", "COMPLETED"),
        ("Copy Job State Change", "CREATED"),
        ("Copy Job State Change", "RUNNING"),
        ("Copy Job State Change", "COMPLETED"),
    ]
    events = [e for _, _, e in published]
    assert all((e["account"], e["region"]) == (RESOURCE_ACCOUNT, MAIN_REGION) for e in events)
    fixtures = [
        "backup_job_created.json",
        "backup_job_running.json",
        "backup_job_completed_on_demand_efs.json",
        *["copy_job_created.json", "copy_job_running.json", "copy_job_completed_on_demand.json"]
        * 2,
    ]
    for event, fixture in zip(events, fixtures, strict=True):
        assert_shaped_like(event, fixture)
    assert events[2]["resources"] == [original]
    assert [e["detail"]["destinationBackupVaultArn"] for e in events[3::3]] == [
        layout.to_backup_region,
        layout.to_this_region,
    ]
    assert [e["detail"]["destinationRecoveryPointArn"] for e in events[5::3]] == list(
        copies.values()
    )
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    # Copy 2 was started only after copy 1 completed (it was polled to COMPLETED first).
    assert events[6]["detail"]["creationDate"] >= events[5]["detail"]["completionDate"]
