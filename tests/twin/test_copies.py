"""Where a copy lands, what it keeps, and every reason AWS gives for refusing or failing one.

docs/aws-facts.md §B.1 (StartCopyJob: creation date and lifecycle of copies, organizations, cold
and continuous points, IdempotencyToken), §B.4 (vault lock MinRetentionDays), §B.9 (vault
access policies: CopyIntoBackupVault on the destination, CopyFromBackupVault with
backup:CopyTargets on the source).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OTHER_REGION,
    OUTSIDER_ACCOUNT,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.twin import Twin
from tests.twin.helpers import (
    EBS,
    EFS,
    VAULT,
    Layout,
    copy_into_policy,
    error_of,
    role,
    vault_arn,
)

pytestmark = pytest.mark.twin

DAY = timedelta(days=1)


def finish(layout: Layout) -> None:
    layout.run(timedelta(hours=2))


def failed_with(layout: Layout, job_id: str) -> str:
    job = layout.copy_job(job_id)
    assert job["State"] == "FAILED", job
    assert "DestinationRecoveryPointArn" not in job
    return str(job["StatusMessage"])


def test_a_copy_lands_in_the_destination_vault_with_the_originals_date_and_lifecycle(
    layout: Layout,
) -> None:
    """§B.1: copies keep the source's creation date; without a lifecycle, the source's applies."""
    original_arn = layout.backed_up(
        lifecycle={"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 365}
    )
    job_id = layout.start_copy(original_arn)["CopyJobId"]
    finish(layout)

    job = layout.copy_job(job_id)
    assert job["State"] == "COMPLETED"
    assert "DestinationRecoveryPointLifecycle" not in job
    copy_arn = job["DestinationRecoveryPointArn"]
    assert copy_arn.startswith(f"arn:aws:backup:{BACKUP_REGION}:{BACKUP_ACCOUNT}:recovery-point:")
    original = layout.source.describe_recovery_point(
        BackupVaultName=VAULT, RecoveryPointArn=original_arn
    )
    copy = layout.backup_client(BACKUP_REGION).describe_recovery_point(
        BackupVaultName=VAULT, RecoveryPointArn=copy_arn
    )
    assert copy["BackupVaultArn"] == layout.to_backup_region
    assert copy["SourceBackupVaultArn"] == layout.source_vault
    assert copy["CreationDate"] == original["CreationDate"]
    assert copy["CompletionDate"] == job["CompletionDate"]
    assert copy["Lifecycle"] == {"MoveToColdStorageAfterDays": 30, "DeleteAfterDays": 365}
    assert copy["CalculatedLifecycle"] == original["CalculatedLifecycle"]
    assert (copy["ResourceArn"], copy["ResourceType"]) == (EFS, "EFS")
    # Nowhere else: not in the other regions of the backup account, not in the source account.
    for region in (MAIN_REGION, OTHER_REGION):
        listed = layout.backup_client(region).list_recovery_points_by_backup_vault(
            BackupVaultName=VAULT
        )
        assert listed["RecoveryPoints"] == []
    own = layout.source.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)
    assert [p["RecoveryPointArn"] for p in own["RecoveryPoints"]] == [original_arn]


def test_a_copy_takes_the_jobs_lifecycle_when_given_counted_from_the_original(
    layout: Layout,
) -> None:
    """§B.1: a copy's retention counts from the source's creation date."""
    original_arn = layout.backed_up(lifecycle={"DeleteAfterDays": 14})
    created = layout.twin.backup.points[original_arn].creation_date
    layout.run(3 * DAY)
    job_id = layout.start_copy(original_arn, Lifecycle={"DeleteAfterDays": 35})["CopyJobId"]
    finish(layout)

    job = layout.copy_job(job_id)
    assert job["DestinationRecoveryPointLifecycle"] == {"DeleteAfterDays": 35}
    copy = layout.backup_client(BACKUP_REGION).describe_recovery_point(
        BackupVaultName=VAULT, RecoveryPointArn=job["DestinationRecoveryPointArn"]
    )
    assert copy["Lifecycle"] == {"DeleteAfterDays": 35}
    assert copy["CalculatedLifecycle"] == {"DeleteAt": created + 35 * DAY}


def test_a_cross_account_copy_needs_copy_into_backup_vault_for_the_callers_copy_role(
    layout: Layout, twin: Twin
) -> None:
    """§B.1, §B.9: the destination vault's policy must allow the role backup:CopyIntoBackupVault."""
    original = layout.backed_up()
    backup = layout.backup_client(BACKUP_REGION)
    for name, policy in (
        ("No-Policy", None),
        ("Other-Role", copy_into_policy("SomeoneElse")),
    ):
        twin.create_vault(BACKUP_ACCOUNT, BACKUP_REGION, name)
        if policy is not None:
            backup.put_backup_vault_access_policy(BackupVaultName=name, Policy=policy)
    refused = [
        layout.start_copy(original, vault_arn(BACKUP_ACCOUNT, BACKUP_REGION, name))["CopyJobId"]
        for name in ("No-Policy", "Other-Role")
    ]
    allowed = layout.start_copy(original)["CopyJobId"]
    finish(layout)

    for job_id in refused:
        message = failed_with(layout, job_id)
        assert "backup:CopyIntoBackupVault" in message
        assert role() in message
    assert layout.state(allowed) == "COMPLETED"
    events = layout.copy_events(refused[0])
    assert events[-1]["detail"]["state"] == "FAILED"
    assert events[-1]["detail"]["statusMessage"] == failed_with(layout, refused[0])
    assert events[-1]["detail"]["destinationRecoveryPointArn"] == {}


