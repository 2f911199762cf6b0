"""Pure decisions about copies: where they go, when to start one, whether they are verified.

No AWS calls here: the tasks fetch copy jobs and hand them in, so every rule below is tested
without a network and without a clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.errors import CopyJobFailed, CopyJobNotFinished, CopyJobTimedOut, InvalidInput
from tasks.inputs import parse_timestamp, vault_arn_parts

FINISHED_BADLY = {"FAILED", "ABORTED", "PARTIAL"}
IN_PROGRESS = {"CREATED", "RUNNING"}


@dataclass(frozen=True)
class Deployment:
    """Where copies go: one vault name, in the backup account, in two regions."""

    backup_account: str
    backup_region: str
    alternate_region: str
    vault_name: str

    def __post_init__(self) -> None:
        if self.backup_region == self.alternate_region:
            raise InvalidInput("BackupRegion and BackupRegionAlternate must differ")

    def destinations(self, partition: str, source_region: str) -> tuple[str, str]:
        """(copy 1, copy 2): the backup region first, or its alternate when we are in it."""
        first = self.alternate_region if source_region == self.backup_region else self.backup_region
        return (
            self.vault_arn(partition, first),
            self.vault_arn(partition, source_region),
        )

    def vault_arn(self, partition: str, region: str) -> str:
        return (
            f"arn:{partition}:backup:{region}:{self.backup_account}:backup-vault:{self.vault_name}"
        )


def idempotency_token(recovery_point_arn: str, destination_vault_arn: str, attempt: int) -> str:
    """The same copy request always gets the same token; a retry after a failure a new one.

    Duplicate executions for one backup compute the same token, so AWS starts one copy job
    (aws-facts.md §B.1). A token reused after a FAILED job might be answered "no action taken"
    forever, so each failed attempt moves the token on.
    """
    digest = hashlib.sha256(
        f"{recovery_point_arn}\n{destination_vault_arn}\n{attempt}".encode()
    ).hexdigest()
    return f"backup-events-{digest[:40]}"


@dataclass(frozen=True)
class CopyStart:
    """What to do for one destination: reuse a job, or start attempt number `attempt`."""

    reuse: Mapping[str, Any] | None
    attempt: int


def plan_copy_start(
    copy_jobs: Iterable[Mapping[str, Any]], destination_vault_arn: str
) -> CopyStart:
    """Reuse a COMPLETED or unfinished copy to this destination; otherwise start a new one."""
    relevant = [j for j in copy_jobs if j.get("DestinationBackupVaultArn") == destination_vault_arn]
    for wanted in ({"COMPLETED"}, IN_PROGRESS):
        candidates = [j for j in relevant if j.get("State") in wanted]
        if candidates:
            return CopyStart(reuse=max(candidates, key=_created), attempt=0)
    failed = sum(1 for j in relevant if j.get("State") in FINISHED_BADLY)
    return CopyStart(reuse=None, attempt=failed)


def _created(job: Mapping[str, Any]) -> datetime:
    """When a job was created, for picking the latest; a job without a date sorts first.

    The tasks hand in jobs as JSON (ISO-8601 text). Text does not sort as time: Python writes
    no fraction for a whole second, so "06:00:00Z" would sort after "06:00:00.500000Z".
    """
    value = job.get("CreationDate")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str):
        return parse_timestamp(value, "CopyJob.CreationDate")
    return datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Verification:
    verified: bool
    copies: tuple[dict[str, Any], ...]
    missing: tuple[str, ...]

    def to_output(self) -> dict[str, Any]:
        return {
            "Verified": self.verified,
            "Copies": list(self.copies),
            "Missing": list(self.missing),
        }


def check_destinations(destinations: Iterable[str]) -> tuple[str, str]:
    """The two required destinations: vaults of one account in two different regions.

    Verification counts a copy per destination, so the same vault named twice, or two vaults
    in one region, would let the original be cut with a single copy or a single region left.
    """
    found = tuple(destinations)
    if len(found) != 2:
        raise InvalidInput(f"Destinations: expected two vault ARNs, got {list(found)}")
    (_, first_region, first_account, _), (_, second_region, second_account, _) = (
        vault_arn_parts(arn, "Destinations") for arn in found
    )
    if first_region == second_region or first_account != second_account:
        raise InvalidInput(
            f"Destinations: {list(found)} must be vaults of one account in two different regions"
        )
    return found[0], found[1]


def verify(
    copy_jobs: Iterable[Mapping[str, Any]],
    destinations: Iterable[str],
    recovery_point_arn: str,
) -> Verification:
    """Both required copies verified means a COMPLETED job with a recovery point in each.

    Only jobs whose source is `recovery_point_arn` count: the list is fetched by source, but a
    copy of another recovery point passing for this one would let the wrong original be cut.
    Each copy's reported lifecycle is kept so the cut can check the copies outlive it.
    """
    destinations = check_destinations(destinations)
    jobs = [j for j in copy_jobs if j.get("SourceRecoveryPointArn") == recovery_point_arn]
    copies: list[dict[str, Any]] = []
    missing: list[str] = []
    for destination in destinations:
        done = [
            j
            for j in jobs
            if j.get("DestinationBackupVaultArn") == destination
            and j.get("State") == "COMPLETED"
            and j.get("DestinationRecoveryPointArn")
        ]
        if not done:
            missing.append(destination)
            continue
        latest = max(done, key=_created)
        summary = {
            "DestinationBackupVaultArn": destination,
            "CopyJobId": latest.get("CopyJobId"),
            "DestinationRecoveryPointArn": latest.get("DestinationRecoveryPointArn"),
            "CompletionDate": latest.get("CompletionDate"),
        }
        if latest.get("DestinationRecoveryPointLifecycle") is not None:
            summary["DestinationRecoveryPointLifecycle"] = latest[
                "DestinationRecoveryPointLifecycle"
            ]
        copies.append(summary)
    return Verification(not missing, tuple(copies), tuple(missing))


def copy_job_outcome(
    copy_job: Mapping[str, Any],
    *,
    now: datetime,
    waiting_since: datetime,
    limit_seconds: int,
    source_recovery_point_arn: str | None = None,
) -> dict[str, Any]:
    """A finished copy job's summary, or the error that tells the state machine what next.

    With `source_recovery_point_arn`, a copy job of another recovery point is refused: its
    success must never pass for a copy of this one.
    """
    job_id = copy_job.get("CopyJobId")
    state = copy_job.get("State")
    destination = copy_job.get("DestinationBackupVaultArn")
    source = copy_job.get("SourceRecoveryPointArn")
    if source_recovery_point_arn is not None and source != source_recovery_point_arn:
        raise InvalidInput(
            f"Copy job {job_id} copies {source}, not the original {source_recovery_point_arn}"
        )
    if state == "COMPLETED":
        return {
            "CopyJobId": job_id,
            "State": state,
            "DestinationBackupVaultArn": destination,
            "DestinationRecoveryPointArn": copy_job.get("DestinationRecoveryPointArn"),
            "CompletionDate": copy_job.get("CompletionDate"),
        }
    if state in FINISHED_BADLY:
        message = copy_job.get("StatusMessage") or "no status message"
        raise CopyJobFailed(f"Copy job {job_id} to {destination} is {state}: {message}")
    if state in IN_PROGRESS:
        waited = (now - waiting_since).total_seconds()
        if waited >= limit_seconds:
            raise CopyJobTimedOut(
                f"Copy job {job_id} to {destination} is still {state} after "
                f"{waited / 3600:.1f} h (limit {limit_seconds / 3600:.1f} h); "
                "the original was not cut"
            )
        raise CopyJobNotFinished(f"Copy job {job_id} to {destination} is {state}")
    raise CopyJobFailed(f"Copy job {job_id} to {destination} is in unknown state {state!r}")
