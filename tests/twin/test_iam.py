"""Identity and trust policies: the twin refuses what IAM would refuse (local/iam.py).

docs/aws-facts.md §B.9 (actions, resources and condition keys of AWS Backup; cross-account roles
need the caller's sts:AssumeRole and the role's trust; iam:PassRole of the copy role), §A.2
(recovery point ARNs by resource type, EBS and EC2 without an account), §H (aws:ResourceAccount
for account-less ARNs is undocumented) and §T.1 (how IAM combines Allow and Deny; the errors).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OUTSIDER_ACCOUNT,
    RESOURCE_ACCOUNT,
)
from local.iam import AccessDenied
from local.twin import Twin
from tests.twin.helpers import VAULT, copy_reader_trust, error_of, role, vault_arn

pytestmark = pytest.mark.twin

# One protected resource per type the project supports, and the shape of its recovery point.
RESOURCES = {
    "EFS": f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-01",
    "S3": "arn:aws:s3:::orders-bucket",
    "DynamoDB": f"arn:aws:dynamodb:{MAIN_REGION}:{RESOURCE_ACCOUNT}:table/Orders",
    "EBS": f"arn:aws:ec2:{MAIN_REGION}:{RESOURCE_ACCOUNT}:volume/vol-0123456789abcdef0",
    "EC2": f"arn:aws:ec2:{MAIN_REGION}:{RESOURCE_ACCOUNT}:instance/i-0123456789abcdef0",
    "RDS": f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:db:orders",
    "Aurora": f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:cluster:orders",
    "FSx": f"arn:aws:fsx:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0123456789abcdef0",
}
POINT_SHAPES = {
    "EFS": rf"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:recovery-point:[0-9a-f-]{{36}}",
    "S3": rf"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:recovery-point:[0-9a-f-]{{36}}",
    "DynamoDB": rf"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:recovery-point:[0-9a-f-]{{36}}",
    "EBS": rf"arn:aws:ec2:{MAIN_REGION}::snapshot/snap-[0-9a-f]{{17}}",
    "EC2": rf"arn:aws:ec2:{MAIN_REGION}::image/ami-[0-9a-f]{{17}}",
    "RDS": rf"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:snapshot:awsbackup:job-[0-9a-f-]{{36}}",
    "Aurora": (
        rf"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:cluster-snapshot:awsbackup:job-[0-9a-f-]{{36}}"
    ),
    "FSx": rf"arn:aws:fsx:{MAIN_REGION}:{RESOURCE_ACCOUNT}:backup/backup-[0-9a-f]{{17}}",
}
TASK_ROLE_NAME = "DescribeOriginalBackup"
TASK_ROLE = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/backup-events/{TASK_ROLE_NAME}"


def statement(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> Any:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def role_with(
    twin: Twin,
    *statements: dict[str, Any],
    account: str = RESOURCE_ACCOUNT,
    name: str = TASK_ROLE_NAME,
    trust: dict[str, Any] | None = None,
    managed: bool = False,
) -> str:
    """A role under /backup-events/ whose identity policy holds `statements`."""
    iam = twin.client("iam", account, MAIN_REGION)
    arn: str = iam.create_role(
        RoleName=name,
        Path="/backup-events/",
        AssumeRolePolicyDocument=json.dumps(trust or {"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    if managed:
        policy = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=document)
        iam.attach_role_policy(RoleName=name, PolicyArn=policy["Policy"]["Arn"])
    elif statements:
        iam.put_role_policy(RoleName=name, PolicyName="Task", PolicyDocument=document)
    return arn


def as_role(twin: Twin, principal: str, region: str = MAIN_REGION) -> Any:
    return twin.client("backup", principal.split(":")[4], region, principal=principal)


def describe(twin: Twin, principal: str, point: str, region: str = MAIN_REGION) -> Any:
    return as_role(twin, principal, region).describe_recovery_point(
        BackupVaultName=VAULT, RecoveryPointArn=point
    )


def points_of_every_type(twin: Twin) -> dict[str, str]:
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    return {
        kind: twin.backup.put_recovery_point(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, resource)
        for kind, resource in RESOURCES.items()
    }


def test_each_resource_type_has_its_recovery_point_arn_shape(twin: Twin) -> None:
    """docs/aws-facts.md §A.2: the recovery point ARN depends on the resource type."""
    import re

    for kind, arn in points_of_every_type(twin).items():
        assert re.fullmatch(POINT_SHAPES[kind], arn), (kind, arn)
    twin.backup.dynamodb_advanced_features = False
    table = twin.backup.put_recovery_point(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, RESOURCES["DynamoDB"]
    )
    assert re.fullmatch(
        rf"arn:aws:dynamodb:{MAIN_REGION}:{RESOURCE_ACCOUNT}:table/Orders/backup/\d{{14}}-[0-9a-f]{{8}}",
        table,
    )


def test_a_resource_account_condition_denies_every_recovery_point_without_an_account(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §H: aws:ResourceAccount is not documented for account-less ARNs; the twin
    leaves it absent, so StringEquals on it refuses EBS snapshots and EC2 images."""
    points = points_of_every_type(twin)
    task = role_with(
        twin,
        statement(
            "backup:DescribeRecoveryPoint",
            Condition={"StringEquals": {"aws:ResourceAccount": RESOURCE_ACCOUNT}},
        ),
    )
    refused = {}
    for kind, point in points.items():
        try:
            describe(twin, task, point)
        except twin.client("backup").exceptions.ClientError as error:
            refused[kind] = error.response["Error"]["Code"]
    assert refused == {"EBS": "AccessDeniedException", "EC2": "AccessDeniedException"}


