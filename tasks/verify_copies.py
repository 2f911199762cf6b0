"""Task "VerifyCopies": are both required copies of the original COMPLETED?

Lists the copy jobs AWS Backup holds for the original (not the events: events are best
effort) and reports, per destination vault, the completed copy and its recovery point.
Returns Verified=false with the missing destinations rather than failing: for a backup plan's
copies, the first one to finish simply waits for the second.
"""

from __future__ import annotations

from typing import Any

from tasks.aws import copy_jobs_of
from tasks.copies import verify
from tasks.inputs import VAULT_ARN
from tasks.logs import make_logger, start_task

logger = make_logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = start_task(logger, event)
    destinations = task.fields.strings("Destinations", VAULT_ARN, 2)
    jobs = copy_jobs_of(task.backup, task.recovery_point_arn)
    result = verify(jobs, destinations, task.recovery_point_arn).to_output()
    logger.info("copies checked", extra={"verification": result})
    return result
