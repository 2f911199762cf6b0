"""Pure decisions about copies: where they go, when to start one, whether they are verified.

No AWS calls here: the tasks fetch copy jobs and hand them in, so every rule below is tested
without a network and without a clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.errors import CopyJobFailed, CopyJobNotFinished, CopyJobTimedOut, InvalidInput
from tasks.inputs import parse_timestamp, vault_arn_parts
from tasks.retention import (
    ELIGIBLE_STATUSES,
    MAX_DAYS,
    ExpiryUnknown,
    RecoveryPoint,
    copy_expiry,
    original_expiry,
)

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
    copy_jobs: Iterable[Mapping[str, Any]],
    destination_vault_arn: str,
    gone: Iterable[str] = (),
) -> CopyStart:
    """Reuse a COMPLETED or unfinished copy to this destination; otherwise start a new one.

    `gone` names copies (destination recovery points) that no longer exist: a COMPLETED job
    whose copy someone deleted, or that expired, counts as a failed attempt, not as a copy.
    """
    lost = set(gone)
    relevant = [j for j in copy_jobs if j.get("DestinationBackupVaultArn") == destination_vault_arn]
    completed = [
        j
        for j in relevant
        if j.get("State") == "COMPLETED" and j.get("DestinationRecoveryPointArn") not in lost
    ]
    for candidates in (completed, [j for j in relevant if j.get("State") in IN_PROGRESS]):
        if candidates:
            return CopyStart(reuse=max(candidates, key=job_created), attempt=0)
    failed = sum(
        1
        for j in relevant
        if j.get("State") in FINISHED_BADLY
        or (j.get("State") == "COMPLETED" and j.get("DestinationRecoveryPointArn") in lost)
    )
    return CopyStart(reuse=None, attempt=failed)


def copy_lifecycle(original: RecoveryPoint) -> dict[str, Any]:
    """The Lifecycle a new copy is made with: the original's, as it is at this moment.

    A copy's retention is fixed when it is made (aws-facts.md §B.1), so it is given explicitly
    rather than left to AWS's inheritance rules, and recorded in the execution. It is kept at
    least until the original would expire without a cut (the later of its day count and AWS's
    calculated date); an original that never expires gets AWS's maximum of 36,500 days, since
    a copy's "never" means "whenever the source expires" (§B.1). The cold move is kept as it
    is; an undocumented lone -1 is never sent (§H).
    """
    expires = original_expiry(original)
    if expires is None:
        return {"DeleteAfterDays": MAX_DAYS}
    days = -((original.creation_date - expires) // timedelta(days=1))  # rounded up
    lifecycle: dict[str, Any] = {"DeleteAfterDays": min(max(days, 1), MAX_DAYS)}
    cold = original.lifecycle.move_to_cold_storage_after_days
    if cold is not None and cold >= 0:
        lifecycle["MoveToColdStorageAfterDays"] = cold
        opt_in = original.lifecycle.opt_in_to_archive_for_supported_resources
        if opt_in is not None:
            lifecycle["OptInToArchiveForSupportedResources"] = opt_in
    return lifecycle


def job_created(job: Mapping[str, Any]) -> datetime:
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


@dataclass(frozen=True)
class CopyLookup:
    """What was found of one required copy: its ARN, and the copy as AWS describes it.

    `described` is None when nothing answers to `recovery_point_arn` any more (deleted), and
    both are None when no copy of the original was found in the destination at all.
    """

    destination: str
    recovery_point_arn: str | None
    described: Mapping[str, Any] | None
    # Set when what answers to the ARN is not a copy of the original at all.
    mismatch: str | None = None


def as_recovery_point(point: Mapping[str, Any], now: datetime) -> RecoveryPoint:
    """A recovery point as the retention rules read it, described or listed.

    Vault listings carry no StorageClass; a point whose calculated cold move has passed is
    cold, as DescribeRecoveryPoint would say.
    """
    if point.get("StorageClass") is not None:
        return RecoveryPoint.from_api(point)
    cold_at = (point.get("CalculatedLifecycle") or {}).get("MoveToColdStorageAt")
    when = None if cold_at is None else job_created({"CreationDate": cold_at})
    cold = when is not None and when <= now
    return RecoveryPoint.from_api({**point, "StorageClass": "COLD" if cold else "WARM"})


@dataclass(frozen=True)
class CopyVerdict:
    destination: str
    recovery_point_arn: str | None
    copy: RecoveryPoint | None
    problem: str | None  # None: the copy counts

    def to_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DestinationBackupVaultArn": self.destination,
            "RecoveryPointArn": self.recovery_point_arn,
        }
        if self.copy is not None:
            out["Status"] = self.copy.status
            out["Lifecycle"] = self.copy.lifecycle.to_api()
            out["DeleteAt"] = _iso(self.copy.delete_at)
        if self.problem is not None:
            out["Problem"] = self.problem
        return out


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def judge_copy(lookup: CopyLookup, original_arn: str, now: datetime) -> CopyVerdict:
    """Does this copy count as one of the original's two verified copies?

    Only a recovery point that exists in the destination vault, is COMPLETED or AVAILABLE,
    is not being deleted and has not reached its deletion date counts. Whether it lives long
    enough is the cut's question (tasks/retention.py), asked against the original as it is
    when the cut is made.
    """
    arn, where = lookup.recovery_point_arn, lookup.destination
    if arn is None:
        return CopyVerdict(where, None, None, f"no copy of {original_arn} in {where}")
    if lookup.mismatch is not None:
        return CopyVerdict(where, arn, None, lookup.mismatch)
    if lookup.described is None:
        return CopyVerdict(where, arn, None, f"the copy {arn} in {where} no longer exists")
    try:
        copy = as_recovery_point(lookup.described, now)
    except ValueError as error:
        return CopyVerdict(where, arn, None, f"the copy {arn} cannot be read: {error}")
    if copy.status not in ELIGIBLE_STATUSES or copy.storage_class == "DELETED":
        return CopyVerdict(
            where, arn, copy, f"the copy {arn} is {copy.status} ({copy.storage_class})"
        )
    try:
        expires: datetime | None = copy_expiry(copy)
    except ExpiryUnknown:
        # Whether it lives long enough is decided at the cut; AWS's own date, if it gives one,
        # still says whether it is gone already.
        expires = copy.delete_at
    if expires is not None and expires <= now:
        return CopyVerdict(where, arn, copy, f"the copy {arn} expired at {_iso(expires)}")
    return CopyVerdict(where, arn, copy, None)


@dataclass(frozen=True)
class Verification:
    verdicts: tuple[CopyVerdict, ...]

    @property
    def verified(self) -> bool:
        return all(v.problem is None for v in self.verdicts)

    @property
    def missing(self) -> tuple[str, ...]:
        """Destinations where no copy was found at all (it may still be on its way)."""
        return tuple(v.destination for v in self.verdicts if v.recovery_point_arn is None)

    @property
    def unusable(self) -> tuple[str, ...]:
        """Why copies that were found do not count (deleted, expired, not completed)."""
        return tuple(
            v.problem
            for v in self.verdicts
            if v.problem is not None and v.recovery_point_arn is not None
        )

    @property
    def copies(self) -> dict[str, RecoveryPoint]:
        return {v.destination: v.copy for v in self.verdicts if v.copy is not None}

    def to_output(self) -> dict[str, Any]:
        return {
            "Verified": self.verified,
            "Copies": [v.to_output() for v in self.verdicts],
            "Missing": list(self.missing),
            "Unusable": list(self.unusable),
        }


def verify(
    lookups: Iterable[CopyLookup], destinations: Iterable[str], original_arn: str, now: datetime
) -> Verification:
    """Judge the copy found in each of the two required destinations."""
    found = {lookup.destination: lookup for lookup in lookups}
    return Verification(
        tuple(
            judge_copy(found.get(d, CopyLookup(d, None, None)), original_arn, now)
            for d in check_destinations(destinations)
        )
    )


def latest_completed_copy(
    copy_jobs: Iterable[Mapping[str, Any]], recovery_point_arn: str, destination: str
) -> str | None:
    """The copy made by the latest COMPLETED job of this original to this destination."""
    done = [
        j
        for j in copy_jobs
        if j.get("SourceRecoveryPointArn") == recovery_point_arn
        and j.get("DestinationBackupVaultArn") == destination
        and j.get("State") == "COMPLETED"
        and j.get("DestinationRecoveryPointArn")
    ]
    return str(max(done, key=job_created)["DestinationRecoveryPointArn"]) if done else None


def matching_copy(
    listed: Iterable[Mapping[str, Any]],
    *,
    resource_arn: str,
    creation_date: datetime,
    source_vault_arn: str,
) -> str | None:
    """Find the original's copy among a destination vault's recovery points.

    Copies keep the original's resource and creation date (aws-facts.md §B.1) and name the
    vault they were copied from, so the three together identify the copy even when its copy
    job has dropped out of AWS Backup's job history.
    """
    for point in listed:
        created = point.get("CreationDate")
        when = job_created({"CreationDate": created}) if created is not None else None
        if (
            point.get("ResourceArn") == resource_arn
            and point.get("SourceBackupVaultArn") == source_vault_arn
            and when == creation_date
        ):
            return str(point["RecoveryPointArn"])
    return None


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
