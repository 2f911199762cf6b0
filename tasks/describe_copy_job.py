"""Task "WaitForCopyTo...": is the copy job finished?

COMPLETED returns the copy's summary. FAILED (or ABORTED, PARTIAL) raises CopyJobFailed with
AWS's status message. CREATED or RUNNING raises CopyJobNotFinished, which the state machine
retries with a growing interval: this task's own Retry is the polling loop, one billed
transition per poll. Past the deployment's waiting limit, counted from when the state was
entered, it raises CopyJobTimedOut instead, and the original is never cut. A copy job of
another recovery point than `RecoveryPointArn` is an InvalidInput.

A copy that the copy state already found COMPLETED needs no wait. A job AWS Backup no longer
knows (its history is not kept forever, aws-facts.md §B.2) is settled by looking for the copy
in the destination vault; if it is not there either, CopyJobNotFound.
"""

from __future__ import annotations

from typing import Any

from tasks.aws import call, json_safe
from tasks.copies import copy_job_outcome, job_created
from tasks.copy_reader import CopyReader, original_from
from tasks.errors import CopyJobNotFound, ResourceNotFoundException
from tasks.inputs import COPY_JOB_ID, ROLE_ARN, VAULT_ARN
from tasks.logs import make_logger, start_task
from tasks.metrics import COPY_JOB_SECONDS, SECONDS, make_metrics, publish

logger = make_logger()
metrics = make_metrics()
WEEK = 7 * 24 * 3600


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = start_task(logger, event)
    copy = task.fields.object("Copy")
    destination = copy.string("DestinationBackupVaultArn", VAULT_ARN)
    if copy.raw("State") == "COMPLETED" and copy.raw("DestinationRecoveryPointArn"):
        return {
            "CopyJobId": copy.raw("CopyJobId"),
            "State": "COMPLETED",
            "DestinationBackupVaultArn": destination,
            "DestinationRecoveryPointArn": copy.raw("DestinationRecoveryPointArn"),
        }
    copy_job_id = copy.string("CopyJobId", COPY_JOB_ID)
    now = task.fields.timestamp("Now")
    waiting_since = task.fields.timestamp("WaitingSince")
    limit_seconds = task.fields.integer("TimeLimitSeconds", 60, WEEK)
    try:
        described = call(task.backup.describe_copy_job, CopyJobId=copy_job_id)
    except ResourceNotFoundException as error:
        original = original_from(task.fields.object("Original"), task.recovery_point_arn)
        reader = CopyReader(task.fields.string("CopyReaderRoleArn", ROLE_ARN))
        found = reader.find(destination, original)
        if found is None:
            raise CopyJobNotFound(
                f"AWS Backup no longer knows copy job {copy_job_id}, and {destination} holds "
                f"no copy of {task.recovery_point_arn}"
            ) from error
        logger.info("copy job gone from history; copy found", extra={"copy": found})
        return {
            "CopyJobId": copy_job_id,
            "State": "COMPLETED",
            "DestinationBackupVaultArn": destination,
            "DestinationRecoveryPointArn": found,
        }
    copy_job = json_safe(described["CopyJob"])
    logger.info("copy job", extra={"copy_job_state": copy_job.get("State")})
    outcome = copy_job_outcome(
        copy_job,
        now=now,
        waiting_since=waiting_since,
        limit_seconds=limit_seconds,
        source_recovery_point_arn=task.recovery_point_arn,
    )
    started, finished = copy_job.get("CreationDate"), copy_job.get("CompletionDate")
    if started and finished:
        took = job_created({"CreationDate": finished}) - job_created({"CreationDate": started})
        publish(metrics, (COPY_JOB_SECONDS, SECONDS, took.total_seconds()))
    return outcome
