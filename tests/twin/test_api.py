"""The AWS Backup operations the project uses, through real boto3 clients: shapes and errors.

docs/aws-facts.md §B.1 (StartCopyJob), §B.2 (DescribeCopyJob, ListCopyJobs filters), §B.3
(DescribeRecoveryPoint), §B.4 (UpdateRecoveryPointLifecycle, vault lock), §B.9 (vault access
policies), §B.7 (modelled error codes). botocore parses only the members its model knows, so
each test pins the exact keys a caller gets: a misspelt field in the twin would vanish here.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from local import accounts
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OTHER_REGION,
    RESOURCE_ACCOUNT,
)
from local.twin import Twin
from tests.twin.helpers import EBS, EFS, EFS_2, VAULT, Layout, error_of, role, vault_arn

pytestmark = pytest.mark.twin

DAY = timedelta(days=1)
METADATA = "ResponseMetadata"


def keys(response: dict[str, Any]) -> set[str]:
    return set(response) - {METADATA}


def test_start_backup_job_and_describe_backup_job(layout: Layout) -> None:
    started = layout.source.start_backup_job(
        BackupVaultName=VAULT,
        ResourceArn=EFS,
        IamRoleArn=role(),
        Lifecycle={"DeleteAfterDays": 14},
    )
    assert keys(started) == {"BackupJobId", "CreationDate", "IsParent"}
    running = layout.source.describe_backup_job(BackupJobId=started["BackupJobId"])
    assert keys(running) == {
        "AccountId",
        "BackupJobId",
        "BackupVaultName",
        "BackupVaultArn",
        "ResourceArn",
        "ResourceType",
        "IamRoleArn",
        "CreationDate",
        "State",
        "PercentDone",
        "BackupSizeInBytes",
        "RecoveryPointLifecycle",
        "IsParent",
    }
    assert (running["AccountId"], running["BackupVaultArn"]) == (
        RESOURCE_ACCOUNT,
        layout.source_vault,
    )
    assert running["RecoveryPointLifecycle"] == {"DeleteAfterDays": 14}

    layout.run(timedelta(hours=1))
    done = layout.source.describe_backup_job(BackupJobId=started["BackupJobId"])
    assert keys(done) - keys(running) == {"RecoveryPointArn", "CompletionDate"}
    assert (done["State"], done["PercentDone"]) == ("COMPLETED", "100.0")
    assert "CreatedBy" not in done  # on-demand: no plan (§A.2)


def test_backup_job_errors_carry_aws_codes(layout: Layout) -> None:
    """§B.7: the modelled exceptions, with HTTP 400."""
    source = layout.source
    assert error_of(
        source.start_backup_job, BackupVaultName="No-Such-Vault", ResourceArn=EFS, IamRoleArn=role()
    )[::2] == ("ResourceNotFoundException", 400)
    assert (
        error_of(
            source.start_backup_job, BackupVaultName=VAULT, ResourceArn=EFS, IamRoleArn="not-a-role"
        )[0]
        == "InvalidParameterValueException"
    )
    assert error_of(source.describe_backup_job, BackupJobId="NO-SUCH-JOB")[0] == (
        "ResourceNotFoundException"
    )
    job_id = layout.twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS)
    # A job belongs to its account and region.
    elsewhere = layout.twin.client("backup", RESOURCE_ACCOUNT, BACKUP_REGION)
    assert error_of(elsewhere.describe_backup_job, BackupJobId=job_id)[0] == (
        "ResourceNotFoundException"
    )


def test_start_copy_job_and_describe_copy_job(layout: Layout) -> None:
    original = layout.backed_up()
    started = layout.start_copy(original, Lifecycle={"DeleteAfterDays": 35})
    assert keys(started) == {"CopyJobId", "CreationDate", "IsParent"}
    running = layout.copy_job(started["CopyJobId"])
    assert set(running) == {
        "AccountId",
        "CopyJobId",
        "SourceBackupVaultArn",
        "SourceRecoveryPointArn",
        "DestinationBackupVaultArn",
        "DestinationRecoveryPointLifecycle",
        "ResourceArn",
        "ResourceType",
        "CreationDate",
        "State",
        "BackupSizeInBytes",
        "IamRoleArn",
        "IsParent",
    }
    assert running["SourceBackupVaultArn"] == layout.source_vault
    assert running["SourceRecoveryPointArn"] == original
    assert running["DestinationBackupVaultArn"] == layout.to_backup_region
    assert running["IamRoleArn"] == role()

    layout.run(timedelta(hours=1))
    done = layout.copy_job(started["CopyJobId"])
    assert set(done) - set(running) == {"DestinationRecoveryPointArn", "CompletionDate"}
    # The job lives where StartCopyJob was called, not in the destination account (§A.4).
    destination = layout.backup_client(BACKUP_REGION)
    assert error_of(destination.describe_copy_job, CopyJobId=started["CopyJobId"])[0] == (
        "ResourceNotFoundException"
    )


def test_start_copy_job_errors_carry_aws_codes(layout: Layout) -> None:
    """§B.1: ResourceNotFound, InvalidParameterValue, MissingParameterValue."""
    original = layout.backed_up()

    def start(**overrides: Any) -> str:
        request = {
            "RecoveryPointArn": original,
            "SourceBackupVaultName": VAULT,
            "DestinationBackupVaultArn": layout.to_backup_region,
            "IamRoleArn": role(),
            **overrides,
        }
        return error_of(layout.source.start_copy_job, **request)[0]

    unknown = original.rsplit(":", 1)[0] + ":00000000-0000-0000-0000-000000000000"
    assert start(RecoveryPointArn=unknown) == "ResourceNotFoundException"
    assert start(SourceBackupVaultName="Other-Vault") == "ResourceNotFoundException"
    assert start(SourceBackupVaultName="a") == "InvalidParameterValueException"
    assert (
        start(DestinationBackupVaultArn="arn:aws:s3:::bucket") == "InvalidParameterValueException"
    )
    assert start(IamRoleArn="AWSBackupDefaultServiceRole") == "InvalidParameterValueException"
    assert error_of(layout.source.describe_copy_job, CopyJobId="NO-SUCH-JOB")[0] == (
        "ResourceNotFoundException"
    )
    # botocore refuses to send a request without a required member; without that check the
    # twin answers as AWS does.
    unchecked = accounts.client("backup", RESOURCE_ACCOUNT, MAIN_REGION, parameter_validation=False)
    code, message, status = error_of(
        unchecked.start_copy_job,
        SourceBackupVaultName=VAULT,
        DestinationBackupVaultArn=layout.to_backup_region,
        IamRoleArn=role(),
    )
    assert (code, status) == ("MissingParameterValueException", 400)
    assert "RecoveryPointArn" in message
    assert layout.source.list_copy_jobs()["CopyJobs"] == []


def test_list_copy_jobs_filters_and_pages(layout: Layout, twin: Twin) -> None:
    """§B.2: BySourceRecoveryPointArn, ByState, ByDestinationVaultArn, dates; NextToken paging."""
    first, second = layout.backed_up(EFS), layout.backed_up(EFS_2)
    t_first = layout.clock_now
    to_other_region = vault_arn(BACKUP_ACCOUNT, OTHER_REGION)
    first_jobs = [
        layout.start_copy(first, destination)["CopyJobId"]
        for destination in (layout.to_backup_region, layout.to_this_region, to_other_region)
    ]
    layout.run(timedelta(minutes=45))  # the first copy completes; the second one runs
    t_second = layout.clock_now
    second_jobs = [
        layout.start_copy(second, destination)["CopyJobId"]
        for destination in (layout.to_backup_region, layout.to_this_region)
    ]
    source = layout.source

    def listed(**filters: Any) -> set[str]:
        return {j["CopyJobId"] for j in source.list_copy_jobs(**filters)["CopyJobs"]}

    assert listed() == set(first_jobs + second_jobs)
    assert listed(BySourceRecoveryPointArn=first) == set(first_jobs)
    assert listed(ByState="COMPLETED") == {first_jobs[0]}
    assert listed(ByState="RUNNING") == {first_jobs[1], second_jobs[0]}
    assert listed(ByState="CREATED") == {first_jobs[2], second_jobs[1]}
    assert listed(ByDestinationVaultArn=layout.to_backup_region) == {first_jobs[0], second_jobs[0]}
    assert listed(ByCreatedAfter=t_second - timedelta(seconds=1)) == set(second_jobs)
    assert listed(ByCreatedBefore=t_first + timedelta(seconds=1)) == set(first_jobs)
    assert listed(ByCompleteAfter=t_first) == {first_jobs[0]}
    assert listed(ByResourceArn=EFS_2, ByState="CREATED") == {second_jobs[1]}
    # Only the calling account and region.
    assert twin.client("backup", BACKUP_ACCOUNT, MAIN_REGION).list_copy_jobs()["CopyJobs"] == []

    pages = [source.list_copy_jobs(MaxResults=2)]
    while "NextToken" in pages[-1]:
        pages.append(source.list_copy_jobs(MaxResults=2, NextToken=pages[-1]["NextToken"]))
    assert [len(p["CopyJobs"]) for p in pages] == [2, 2, 1]
    paged = [j["CopyJobId"] for p in pages for j in p["CopyJobs"]]
    assert sorted(paged) == sorted(first_jobs + second_jobs)
    by_paginator = [
        j["CopyJobId"]
        for page in source.get_paginator("list_copy_jobs").paginate(
            PaginationConfig={"PageSize": 3}
        )
        for j in page["CopyJobs"]
    ]
    assert sorted(by_paginator) == sorted(paged)


def test_describe_recovery_point_shape_and_errors(layout: Layout, twin: Twin) -> None:
    """§B.3: the vault name (not ARN) and the point ARN; an EBS ARN has a '/' and no account."""
    original = layout.backed_up(EBS, lifecycle={"DeleteAfterDays": 35})
    assert original.startswith(f"arn:aws:ec2:{MAIN_REGION}::snapshot/")
    described = layout.source.describe_recovery_point(
        BackupVaultName=VAULT, RecoveryPointArn=original
    )
    assert keys(described) == {
        "RecoveryPointArn",
        "BackupVaultName",
        "BackupVaultArn",
        "ResourceArn",
        "ResourceType",
        "IamRoleArn",
        "Status",
        "CreationDate",
        "CompletionDate",
        "BackupSizeInBytes",
        "CalculatedLifecycle",
        "Lifecycle",
        "StorageClass",
        "IsEncrypted",
        "VaultType",
    }
    assert (described["Status"], described["StorageClass"], described["ResourceType"]) == (
        "COMPLETED",
        "WARM",
        "EBS",
    )
    assert described["CalculatedLifecycle"] == {"DeleteAt": described["CreationDate"] + 35 * DAY}

    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "Other-Vault")
    for vault, client in (
        ("Other-Vault", layout.source),  # the point is not in that vault
        (VAULT, twin.client("backup", BACKUP_ACCOUNT, MAIN_REGION)),  # nor in that account
        (VAULT, twin.client("backup", RESOURCE_ACCOUNT, BACKUP_REGION)),  # nor that region
        ("No-Such-Vault", layout.source),
    ):
        assert (
            error_of(
                client.describe_recovery_point, BackupVaultName=vault, RecoveryPointArn=original
            )[0]
            == "ResourceNotFoundException"
        )


def test_list_recovery_points_by_backup_vault_filters_and_pages(layout: Layout) -> None:
    """docs/aws-facts.md §B.3/§G.1: the reconciliation sweep lists a vault, page by page."""
    points = [layout.backed_up(resource) for resource in (EFS, EFS_2, EFS, EBS)]
    source = layout.source
    listed = source.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)["RecoveryPoints"]
    assert {p["RecoveryPointArn"] for p in listed} == set(points)
    assert set(listed[0]) == {
        "RecoveryPointArn",
        "BackupVaultName",
        "BackupVaultArn",
        "ResourceArn",
        "ResourceType",
        "IamRoleArn",
        "Status",
        "CreationDate",
        "CompletionDate",
        "BackupSizeInBytes",
        "CalculatedLifecycle",
        "Lifecycle",
        "IsEncrypted",
        "VaultType",
    }
    only_efs = source.list_recovery_points_by_backup_vault(BackupVaultName=VAULT, ByResourceArn=EFS)
    assert {p["RecoveryPointArn"] for p in only_efs["RecoveryPoints"]} == {points[0], points[2]}

    first = source.list_recovery_points_by_backup_vault(BackupVaultName=VAULT, MaxResults=3)
    rest = source.list_recovery_points_by_backup_vault(
        BackupVaultName=VAULT, MaxResults=3, NextToken=first["NextToken"]
    )
    assert (len(first["RecoveryPoints"]), len(rest["RecoveryPoints"])) == (3, 1)
    assert "NextToken" not in rest
    paged = {p["RecoveryPointArn"] for p in first["RecoveryPoints"] + rest["RecoveryPoints"]}
    assert paged == set(points)
    assert (
        error_of(source.list_recovery_points_by_backup_vault, BackupVaultName="No-Such-Vault")[0]
        == "ResourceNotFoundException"
    )


def test_vault_access_policy_put_get_delete(layout: Layout) -> None:
    """§B.9: the vault access policy round trip, as the template's sample vault uses it."""
    backup = layout.backup_client(OTHER_REGION)
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{RESOURCE_ACCOUNT}:root"},
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ],
        }
    )
    backup.put_backup_vault_access_policy(BackupVaultName=VAULT, Policy=policy)
    got = backup.get_backup_vault_access_policy(BackupVaultName=VAULT)
    assert keys(got) == {"BackupVaultName", "BackupVaultArn", "Policy"}
    assert (got["BackupVaultArn"], got["Policy"]) == (
        vault_arn(BACKUP_ACCOUNT, OTHER_REGION),
        policy,
    )

    backup.delete_backup_vault_access_policy(BackupVaultName=VAULT)
    assert error_of(backup.get_backup_vault_access_policy, BackupVaultName=VAULT)[0] == (
        "ResourceNotFoundException"
    )
    assert (
        error_of(
            backup.put_backup_vault_access_policy, BackupVaultName="No-Such-Vault", Policy=policy
        )[0]
        == "ResourceNotFoundException"
    )
    assert (
        error_of(backup.put_backup_vault_access_policy, BackupVaultName=VAULT, Policy="{not json")[
            0
        ]
        == "InvalidParameterValueException"
    )
    # What the twin cannot evaluate it refuses, rather than allowing or ignoring it silently.
    unsupported = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": "arn:aws:iam::000022224444:root"},
                    "Action": "backup:*",
                    "Resource": "*",
                }
            ]
        }
    )
    code, message, _ = error_of(
        backup.put_backup_vault_access_policy, BackupVaultName=VAULT, Policy=unsupported
    )
    assert code == "InvalidParameterValueException"
    assert "NotPrincipal" in message