def test_a_cross_account_copy_fails_unless_both_accounts_are_in_one_organization(
    layout: Layout, twin: Twin
) -> None:
    """§B.1: "Copy job failed. Both source and destination account must be a member of the same
    organization"; and cross-account backup must be enabled for the organization."""
    original = layout.backed_up()
    open_policy = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ]
        }
    )
    twin.create_vault(OUTSIDER_ACCOUNT, MAIN_REGION, VAULT)
    twin.client("backup", OUTSIDER_ACCOUNT, MAIN_REGION).put_backup_vault_access_policy(
        BackupVaultName=VAULT, Policy=open_policy
    )
    outside = layout.start_copy(original, vault_arn(OUTSIDER_ACCOUNT, MAIN_REGION))["CopyJobId"]
    finish(layout)
    assert failed_with(layout, outside).startswith(
        "Copy job failed. Both source and destination account must be a member of the same "
        "organization"
    )

    twin.organization.cross_account_backup_enabled = False
    disabled = layout.start_copy(original)["CopyJobId"]
    finish(layout)
    assert "Cross-account backup is not enabled" in failed_with(layout, disabled)
    # Within one account (another region) no organization setting matters.
    twin.create_vault(RESOURCE_ACCOUNT, BACKUP_REGION, VAULT)
    same_account = layout.start_copy(original, vault_arn(RESOURCE_ACCOUNT, BACKUP_REGION))
    finish(layout)
    assert layout.state(same_account["CopyJobId"]) == "COMPLETED"


