"""The task roles, as deployed, allow every AWS Backup call of the workflow, for every type.

Recovery point ARNs differ by resource type, and those of EBS snapshots and EC2 images name no
account (docs/aws-facts.md §A.2). One twin runs a real on-demand backup of each type the
facts list (EFS, EBS, EC2, RDS, Aurora, DynamoDB, S3, FSx) through the deployed workflow, with
the twin's IAM evaluating the calling role's identity policies on every AWS Backup call and
every AssumeRole (docs/twin.md §6). A second resource account runs the same template with the
roles narrowed by aws:ResourceAccount, as the previous template had them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.backup import Call
from local.iam import identity_policies
from local.stacks import deploy_everywhere, quick_start_parameters
from local.twin import Twin
from tests.infrastructure.conftest import (
    VAULT_NAME,
    Stack,
    copies_of,
    executions_of,
    module_twin,
)


def resources(account: str) -> dict[str, str]:
    """One protected resource per type the facts list (docs/aws-facts.md §A.2)."""
    prefix = f"{MAIN_REGION}:{account}"
    return {
        "EFS": f"arn:aws:elasticfilesystem:{prefix}:file-system/fs-0a1b2c3d4e5f60001",
        "EBS": f"arn:aws:ec2:{prefix}:volume/vol-0123456789abcdef0",
        "EC2": f"arn:aws:ec2:{prefix}:instance/i-0123456789abcdef0",
        "RDS": f"arn:aws:rds:{prefix}:db:orders",
        "Aurora": f"arn:aws:rds:{prefix}:cluster:orders",
        "DynamoDB": f"arn:aws:dynamodb:{prefix}:table/Orders",
        "S3": "arn:aws:s3:::orders-bucket-" + account,
        "FSx": f"arn:aws:fsx:{prefix}:file-system/fs-0123456789abcdef0",
    }


TYPES = sorted(resources(RESOURCE_ACCOUNT))
# In the narrowed account: the two types whose recovery point ARNs name no account, and one
# whose ARN does, as the control.
NARROWED_TYPES = ("EBS", "EC2", "EFS")


@dataclass
class Run:
    twin: Twin
    stacks: dict[str, Stack]  # account -> its resource stack
    originals: dict[tuple[str, str], str]  # (account, type) -> recovery point ARN
    recorded: list[Call]  # every AWS Backup call up to the end of the run (not the tests')

    def executions(self, account: str, kind: str) -> list[dict[str, Any]]:
        machine = self.stacks[account].outputs["StateMachineArn"]
        return executions_of(self.twin, machine, self.originals[(account, kind)])

    def calls(self, account: str) -> list[Call]:
        """The AWS Backup calls made by the account's stack's roles, or as its copy reader."""
        return [
            c
            for c in self.recorded
            if c.principal is not None
            and (
                f":{account}:role/" in c.principal
                or (c.account == BACKUP_ACCOUNT and "BackupEventsCopyReader" in c.principal)
            )
        ]


# The actions on recovery points, which the previous template (7f3a301) conditioned on
# aws:ResourceAccount.
ON_RECOVERY_POINTS = {
    "backup:DescribeRecoveryPoint",
    "backup:StartCopyJob",
    "backup:UpdateRecoveryPointLifecycle",
}


def narrow_by_resource_account(stack: Stack) -> None:
    """Add aws:ResourceAccount = this account to each task role's statements on recovery
    points, as the previous template (7f3a301) had them."""
    iam = stack.client("iam")
    for logical_id, (kind, role_name) in stack.resources.items():
        if kind != "AWS::IAM::Role" or logical_id in {"StateMachineRole", "ReconcileRole"}:
            continue
        role = iam.get_role(RoleName=role_name)["Role"]
        if role["Path"] != "/backup-events/":
            continue
        (name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        (document,) = [json.loads(p) for p in identity_policies(role["Arn"])]
        for statement in document["Statement"]:
            actions = statement["Action"]
            if ON_RECOVERY_POINTS & set(actions if isinstance(actions, list) else [actions]):
                conditions = statement.setdefault("Condition", {})
                conditions.setdefault("StringEquals", {})["aws:ResourceAccount"] = stack.account
        iam.put_role_policy(
            RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document)
        )


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    with module_twin() as twin:
        places = [(RESOURCE_ACCOUNT, MAIN_REGION), (SECOND_RESOURCE_ACCOUNT, MAIN_REGION)]
        deployed = deploy_everywhere(twin, quick_start_parameters(), places)
        stacks = {account: deployed[(account, region)] for account, region in places}
        narrow_by_resource_account(stacks[SECOND_RESOURCE_ACCOUNT])

        jobs = {
            (account, kind): twin.backup.start_backup(
                account,
                MAIN_REGION,
                VAULT_NAME,
                resources(account)[kind],
                lifecycle={"DeleteAfterDays": 14},
            )
            for account, kinds in (
                (RESOURCE_ACCOUNT, TYPES),
                (SECOND_RESOURCE_ACCOUNT, NARROWED_TYPES),
            )
            for kind in kinds
        }
        twin.run_until_quiet()
        originals = {
            key: str(twin.backup.jobs[job].recovery_point_arn) for key, job in jobs.items()
        }
        yield Run(twin, stacks, originals, list(twin.backup.calls))


@pytest.mark.parametrize("kind", TYPES)
def test_a_backup_of_each_type_is_copied_twice_and_cut_under_the_deployed_roles(
    run: Run, kind: str
) -> None:
    """Issue 13, finding 2: each type's recovery point ARN shape (docs/aws-facts.md §A.2) is
    authorized by the roles' actions, resources and aws:RequestedRegion (§B.9, §H)."""
    (execution,) = run.executions(RESOURCE_ACCOUNT, kind)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    original = run.originals[(RESOURCE_ACCOUNT, kind)]
    assert run.twin.backup.points[original].resource_type == kind
    described = (
        run.stacks[RESOURCE_ACCOUNT]
        .client("backup")
        .describe_recovery_point(BackupVaultName=VAULT_NAME, RecoveryPointArn=original)
    )
    assert described["Lifecycle"] == {"DeleteAfterDays": 8}
    for region in (BACKUP_REGION, MAIN_REGION):
        copies = copies_of(run.twin, resources(RESOURCE_ACCOUNT)[kind], region)
        assert [c["Status"] for c in copies] == ["COMPLETED"], region


