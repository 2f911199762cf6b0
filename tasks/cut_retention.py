"""Task "CutOriginalRetention": shorten the original's retention once its copies are safe.

The one write in the product that deletes data early, so it re-checks everything itself rather
than trusting the path that led here (design.md §5):
- both copies exist in the backup account, completed and not expired, read from the copies
  themselves (tasks/copy_reader.py);
- the vault is not locked, and the new lifecycle comes from the pure, property-tested rules in
  tasks/retention.py;
- every copy is deleted no earlier than the original would be without the cut, as the copy and
  the original are now (a person may have lengthened the original after copying);
- a retention someone lengthened after an earlier cut is never shortened again (the ledger).
Applying it twice is harmless: the second time the retention is already short enough and
nothing is written. The ledger records the cut in two phases around the one write.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tasks.aws import BackupClient, call, dynamodb_client, json_object
from tasks.copies import verify
from tasks.copy_reader import CopyReader, known_copies, look_up_copies, original_of
from tasks.errors import (
    CopiesExpireTooSoon,
    CopiesNotVerified,
    CopyExpiryUnknown,
    InvalidInput,
    RecoveryPointNotEligible,
    RetentionChangedAfterCut,
)
from tasks.inputs import ROLE_ARN, VAULT_ARN, VAULT_NAME
from tasks.ledger import check_prior_cut, read_record, record_for, write_record
from tasks.logs import make_logger, start_task, write_call
from tasks.metrics import (
    BACKUPS_CUT,
    COUNT,
    RETENTION_DAYS_REMOVED,
    STORAGE_GB_DAYS_SAVED,
    gb_days,
    make_metrics,
    publish,
)
from tasks.points import describe_point
from tasks.retention import MAX_DAYS, copies_outlive, decide_retention_cut

logger = make_logger()
metrics = make_metrics()
TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")


@dataclass(frozen=True)
class DeployedCut:
    """The cut's settings as the stack is deployed now, from the function's environment."""

    enabled: bool
    new_delete_after_days: int


def deployed_cut(environ: Mapping[str, str], requested_days: int) -> DeployedCut:
    """What the cut may do, given the days this execution's definition asks for.

    A redrive runs an execution on the definition it started with (aws-facts.md §C.3), so a
    stack updated since (cuts turned off, more days kept) would not be heard; the function's
    environment is always the stack's current one. Turned off now means no cut; of the two
    day counts the longer wins, so a stale execution never cuts shorter than either says.
    Absent variables (a task run outside its stack) leave the request as it is.
    """
    enabled = environ.get("CUT_ENABLED", "true")
    if enabled not in ("true", "false"):
        raise InvalidInput(f"CUT_ENABLED must be true or false, got {enabled!r}")
    days = environ.get("NEW_DELETE_AFTER_DAYS")
    if days is None:
        return DeployedCut(enabled == "true", requested_days)
    if not days.isdigit() or not 1 <= int(days) <= MAX_DAYS:
        raise InvalidInput(f"NEW_DELETE_AFTER_DAYS must be 1..{MAX_DAYS}, got {days!r}")
    return DeployedCut(enabled == "true", max(requested_days, int(days)))


def cut_retention(
    backup: BackupClient,
    reader: CopyReader,
    dynamodb: Any,
    *,
    recovery_point_arn: str,
    vault_name: str,
    destinations: list[str],
    known: dict[str, str],
    ledger_table: str,
    new_delete_after_days: int,
    now: datetime,
    execution: str | None,
    cut_enabled: bool = True,
) -> dict[str, Any]:
    vault = call(backup.describe_backup_vault, BackupVaultName=vault_name)
    # The ledger before the original: a concurrent run's cut landing in between is then read
    # as the retention it left, never as someone lengthening it after a cut (design.md §5).
    record = read_record(dynamodb, ledger_table, recovery_point_arn)
    described, point = describe_point(
        backup, vault_name, recovery_point_arn, vault_locked=bool(vault.get("Locked"))
    )
    verification = verify(
        look_up_copies(backup, reader, original_of(described), destinations, known),
        destinations,
        recovery_point_arn,
        now,
    )
    if not verification.verified:
        problems = [v.problem for v in verification.verdicts if v.problem is not None]
        raise CopiesNotVerified(
            f"Not cutting {recovery_point_arn}: {'; '.join(map(str, problems))}"
        )
    prior = check_prior_cut(record, point.lifecycle)
    if not prior.proceed:
        raise RetentionChangedAfterCut(f"Not cutting {recovery_point_arn}: {prior.reason}")
    if prior.finished and record is not None:
        # AWS took an earlier cut whose run stopped before marking it. Marked first, whatever
        # is decided below: left CUTTING, a person putting the old retention back would read
        # as a cut never written (design.md §5). The record this run read, not a newer one.
        write_record(dynamodb, ledger_table, replace(record, state="CUT"))
    decision = decide_retention_cut(point, new_delete_after_days, now)
    logger.info("retention decision", extra={"action": decision.action, "reason": decision.reason})
    if decision.action == "ineligible":
        raise RecoveryPointNotEligible(f"{recovery_point_arn} was left alone: {decision.reason}")
    size = described.get("BackupSizeInBytes")
    result: dict[str, Any] = {
        "Action": decision.action,
        "Reason": decision.reason,
        "OldLifecycle": decision.current.to_api(),
        "NewLifecycle": decision.new.to_api(),
        "Copies": [v.to_output() for v in verification.verdicts],
        "BackupSizeInBytes": size,
    }
    target = decision.new.delete_after_days
    if decision.action == "update" and not cut_enabled:
        # Turned off since this execution started (deployed_cut): nothing is written.
        result.update(
            Action="unchanged",
            Reason="Not cut: EnableUpdateLifecycle is false in the deployed stack (the cut "
            f"would have been: {decision.reason})",
            NewLifecycle=decision.current.to_api(),
        )
    elif decision.action == "update" and target is not None:
        check = copies_outlive(point, verification.copies)
        if check.unknown:
            raise CopyExpiryUnknown(f"Not cutting {recovery_point_arn}: {'; '.join(check.unknown)}")
        if check.too_soon:
            raise CopiesExpireTooSoon(
                f"Not cutting {recovery_point_arn}: the original would outlive its copies. "
                f"{'; '.join(check.too_soon)}. Give the copies a retention at least as long as "
                "the original's, or copy again."
            )

        def mark(state: Any) -> None:
            write_record(
                dynamodb,
                ledger_table,
                record_for(
                    recovery_point_arn,
                    state,
                    target,
                    decision.current,
                    now,
                    execution=execution,
                    backup_size_bytes=size if isinstance(size, int) else None,
                ),
            )

        mark("CUTTING")
        updated = write_call(
            logger,
            backup.update_recovery_point_lifecycle,
            BackupVaultName=vault_name,
            RecoveryPointArn=recovery_point_arn,
            Lifecycle=decision.new.to_api(),
        )
        mark("CUT")
        result["CalculatedLifecycle"] = updated.get("CalculatedLifecycle")
        old = decision.current.delete_after_days
        removed = old - target if old is not None and old > 0 else None
        result["DaysRemoved"] = removed
        result["StorageGBDaysSaved"] = gb_days(size if isinstance(size, int) else None, removed)
        publish(
            metrics,
            (BACKUPS_CUT, COUNT, 1),
            (RETENTION_DAYS_REMOVED, COUNT, removed or 0),
            (STORAGE_GB_DAYS_SAVED, COUNT, result["StorageGBDaysSaved"]),
        )
    return json_object(result)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = start_task(logger, event)
    region = task.fields.string("Region")
    deployed = deployed_cut(os.environ, task.fields.integer("NewDeleteAfterDays", 1, MAX_DAYS))
    return cut_retention(
        task.backup,
        CopyReader(task.fields.string("CopyReaderRoleArn", ROLE_ARN)),
        dynamodb_client(region),
        recovery_point_arn=task.recovery_point_arn,
        vault_name=task.fields.string("BackupVaultName", VAULT_NAME),
        destinations=task.fields.strings("Destinations", VAULT_ARN, 2),
        known=known_copies(task.fields.raw("KnownCopies")),
        ledger_table=task.fields.string("LedgerTableName", TABLE_NAME),
        new_delete_after_days=deployed.new_delete_after_days,
        now=task.fields.timestamp("Now"),
        execution=task.fields.optional_string("Execution"),
        cut_enabled=deployed.enabled,
    )
