"""Task "CopyTo...": make sure one copy of the original is on its way to one destination vault.

Idempotent: if a copy to that vault is already COMPLETED or still running (a duplicate event,
a re-run, a backup plan's own copy) it is reused and nothing is started. Otherwise it calls
StartCopyJob with a token derived from the recovery point, the destination and the number of
earlier failed attempts, so concurrent duplicates start exactly one job.
"""

from __future__ import annotations

from typing import Any

from tasks.aws import BackupClient, copy_jobs_of, json_object
from tasks.copies import idempotency_token, plan_copy_start
from tasks.inputs import ROLE_ARN, VAULT_ARN, VAULT_NAME
from tasks.logs import make_logger, start_task, write_call

logger = make_logger()


def copy_jobs_to(backup: BackupClient, recovery_point_arn: str, destination: str) -> list[Any]:
    return copy_jobs_of(backup, recovery_point_arn, destination)


def ensure_copy(
    backup: BackupClient,
    *,
    recovery_point_arn: str,
    source_vault_name: str,
    destination: str,
    role_arn: str,
) -> dict[str, Any]:
    start = plan_copy_start(copy_jobs_to(backup, recovery_point_arn, destination), destination)
    if start.reuse is not None:
        logger.info("copy already exists; not starting another", extra={"copy_job": start.reuse})
        return {
            "CopyJobId": start.reuse["CopyJobId"],
            "State": start.reuse["State"],
            "DestinationBackupVaultArn": destination,
            "Started": False,
        }
    token = idempotency_token(recovery_point_arn, destination, start.attempt)
    started = write_call(
        logger,
        backup.start_copy_job,
        RecoveryPointArn=recovery_point_arn,
        SourceBackupVaultName=source_vault_name,
        DestinationBackupVaultArn=destination,
        IamRoleArn=role_arn,
        IdempotencyToken=token,
    )
    return json_object(
        {
            "CopyJobId": started["CopyJobId"],
            "CreationDate": started.get("CreationDate"),
            "DestinationBackupVaultArn": destination,
            "Attempt": start.attempt + 1,
            "Started": True,
        }
    )


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = start_task(logger, event)
    return ensure_copy(
        task.backup,
        recovery_point_arn=task.recovery_point_arn,
        source_vault_name=task.fields.string("BackupVaultName", VAULT_NAME),
        destination=task.fields.string("DestinationBackupVaultArn", VAULT_ARN),
        role_arn=task.fields.string("IamRoleArn", ROLE_ARN),
    )
