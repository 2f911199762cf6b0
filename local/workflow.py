"""Put the real workflow into the twin without CloudFormation: vaults, tasks, state machine, rules.

The state machine tests use this to run statemachines/backup_events.asl.json with the real
task handlers. The CloudFormation template is deployed into the twin by its own tests; both
paths render the definition with statemachines.definition.render.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    ORGANIZATION_ID,
    RESOURCE_ACCOUNT,
)
from local.twin import Twin
from statemachines.definition import Substitutions, render

VAULT_NAME = "BackupEvents-Sample"
COPY_ROLE_NAME = "service-role/AWSBackupDefaultServiceRole"
STATE_MACHINE_NAME = "BackupEvents"

# Function name suffix → the task module that implements it.
TASK_MODULES = {
    "DescribeRecoveryPoint": "tasks.describe_recovery_point",
    "StartCopyJob": "tasks.start_copy_job",
    "DescribeCopyJob": "tasks.describe_copy_job",
    "VerifyCopies": "tasks.verify_copies",
    "CutRetention": "tasks.cut_retention",
}


@dataclass(frozen=True)
class Settings:
    backup_account: str = BACKUP_ACCOUNT
    backup_region: str = BACKUP_REGION
    alternate_region: str = MAIN_REGION
    vault_name: str = VAULT_NAME
    new_delete_after_days: int = 7
    poll_first_interval_seconds: int = 300
    poll_max_interval_seconds: int = 14400
    copy_wait_limit_hours: int = 72
    copy_scheduled_backups: bool = False
    enable_update_lifecycle: bool = True
    copy_role_name: str = COPY_ROLE_NAME


def sample_vault_policy(settings: Settings) -> dict[str, Any]:
    """The backup account's vault policy: copies in only from the organization's copy role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CopyIntoFromOrganizationCopyRole",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "backup:CopyIntoBackupVault",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID},
                    "ArnLike": {
                        "aws:PrincipalArn": f"arn:aws:iam::*:role/{settings.copy_role_name}"
                    },
                },
            }
        ],
    }


def create_vaults(
    twin: Twin,
    settings: Settings,
    resource_regions: tuple[str, ...] = (MAIN_REGION, BACKUP_REGION),
    resource_account: str = RESOURCE_ACCOUNT,
) -> None:
    backup_regions = {settings.backup_region, settings.alternate_region, *resource_regions}
    for region in sorted(backup_regions):
        twin.create_vault(
            settings.backup_account,
            region,
            settings.vault_name,
            policy=sample_vault_policy(settings),
        )
    for region in resource_regions:
        twin.create_vault(resource_account, region, settings.vault_name)
        create_ledger(twin, resource_account, region)
    create_copy_readers(twin, settings, backup_regions)


@dataclass
class Deployed:
    account: str
    region: str
    state_machine_arn: str
    function_arns: dict[str, str]
    substitutions: Substitutions
    rule_names: list[str] = field(default_factory=list)


LEDGER_TABLE = "BackupEvents-CutLedger"


def copy_reader_role_arn(settings: Settings, region: str) -> str:
    return (
        f"arn:aws:iam::{settings.backup_account}:role/backup-events/BackupEventsCopyReader-{region}"
    )


def create_copy_readers(twin: Twin, settings: Settings, regions: set[str]) -> None:
    """The backup account's read-only roles for copies (what the template creates there)."""
    iam = twin.client("iam", settings.backup_account, MAIN_REGION)
    existing = {r["RoleName"] for r in iam.list_roles(PathPrefix="/backup-events/")["Roles"]}
    for region in sorted(regions):
        name = f"BackupEventsCopyReader-{region}"
        if name not in existing:
            iam.create_role(RoleName=name, Path="/backup-events/", AssumeRolePolicyDocument="{}")


def create_ledger(twin: Twin, account: str, region: str) -> None:
    dynamodb = twin.client("dynamodb", account, region)
    if LEDGER_TABLE not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=LEDGER_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "RecoveryPointArn", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "RecoveryPointArn", "KeyType": "HASH"}],
        )


