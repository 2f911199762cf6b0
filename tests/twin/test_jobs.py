"""Backup and copy jobs take time on the virtual clock, one job per resource at a time.

docs/aws-facts.md §B.1: StartCopyJob is asynchronous with no completion SLA; "only one backup
or copy job runs at a time per resource", the others wait in CREATED. §B.8: concurrency quotas,
including the outbound copy limit per destination region.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from moto.core.exceptions import JsonRESTError

from local.accounts import BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT
from local.backup import CopyAction, PlanInfo
from local.twin import Twin
from tests.twin.helpers import EBS, EFS, EFS_2, EFS_3, VAULT, Layout, role

pytestmark = pytest.mark.twin

MINUTE = timedelta(minutes=1)


def states(layout: Layout, job_id: str) -> list[str]:
    return [e["detail"]["state"] for e in layout.copy_events(job_id)]


def test_a_backup_job_runs_for_its_duration_then_leaves_a_recovery_point(layout: Layout) -> None:
    """§A.2/§B.1: a job is accepted at once and completes later; the point dates from the job."""
    backup = layout.source
    t0 = layout.clock_now
    job_id = layout.twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS)

    running = backup.describe_backup_job(BackupJobId=job_id)
    assert (running["State"], running["CreationDate"]) == ("RUNNING", t0)
    assert "RecoveryPointArn" not in running
    assert "CompletionDate" not in running

    layout.run(layout.twin.backup.backup_duration - timedelta(seconds=1))
    assert backup.describe_backup_job(BackupJobId=job_id)["State"] == "RUNNING"
    layout.run(timedelta(seconds=1))
    done = backup.describe_backup_job(BackupJobId=job_id)
    assert done["State"] == "COMPLETED"
    assert done["CompletionDate"] == t0 + layout.twin.backup.backup_duration
    point = backup.describe_recovery_point(
        BackupVaultName=VAULT, RecoveryPointArn=done["RecoveryPointArn"]
    )
    assert point["CreationDate"] == t0
    assert point["CompletionDate"] == done["CompletionDate"]


def test_a_copy_job_moves_created_running_completed_on_the_clock_not_at_once(
    layout: Layout,
) -> None:
    """§B.1: success of StartCopyJob means accepted, not done; the copy lands when it completes."""
    point = layout.backed_up()
    t0 = layout.clock_now
    started = layout.start_copy(point)
    job_id = started["CopyJobId"]
    duration = layout.twin.backup.copy_duration

    assert started["CreationDate"] == t0
    assert states(layout, job_id) == ["CREATED", "RUNNING"]
    layout.run(duration - timedelta(seconds=1))
    running = layout.copy_job(job_id)
    assert running["State"] == "RUNNING"
    assert "DestinationRecoveryPointArn" not in running
    assert "CompletionDate" not in running
    destination = layout.backup_client(BACKUP_REGION)
    assert (
        destination.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"]
        == []
    )

    layout.run(timedelta(seconds=1))
    done = layout.copy_job(job_id)
    assert done["State"] == "COMPLETED"
    assert done["CompletionDate"] == t0 + duration
    assert states(layout, job_id) == ["CREATED", "RUNNING", "COMPLETED"]
    assert [e["time"] for e in layout.copy_events(job_id)] == [
        "2026-11-20T05:10:00Z",
        "2026-11-20T05:10:00Z",
        "2026-11-20T05:40:00Z",
    ]


def test_one_job_per_resource_the_others_wait_in_created_and_start_when_it_ends(
    layout: Layout,
) -> None:
    """§B.1/§B.8: concurrent backup and copy jobs per resource: 1; the rest wait in CREATED."""
    point = layout.backed_up()
    t0 = layout.clock_now
    duration = layout.twin.backup.copy_duration
    first = layout.start_copy(point, layout.to_backup_region)["CopyJobId"]
    second = layout.start_copy(point, layout.to_this_region)["CopyJobId"]
    # A new backup of the same resource queues too.
    backup_job = layout.twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS)

    assert (layout.state(first), layout.state(second)) == ("RUNNING", "CREATED")
    assert layout.source.describe_backup_job(BackupJobId=backup_job)["State"] == "CREATED"
    assert states(layout, second) == ["CREATED"]

    # One jump over everything: the order and times must be as if time had passed slowly.
    layout.run(timedelta(hours=5))
    one, two = layout.copy_job(first), layout.copy_job(second)
    assert (one["State"], two["State"]) == ("COMPLETED", "COMPLETED")
    assert one["CompletionDate"] == t0 + duration
    assert two["CompletionDate"] == t0 + 2 * duration  # started when the first one ended
    running_event = layout.copy_events(second)[1]
    assert (running_event["detail"]["state"], running_event["time"]) == (
        "RUNNING",
        "2026-11-20T05:40:00Z",
    )
    backup_done = layout.source.describe_backup_job(BackupJobId=backup_job)
    assert backup_done["CompletionDate"] == t0 + 2 * duration + layout.twin.backup.backup_duration


def test_jobs_of_different_resources_run_side_by_side(layout: Layout) -> None:
    """§B.8: the one-at-a-time limit is per resource, not per account."""
    efs, ebs = layout.backed_up(EFS), layout.backed_up(EBS)
    jobs = [layout.start_copy(p)["CopyJobId"] for p in (efs, ebs)]
    assert [layout.state(j) for j in jobs] == ["RUNNING", "RUNNING"]


def test_the_outbound_copy_limit_is_per_account_and_destination_region(
    layout: Layout, twin: Twin
) -> None:
    """§B.8: concurrent copies per account outbound to a destination region (100 in AWS)."""
    twin.backup.outbound_copy_limit = 2
    points = [layout.backed_up(resource) for resource in (EFS, EFS_2, EFS_3, EBS)]
    to_backup_region = [layout.start_copy(p)["CopyJobId"] for p in points[:3]]
    to_this_region = layout.start_copy(points[3], layout.to_this_region)["CopyJobId"]
    # Another account's copies to the same region have their own quota.
    twin.create_vault(SECOND_RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    other_resource = EFS.replace(RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT)
    other_point = twin.backup.put_recovery_point(
        SECOND_RESOURCE_ACCOUNT, MAIN_REGION, VAULT, other_resource
    )
    other_client = twin.client("backup", SECOND_RESOURCE_ACCOUNT, MAIN_REGION)
    other_job = other_client.start_copy_job(
        RecoveryPointArn=other_point,
        SourceBackupVaultName=VAULT,
        DestinationBackupVaultArn=layout.to_backup_region,
        IamRoleArn=role(SECOND_RESOURCE_ACCOUNT),
    )["CopyJobId"]

    assert [layout.state(j) for j in to_backup_region] == ["RUNNING", "RUNNING", "CREATED"]
    assert layout.state(to_this_region) == "RUNNING"
    assert other_client.describe_copy_job(CopyJobId=other_job)["CopyJob"]["State"] == "RUNNING"

    layout.run(twin.backup.copy_duration)
    assert [layout.state(j) for j in to_backup_region] == ["COMPLETED", "COMPLETED", "RUNNING"]


def test_a_plan_backup_starts_its_copy_actions_when_it_completes(
    layout: Layout, twin: Twin
) -> None:
    """§A.3: plan-initiated copies carry createdBy; they start when the backup completes."""
    plan = PlanInfo()
    job_id = layout.start_plan_backup(
        layout.to_backup_region, lifecycle={"DeleteAfterDays": 35}, plan=plan
    )
    assert layout.source.list_copy_jobs()["CopyJobs"] == []
    layout.run(twin.backup.backup_duration)

    backup_job = layout.source.describe_backup_job(BackupJobId=job_id)
    copies = layout.source.list_copy_jobs()["CopyJobs"]
    assert len(copies) == 1
    copy = copies[0]
    assert copy["CreationDate"] == backup_job["CompletionDate"]
    assert copy["SourceRecoveryPointArn"] == backup_job["RecoveryPointArn"]
    plan_arn = f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:backup-plan:{plan.plan_id}"
    assert copy["CreatedBy"] == {
        "BackupPlanId": plan.plan_id,
        "BackupPlanArn": plan_arn,
        "BackupPlanVersion": plan.version,
        "BackupRuleId": plan.rule_id,
    }
    assert backup_job["CreatedBy"] == copy["CreatedBy"]
    layout.run(twin.backup.copy_duration)
    assert layout.state(copy["CopyJobId"]) == "COMPLETED"


def test_a_copy_action_with_its_own_lifecycle_gives_the_copy_that_lifecycle(
    layout: Layout, twin: Twin
) -> None:
    """§B.1: a copy takes its copy action's lifecycle, else the original's."""
    layout.start_plan_backup(
        CopyAction(layout.to_backup_region, {"DeleteAfterDays": 7}),
        lifecycle={"DeleteAfterDays": 35},
    )
    layout.run(twin.backup.backup_duration + twin.backup.copy_duration)
    (copy,) = layout.source.list_copy_jobs()["CopyJobs"]
    assert copy["State"] == "COMPLETED"
    assert copy["DestinationRecoveryPointLifecycle"] == {"DeleteAfterDays": 7}
    made = twin.backup.points[copy["DestinationRecoveryPointArn"]]
    assert made.lifecycle == {"DeleteAfterDays": 7}
    assert made.creation_date == twin.backup.points[copy["SourceRecoveryPointArn"]].creation_date


def test_a_copy_action_with_an_invalid_lifecycle_is_refused_before_the_backup_starts(
    layout: Layout, twin: Twin
) -> None:
    with pytest.raises(JsonRESTError, match="DeleteAfterDays cannot be less than 1"):
        layout.start_plan_backup(CopyAction(layout.to_backup_region, {"DeleteAfterDays": 0}))
    assert twin.backup.jobs == {}
