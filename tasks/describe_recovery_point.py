"""Task "DescribeOriginal": read the triggering event, then describe the original backup.

Input: the event as the execution received it (AWS Backup's, or this product's "Backup Needs
Finishing"), the execution's own account and region, and the deployment settings. Output: the
original recovery point as AWS describes it, plus the two destination vaults its copies go to.
Fails with InvalidInput for a foreign or malformed event, and with RecoveryPointNotEligible
when a backup cannot be copied.
"""

from __future__ import annotations

from typing import Any

from tasks.aws import BackupClient, backup_client, json_object
from tasks.errors import RecoveryPointNotEligible
from tasks.inputs import ACCOUNT_ID, REGION, Fields
from tasks.logs import bind, make_logger
from tasks.points import describe_point
from tasks.retention import RecoveryPoint
from tasks.trigger import Trigger, read_deployment, read_trigger

logger = make_logger()


def copy_refusal(point: RecoveryPoint, trigger: Trigger) -> str | None:
    """Why AWS Backup would refuse an on-demand copy of this point (aws-facts.md §B.1).

    A backup the reconciliation asks to finish may be cold by now: its copies may already
    exist and only the cut remain, so only what rules out any further step refuses it.
    """
    if point.is_continuous:
        return "it is a continuous (point-in-time) backup, which cannot be copied on demand"
    if point.status not in {"COMPLETED", "AVAILABLE"}:
        return f"its status is {point.status}"
    if point.storage_class != "WARM" and trigger.kind == "BackupJob":
        return f"it is in {point.storage_class} storage; only warm backups can be copied"
    return None


def describe_original(backup: BackupClient, trigger: Trigger) -> dict[str, Any]:
    described, point = describe_point(backup, trigger.vault_name, trigger.recovery_point_arn)
    if trigger.kind != "PlanCopyJob":
        refusal = copy_refusal(point, trigger)
        if refusal is not None:
            raise RecoveryPointNotEligible(
                f"{trigger.recovery_point_arn} was left alone: {refusal}"
            )
    summary = {
        key: described.get(key)
        for key in ("RecoveryPointArn", "BackupVaultName", "BackupVaultArn", "ResourceArn",
                    "ResourceType", "CreationDate", "Status", "StorageClass", "Lifecycle",
                    "CalculatedLifecycle", "BackupSizeInBytes")
    }  # fmt: skip
    return json_object(
        {
            **summary,
            "Trigger": trigger.kind,
            "JobId": trigger.job_id,
            "Region": trigger.region,
            "Destinations": list(trigger.destinations),
        }
    )


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    fields = Fields(event)
    execution = fields.optional_string("Execution")
    trigger = read_trigger(
        fields.raw("Event"),
        account=fields.string("Account", ACCOUNT_ID),
        region=fields.string("Region", REGION),
        deployment=read_deployment(fields),
        copy_scheduled_backups=fields.boolean("CopyScheduledBackups"),
    )
    bind(logger, execution, trigger.recovery_point_arn)
    result = describe_original(backup_client(trigger.region), trigger)
    logger.info("original described", extra={"original": result})
    return result
