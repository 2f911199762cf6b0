"""Typed models of the events the workflow starts from.

Two are AWS Backup's. The third, "Backup Needs Finishing", is this product's own: the
reconciliation and the operator's backfill start an execution with it for a backup whose
copies or cut were never finished (design.md §5b). It is shaped like an EventBridge event so
that every execution's input reads the same way and can be started again by hand.

The shapes follow AWS's published examples, quirks included (aws-facts.md §A.2, §A.3):
- sizes are strings in backup job events and numbers in copy job events;
- `destinationRecoveryPointArn` is an empty object `{}` until the copy is COMPLETED;
- a CREATED copy job event has no `copyJobId`;
- only jobs a backup plan started carry `createdBy` (`backupPlanRuleId`, not `BackupRuleId`);
- EBS and EC2 recovery point ARNs have no account field.
Anything else is an InvalidInput naming the field that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.errors import InvalidInput
from tasks.inputs import (
    ACCOUNT_ID,
    RECOVERY_POINT_ARN,
    REGION,
    VAULT_ARN,
    VAULT_NAME,
    Fields,
    parse_timestamp,
)

BACKUP_JOB = "Backup Job State Change"
COPY_JOB = "Copy Job State Change"
FINISH = "Backup Needs Finishing"
AWS_BACKUP = "aws.backup"
THIS_PRODUCT = "backup-events"
BACKUP_JOB_STATES = {
    "CREATED", "PENDING", "RUNNING", "ABORTING", "ABORTED",
    "COMPLETED", "FAILED", "EXPIRED", "PARTIAL",
}  # fmt: skip
COPY_JOB_STATES = {"CREATED", "RUNNING", "COMPLETED", "FAILED", "PARTIAL"}


@dataclass(frozen=True)
class PlanCreator:
    backup_plan_id: str
    backup_plan_arn: str
    backup_plan_version: str | None
    backup_plan_rule_id: str | None


@dataclass(frozen=True)
class Envelope:
    event_id: str
    account: str
    region: str
    time: str
    resources: tuple[str, ...]


@dataclass(frozen=True)
class BackupJobEvent:
    envelope: Envelope
    job_id: str
    state: str
    vault_name: str | None
    vault_arn: str | None
    recovery_point_arn: str | None
    resource_arn: str | None
    resource_type: str | None
    size_bytes: int | None
    created_by: PlanCreator | None
    status_message: str | None

    @property
    def on_demand(self) -> bool:
        return self.created_by is None


@dataclass(frozen=True)
class CopyJobEvent:
    envelope: Envelope
    copy_job_id: str | None
    state: str
    source_vault_arn: str
    destination_vault_arn: str
    source_recovery_point_arn: str | None
    destination_recovery_point_arn: str | None
    resource_arn: str | None
    resource_type: str | None
    size_bytes: int | None
    created_by: PlanCreator | None
    status_message: str | None

    @property
    def on_demand(self) -> bool:
        return self.created_by is None


def _size(value: Any, where: str) -> int | None:
    """A byte count: a string in backup job events, a number in copy job events (§A.2, §A.3)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdecimal():  # isdigit() lets "²" through
        return int(value)
    # bool is an int subclass; a float must be a whole, finite, non-negative number (JSON
    # numbers may arrive as 36048.0, but never as a fraction of a byte, NaN or Infinity).
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value >= 0 and value.is_integer():
        return int(value)
    raise InvalidInput(f"{where}: expected a size in bytes, got {value!r}")


def _created_by(detail: Fields) -> PlanCreator | None:
    raw = detail.raw("createdBy")
    if raw is None:
        return None
    fields = Fields(raw, "detail.createdBy")
    return PlanCreator(
        backup_plan_id=fields.string("backupPlanId"),
        backup_plan_arn=fields.string("backupPlanArn"),
        backup_plan_version=fields.optional_string("backupPlanVersion"),
        backup_plan_rule_id=fields.optional_string("backupPlanRuleId"),
    )


def _envelope(event: Fields, source: Any, expected: str = AWS_BACKUP) -> Envelope:
    if source != expected:
        raise InvalidInput(f"input.source: expected {expected!r}, got {source!r}")
    resources = event.raw("resources")
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise InvalidInput(f"input.resources: expected a list of ARNs, got {resources!r}")
    return Envelope(
        event_id=event.string("id"),
        account=event.string("account", ACCOUNT_ID),
        region=event.string("region", REGION),
        time=_event_time(event),
        resources=tuple(resources),
    )


def _event_time(event: Fields) -> str:
    # EventBridge always writes `time` as ISO-8601 with Z; anything else was made by hand.
    text = event.string("time")
    parse_timestamp(text, "input.time")
    return text