def test_vault_lock_dates_follow_the_virtual_clock(layout: Layout, twin: Twin) -> None:
    """§B.4 (PutBackupVaultLockConfiguration): a lock can be removed during its ChangeableForDays
    grace time and is immutable after LockDate, measured on the twin's clock."""
    backup = layout.backup_client(BACKUP_REGION)
    created = layout.clock_now
    backup.create_backup_vault(BackupVaultName="Locked-Vault")
    backup.put_backup_vault_lock_configuration(
        BackupVaultName="Locked-Vault", MinRetentionDays=7, ChangeableForDays=3
    )
    described = backup.describe_backup_vault(BackupVaultName="Locked-Vault")
    assert described["CreationDate"] == created
    assert (described["Locked"], described["MinRetentionDays"]) == (True, 7)
    assert described["LockDate"] == created + 3 * DAY

    layout.run(DAY)  # still in the grace time: the lock can go
    backup.delete_backup_vault_lock_configuration(BackupVaultName="Locked-Vault")
    assert backup.describe_backup_vault(BackupVaultName="Locked-Vault").get("Locked") is False
    backup.put_backup_vault_lock_configuration(
        BackupVaultName="Locked-Vault", MinRetentionDays=7, ChangeableForDays=3
    )
    layout.run(3 * DAY)
    code, message, _ = error_of(
        backup.delete_backup_vault_lock_configuration, BackupVaultName="Locked-Vault"
    )
    assert code == "InvalidRequestException"
    assert "immutable" in message


