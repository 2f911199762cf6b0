"""Task "CopyTo...": make sure one copy of the original is on its way to one destination vault.

Idempotent: a copy to that vault that is COMPLETED (and still exists) or still running (a
duplicate event, a re-run, a backup plan's own copy) is reused and nothing is started; so is a
copy found in the destination vault after its job dropped out of AWS Backup's job history. A
copy that was made and no longer exists (deleted, expired) is not made again on a guess:
CopyNoLongerExists.
Otherwise it calls StartCopyJob with an explicit lifecycle (the original's, as it is now, so
the copy's expiry is known and recorded) and a token derived from the recovery point, the
destination and the number of earlier failed attempts, so concurrent duplicates start exactly
one job.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tasks.aws import BackupClient, copy_jobs_of, iso_utc, json_object
from tasks.copies import (
    CopyLookup,
    copy_lifecycle,
    idempotency_token,
    judge_copy,
    plan_copy_start,
)
from tasks.copy_reader import CopyReader, Original, original_of
from tasks.errors import CopyHistoryUnknown, CopyNoLongerExists, CopyReaderUnavailable
from tasks.inputs import ROLE_ARN, VAULT_ARN, VAULT_NAME
from tasks.logs import make_logger, start_task, write_call
from tasks.metrics import COPIES_STARTED, COUNT, make_metrics, publish
from tasks.points import describe_point
from tasks.retention import RecoveryPoint

logger = make_logger()
metrics = make_metrics()
# AWS Backup documents 30 days of job history for its job listings (aws-facts.md §B.2): past
# that, a missing job record no longer proves that no copy was made.
JOB_HISTORY = timedelta(days=30)


def _existing_copy(
    reader: CopyReader,
    original: Original,
    destination: str,
    completed: list[str],
    now: datetime,
) -> tuple[list[str], str | None]:
    """(completed copies that are gone, a usable copy found in the vault without a job)."""
    gone = [arn for arn in completed if reader.describe(destination, arn) is None]
    if len(gone) < len(completed):
        return gone, None
    found = reader.find(destination, original)
    if found is None:
        return gone, None
    verdict = judge_copy(
        CopyLookup(destination, found, reader.describe(destination, found)),
        original.recovery_point_arn,
        now,
    )
    return gone, found if verdict.problem is None else None


def ensure_copy(
    backup: BackupClient,
    reader: CopyReader,
    *,
    original: Original,
    point: RecoveryPoint,
    source_vault_name: str,
    destination: str,
    role_arn: str,
    now: datetime,
) -> dict[str, Any]:
    jobs = copy_jobs_of(
        backup,
        original.recovery_point_arn,
        resource_arn=original.resource_arn,
        created=original.creation_date,
        destination=destination,
    )
    completed = [
        str(j["DestinationRecoveryPointArn"])
        for j in jobs
        if j.get("State") == "COMPLETED" and j.get("DestinationRecoveryPointArn")
    ]
    try:
        gone, found = _existing_copy(reader, original, destination, completed, now)
    except CopyReaderUnavailable as error:
        if now - original.creation_date >= JOB_HISTORY:
            raise CopyHistoryUnknown(
                f"{original.recovery_point_arn} is older than AWS Backup's job history, and the "
                f"destination vault cannot be read to see whether it holds a copy: {error}"
            ) from error
        # The job records are complete for a backup this young, so they alone can say
        # whether a copy exists; copying does not depend on the reader, only the cut does.
        logger.warning("copies cannot be read; deciding from copy jobs", extra={"why": str(error)})
        gone, found = [], None
    start = plan_copy_start(jobs, destination, gone)
    if start.reuse is None and gone:
        # Someone deleted it, or it expired: copying again would undo what a person did or
        # hide that the copies did not outlive the original (design.md §5, rule 7).
        raise CopyNoLongerExists(
            f"The copy of {original.recovery_point_arn} in {destination} ({', '.join(gone)}) "
            "no longer exists; the original keeps its retention. To copy it again, copy it by "
            "hand in AWS Backup, then re-run this execution."
        )
    if start.reuse is not None:
        logger.info("copy already exists; not starting another", extra={"copy_job": start.reuse})
        reused = {
            "CopyJobId": start.reuse["CopyJobId"],
            "State": start.reuse["State"],
            "DestinationBackupVaultArn": destination,
            "Started": False,
        }
        if start.reuse.get("State") == "COMPLETED":
            reused["DestinationRecoveryPointArn"] = start.reuse["DestinationRecoveryPointArn"]
        return reused
    if found is not None:
        logger.info("copy found in the destination vault", extra={"copy": found})
        return {
            "CopyJobId": None,
            "State": "COMPLETED",
            "DestinationBackupVaultArn": destination,
            "DestinationRecoveryPointArn": found,
            "Started": False,
        }
    lifecycle = copy_lifecycle(point)
    started = write_call(
        logger,
        backup.start_copy_job,
        RecoveryPointArn=original.recovery_point_arn,
        SourceBackupVaultName=source_vault_name,
        DestinationBackupVaultArn=destination,
        IamRoleArn=role_arn,
        IdempotencyToken=idempotency_token(original.recovery_point_arn, destination, start.attempt),
        Lifecycle=lifecycle,
    )
    publish(metrics, (COPIES_STARTED, COUNT, 1))
    return json_object(
        {
            "CopyJobId": started["CopyJobId"],
            "State": "CREATED",
            "CreationDate": started.get("CreationDate"),
            "DestinationBackupVaultArn": destination,
            "Lifecycle": lifecycle,
            "ExpiresAt": iso_utc(
                original.creation_date + timedelta(days=int(lifecycle["DeleteAfterDays"]))
            ),
            "Attempt": start.attempt + 1,
            "Started": True,
        }
    )


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = start_task(logger, event)
    source_vault_name = task.fields.string("BackupVaultName", VAULT_NAME)
    destination = task.fields.string("DestinationBackupVaultArn", VAULT_ARN)
    role_arn = task.fields.string("IamRoleArn", ROLE_ARN)
    reader = CopyReader(task.fields.string("CopyReaderRoleArn", ROLE_ARN))
    now = task.fields.timestamp("Now")
    described, point = describe_point(task.backup, source_vault_name, task.recovery_point_arn)
    return ensure_copy(
        task.backup,
        reader,
        original=original_of(described),
        point=point,
        source_vault_name=source_vault_name,
        destination=destination,
        role_arn=role_arn,
        now=now,
    )
