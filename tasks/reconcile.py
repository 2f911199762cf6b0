"""Task "FindUnfinishedBackups": what the scheduled reconciliation must start, redrive, report.

AWS Backup's events are best effort, Lambda crashes and AWS returns 5xx, so a backup must
never stay half done just because nobody ran a script (design.md §5b). Once a day (by
default) the reconciliation state machine calls this task, which surveys the watched vault
(tasks/survey.py) and returns three bounded lists the state machine acts on, each visible in
its console:

- executions to start, one per backup that needs one, never two for one backup: none while an
  execution of it is running, and a name made of the backup and the day, so a second
  reconciliation that day is refused by Step Functions (docs/aws-facts.md §C.2);
- executions to redrive: those that failed on an error a retry can fix, a bounded number of
  times, within RedriveExecution's 14 days (§C.3); a backup with one of these is redriven,
  not started again;
- backups to report to the error queue (and so the alarm): final failures the reconciliation
  must not retry, and backups whose redrives ran out, named one by one.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from tasks.aws import backup_client, dynamodb_client, iso_utc, states_client
from tasks.copy_reader import CopyReader
from tasks.errors import FINAL_ERRORS
from tasks.events import finish_request
from tasks.inputs import ACCOUNT_ID, REGION, ROLE_ARN, Fields
from tasks.logs import bind, make_logger
from tasks.metrics import (
    BACKUPS_NEEDING_ATTENTION,
    BACKUPS_TO_FINISH,
    COUNT,
    EXECUTIONS_TO_REDRIVE,
    ORIGINALS_AWAITING_CUT,
    ORIGINALS_SURVEYED,
    make_metrics,
    publish,
)
from tasks.needs import Need, Settings
from tasks.retention import MAX_DAYS
from tasks.survey import Place, Survey, redrivable, survey
from tasks.trigger import read_deployment

logger = make_logger()
metrics = make_metrics()
STATE_MACHINE_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]{1,80}$"
)
# A fixed namespace, so the same backup found the same day gets the same event id.
EVENTS = uuid.UUID("0d5f3c1e-6a2b-4c8d-9e7f-1a2b3c4d5e6f")


def execution_name(recovery_point_arn: str, day: datetime) -> str:
    """`finish-<backup>-<day>`: at most one reconciliation start per backup and day."""
    digest = hashlib.sha256(recovery_point_arn.encode()).hexdigest()[:24]
    return f"finish-{digest}-{day:%Y%m%d}"


def plan_actions(
    found: Survey,
    place: Place,
    vault_arn: str,
    *,
    now: datetime,
    max_starts: int,
    max_redrives: int,
    max_reports: int,
) -> dict[str, Any]:
    """Turn a survey into the lists the state machine acts on (pure)."""
    latest_failure: dict[str, Any] = {}
    for execution in sorted(found.failed, key=lambda e: e.stopped or now):
        if execution.recovery_point_arn is not None:
            latest_failure[execution.recovery_point_arn] = execution
    redrive: list[str] = []
    reports: list[Need] = list(found.by_action("attention"))
    starts: list[Need] = []
    for need in found.by_action("start"):
        failed = latest_failure.get(need.recovery_point_arn)
        if failed is not None and failed.error in FINAL_ERRORS:
            # Its last execution ended in a named final error: a person looks first, and
            # re-runs it once the cause is fixed (design.md §5b).
            reports.append(
                Need(
                    need.recovery_point_arn,
                    "attention",
                    f"execution {failed.arn} ended in {failed.error}; fix the cause, then "
                    f"re-run it ({need.reason})",
                    need.created,
                )
            )
        elif failed is not None and redrivable(failed, max_redrives, now):
            redrive.append(failed.arn)
        elif failed is not None and failed.redrive_count >= max_redrives:
            reports.append(
                Need(
                    need.recovery_point_arn,
                    "attention",
                    f"execution {failed.arn} failed with {failed.error} after "
                    f"{failed.redrive_count} redrives; {need.reason}",
                    need.created,
                )
            )
        else:
            starts.append(need)
    starts.sort(key=lambda n: n.created or now)  # the oldest first: closest to expiring
    time = iso_utc(now)
    start_items = [
        {
            "Name": (name := execution_name(n.recovery_point_arn, now)),
            "RecoveryPointArn": n.recovery_point_arn,
            "Input": json.dumps(
                finish_request(
                    event_id=str(uuid.uuid5(EVENTS, name)),
                    account=place.account,
                    region=place.region,
                    time=time,
                    recovery_point_arn=n.recovery_point_arn,
                    vault_arn=vault_arn,
                    reason=n.reason,
                ),
                separators=(",", ":"),
            ),
        }
        for n in starts[:max_starts]
    ]
    report_items = [
        {
            "RecoveryPointArn": n.recovery_point_arn,
            "MessageBody": json.dumps(
                {
                    "source": "backup-events.reconciliation",
                    "account": place.account,
                    "region": place.region,
                    "recoveryPointArn": n.recovery_point_arn,
                    "createdAt": None if n.created is None else iso_utc(n.created),
                    "problem": n.reason,
                    "foundAt": time,
                },
                separators=(",", ":"),
            ),
        }
        for n in reports[:max_reports]
    ]
    unfinished = [n for n in found.needs if n.action in ("start", "attention")]
    oldest = min(unfinished, key=lambda n: n.created or now, default=None)
    return {
        "Start": start_items,
        "Redrive": redrive,
        "Report": report_items,
        "Counts": {
            "Originals": len(found.needs),
            "Done": len(found.by_action("done")),
            "Skipped": len(found.by_action("skip")),
            "ToStart": len(starts),
            "Started": len(start_items),
            "ToRedrive": len(redrive),
            "NeedAttention": len(reports),
            "AwaitingCut": sum(1 for n in starts if "cut is due" in n.reason),
            "Running": len(found.running),
        },
        "Truncated": len(starts) > max_starts or len(reports) > max_reports,
        "OldestUnfinished": None
        if oldest is None
        else {
            "RecoveryPointArn": oldest.recovery_point_arn,
            "CreatedAt": None if oldest.created is None else iso_utc(oldest.created),
            "Reason": oldest.reason,
        },
    }


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    fields = Fields(event)
    bind(logger, fields.optional_string("Execution"), None)
    account = fields.string("Account", ACCOUNT_ID)
    region = fields.string("Region", REGION)
    workflow = fields.string("WorkflowArn", STATE_MACHINE_ARN)
    partition = workflow.split(":")[1]
    deployment = read_deployment(fields)
    settings = Settings(
        deployment=deployment,
        new_delete_after_days=fields.integer("NewDeleteAfterDays", 1, MAX_DAYS),
        copy_scheduled_backups=fields.boolean("CopyScheduledBackups"),
        cut_enabled=fields.boolean("EnableUpdateLifecycle"),
    )
    now = fields.timestamp("Now")
    place = Place(partition, account, region)
    found = survey(
        backup_client(region),
        CopyReader(fields.string("CopyReaderRoleArn", ROLE_ARN)),
        dynamodb_client(region),
        states_client(region),
        settings=settings,
        place=place,
        state_machine_arn=workflow,
        ledger_table=fields.string("LedgerTableName"),
        since=now - timedelta(days=fields.integer("HorizonDays", 1, 3650)),
        now=now,
    )
    vault_arn = f"arn:{partition}:backup:{region}:{account}:backup-vault:{deployment.vault_name}"
    actions = plan_actions(
        found,
        place,
        vault_arn,
        now=now,
        max_starts=fields.integer("MaxStarts", 0, 1000),
        max_redrives=fields.integer("MaxRedrives", 0, 10),
        max_reports=fields.integer("MaxReports", 0, 1000),
    )
    counts = actions["Counts"]
    logger.info("reconciliation", extra={"counts": counts})
    publish(
        metrics,
        *(
            (name, COUNT, counts[key])
            for name, key in (
                (ORIGINALS_SURVEYED, "Originals"),
                (ORIGINALS_AWAITING_CUT, "AwaitingCut"),
                (BACKUPS_TO_FINISH, "ToStart"),
                (BACKUPS_NEEDING_ATTENTION, "NeedAttention"),
                (EXECUTIONS_TO_REDRIVE, "ToRedrive"),
            )
        ),
    )
    return actions