def test_a_source_vault_can_deny_copies_to_targets_outside_the_backup_account(
    layout: Layout, twin: Twin
) -> None:
    """§B.9: Deny backup:CopyFromBackupVault with ForAllValues:ArnNotLike backup:CopyTargets."""
    layout.source.put_backup_vault_access_policy(
        BackupVaultName=VAULT,
        Policy=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "backup:CopyFromBackupVault",
                        "Resource": "*",
                        "Condition": {
                            "ForAllValues:ArnNotLike": {
                                "backup:CopyTargets": [
                                    f"arn:aws:backup:*:{BACKUP_ACCOUNT}:backup-vault:*"
                                ]
                            }
                        },
                    }
                ]
            }
        ),
    )
    twin.create_vault(SECOND_RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    twin.client("backup", SECOND_RESOURCE_ACCOUNT, MAIN_REGION).put_backup_vault_access_policy(
        BackupVaultName=VAULT, Policy=copy_into_policy()
    )
    original = layout.backed_up()
    elsewhere = layout.start_copy(original, vault_arn(SECOND_RESOURCE_ACCOUNT, MAIN_REGION))
    to_backup = layout.start_copy(original)
    finish(layout)

    message = failed_with(layout, elsewhere["CopyJobId"])
    assert "backup:CopyFromBackupVault" in message
    assert layout.source_vault in message
    assert layout.state(to_backup["CopyJobId"]) == "COMPLETED"


def test_a_locked_destination_refuses_copies_shorter_than_its_min_retention(
    layout: Layout, twin: Twin
) -> None:
    """§B.4: copies into a vault with MinRetentionDays fail if their retention is shorter."""
    locked = "Locked-Vault"
    twin.create_vault(BACKUP_ACCOUNT, BACKUP_REGION, locked, locked=True, min_retention_days=30)
    layout.backup_client(BACKUP_REGION).put_backup_vault_access_policy(
        BackupVaultName=locked, Policy=copy_into_policy()
    )
    destination = vault_arn(BACKUP_ACCOUNT, BACKUP_REGION, locked)
    original = layout.backed_up(lifecycle={"DeleteAfterDays": 14})
    inherited = layout.start_copy(original, destination)["CopyJobId"]
    short = layout.start_copy(original, destination, Lifecycle={"DeleteAfterDays": 29})
    long_enough = layout.start_copy(original, destination, Lifecycle={"DeleteAfterDays": 30})
    finish(layout)

    assert "minimum retention of 30 days" in failed_with(layout, inherited)
    assert "29 days" in failed_with(layout, short["CopyJobId"])
    assert layout.state(long_enough["CopyJobId"]) == "COMPLETED"


def test_cold_and_continuous_recovery_points_cannot_be_copied(layout: Layout, twin: Twin) -> None:
    """§B.1: cold-tier backups cannot be copied; StartCopyJob does not support continuous ones."""
    backup = twin.backup
    cold = backup.put_recovery_point(
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        VAULT,
        EFS,
        lifecycle={"MoveToColdStorageAfterDays": 7, "DeleteAfterDays": 120},
        created=layout.clock_now - 10 * DAY,
    )
    continuous = backup.put_recovery_point(
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        VAULT,
        EFS,
        continuous=True,
        lifecycle={"DeleteAfterDays": 35},
    )
    assert ":recovery-point:continuous:" in continuous

    for point, expected in ((cold, "cold storage"), (continuous, "continuous")):
        code, message, status = error_of(
            layout.source.start_copy_job,
            RecoveryPointArn=point,
            SourceBackupVaultName=VAULT,
            DestinationBackupVaultArn=layout.to_backup_region,
            IamRoleArn=role(),
        )
        assert (code, status) == ("InvalidRequestException", 400)
        assert expected in message
    assert layout.source.list_copy_jobs()["CopyJobs"] == []

    # The same point while still warm (a day before its cold date) copies fine.
    warm = backup.put_recovery_point(
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        VAULT,
        EFS,
        lifecycle={"MoveToColdStorageAfterDays": 7, "DeleteAfterDays": 120},
        created=layout.clock_now - 6 * DAY,
    )
    assert layout.start_copy(warm)["CopyJobId"]


def test_a_repeated_start_copy_job_with_the_same_token_returns_the_same_job(
    layout: Layout,
) -> None:
    """§B.1: retrying with the same IdempotencyToken "results in a success message with no
    action taken"; the twin returns the original job (the shape AWS's response would have)."""
    original = layout.backed_up(EBS)
    token = f"{original}-{layout.to_backup_region}"
    first = layout.start_copy(original, IdempotencyToken=token)
    layout.run(timedelta(minutes=5))
    again = layout.start_copy(original, IdempotencyToken=token)
    other = layout.start_copy(original, layout.to_this_region, IdempotencyToken="another-token")

    assert again["CopyJobId"] == first["CopyJobId"]
    assert again["CreationDate"] == first["CreationDate"]
    assert other["CopyJobId"] != first["CopyJobId"]
    jobs = layout.source.list_copy_jobs(ByResourceArn=EBS)["CopyJobs"]
    assert sorted(j["CopyJobId"] for j in jobs) == sorted([first["CopyJobId"], other["CopyJobId"]])
    created_events = [e for e in layout.copy_events() if e["detail"]["state"] == "CREATED"]
    assert len(created_events) == 2
    # The write is recorded each time it is made, so a test can count retries.
    assert sum(c.operation == "start_copy_job" for c in layout.twin.backup.write_calls()) == 3


def test_a_copy_whose_source_disappears_before_it_starts_fails(layout: Layout, twin: Twin) -> None:
    """§B.1: a copy needs its source; the twin fails it like AWS fails a missing resource."""
    original = layout.backed_up()
    blocker = layout.start_copy(original)["CopyJobId"]
    waiting = layout.start_copy(original, layout.to_this_region)["CopyJobId"]
    layout.source.delete_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=original)
    finish(layout)
    # What AWS does to the running one is not documented; the queued one cannot start.
    assert layout.state(blocker) in {"COMPLETED", "FAILED"}
    assert "was not found" in failed_with(layout, waiting)