def test_with_a_listing_lag_a_finished_copy_is_described_before_it_is_listed(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §T.3: a list may not show a job or a point the moment it is done, though
    its Describe already does; `listing_lag` plays that (0 by default: lists are current)."""
    point = layout.backed_up()
    twin.backup.listing_lag = timedelta(minutes=5)
    job_id = layout.start_copy(point)["CopyJobId"]
    assert [j["CopyJobId"] for j in layout.source.list_copy_jobs()["CopyJobs"]] == [job_id]
    layout.run(twin.backup.copy_duration)

    done = layout.copy_job(job_id)
    assert done["State"] == "COMPLETED"
    assert layout.source.list_copy_jobs()["CopyJobs"] == []
    destination = layout.backup_client(BACKUP_REGION)
    copy = done["DestinationRecoveryPointArn"]
    assert destination.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=copy)
    listed = destination.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)
    assert listed["RecoveryPoints"] == []

    layout.run(timedelta(minutes=5))
    assert [j["State"] for j in layout.source.list_copy_jobs()["CopyJobs"]] == ["COMPLETED"]
    listed = destination.list_recovery_points_by_backup_vault(BackupVaultName=VAULT)
    assert [p["RecoveryPointArn"] for p in listed["RecoveryPoints"]] == [copy]


def test_with_a_describe_lag_a_copy_is_not_found_in_its_destination_until_the_lag_is_over(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §T.3: a point that has just landed may not be readable at once;
    `describe_lag` plays that for copies (0 by default), while the original stays readable."""
    point = layout.backed_up()
    twin.backup.describe_lag = timedelta(minutes=5)
    job_id = layout.start_copy(point)["CopyJobId"]
    layout.run(twin.backup.copy_duration)

    done = layout.copy_job(job_id)
    assert done["State"] == "COMPLETED"
    destination = layout.backup_client(BACKUP_REGION)
    copy = done["DestinationRecoveryPointArn"]
    code, message, _ = error_of(
        destination.describe_recovery_point, BackupVaultName=VAULT, RecoveryPointArn=copy
    )
    assert code == "ResourceNotFoundException"
    assert copy in message
    assert layout.source.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=point)

    readable_at = done["CompletionDate"] + twin.backup.describe_lag
    layout.run(readable_at - timedelta(seconds=1) - twin.clock.now())
    assert (
        error_of(destination.describe_recovery_point, BackupVaultName=VAULT, RecoveryPointArn=copy)[
            0
        ]
        == "ResourceNotFoundException"
    )
    layout.run(timedelta(seconds=1))
    described = destination.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=copy)
    assert described["Status"] == "COMPLETED"
