"""What a backup still needs (tasks/needs.py): the one answer the reconciliation and backfill share.

Each case is a backup as the survey finds it (its listing, its copy jobs, the copies in the
backup account, the ledger, a running execution) and the answer a person would expect: start
an execution, done, skip for now, or attention (design.md §5b).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasks.copies import CopyLookup, Deployment
from tasks.ledger import CutRecord
from tasks.needs import Facts, Need, Settings, what_it_needs

BACKUP_ACCOUNT = "999977775555"
VAULT = "BackupEvents-Sample"
DEPLOYMENT = Deployment(BACKUP_ACCOUNT, "us-west-2", "us-east-1", VAULT)
SETTINGS = Settings(deployment=DEPLOYMENT, new_delete_after_days=7)
WEST = f"arn:aws:backup:us-west-2:{BACKUP_ACCOUNT}:backup-vault:{VAULT}"
EAST = f"arn:aws:backup:us-east-1:{BACKUP_ACCOUNT}:backup-vault:{VAULT}"
ORIGINAL = "arn:aws:backup:us-east-1:000022224444:recovery-point:7c3a6e0f-2b4d-4c8e-9a51"
CREATED = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
NOW = CREATED + timedelta(days=2)
PLAN = {
    "BackupPlanArn": "arn:aws:backup:us-east-1:000022224444:backup-plan:daily",
    "BackupPlanId": "daily",
    "BackupRuleId": "rule",
}


def listed(**changes: Any) -> dict[str, Any]:
    """The original as ListRecoveryPointsByBackupVault lists it (no StorageClass)."""
    return {
        "RecoveryPointArn": ORIGINAL,
        "ResourceArn": "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-1",
        "BackupVaultArn": f"arn:aws:backup:us-east-1:000022224444:backup-vault:{VAULT}",
        "CreationDate": "2026-11-20T05:00:00Z",
        "Status": "COMPLETED",
        "Lifecycle": {"DeleteAfterDays": 35},
        "CalculatedLifecycle": {"DeleteAt": "2026-12-25T05:00:00Z"},
        **changes,
    }


def copy(destination: str, days: int = 35, **changes: Any) -> CopyLookup:
    """A copy found in the destination vault, as its listing shows it."""
    described = {
        **listed(),
        "RecoveryPointArn": f"{destination}-copy",
        "Lifecycle": {"DeleteAfterDays": days},
        "CalculatedLifecycle": {
            "DeleteAt": (CREATED + timedelta(days=days)).isoformat().replace("+00:00", "Z")
        },
        **changes,
    }
    return CopyLookup(destination, f"{destination}-copy", described)


BOTH = {WEST: copy(WEST), EAST: copy(EAST)}


def job(destination: str, state: str, *, hours_ago: float = 40, plan: bool = False) -> Any:
    found: dict[str, Any] = {
        "CopyJobId": f"{destination[-25:]}-{state}",
        "State": state,
        "SourceRecoveryPointArn": ORIGINAL,
        "DestinationBackupVaultArn": destination,
        "CreationDate": (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z"),
    }
    if state == "FAILED":
        found["StatusMessage"] = "Copy job failed. The KMS key is disabled."
    if plan:
        found["CreatedBy"] = PLAN
    return found


def need(
    point: dict[str, Any] | None = None,
    *,
    jobs: tuple[Any, ...] = (),
    copies: dict[str, CopyLookup] | None = None,
    record: CutRecord | None = None,
    running: str | None = None,
    settings: Settings = SETTINGS,
    now: datetime = NOW,
) -> Need:
    facts = Facts(
        point=listed() if point is None else point,
        copy_jobs=jobs,
        copies=copies,
        record=record,
        running=running,
    )
    return what_it_needs(facts, settings, partition="aws", region="us-east-1", now=now)


# --- Left alone for now --------------------------------------------------------------------


@pytest.mark.parametrize(
    "point",
    [
        listed(RecoveryPointArn=ORIGINAL.replace("recovery-point:", "recovery-point:continuous:")),
        listed(Status="STOPPED"),
    ],
)
def test_a_continuous_backup_is_skipped(point: dict[str, Any]) -> None:
    assert need(point).action == "skip"
    assert "continuous" in need(point).reason


@pytest.mark.parametrize("status", ["PARTIAL", "DELETING", "EXPIRED", "CREATING"])
def test_a_backup_that_is_not_complete_is_skipped(status: str) -> None:
    assert need(listed(Status=status)) == Need(ORIGINAL, "skip", f"status {status}", CREATED)


def test_a_backup_made_within_the_hour_is_left_to_its_own_execution() -> None:
    found = need(now=CREATED + timedelta(minutes=59))
    assert found.action == "skip"
    assert "less than an hour ago" in found.reason
    assert need(now=CREATED + timedelta(hours=1)).action == "start"


def test_a_backup_an_execution_is_working_on_is_skipped() -> None:
    found = need(running="arn:aws:states:us-east-1:000022224444:execution:BackupEvents:abc")
    assert found.action == "skip"
    assert "execution arn:aws:states:us-east-1:000022224444:execution:BackupEvents:abc" in (
        found.reason
    )


def test_a_backup_that_expires_within_a_day_without_copies_is_reported() -> None:
    # Too late to copy, and a backup gone without its copies is a loss a person must hear of.
    point = listed(CalculatedLifecycle={"DeleteAt": "2026-11-23T04:59:59Z"})
    assert need(point, copies={}).action == "attention"
    assert "expires within a day without both copies" in need(point, copies={}).reason


# --- Start: something an execution can finish ----------------------------------------------


def test_a_backup_whose_event_was_lost_is_started() -> None:
    found = need(copies={})
    assert found == Need(ORIGINAL, "start", f"no verified copy in {WEST}, {EAST}", CREATED)


def test_a_backup_whose_copies_were_not_looked_at_is_started() -> None:
    assert need(copies=None).action == "start"


def test_only_the_missing_copy_is_named() -> None:
    found = need(copies={WEST: copy(WEST)}, jobs=(job(WEST, "COMPLETED"),))
    assert found.action == "start"
    assert found.reason == f"no verified copy in {EAST}"


def test_our_copy_still_in_progress_with_no_execution_following_it_is_started() -> None:
    # The execution that started it died: a new one reuses the running copy job.
    found = need(copies={WEST: copy(WEST)}, jobs=(job(EAST, "RUNNING", hours_ago=3),))
    assert found.action == "start"


def test_a_plan_copy_stuck_for_a_day_is_started() -> None:
    stuck = job(EAST, "CREATED", hours_ago=24, plan=True)
    assert need(point=listed(CreatedBy=PLAN), copies={WEST: copy(WEST)}, jobs=(stuck,)).action == (
        "start"
    )


def test_a_plan_backup_whose_second_copy_came_without_its_event_is_started() -> None:
    # The plan copied to one destination and its event finished only half of the job.
    found = need(
        point=listed(CreatedBy=PLAN),
        copies={WEST: copy(WEST)},
        jobs=(job(WEST, "COMPLETED", plan=True),),
    )
    assert found.action == "start"


def test_a_plan_backup_is_started_when_the_deployment_copies_scheduled_backups() -> None:
    settings = Settings(DEPLOYMENT, 7, copy_scheduled_backups=True)
    assert need(point=listed(CreatedBy=PLAN), copies={}, settings=settings).action == "start"


def test_both_copies_verified_and_the_cut_due_is_started() -> None:
    found = need(copies=BOTH)
    assert found.action == "start"
    assert found.reason.startswith("both copies verified and the cut is due: Cut retention from")


def test_a_cut_that_stopped_before_aws_wrote_it_is_started_again() -> None:
    half = CutRecord(ORIGINAL, "CUTTING", 8, 35, "2026-11-21T05:00:00Z")
    assert need(copies=BOTH, record=half).action == "start"


def test_a_cut_aws_took_but_the_ledger_never_marked_done_is_started_to_record_it() -> None:
    # Left CUTTING, a person restoring the old 35 days would later read as a cut never written.
    point = listed(Lifecycle={"DeleteAfterDays": 8})
    half = CutRecord(ORIGINAL, "CUTTING", 8, 35, "2026-11-21T05:00:00Z")
    found = need(point, copies=BOTH, record=half)
    assert found.action == "start"
    assert found.reason.startswith("the cut is not yet recorded as done: The cut to 8 days")


# --- Done ----------------------------------------------------------------------------------


def test_a_backup_cut_and_unchanged_since_is_done() -> None:
    point = listed(
        Lifecycle={"DeleteAfterDays": 8},
        CalculatedLifecycle={"DeleteAt": "2026-11-28T05:00:00Z"},
    )
    record = CutRecord(ORIGINAL, "CUT", 8, 35, "2026-11-21T05:00:00Z")
    found = need(point, copies=BOTH, record=record)
    assert found.action == "done"
    assert "already 8 days" in found.reason


def test_a_backup_whose_retention_was_lengthened_after_the_cut_is_done_not_cut_again() -> None:
    record = CutRecord(ORIGINAL, "CUT", 8, 35, "2026-11-21T05:00:00Z")
    found = need(copies=BOTH, record=record)  # the original keeps 35 days again
    assert found.action == "done"
    assert "someone lengthened it after the cut" in found.reason


def test_both_copies_verified_with_the_cut_turned_off_is_done() -> None:
    settings = Settings(DEPLOYMENT, 7, cut_enabled=False)
    assert need(copies=BOTH, settings=settings) == Need(
        ORIGINAL, "done", "both copies verified (EnableUpdateLifecycle is false)", CREATED
    )


def test_both_copies_verified_and_nothing_to_cut_is_done() -> None:
    point = listed(Lifecycle={"DeleteAfterDays": 5}, CalculatedLifecycle={})
    found = need(point, copies=BOTH)
    assert found.action == "done"
    assert found.reason.startswith("both copies verified; Retention is already 5 days")


# --- Attention: a person must look ---------------------------------------------------------


def test_copies_that_expire_before_the_original_need_attention() -> None:
    found = need(copies={WEST: copy(WEST, days=5), EAST: copy(EAST)})
    assert found.action == "attention"
    assert found.reason.startswith(f"not cut: {WEST} is deleted at 2026-11-25 05:00 UTC")


def test_a_copy_whose_expiry_is_unknown_needs_attention() -> None:
    unknown = copy(WEST, days=-1, CalculatedLifecycle={})
    found = need(copies={WEST: unknown, EAST: copy(EAST)})
    assert found.action == "attention"
    assert "keeps the source's retention" in found.reason


def test_a_failed_copy_needs_attention_with_aws_message() -> None:
    found = need(copies={WEST: copy(WEST)}, jobs=(job(EAST, "FAILED"),))
    assert found == Need(
        ORIGINAL,
        "attention",
        f"the copy to {EAST} is FAILED: Copy job failed. The KMS key is disabled.",
        CREATED,
    )


def test_only_the_latest_job_to_a_destination_counts() -> None:
    retried = (job(EAST, "FAILED", hours_ago=30), job(EAST, "RUNNING", hours_ago=2))
    assert need(copies={WEST: copy(WEST)}, jobs=retried).action == "start"


def test_a_copy_someone_deleted_needs_attention() -> None:
    # Copying again would hide what happened.
    deleted = CopyLookup(EAST, f"{EAST}-copy", None)
    found = need(copies={WEST: copy(WEST), EAST: deleted})
    assert found.action == "attention"
    assert found.reason == f"the copy {EAST}-copy in {EAST} no longer exists"


def test_an_expired_copy_needs_attention() -> None:
    expired = copy(EAST, days=1)
    found = need(copies={WEST: copy(WEST), EAST: expired})
    assert found.action == "attention"
    assert "expired at 2026-11-21T05:00:00Z" in found.reason


def test_a_plan_backup_copied_nowhere_needs_attention() -> None:
    found = need(point=listed(CreatedBy=PLAN), copies={})
    assert found.action == "attention"
    assert "add copy rules to the plan or set CopyScheduledBackups=true" in found.reason


def test_a_cold_backup_without_both_copies_needs_attention() -> None:
    cold = listed(
        Lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 1},
        CalculatedLifecycle={"MoveToColdStorageAt": "2026-11-21T05:00:00Z"},
    )
    found = need(cold, copies={WEST: copy(WEST)})
    assert found.action == "attention"
    assert "can no longer be copied" in found.reason


def test_a_backup_that_cannot_be_read_needs_attention() -> None:
    found = need(listed(Lifecycle={"DeleteAfterDays": "35"}))
    assert found.action == "attention"
    assert found.reason.startswith("cannot be read: Lifecycle.DeleteAfterDays must be an integer")
    assert found.created is None


# --- In progress: leave it to the plan -----------------------------------------------------


def test_a_plan_copy_on_its_way_is_left_to_its_own_event() -> None:
    on_its_way = job(EAST, "CREATED", hours_ago=3, plan=True)
    found = need(point=listed(CreatedBy=PLAN), copies={WEST: copy(WEST)}, jobs=(on_its_way,))
    assert found.action == "skip"
    assert found.reason == f"the plan's copy to {EAST} is on its way"


def test_a_copy_made_by_a_completed_job_and_missing_from_its_vault_needs_attention() -> None:
    # Someone deleted it (or it expired): starting an execution would only fail by name.
    completed = {
        "State": "COMPLETED",
        "DestinationBackupVaultArn": EAST,
        "DestinationRecoveryPointArn": "arn:aws:backup:us-east-1:999977775555:recovery-point:gone",
        "CreationDate": "2026-11-20T06:00:00Z",
        "CompletionDate": "2026-11-20T07:00:00Z",
    }
    found = need(copies={WEST: copy(WEST)}, jobs=(completed,))
    assert found.action == "attention"
    assert "recovery-point:gone" in found.reason
    assert "no longer exists" in found.reason
