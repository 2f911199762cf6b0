"""Task "CutOriginalRetention": shorten the original's retention once its copies are safe.

The one write in the product that deletes data early, so it re-checks everything itself rather
than trusting the path that led here: both copies must be COMPLETED according to AWS Backup's
own copy jobs (not events), each copy must be kept at least as long as the original would have
been, the vault must not be locked, and the new lifecycle comes from the pure, property-tested
rules in tasks/retention.py. Applying it twice is harmless: the second time the retention is
already short enough and nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasks.aws import BackupClient, call, copy_jobs_of, json_object
from tasks.copies import verify
from tasks.errors import CopiesExpireTooSoon, CopiesNotVerified, RecoveryPointNotEligible
from tasks.inputs import VAULT_ARN, VAULT_NAME
from tasks.logs import make_logger, start_task, write_call
from tasks.points import describe_point
from tasks.retention import copies_expiring_early, decide_retention_cut

logger = make_logger()


def cut_retention(
    backup: BackupClient,
    *,
    recovery_point_arn: str,
    vault_name: str,
    destinations: list[str],
    new_delete_after_days: int,
    now: datetime,
) -> dict[str, Any]:
    verification = verify(
        copy_jobs_of(backup, recovery_point_arn), destinations, recovery_point_arn
    )
    if not verification.verified:
        raise CopiesNotVerified(
            f"Not cutting {recovery_point_arn}: no completed copy in {list(verification.missing)}"
        )
    vault = call(backup.describe_backup_vault, BackupVaultName=vault_name)
    _, point = describe_point(
        backup, vault_name, recovery_point_arn, vault_locked=bool(vault.get("Locked"))
    )
    decision = decide_retention_cut(point, new_delete_after_days, now)
    logger.info("retention decision", extra={"action": decision.action, "reason": decision.reason})
    if decision.action == "ineligible":
        raise RecoveryPointNotEligible(f"{recovery_point_arn} was left alone: {decision.reason}")
    result: dict[str, Any] = {
        "Action": decision.action,
        "Reason": decision.reason,
        "OldLifecycle": decision.current.to_api(),
        "NewLifecycle": decision.new.to_api(),
        "Copies": list(verification.copies),
    }
    if decision.action == "update":
        short = copies_expiring_early(
            decision.current,
            {
                f"The copy in {c['DestinationBackupVaultArn']}": c.get(
                    "DestinationRecoveryPointLifecycle"
                )
                for c in verification.copies
            },
        )
        if short:
            raise CopiesExpireTooSoon(
                f"Not cutting {recovery_point_arn}: the original would have outlived its "
                f"copies. {'; '.join(short)}. Give the copies a retention at least as long "
                "as the original's, or copy again."
            )
        updated = write_call(
            logger,
            backup.update_recovery_point_lifecycle,
            BackupVaultName=vault_name,
            RecoveryPointArn=recovery_point_arn,
            Lifecycle=decision.new.to_api(),
        )
        result["CalculatedLifecycle"] = updated.get("CalculatedLifecycle")
    return json_object(result)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = start_task(logger, event)
    return cut_retention(
        task.backup,
        recovery_point_arn=task.recovery_point_arn,
        vault_name=task.fields.string("BackupVaultName", VAULT_NAME),
        destinations=task.fields.strings("Destinations", VAULT_ARN, 2),
        new_delete_after_days=task.fields.integer("NewDeleteAfterDays", 1, 36500),
        now=task.fields.timestamp("Now"),
    )