def test_recovery_points_are_authorized_by_their_own_arn_for_every_type(twin: Twin) -> None:
    """docs/aws-facts.md §B.9: DescribeRecoveryPoint acts on the recovery point, whose ARN
    pattern has a wildcard vendor and account: a policy written for backup-style ARNs misses
    the rest."""
    points = points_of_every_type(twin)
    backup_style = role_with(
        twin,
        statement(
            "backup:DescribeRecoveryPoint",
            f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:recovery-point:*",
        ),
    )
    allowed = set()
    for kind, point in points.items():
        try:
            describe(twin, backup_style, point)
            allowed.add(kind)
        except twin.client("backup").exceptions.ClientError:
            pass
    assert allowed == {"EFS", "S3", "DynamoDB"}

    every_shape = role_with(
        twin,
        statement(
            "backup:DescribeRecoveryPoint",
            [
                f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:recovery-point:*",
                f"arn:aws:ec2:{MAIN_REGION}::snapshot/*",
                f"arn:aws:ec2:{MAIN_REGION}::image/*",
                f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:snapshot:awsbackup:*",
                f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:cluster-snapshot:awsbackup:*",
                f"arn:aws:fsx:{MAIN_REGION}:{RESOURCE_ACCOUNT}:backup/*",
            ],
        ),
        name="EveryShape",
    )
    for point in points.values():
        assert describe(twin, every_shape, point)["RecoveryPointArn"] == point


