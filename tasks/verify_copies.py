"""Task "VerifyCopies": does each of the two destinations hold a usable copy of the original?

Reads the copies themselves in the backup account (tasks/copy_reader.py), not the events
(best effort) nor only the copy jobs (a copy can be deleted or expire after its job
completed). Returns Verified=false with what is missing or unusable rather than failing: for
a backup plan's copies, the first one to finish simply waits for the second. A copy this
execution saw completed moments ago that cannot be read yet raises CopiesNotYetVisible, which
the state machine retries for a bounded time (AWS's listings can lag a finished job); one
that completed longer ago is reported as no longer existing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tasks.copies import verify
from tasks.copy_reader import CopyReader, known_copy_details, look_up_copies, original_from
from tasks.errors import CopiesNotYetVisible
from tasks.inputs import ROLE_ARN, VAULT_ARN
from tasks.logs import make_logger, start_task

logger = make_logger()
# A copy whose job completed longer ago than this and still cannot be read is gone, not late.
VISIBILITY_LAG = timedelta(minutes=15)


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = start_task(logger, event)
    destinations = task.fields.strings("Destinations", VAULT_ARN, 2)
    original = original_from(task.fields.object("Original"), task.recovery_point_arn)
    details = known_copy_details(task.fields.raw("KnownCopies"))
    known = {destination: arn for destination, (arn, _) in details.items()}
    reader = CopyReader(task.fields.string("CopyReaderRoleArn", ROLE_ARN))
    now = task.fields.timestamp("Now")
    lookups = look_up_copies(task.backup, reader, original, destinations, known)
    verification = verify(lookups, destinations, original.recovery_point_arn, now)
    # Seen completed moments ago and not readable yet: AWS's listings lag; retried. Later than
    # that it is gone, and the verification says so.
    unseen = [
        str(v.recovery_point_arn)
        for v in verification.verdicts
        if v.copy is None
        and v.recovery_point_arn is not None
        and v.recovery_point_arn == known.get(v.destination)
        and now - (details[v.destination][1] or now) < VISIBILITY_LAG
    ]
    if unseen:
        raise CopiesNotYetVisible(f"Completed copies not readable yet: {', '.join(unseen)}")
    result = verification.to_output()
    logger.info("copies checked", extra={"verification": result})
    return result
