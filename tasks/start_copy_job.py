"""Task "CopyTo...": make sure one copy of the original is on its way to one destination vault.

Idempotent: if a copy to that vault is already COMPLETED or still running (a duplicate event,
a re-run, a backup plan's own copy) it is reused and nothing is started. Otherwise it calls
StartCopyJob with a token derived from the recovery point, the destination and the number of
earlier failed attempts, so concurrent duplicates start exactly one job.
"""

from __future__ import annotations

from typing import Any

from tasks.aws import BackupClient, backup_client, call, json_object, json_safe
from tasks.copies import idempotency_token, plan_copy_start
from tasks.inputs import RECOVERY_POINT_ARN, REGION, ROLE_ARN, VAULT_ARN, VAULT_NAME, Fields
from tasks.logs import bind, make_logger, write_call

logger = make_logger()


def copy_jobs_to(backup: BackupClient, recovery_point_arn: str, destination: str) -> list[Any]:
    jobs: list[Any] = []
    kwargs: dict[str, Any] = {
        "BySourceRecoveryPointArn": recovery_point_arn,
        "ByDestinationVaultArn": destination,
    }
    while True:
        page = call(backup.list_copy_jobs, **kwargs)
        jobs.extend(json_safe(page.get("CopyJobs", [])))
        if not page.get("NextToken"):
            return jobs
        kwargs["NextToken"] = page["NextToken"]


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
    fields = Fields(event)
    recovery_point_arn = fields.string("RecoveryPointArn", RECOVERY_POINT_ARN)
    bind(logger, fields.optional_string("Execution"), recovery_point_arn)
    return ensure_copy(
        backup_client(fields.string("Region", REGION)),
        recovery_point_arn=recovery_point_arn,
        source_vault_name=fields.string("BackupVaultName", VAULT_NAME),
        destination=fields.string("DestinationBackupVaultArn", VAULT_ARN),
        role_arn=fields.string("IamRoleArn", ROLE_ARN),
    )