def substitutions_for(
    settings: Settings, account: str, function_arns: dict[str, str], region: str = MAIN_REGION
) -> Substitutions:
    return {
        "Partition": "aws",
        "VaultName": settings.vault_name,
        "BackupAccountId": settings.backup_account,
        "BackupRegion": settings.backup_region,
        "BackupRegionAlternate": settings.alternate_region,
        "CopyScheduledBackups": "true" if settings.copy_scheduled_backups else "false",
        "CopyRoleArn": f"arn:aws:iam::{account}:role/{settings.copy_role_name}",
        "CopyReaderRoleArn": copy_reader_role_arn(settings, region),
        "LedgerTableName": LEDGER_TABLE,
        "NewDeleteAfterDays": settings.new_delete_after_days,
        "PollFirstIntervalSeconds": settings.poll_first_interval_seconds,
        "PollMaxIntervalSeconds": settings.poll_max_interval_seconds,
        "CopyWaitLimitHours": settings.copy_wait_limit_hours,
        "EnableUpdateLifecycle": "true" if settings.enable_update_lifecycle else "false",
        **{f"{name}FunctionArn": arn for name, arn in function_arns.items()},
    }


def event_patterns(settings: Settings, account: str, region: str) -> dict[str, dict[str, Any]]:
    """The EventBridge patterns the template installs, keyed by rule name suffix."""
    vault = f"arn:aws:backup:{region}:{account}:backup-vault:{settings.vault_name}"
    first = (
        settings.alternate_region if region == settings.backup_region else settings.backup_region
    )
    destinations = [
        f"arn:aws:backup:{r}:{settings.backup_account}:backup-vault:{settings.vault_name}"
        for r in (first, region)
    ]
    backup_detail: dict[str, Any] = {"state": ["COMPLETED"], "backupVaultArn": [vault]}
    if not settings.copy_scheduled_backups:
        # `exists: false` works on leaves only and also matches a missing parent
        # (docs/aws-facts.md §D.3).
        backup_detail["createdBy"] = {"backupPlanArn": [{"exists": False}]}
    return {
        "BackupCompleted": {
            "source": ["aws.backup"],
            "detail-type": ["Backup Job State Change"],
            "account": [account],
            "region": [region],
            "detail": backup_detail,
        },
        "PlanCopyCompleted": {
            "source": ["aws.backup"],
            "detail-type": ["Copy Job State Change"],
            "account": [account],
            "region": [region],
            "detail": {
                "state": ["COMPLETED"],
                "sourceBackupVaultArn": [vault],
                "destinationBackupVaultArn": destinations,
                "createdBy": {"backupPlanArn": [{"exists": True}]},
            },
        },
    }


def deploy_workflow(
    twin: Twin,
    settings: Settings,
    account: str = RESOURCE_ACCOUNT,
    region: str = MAIN_REGION,
    *,
    with_rules: bool = True,
) -> Deployed:
    iam = twin.client("iam", account, region)
    role_name = f"BackupEvents-{region}"
    try:
        role_arn = iam.create_role(
            RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Statement": []})
        )["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    functions = twin.client("lambda", account, region)
    function_arns: dict[str, str] = {}
    for name, module in TASK_MODULES.items():
        function_name = f"BackupEvents-{name}"
        twin.lambdas.register(function_name, __import__(module, fromlist=["handler"]).handler)
        function_arns[name] = functions.create_function(
            FunctionName=function_name,
            Runtime="python3.13",
            Role=role_arn,
            Handler="index.handler",
            Code={"ZipFile": b"registered in the twin"},
        )["FunctionArn"]
    substitutions = substitutions_for(settings, account, function_arns, region)
    create_ledger(twin, account, region)
    sfn = twin.client("stepfunctions", account, region)
    state_machine_arn = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=json.dumps(render("backup_events", substitutions)),
        roleArn=role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    deployed = Deployed(account, region, state_machine_arn, function_arns, substitutions)
    if with_rules:
        events = twin.client("events", account, region)
        for suffix, pattern in event_patterns(settings, account, region).items():
            rule = f"BackupEvents-{suffix}"
            events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(
                Rule=rule,
                Targets=[{"Id": "StateMachine", "Arn": state_machine_arn, "RoleArn": role_arn}],
            )
            deployed.rule_names.append(rule)
    return deployed
