"""What does this backup still need? The one answer the reconciliation and backfill share.

For an original in the watched vault, from what AWS Backup holds about it (the recovery point,
its copy jobs, the copies in the backup account) and what this product recorded (the cut
ledger, running executions), decide one of:

- `start`: an execution must finish it (copy what is missing, then cut): an event was lost, an
  execution died, or a plan's second copy came without its event;
- `done`: both copies are verified and the cut is made or not wanted;
- `skip`: nothing to do now, and nothing wrong (an execution is on it, too recent, cannot be
  copied, ...);
- `attention`: it cannot finish by itself and a person must look (a copy FAILED, copies that
  expire before the original or whose expiry is unknown, a plan that copies nowhere). The
  reconciliation reports these;
  it never retries them (design.md §5b).

Pure: no AWS calls and no clock; tasks/survey.py gathers the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from tasks.copies import (
    FINISHED_BADLY,
    IN_PROGRESS,
    CopyLookup,
    Deployment,
    as_recovery_point,
    job_created,
    judge_copy,
)
from tasks.ledger import CutRecord, check_prior_cut
from tasks.retention import (
    ELIGIBLE_STATUSES,
    RecoveryPoint,
    copies_outlive,
    decide_retention_cut,
)

Action = Literal["start", "done", "skip", "attention"]
# An execution started by the backup's own event is normally running within minutes; before
# this age a missing execution is not yet a lost event.
GRACE = timedelta(hours=1)
# A backup plan's copy can wait in CREATED for hours (one job per resource at a time, and up to
# two hours of AWS retries, docs/aws-facts.md §B.1): its own event should finish it.
PLAN_COPY_PATIENCE = timedelta(hours=24)
# AWS's listings can lag a job that just finished; after this a copy missing from its vault
# is gone.
LISTING_LAG = timedelta(minutes=15)
# Not worth starting: it would be deleted before a copy could be made and verified.
EXPIRES_TOO_SOON = timedelta(days=1)


@dataclass(frozen=True)
class Settings:
    """What the deployment does with a backup (its stack's parameters)."""

    deployment: Deployment
    new_delete_after_days: int
    copy_scheduled_backups: bool = False
    cut_enabled: bool = True


@dataclass(frozen=True)
class Facts:
    """Everything known about one original."""

    point: Mapping[str, Any]  # as ListRecoveryPointsByBackupVault or DescribeRecoveryPoint
    copy_jobs: tuple[Mapping[str, Any], ...] = ()
    copies: Mapping[str, CopyLookup] | None = None  # by destination; None: not looked at
    record: CutRecord | None = None
    running: str | None = None  # an execution that is working on it


@dataclass(frozen=True)
class Need:
    recovery_point_arn: str
    action: Action
    reason: str
    created: datetime | None = None


def _plan_made(point: Mapping[str, Any]) -> bool:
    return bool((point.get("CreatedBy") or {}).get("BackupPlanArn"))


def _latest(jobs: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    listed = list(jobs)
    return max(listed, key=job_created) if listed else None


def what_it_needs(
    facts: Facts, settings: Settings, *, partition: str, region: str, now: datetime
) -> Need:
    point = facts.point
    arn = str(point["RecoveryPointArn"])
    try:
        original = as_recovery_point(point, now)
    except ValueError as error:
        return Need(arn, "attention", f"cannot be read: {error}")
    need = _decide(facts, settings, original, partition=partition, region=region, now=now)
    return replace(need, created=original.creation_date)


def _decide(
    facts: Facts,
    settings: Settings,
    original: RecoveryPoint,
    *,
    partition: str,
    region: str,
    now: datetime,
) -> Need:
    arn = original.arn
    if original.is_continuous:
        return Need(arn, "skip", "continuous backup: AWS Backup does not copy these on demand")
    if original.status not in ELIGIBLE_STATUSES:
        return Need(arn, "skip", f"status {original.status}")
    if now - original.creation_date < GRACE:
        return Need(arn, "skip", "made less than an hour ago; its own execution should be on it")
    if facts.running is not None:
        return Need(arn, "skip", f"execution {facts.running} is working on it")
    destinations = settings.deployment.destinations(partition, region)
    verdicts = {
        d: judge_copy((facts.copies or {}).get(d, CopyLookup(d, None, None)), arn, now)
        for d in destinations
    }
    verified = [d for d, v in verdicts.items() if v.problem is None]
    if len(verified) == len(destinations):
        return _cut_due(facts, settings, original, verdicts, now)
    if original.storage_class != "WARM":
        return Need(
            arn, "attention", "in cold storage without both copies: it can no longer be copied"
        )
    if original.delete_at is not None and original.delete_at - now < EXPIRES_TOO_SOON:
        # Gone before a copy could be made and verified: a loss a person must hear about.
        return Need(arn, "attention", "expires within a day without both copies")
    jobs_by_destination = {
        d: [j for j in facts.copy_jobs if j.get("DestinationBackupVaultArn") == d]
        for d in destinations
    }
    missing = [d for d in destinations if d not in verified]
    plan = _plan_made(facts.point) and not settings.copy_scheduled_backups
    if plan and not any(facts.copy_jobs) and not verified:
        return Need(
            arn,
            "attention",
            "made by a backup plan that copied it to neither destination; add copy rules to "
            "the plan or set CopyScheduledBackups=true",
        )
    for destination in missing:
        latest = _latest(jobs_by_destination[destination])
        state = None if latest is None else latest.get("State")
        if latest is not None and state in FINISHED_BADLY:
            message = latest.get("StatusMessage") or "no message"
            return Need(arn, "attention", f"the copy to {destination} is {state}: {message}")
        if latest is not None and state in IN_PROGRESS:
            waited = now - job_created(latest)
            if latest.get("CreatedBy") and waited < PLAN_COPY_PATIENCE:
                return Need(arn, "skip", f"the plan's copy to {destination} is on its way")
            continue  # nobody follows this copy any more: an execution will
        found = verdicts[destination]
        if found.recovery_point_arn is not None:
            # Deleted, expired or not completed: copying again would hide what happened.
            return Need(arn, "attention", str(found.problem))
        if (
            latest is not None
            and state == "COMPLETED"
            and now - job_created({"CreationDate": latest.get("CompletionDate")}) > LISTING_LAG
        ):
            # A copy was made and the vault no longer holds it: gone, not late.
            copy = latest.get("DestinationRecoveryPointArn")
            return Need(arn, "attention", f"the copy {copy} in {destination} no longer exists")
    return Need(arn, "start", f"no verified copy in {', '.join(missing)}")


def _cut_due(
    facts: Facts,
    settings: Settings,
    original: RecoveryPoint,
    verdicts: Mapping[str, Any],
    now: datetime,
) -> Need:
    arn = original.arn
    if not settings.cut_enabled:
        return Need(arn, "done", "both copies verified (EnableUpdateLifecycle is false)")
    prior = check_prior_cut(facts.record, original.lifecycle)
    if not prior.proceed:
        return Need(arn, "done", prior.reason)
    if prior.finished:
        # AWS took the cut but its run stopped before the ledger said CUT. Until it does, a
        # person who puts the old retention back would look like a cut never written, and be
        # cut again (design.md §5, rule 8): the cut task records it on its next run.
        return Need(arn, "start", f"the cut is not yet recorded as done: {prior.reason}")
    decision = decide_retention_cut(original, settings.new_delete_after_days, now)
    if decision.action != "update":
        return Need(arn, "done", f"both copies verified; {decision.reason}")
    check = copies_outlive(original, {d: v.copy for d, v in verdicts.items() if v.copy})
    if not check.safe:
        return Need(arn, "attention", "not cut: " + "; ".join([*check.too_soon, *check.unknown]))
    return Need(arn, "start", f"both copies verified and the cut is due: {decision.reason}")
