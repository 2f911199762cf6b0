"""Task "VerifyCopies": are both required copies of the original COMPLETED?

Lists the copy jobs AWS Backup holds for the original (not the events: events are best
effort) and reports, per destination vault, the completed copy and its recovery point.
Returns Verified=false with the missing destinations rather than failing: for a backup plan's
copies, the first one to finish simply waits for the second.
"""

from __future__ import annotations

from typing import Any

from tasks.aws import BackupClient, backup_client, call, json_safe
from tasks.copies import verify
from tasks.inputs import RECOVERY_POINT_ARN, REGION, VAULT_ARN, Fields
from tasks.logs import bind, make_logger

logger = make_logger()


def copy_jobs_of(backup: BackupClient, recovery_point_arn: str) -> list[Any]:
    """Every copy job of one source recovery point in this account and region, all pages."""
    jobs: list[Any] = []
    kwargs: dict[str, Any] = {"BySourceRecoveryPointArn": recovery_point_arn, "MaxResults": 1000}
    while True:
        page = call(backup.list_copy_jobs, **kwargs)
        jobs.extend(json_safe(page.get("CopyJobs", [])))
        token = page.get("NextToken")
        if not token:
            return jobs
        kwargs["NextToken"] = token


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    fields = Fields(event)
    recovery_point_arn = fields.string("RecoveryPointArn", RECOVERY_POINT_ARN)
    bind(logger, fields.optional_string("Execution"), recovery_point_arn)
    destinations = fields.strings("Destinations", VAULT_ARN, 2)
    backup = backup_client(fields.string("Region", REGION))
    result = verify(copy_jobs_of(backup, recovery_point_arn), destinations).to_output()
    logger.info("copies checked", extra={"verification": result})
    return result
