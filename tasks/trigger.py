"""Decide whether an event is one this deployment must act on, and what it is about.

The EventBridge rules already filter, but an execution can also be started by hand with any
input, so the workflow checks again: a foreign or malformed event fails with InvalidInput
before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tasks.copies import Deployment
from tasks.errors import InvalidInput
from tasks.events import BackupJobEvent, CopyJobEvent, FinishRequest, parse_event
from tasks.inputs import ACCOUNT_ID, REGION, VAULT_NAME, Fields, check_recovery_point_home


@dataclass(frozen=True)
class Trigger:
    kind: Literal["BackupJob", "PlanCopyJob", "Finish"]
    job_id: str
    recovery_point_arn: str
    vault_name: str
    region: str
    destinations: tuple[str, str]


def _partition(vault_arn: str) -> str:
    return vault_arn.split(":")[1]


def _own_vault(vault_arn: str, account: str, region: str, deployment: Deployment) -> str:
    """The ARN of this deployment's vault in the execution's account and region."""
    return (
        f"arn:{_partition(vault_arn)}:backup:{region}:{account}:backup-vault:"
        f"{deployment.vault_name}"
    )


def read_trigger(
    raw_event: Any,
    *,
    account: str,
    region: str,
    deployment: Deployment,
    copy_scheduled_backups: bool,
) -> Trigger:
    event = parse_event(raw_event)
    where = event.envelope
    if (where.account, where.region) != (account, region):
        raise InvalidInput(
            f"The event comes from account {where.account} in {where.region}; this deployment "
            f"serves account {account} in {region}"
        )
    if event.state != "COMPLETED":
        raise InvalidInput(f"The job is {event.state}; only COMPLETED jobs start this workflow")
    if isinstance(event, BackupJobEvent):
        return _from_backup_job(event, account, region, deployment, copy_scheduled_backups)
    if isinstance(event, FinishRequest):
        return _from_finish_request(event, account, region, deployment)
    return _from_plan_copy_job(event, account, region, deployment)


def _from_finish_request(
    event: FinishRequest, account: str, region: str, deployment: Deployment
) -> Trigger:
    expected_vault = _own_vault(event.vault_arn, account, region, deployment)
    if event.vault_arn != expected_vault:
        raise InvalidInput(f"The backup vault is {event.vault_arn}, expected {expected_vault}")
    check_recovery_point_home(
        event.recovery_point_arn, "input.resources[0]", region=region, account=account
    )
    return Trigger(
        kind="Finish",
        job_id=event.envelope.event_id,
        recovery_point_arn=event.recovery_point_arn,
        vault_name=deployment.vault_name,
        region=region,
        destinations=deployment.destinations(_partition(event.vault_arn), region),
    )


def _from_backup_job(
    event: BackupJobEvent,
    account: str,
    region: str,
    deployment: Deployment,
    copy_scheduled_backups: bool,
) -> Trigger:
    if event.vault_name != deployment.vault_name:
        raise InvalidInput(
            f"The backup is in vault {event.vault_name!r}, not in {deployment.vault_name!r}"
        )
    if event.vault_arn is None:
        raise InvalidInput("input.detail.backupVaultArn is required")
    expected_vault = _own_vault(event.vault_arn, account, region, deployment)
    if event.vault_arn != expected_vault:
        raise InvalidInput(f"The backup vault is {event.vault_arn}, expected {expected_vault}")
    if event.recovery_point_arn is None:
        raise InvalidInput("A COMPLETED backup job event must name its recovery point in resources")
    check_recovery_point_home(
        event.recovery_point_arn, "input.resources[0]", region=region, account=account
    )
    if not event.on_demand and not copy_scheduled_backups:
        raise InvalidInput(
            "The backup was made by a backup plan, and this deployment leaves plan backups to "
            "the plans' own copy rules (CopyScheduledBackups is false)"
        )
    return Trigger(
        kind="BackupJob",
        job_id=event.job_id,
        recovery_point_arn=event.recovery_point_arn,
        vault_name=deployment.vault_name,
        region=region,
        destinations=deployment.destinations(_partition(event.vault_arn), region),
    )


def _from_plan_copy_job(
    event: CopyJobEvent, account: str, region: str, deployment: Deployment
) -> Trigger:
    if event.on_demand:
        raise InvalidInput(
            "The copy job was not started by a backup plan; copies this workflow starts are "
            "followed by the execution that started them"
        )
    expected_source = _own_vault(event.source_vault_arn, account, region, deployment)
    if event.source_vault_arn != expected_source:
        raise InvalidInput(
            f"The copy comes from {event.source_vault_arn}, expected {expected_source}"
        )
    destinations = deployment.destinations(_partition(event.source_vault_arn), region)
    if event.destination_vault_arn not in destinations:
        raise InvalidInput(
            f"The copy goes to {event.destination_vault_arn}, which is neither of this "
            f"deployment's destinations {list(destinations)}"
        )
    if event.source_recovery_point_arn is None or event.copy_job_id is None:
        raise InvalidInput("A COMPLETED copy job event must name its job and source recovery point")
    check_recovery_point_home(
        event.source_recovery_point_arn, "input.resources[0]", region=region, account=account
    )
    return Trigger(
        kind="PlanCopyJob",
        job_id=event.copy_job_id,
        recovery_point_arn=event.source_recovery_point_arn,
        vault_name=deployment.vault_name,
        region=region,
        destinations=destinations,
    )


def read_deployment(fields: Fields) -> Deployment:
    """The deployment settings every trigger-reading task receives from the state machine."""
    return Deployment(
        backup_account=fields.string("BackupAccountId", ACCOUNT_ID),
        backup_region=fields.string("BackupRegion", REGION),
        alternate_region=fields.string("BackupRegionAlternate", REGION),
        vault_name=fields.string("VaultName", VAULT_NAME),
    )
