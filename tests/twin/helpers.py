"""Shared setup for the twin's own tests: a source vault, destination vaults, and shortcuts.

The layout is the project's (docs/aws-facts.md §A.4, docs/design.md §2): backups are made in
the resource account; copies go to the backup account, one in the backup region and one in
the backup account's copy of the source region. Everything a test asserts goes through real
boto3 clients (`twin.client`) unless it is a control the twin adds (start_backup, on_copy,
throttle, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    ORGANIZATION_ID,
    OTHER_REGION,
    RESOURCE_ACCOUNT,
)
from local.backup import CopyAction, PlanInfo
from local.twin import Twin

TEMPLATE_SOURCE = Path(__file__).resolve().parents[2] / "infrastructure" / "template.src.yaml"
VAULT = "BackupEvents-Sample"
COPY_ROLE_NAME = "service-role/AWSBackupDefaultServiceRole"
EFS = f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0a1b2c3d4e5f67890"
EFS_2 = (
    f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0b2c3d4e5f6789012"
)
EFS_3 = (
    f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0c3d4e5f678901234"
)
EBS = f"arn:aws:ec2:{MAIN_REGION}:{RESOURCE_ACCOUNT}:volume/vol-0123456789abcdef0"
RDS = f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:db:orders"
ALL_REGIONS = (MAIN_REGION, BACKUP_REGION, OTHER_REGION)


def role(account: str = RESOURCE_ACCOUNT, name: str = COPY_ROLE_NAME) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def vault_arn(account: str, region: str, name: str = VAULT) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{name}"


def copy_into_policy(copy_role_name: str = COPY_ROLE_NAME) -> str:
    """The backup account's vault policy as the template writes it (resource CopiesVault),
    for this organization and copy role: one source for the policy the twin evaluates."""
    policy = _template()["Resources"]["CopiesVault"]["Properties"]["AccessPolicy"]
    values = {
        "OrganizationId": ORGANIZATION_ID,
        "CopyRoleName": copy_role_name,
        "AWS::Partition": "aws",
    }
    return json.dumps(_resolve(policy, values))


def copy_reader_trust() -> dict[str, Any]:
    """The backup account's copy reader trust policy as the template writes it (resource
    CopyReaderRole), for this organization: the trust the twin's STS evaluates."""
    trust = _template()["Resources"]["CopyReaderRole"]["Properties"]["AssumeRolePolicyDocument"]
    resolved: dict[str, Any] = _resolve(
        trust, {"OrganizationId": ORGANIZATION_ID, "AWS::Partition": "aws"}
    )
    return resolved


@cache
def _template() -> dict[str, Any]:
    # cfn-lint's decoder reads the short-form tags (!Ref, !Sub) as CloudFormation does.
    from cfnlint.decode import decode_str

    decoded, problems = decode_str(TEMPLATE_SOURCE.read_text())
    assert decoded is not None, problems
    return dict(decoded)


def _resolve(node: Any, values: dict[str, str]) -> Any:
    """Ref and Sub of the parameters in `values`, as CloudFormation resolves them."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return values[node["Ref"]]
        if set(node) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], node["Fn::Sub"])
        return {key: _resolve(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, values) for item in node]
    return node


def function(
    twin: Twin, name: str, handler: Any, account: str = RESOURCE_ACCOUNT, **properties: Any
) -> str:
    """A Lambda function whose code is `handler`, run in-process by the twin; its ARN."""
    iam = twin.client("iam", account, MAIN_REGION)
    try:
        role = iam.create_role(RoleName="Task", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="Task")["Role"]["Arn"]
    twin.lambdas.register(name, handler)
    arn: str = twin.client("lambda", account, MAIN_REGION).create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": b"registered in the twin"},
        **properties,
    )["FunctionArn"]
    return arn


def error_of(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    """Call a boto3 method that must fail; return (code, message, HTTP status)."""
    try:
        call(**kwargs)
    except ClientError as error:
        return (
            error.response["Error"]["Code"],
            error.response["Error"].get("Message", ""),
            error.response["ResponseMetadata"]["HTTPStatusCode"],
        )
    raise AssertionError(f"{call.__name__} succeeded but should have failed")


@dataclass
class Layout:
    """Vaults in every account and region a test needs, and clients to use them."""

    twin: Twin

    def __post_init__(self) -> None:
        self.source_vault = self.twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, VAULT)
        # The backup account keeps a vault in all three regions, so a test can prove a copy
        # went to the right one and nowhere else.
        for region in ALL_REGIONS:
            self.twin.create_vault(BACKUP_ACCOUNT, region, VAULT)
            self.backup_client(region).put_backup_vault_access_policy(
                BackupVaultName=VAULT, Policy=copy_into_policy()
            )
        self.to_backup_region = vault_arn(BACKUP_ACCOUNT, BACKUP_REGION)
        self.to_this_region = vault_arn(BACKUP_ACCOUNT, MAIN_REGION)
        self.source = self.twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION)

    def backup_client(self, region: str) -> Any:
        return self.twin.client("backup", BACKUP_ACCOUNT, region)

    @property
    def clock_now(self) -> datetime:
        return self.twin.clock.now()

    def backed_up(
        self,
        resource: str = EFS,
        lifecycle: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> str:
        """An on-demand backup, run to completion on the clock; returns its recovery point ARN."""
        job_id = self.twin.backup.start_backup(
            RESOURCE_ACCOUNT,
            MAIN_REGION,
            VAULT,
            resource,
            lifecycle={"DeleteAfterDays": 14} if lifecycle is None else lifecycle,
            **kwargs,
        )
        self.run(self.twin.backup.backup_duration)
        arn = self.twin.backup.jobs[job_id].recovery_point_arn
        assert arn is not None, "the backup job did not complete"
        return arn

    def start_plan_backup(self, *copy_actions: str | CopyAction, **kwargs: Any) -> str:
        """A backup plan's backup of EFS with these copy actions; returns the backup job ID."""
        return self.twin.backup.start_backup(
            RESOURCE_ACCOUNT,
            MAIN_REGION,
            VAULT,
            EFS,
            plan=kwargs.pop("plan", None) or PlanInfo(),
            copy_actions=copy_actions,
            **kwargs,
        )

    def start_copy(
        self, point_arn: str, destination: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        started: dict[str, Any] = self.source.start_copy_job(
            RecoveryPointArn=point_arn,
            SourceBackupVaultName=VAULT,
            DestinationBackupVaultArn=destination or self.to_backup_region,
            IamRoleArn=kwargs.pop("IamRoleArn", role()),
            **kwargs,
        )
        return started

    def copy_job(self, job_id: str) -> dict[str, Any]:
        described: dict[str, Any] = self.source.describe_copy_job(CopyJobId=job_id)["CopyJob"]
        return described

    def state(self, job_id: str) -> str:
        return str(self.copy_job(job_id)["State"])

    def run(self, duration: timedelta) -> None:
        self.twin.clock.advance(duration.total_seconds())

    def copy_events(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """Copy job events in publishing order (for one job: CREATED has no copyJobId, §A.3)."""
        events = [e for _, _, e in self.twin.router.events("Copy Job State Change")]
        if job_id is None:
            return events
        job = self.twin.backup.jobs[job_id]
        return [
            e
            for e in events
            if e["detail"].get("copyJobId") == job_id
            or (
                "copyJobId" not in e["detail"]
                and e["detail"]["destinationBackupVaultArn"] == job.destination_vault_arn
                and e["resources"] == [job.source_recovery_point_arn]
            )
        ]
