"""The EventBridge events AWS Backup sends when a job changes state (docs/aws-facts.md §A.2-§A.4).

"Backup Job State Change" and "Copy Job State Change", with the shapes and quirks of AWS's
examples, on the default bus of the account and region where the job runs, timed when the
state changed. Events are queued while the store's lock is held and published after it is
released: a rule may start an execution whose first task calls AWS Backup again.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from local.backup.models import Job, iso
from local.events import EventRouter


def console_date(value: datetime) -> str:
    """'Nov 20, 2026 5:39:07 AM', the form of `expectedCompletionDate` in AWS's example."""
    value = value.astimezone(UTC)
    return f"{value:%b} {value.day}, {value.year} {value.hour % 12 or 12}:{value:%M:%S %p}"


def backup_job_detail(job: Job) -> dict[str, Any]:
    if job.state == "CREATED":
        return {
            "backupJobId": job.job_id,
            "state": "CREATED",
            "creationDate": iso(job.creation_date),
        }
    done = job.state == "COMPLETED"
    detail: dict[str, Any] = {
        "backupJobId": job.job_id,
        # Strings, unlike copy job events; "0" until the backup is done (§A.2).
        "backupSizeInBytes": str(job.backup_size if done else 0),
        "backupVaultArn": job.vault_arn,
        "backupVaultName": job.vault_name,
        "bytesTransferred": str(job.backup_size if done else 0),
        "creationDate": iso(job.creation_date),
        "iamRoleArn": job.iam_role_arn,
        "resourceArn": job.resource_arn,
        "resourceType": job.resource_type,
        "state": job.state,
        "startBy": iso(job.creation_date + timedelta(hours=8)),
        "percentDone": 100.0 if done else 0.0,
        "retryCount": 0,
    }
    if job.state == "RUNNING" and job.start_date is not None:
        # AWS's RUNNING example writes this one date in another format (§A.2).
        detail["expectedCompletionDate"] = console_date(job.start_date + job.duration)
    return _with_outcome(detail, job)


def copy_job_detail(job: Job) -> dict[str, Any]:
    if job.state == "CREATED":
        # AWS's CREATED example has no copyJobId (§A.3).
        return {
            "creationDate": iso(job.creation_date),
            "state": "CREATED",
            "sourceBackupVaultArn": job.source_vault_arn,
            "destinationBackupVaultArn": job.destination_vault_arn,
        }
    detail: dict[str, Any] = {
        "copyJobId": job.job_id,
        "backupSizeInBytes": job.backup_size,
        "creationDate": iso(job.creation_date),
        "iamRoleArn": job.iam_role_arn,
        "resourceArn": job.resource_arn,
        "resourceType": job.resource_type,
        "sourceBackupVaultArn": job.source_vault_arn,
        "destinationBackupVaultArn": job.destination_vault_arn,
        "state": job.state,
        # A string only once COMPLETED; an empty object before (§A.3).
        "destinationRecoveryPointArn": job.destination_recovery_point_arn or {},
    }
    return _with_outcome(detail, job)


def _with_outcome(detail: dict[str, Any], job: Job) -> dict[str, Any]:
    if job.completion_date is not None:
        detail["completionDate"] = iso(job.completion_date)
    if job.status_message:
        detail["statusMessage"] = job.status_message
    if job.created_by:
        detail["createdBy"] = dict(job.created_by)
    return detail


class Announcer:
    def __init__(self, router: EventRouter) -> None:
        self.router = router
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, dict[str, Any]]] = []

    def announce(self, job: Job) -> None:
        """Queue the event of the state `job` has just entered."""
        if job.kind == "backup":
            detail_type, detail = "Backup Job State Change", backup_job_detail(job)
            # Only a COMPLETED backup names its recovery point, in `resources` (§A.2).
            resources = [job.recovery_point_arn or ""] if job.state == "COMPLETED" else []
        else:
            detail_type, detail = "Copy Job State Change", copy_job_detail(job)
            resources = [job.source_recovery_point_arn or ""]
        event = self.router.envelope(
            job.account, job.region, "aws.backup", detail_type, resources, detail
        )
        # The event's time is when the state changed, even if the clock has moved on since.
        changed = {"CREATED": job.creation_date, "RUNNING": job.start_date}.get(
            job.state, job.completion_date
        )
        if changed is not None:
            event["time"] = iso(changed).split(".")[0] + "Z"
        with self._lock:
            self._pending.append((job.account, job.region, event))

    def flush(self) -> None:
        """Publish what was queued (call with no lock held)."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                pending, self._pending = self._pending, []
            for account, region, event in pending:
                self.router.publish(account, region, event)