def test_a_denied_call_is_access_denied_403_names_the_action_and_does_nothing(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §T.1: no Allow means no; the error is AccessDeniedException (403)."""
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    point = twin.backup.put_recovery_point(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, RESOURCES["EFS"], lifecycle={"DeleteAfterDays": 35}
    )
    task = role_with(twin, statement("backup:DescribeRecoveryPoint"))
    client = as_role(twin, task)
    code, message, status = error_of(
        client.update_recovery_point_lifecycle,
        BackupVaultName=VAULT,
        RecoveryPointArn=point,
        Lifecycle={"DeleteAfterDays": 8},
    )
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"User: {task} is not authorized to perform: backup:UpdateRecoveryPointLifecycle" in (
        message
    )
    assert twin.backup.points[point].lifecycle == {"DeleteAfterDays": 35}
    assert twin.backup.calls[-1].error == "AccessDeniedException"
    assert twin.backup.calls[-1].principal == task


def test_actions_match_with_wildcards_and_any_case_and_a_deny_wins(twin: Twin) -> None:
    """docs/aws-facts.md §T.1: actions are matched case-insensitively with wildcards; an explicit
    Deny overrides any Allow."""
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    point = twin.backup.put_recovery_point(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, RESOURCES["EFS"])
    reader = role_with(twin, statement("BACKUP:describe*"), managed=True)
    assert describe(twin, reader, point)["RecoveryPointArn"] == point
    assert error_of(as_role(twin, reader).list_copy_jobs)[0] == "AccessDeniedException"

    denied = role_with(
        twin,
        statement("backup:*"),
        {"Effect": "Deny", "Action": "backup:Describe*", "Resource": "*"},
        name="Denied",
    )
    assert as_role(twin, denied).list_copy_jobs()["CopyJobs"] == []
    code, _, _ = error_of(
        as_role(twin, denied).describe_recovery_point,
        BackupVaultName=VAULT,
        RecoveryPointArn=point,
    )
    assert code == "AccessDeniedException"


def test_requested_region_and_vault_arns_scope_a_policy(twin: Twin) -> None:
    """docs/aws-facts.md §B.9: aws:RequestedRegion scopes by Region; a vault ARN names account,
    Region and vault."""
    for region in (MAIN_REGION, BACKUP_REGION):
        twin.create_vault(RESOURCE_ACCOUNT, region, VAULT)
    task = role_with(
        twin,
        statement(
            "backup:ListRecoveryPointsByBackupVault",
            f"arn:aws:backup:*:{RESOURCE_ACCOUNT}:backup-vault:{VAULT}",
            Condition={"StringEquals": {"aws:RequestedRegion": MAIN_REGION}},
        ),
    )
    assert as_role(twin, task).list_recovery_points_by_backup_vault(BackupVaultName=VAULT)
    code, _, _ = error_of(
        as_role(twin, task, BACKUP_REGION).list_recovery_points_by_backup_vault,
        BackupVaultName=VAULT,
    )
    assert code == "AccessDeniedException"
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "Other")
    code, _, _ = error_of(
        as_role(twin, task).list_recovery_points_by_backup_vault, BackupVaultName="Other"
    )
    assert code == "AccessDeniedException"


def test_start_copy_job_needs_pass_role_for_backup_only(twin: Twin) -> None:
    """docs/aws-facts.md §B.9: StartCopyJob's caller needs iam:PassRole for the copy role; the
    iam:PassedToService key is backup.amazonaws.com."""
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    twin.create_vault(RESOURCE_ACCOUNT, BACKUP_REGION, VAULT)
    point = twin.backup.put_recovery_point(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, RESOURCES["EFS"])

    def start(principal: str) -> tuple[str, str, int] | str:
        client = as_role(twin, principal)
        try:
            return str(
                client.start_copy_job(
                    RecoveryPointArn=point,
                    SourceBackupVaultName=VAULT,
                    DestinationBackupVaultArn=vault_arn(RESOURCE_ACCOUNT, BACKUP_REGION),
                    IamRoleArn=role(),
                )["CopyJobId"]
            )
        except client.exceptions.ClientError as error:
            return error.response["Error"]["Code"], error.response["Error"]["Message"], 0

    without = role_with(twin, statement("backup:StartCopyJob"), name="NoPassRole")
    outcome = start(without)
    assert isinstance(outcome, tuple)
    assert "iam:PassRole" in outcome[1]
    for_lambda = role_with(
        twin,
        statement("backup:StartCopyJob"),
        statement(
            "iam:PassRole",
            role(),
            Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        ),
        name="PassRoleToLambda",
    )
    assert isinstance(start(for_lambda), tuple)
    for_backup = role_with(
        twin,
        statement("backup:StartCopyJob"),
        statement(
            "iam:PassRole",
            role(),
            Condition={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}},
        ),
        name="PassRoleToBackup",
    )
    assert isinstance(start(for_backup), str)


def test_unknown_callers_and_roles_without_policies_are_not_restricted(twin: Twin) -> None:
    """The twin's own convention (docs/twin.md): tests not about permissions need no IAM."""
    twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
    point = twin.backup.put_recovery_point(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, RESOURCES["EBS"])
    bare = role_with(twin, name="NoPolicies")
    for principal in (bare, f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/NeverCreated"):
        assert describe(twin, principal, point)["RecoveryPointArn"] == point
    assert twin.client("backup").describe_recovery_point(
        BackupVaultName=VAULT, RecoveryPointArn=point
    )


# -- sts:AssumeRole: the caller's permission and the role's trust ------------------------------

READER_NAME = f"BackupEventsCopyReader-{MAIN_REGION}"
READER = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup-events/{READER_NAME}"
ORGANIZATION_TRUST = copy_reader_trust()


def assume(twin: Twin, principal: str, target: str = READER) -> str:
    """Assume `target` as `principal`; the assumed role's ARN, or the error code."""
    sts = twin.client("sts", principal.split(":")[4], MAIN_REGION, principal=principal)
    try:
        return str(
            sts.assume_role(RoleArn=target, RoleSessionName="test")["AssumedRoleUser"]["Arn"]
        )
    except sts.exceptions.ClientError as error:
        return str(error.response["Error"]["Code"])


def test_a_role_of_the_organization_under_the_path_may_assume_the_copy_reader(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §B.9: the caller needs sts:AssumeRole on the role, and the role's trust
    must admit it (Principal "*" narrowed by aws:PrincipalOrgID and aws:PrincipalArn)."""
    role_with(twin, account=BACKUP_ACCOUNT, name=READER_NAME, trust=ORGANIZATION_TRUST)
    allowed = role_with(twin, statement("sts:AssumeRole", READER), name="VerifyCopies")
    assert assume(twin, allowed).startswith(f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/")

    no_permission = role_with(twin, statement("backup:ListCopyJobs"), name="NoAssume")
    sts = twin.client("sts", RESOURCE_ACCOUNT, MAIN_REGION, principal=no_permission)
    code, message, status = error_of(sts.assume_role, RoleArn=READER, RoleSessionName="test")
    assert (code, status) == ("AccessDenied", 403)
    assert "no identity-based policy allows the sts:AssumeRole action" in message

    iam = twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION)
    off_path: str = iam.create_role(RoleName="Elsewhere", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    iam.put_role_policy(
        RoleName="Elsewhere",
        PolicyName="Assume",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [statement("sts:AssumeRole", READER)]}
        ),
    )
    assert assume(twin, off_path) == "AccessDenied"

    outsider = role_with(
        twin, statement("sts:AssumeRole", READER), account=OUTSIDER_ACCOUNT, name="Outsider"
    )
    assert assume(twin, outsider) == "AccessDenied"


def test_assumed_credentials_carry_the_readers_own_permissions(twin: Twin) -> None:
    """docs/aws-facts.md §B.9: what the assumed role may do is its own identity policy's
    business."""
    twin.create_vault(BACKUP_ACCOUNT, MAIN_REGION, VAULT)
    point = twin.backup.put_recovery_point(BACKUP_ACCOUNT, MAIN_REGION, VAULT, RESOURCES["EBS"])
    role_with(
        twin,
        statement(["backup:DescribeRecoveryPoint", "backup:ListRecoveryPointsByBackupVault"]),
        account=BACKUP_ACCOUNT,
        name=READER_NAME,
        trust=ORGANIZATION_TRUST,
    )
    caller = role_with(twin, statement("sts:AssumeRole", READER), name="VerifyCopies")
    sts = twin.client("sts", RESOURCE_ACCOUNT, MAIN_REGION, principal=caller)
    keys = sts.assume_role(RoleArn=READER, RoleSessionName="verify")["Credentials"]
    import boto3

    reader = boto3.client(
        "backup",
        region_name=MAIN_REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )
    assert reader.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=point)
    code, _, _ = error_of(
        reader.update_recovery_point_lifecycle,
        BackupVaultName=VAULT,
        RecoveryPointArn=point,
        Lifecycle={"DeleteAfterDays": 1},
    )
    assert code == "AccessDeniedException"


def test_a_service_principal_trust_admits_only_that_service(twin: Twin) -> None:
    """docs/aws-facts.md §D.1: a role a service assumes trusts that service principal, often
    only for one account (aws:SourceAccount)."""
    from local.accounts import Caller

    events_trust: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    events_trust["Statement"][0]["Condition"] = {
        "StringEquals": {"aws:SourceAccount": RESOURCE_ACCOUNT}
    }
    target = role_with(twin, name="RuleTarget", trust=events_trust)
    caller = role_with(twin, statement("sts:AssumeRole", "*"), name="Caller")
    assert assume(twin, caller, target) == "AccessDenied"
    twin.iam.check_assume_role(
        Caller(RESOURCE_ACCOUNT, "events.amazonaws.com"), target, MAIN_REGION
    )
    # aws:SourceAccount is the account the service acts for: another account's is refused.
    with pytest.raises(AccessDenied):
        twin.iam.check_assume_role(
            Caller(BACKUP_ACCOUNT, "events.amazonaws.com"), target, MAIN_REGION
        )