def test_every_aws_backup_call_of_the_workflow_was_authorized_by_iam_and_none_refused(
    run: Run,
) -> None:
    """Issue 13, finding 2: every call was made as a role the twin knows, so its identity
    policies were evaluated (docs/twin.md §6, docs/aws-facts.md §T.1), and none was denied;
    the calls on recovery points cover every type's ARN shape."""
    unknown = {c.operation for c in run.recorded if c.principal is None}
    assert unknown == {"put_backup_vault_access_policy"}, "only CloudFormation, for the vaults"
    calls = run.calls(RESOURCE_ACCOUNT)
    assert [(c.operation, c.error) for c in calls if c.error] == []
    by_type: dict[str, set[str]] = {}
    for call in calls:
        point = run.twin.backup.points.get(call.params.get("RecoveryPointArn", ""))
        if point is not None and point.account == RESOURCE_ACCOUNT:
            by_type.setdefault(point.resource_type, set()).add(call.operation)
    workflow_calls = {
        "describe_recovery_point",
        "start_copy_job",
        "update_recovery_point_lifecycle",
    }
    assert by_type == dict.fromkeys(TYPES, workflow_calls)
    # The copies were read in the backup account as its reader, for every type too.
    readers = {c.principal for c in calls if c.account == BACKUP_ACCOUNT}
    assert readers == {
        f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup-events/BackupEventsCopyReader-{MAIN_REGION}"
    }


def test_roles_narrowed_by_resource_account_are_denied_for_ebs_and_ec2(run: Run) -> None:
    """Issue 13, finding 2: AWS does not document aws:ResourceAccount for recovery points whose
    ARN names no account (docs/aws-facts.md §H); the twin leaves the key absent for them, so a
    StringEquals on it denies every EBS and EC2 backup at its first call, and nothing is
    copied. The EFS backup, whose ARN names the account, goes through."""
    (efs,) = run.executions(SECOND_RESOURCE_ACCOUNT, "EFS")
    assert efs["status"] == "SUCCEEDED", efs.get("cause")

    denied = {
        (c.operation, c.error) for c in run.calls(SECOND_RESOURCE_ACCOUNT) if c.error is not None
    }
    assert denied == {("describe_recovery_point", "AccessDeniedException")}
    for kind in ("EBS", "EC2"):
        (execution,) = run.executions(SECOND_RESOURCE_ACCOUNT, kind)
        assert execution["status"] == "FAILED", kind
        assert execution["error"] == "AccessDeniedException", kind
        original = run.originals[(SECOND_RESOURCE_ACCOUNT, kind)]
        started = [
            c
            for c in run.calls(SECOND_RESOURCE_ACCOUNT)
            if c.operation == "start_copy_job" and c.params["RecoveryPointArn"] == original
        ]
        assert started == [], kind