def _recovery_point(resources: tuple[str, ...], where: str = "input.resources[0]") -> str | None:
    if not resources:
        return None
    arn = resources[0]
    if not RECOVERY_POINT_ARN.fullmatch(arn):
        raise InvalidInput(f"{where}: {arn!r} is not a recovery point ARN")
    return arn


def parse_backup_job_event(raw: Any) -> BackupJobEvent:
    event = Fields(raw)
    envelope = _envelope(event, event.raw("source"))
    detail = event.object("detail")
    state = detail.string("state")
    if state not in BACKUP_JOB_STATES:
        raise InvalidInput(f"input.detail.state: {state!r} is not a backup job state")
    return BackupJobEvent(
        envelope=envelope,
        job_id=detail.string("backupJobId"),
        state=state,
        vault_name=detail.optional_string("backupVaultName", VAULT_NAME),
        vault_arn=detail.optional_string("backupVaultArn", VAULT_ARN),
        recovery_point_arn=_recovery_point(envelope.resources),
        resource_arn=detail.optional_string("resourceArn"),
        resource_type=detail.optional_string("resourceType"),
        size_bytes=_size(detail.raw("backupSizeInBytes"), "input.detail.backupSizeInBytes"),
        created_by=_created_by(detail),
        status_message=detail.optional_string("statusMessage"),
    )


def parse_copy_job_event(raw: Any) -> CopyJobEvent:
    event = Fields(raw)
    envelope = _envelope(event, event.raw("source"))
    detail = event.object("detail")
    state = detail.string("state")
    if state not in COPY_JOB_STATES:
        raise InvalidInput(f"input.detail.state: {state!r} is not a copy job state")
    destination_point = detail.raw("destinationRecoveryPointArn")
    if destination_point == {}:
        destination_point = None  # AWS sends {} until the copy is COMPLETED
    elif destination_point is not None and not (
        isinstance(destination_point, str) and RECOVERY_POINT_ARN.fullmatch(destination_point)
    ):
        raise InvalidInput(
            "input.detail.destinationRecoveryPointArn: "
            f"{destination_point!r} is not a recovery point ARN"
        )
    return CopyJobEvent(
        envelope=envelope,
        copy_job_id=detail.optional_string("copyJobId"),
        state=state,
        source_vault_arn=detail.string("sourceBackupVaultArn", VAULT_ARN),
        destination_vault_arn=detail.string("destinationBackupVaultArn", VAULT_ARN),
        source_recovery_point_arn=_recovery_point(envelope.resources),
        destination_recovery_point_arn=destination_point,
        resource_arn=detail.optional_string("resourceArn"),
        resource_type=detail.optional_string("resourceType"),
        size_bytes=_size(detail.raw("backupSizeInBytes"), "input.detail.backupSizeInBytes"),
        created_by=_created_by(detail),
        status_message=detail.optional_string("statusMessage"),
    )


@dataclass(frozen=True)
class FinishRequest:
    """A backup the reconciliation (or backfill) found unfinished: copy what is missing, cut."""

    envelope: Envelope
    recovery_point_arn: str
    vault_name: str
    vault_arn: str
    reason: str | None
    state: str = "COMPLETED"  # only completed backups are ever found unfinished


def parse_finish_request(raw: Any) -> FinishRequest:
    event = Fields(raw)
    envelope = _envelope(event, event.raw("source"), THIS_PRODUCT)
    detail = event.object("detail")
    arn = _recovery_point(envelope.resources)
    if arn is None:
        raise InvalidInput("input.resources: the recovery point to finish is required")
    return FinishRequest(
        envelope=envelope,
        recovery_point_arn=arn,
        vault_name=detail.string("backupVaultName", VAULT_NAME),
        vault_arn=detail.string("backupVaultArn", VAULT_ARN),
        reason=detail.optional_string("reason"),
    )


def finish_request(
    *,
    event_id: str,
    account: str,
    region: str,
    time: str,
    recovery_point_arn: str,
    vault_arn: str,
    reason: str,
) -> dict[str, Any]:
    """The input of an execution that finishes one backup, as the reconciliation writes it."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": FINISH,
        "source": THIS_PRODUCT,
        "account": account,
        "time": time,
        "region": region,
        "resources": [recovery_point_arn],
        "detail": {
            "backupVaultArn": vault_arn,
            "backupVaultName": vault_arn.rsplit(":", 1)[-1],
            "reason": reason,
        },
    }


def parse_event(raw: Any) -> BackupJobEvent | CopyJobEvent | FinishRequest:
    kind = Fields(raw).raw("detail-type")
    if kind == BACKUP_JOB:
        return parse_backup_job_event(raw)
    if kind == COPY_JOB:
        return parse_copy_job_event(raw)
    if kind == FINISH:
        return parse_finish_request(raw)
    raise InvalidInput(
        f"input.detail-type: expected {BACKUP_JOB!r}, {COPY_JOB!r} or {FINISH!r}, got {kind!r}"
    )
