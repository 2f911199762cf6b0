"""Backup and copy jobs on the virtual clock: when they start, finish, and what they leave.

Jobs move CREATED → RUNNING → COMPLETED or FAILED, never instantly; only one backup or copy
job runs per resource at a time, the rest wait in CREATED, and at most `outbound_copy_limit`
copies run per account towards one destination region (docs/aws-facts.md §B.1, §B.8). However far
the clock jumps, jobs start and finish in time order at their own moments (`next_event_time()`
tells the clock when).

A completed backup leaves a recovery point dated from the job; a plan's copy actions start
when it completes. A completed copy lands in the destination vault with the original's
creation date, and the original's lifecycle unless the job gave one (§B.1). A copy that AWS
would refuse fails when it starts, with AWS's message: the source point gone, the destination
vault missing, accounts outside one organization or cross-account backup off, a point of a
type AWS Backup does not fully manage under an AWS managed key (aws/ebs, aws/rds), a policy
that does not let the job's role copy into (or out of) a vault, or a vault lock's
MinRetentionDays longer than the copy's retention (§B.1, §B.4, §B.9).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from local.accounts import Organization
from local.backup.announcements import Announcer
from local.backup.faults import Faults
from local.backup.models import (
    VAULT_ARN,
    BackupStore,
    CopyAction,
    Job,
    RecoveryPoint,
    api_created_by,
    continuous_arn,
    resource_type_of,
)
from local.clock import VirtualClock
from local.kms import is_aws_managed
from local.policy import evaluate


class JobScheduler:
    def __init__(
        self,
        clock: VirtualClock,
        store: BackupStore,
        announcer: Announcer,
        faults: Faults,
        organization: Organization,
    ) -> None:
        self.clock = clock
        self.store = store
        self.announcer = announcer
        self.faults = faults
        self.organization = organization
        self.backup_duration = timedelta(minutes=10)
        self.copy_duration = timedelta(minutes=30)
        self.outbound_copy_limit = 100
        self._running_per_resource: Counter[str] = Counter()
        self._outbound: Counter[tuple[str, str | None]] = Counter()
        self._progressed_to = clock.now()
        clock.on_advance(lambda now: self.progress(), next_due=self.next_event_time)

    # -- following the clock -----------------------------------------------------------------
    def progress(self) -> None:
        """Bring every job and recovery point up to the clock, one event at a time in time order.

        The clock may jump hours at once; what happened in between must still happen in the
        order AWS would have done it: a job that finishes frees its resource at that moment,
        and whoever waited starts then, not when the clock stopped (§B.1, §B.8).
        """
        with self.store.lock:
            now = self.clock.now()
            cursor = self._progressed_to
            while (step := self._next_step(cursor, now)) is not None:
                at, job = step
                cursor = max(cursor, at)
                if job.state == "RUNNING":
                    self._finish(job, at)
                else:
                    self._start(job, at)
            self._progressed_to = now
            self.store.expire_points(now)
        self.announcer.flush()

    def _next_step(self, cursor: datetime, now: datetime) -> tuple[datetime, Job] | None:
        """The earliest job event due by `now`: a RUNNING job finishing or a CREATED one starting.

        Finishing wins a tie, so that a freed slot is seen by the job that starts at that moment;
        jobs that start at the same moment start in creation order.
        """
        best: tuple[datetime, int, datetime, Job] | None = None
        for job in self.store.unfinished.values():
            if job.state == "RUNNING" and job.start_date is not None:
                candidate = (job.start_date + job.duration, 0, job.creation_date, job)
            elif job.state == "CREATED" and not job.held and self._slot_free(job):
                candidate = (max(job.creation_date, cursor), 1, job.creation_date, job)
            else:
                continue
            if candidate[0] <= now and (best is None or candidate[:3] < best[:3]):
                best = candidate
        return None if best is None else (best[0], best[3])

    def next_event_time(self) -> datetime | None:
        """When the next job will start or finish on its own (None: nothing will, e.g. held).

        Drivers that let time run (`clock.advance(to=...)`) use this to jump straight there.
        """
        with self.store.lock:
            times = [
                job.start_date + job.duration
                for job in self.store.unfinished.values()
                if job.state == "RUNNING" and job.start_date is not None
            ]
            times += [
                max(job.creation_date, self._progressed_to)
                for job in self.store.unfinished.values()
                if job.state == "CREATED" and not job.held and self._slot_free(job)
            ]
        return min(times) if times else None

    def _slot_free(self, job: Job) -> bool:
        if self._running_per_resource[job.resource_arn]:
            return False
        return not (
            job.kind == "copy"
            and self._outbound[(job.account, job.destination_region)] >= self.outbound_copy_limit
        )

    def _running(self, job: Job, delta: int) -> None:
        self._running_per_resource[job.resource_arn] += delta
        if job.kind == "copy":
            self._outbound[(job.account, job.destination_region)] += delta

    def _start(self, job: Job, at: datetime) -> None:
        job.state = "RUNNING"
        job.start_date = at
        self._running(job, +1)
        if job.kind == "copy":
            problem = self._copy_problem(job)
            if problem is not None:
                job.fail_message = problem
                job.duration = timedelta(minutes=1)
        self.announcer.announce(job)

    def _finish(self, job: Job, at: datetime) -> None:
        job.completion_date = at
        self._running(job, -1)
        del self.store.unfinished[job.job_id]
        if job.fail_message is not None:
            job.state = "FAILED"
            job.status_message = job.fail_message
            self.announcer.announce(job)
            return
        job.state = "COMPLETED"
        if job.kind == "backup":
            self._complete_backup(job, at)
        else:
            self._complete_copy(job, at)
        self.announcer.announce(job)
        if job.kind == "backup":
            for action in job.copy_actions:
                # A plan's copy actions start when its backup completes.
                self.create_copy_job(
                    account=job.account,
                    region=job.region,
                    source_point=self.store.points[job.recovery_point_arn or ""],
                    destination_vault_arn=action.destination_vault_arn,
                    iam_role_arn=job.iam_role_arn,
                    lifecycle=action.lifecycle,
                    created_by=job.created_by,
                    token=None,
                    created=at,
                )

    def release(self, job_id: str) -> None:
        """Let a held job start (see Faults.on_copy's `hold`)."""
        with self.store.lock:
            self.store.jobs[job_id].held = False
        self.progress()

    # -- what jobs leave ---------------------------------------------------------------------
    def _complete_backup(self, job: Job, at: datetime) -> None:
        arn = self.store.new_point_arn(job.account, job.region, job.resource_type, job.resource_arn)
        if job.continuous:
            arn = continuous_arn(job.region, job.account, arn)
        job.recovery_point_arn = arn
        self.store.points[arn] = RecoveryPoint(
            arn=arn,
            account=job.account,
            region=job.region,
            vault_name=job.vault_name or "",
            resource_arn=job.resource_arn,
            resource_type=job.resource_type,
            creation_date=job.creation_date,
            completion_date=at,
            lifecycle=dict(job.lifecycle or {}),
            iam_role_arn=job.iam_role_arn,
            backup_size=job.backup_size,
            created_by=api_created_by(job.created_by),
            encryption_key_arn=job.encryption_key_arn,
            continuous=job.continuous,
            deletion_delay=self.store.deletion_delay(),
        )

    def _complete_copy(self, job: Job, at: datetime) -> None:
        source = self.store.points[job.source_recovery_point_arn or ""]
        match = VAULT_ARN.match(job.destination_vault_arn or "")
        assert match is not None
        region, account, name = match.groups()
        arn = self.store.new_point_arn(account, region, source.resource_type, source.resource_arn)
        job.destination_recovery_point_arn = arn
        # A copy keeps the original's creation date; without a lifecycle of its own it takes
        # the original's (§B.1).
        self.store.points[arn] = RecoveryPoint(
            arn=arn,
            account=account,
            region=region,
            vault_name=name,
            resource_arn=source.resource_arn,
            resource_type=source.resource_type,
            creation_date=source.creation_date,
            completion_date=at,
            lifecycle=dict(job.lifecycle if job.lifecycle is not None else source.lifecycle),
            iam_role_arn=job.iam_role_arn,
            backup_size=source.backup_size,
            created_by=api_created_by(job.created_by),
            source_backup_vault_arn=source.vault_arn,
            encryption_key_arn=source.encryption_key_arn,
            deletion_delay=self.store.deletion_delay(),
        )

    # -- creating jobs -----------------------------------------------------------------------
    def create_backup_job(
        self,
        account: str,
        region: str,
        vault_name: str,
        resource_arn: str,
        iam_role_arn: str,
        lifecycle: dict[str, Any] | None,
        created_by: dict[str, str] | None,
        copy_actions: tuple[CopyAction, ...] = (),
        continuous: bool = False,
        encryption_key_arn: str | None = None,
    ) -> Job:
        job = Job(
            kind="backup",
            job_id=self.store.new_job_id(),
            account=account,
            region=region,
            resource_arn=resource_arn,
            resource_type=resource_type_of(resource_arn),
            iam_role_arn=iam_role_arn,
            creation_date=self.clock.now(),
            lifecycle=lifecycle,
            created_by=created_by,
            duration=self.backup_duration,
            vault_name=vault_name,
            copy_actions=copy_actions,
            continuous=continuous,
            encryption_key_arn=encryption_key_arn,
            backup_size=36048,
        )
        self.store.track(job)
        self.announcer.announce(job)
        return job

    def create_copy_job(
        self,
        *,
        account: str,
        region: str,
        source_point: RecoveryPoint,
        destination_vault_arn: str,
        iam_role_arn: str,
        lifecycle: dict[str, Any] | None,
        created_by: dict[str, str] | None,
        token: str | None,
        created: datetime | None = None,
    ) -> Job:
        job = Job(
            kind="copy",
            job_id=self.store.new_job_id(),
            account=account,
            region=region,
            resource_arn=source_point.resource_arn,
            resource_type=source_point.resource_type,
            iam_role_arn=iam_role_arn,
            creation_date=created or self.clock.now(),
            lifecycle=lifecycle,
            created_by=created_by,
            duration=self.copy_duration,
            source_recovery_point_arn=source_point.arn,
            source_vault_arn=source_point.vault_arn,
            destination_vault_arn=destination_vault_arn,
            idempotency_token=token,
            backup_size=source_point.backup_size,
        )
        self.faults.shape_copy(job)
        self.store.track(job)
        self.announcer.announce(job)
        return job

    # -- AWS's checks when a copy starts -----------------------------------------------------
    def _copy_problem(self, job: Job) -> str | None:
        """Why AWS would fail this copy when it starts, or None (§B.1, §B.4, §B.9)."""
        source = self.store.points.get(job.source_recovery_point_arn or "")
        if source is None or source.deleted:
            return f"Recovery point {job.source_recovery_point_arn} was not found."
        match = VAULT_ARN.match(job.destination_vault_arn or "")
        assert match is not None
        region, account, name = match.groups()
        destination = self.store.vault(account, region, name)
        if destination is None:
            return f"Backup vault {name} does not exist in account {account} region {region}."
        if account != job.account:
            if not self.organization.same_organization(job.account, account):
                return (
                    "Copy job failed. Both source and destination account must be a member "
                    "of the same organization."
                )
            if not self.organization.cross_account_backup_enabled:
                return "Copy job failed. Cross-account backup is not enabled for the organization."
            if not self.store.fully_managed(source.resource_type) and is_aws_managed(
                source.encryption_key_arn
            ):
                return (
                    "Copy job failed. Recovery points encrypted with an AWS managed KMS key "
                    f"({source.encryption_key_arn}) cannot be copied to another account."
                )
            allowed = evaluate(
                self.store.policies.get(job.destination_vault_arn or ""),
                action="backup:CopyIntoBackupVault",
                resource=job.destination_vault_arn or "",
                principal_arn=job.iam_role_arn,
                context=self._context(job),
            )
            if allowed != "Allow":
                return (
                    f"Access denied: {job.iam_role_arn} is not allowed to perform "
                    f"backup:CopyIntoBackupVault on {job.destination_vault_arn}."
                )
        source_decision = evaluate(
            self.store.policies.get(source.vault_arn),
            action="backup:CopyFromBackupVault",
            resource=source.arn,
            principal_arn=job.iam_role_arn,
            context={**self._context(job), "backup:CopyTargets": [job.destination_vault_arn or ""]},
        )
        if source_decision == "Deny":
            return (
                f"Access denied: the policy of {source.vault_arn} denies "
                f"backup:CopyFromBackupVault to {job.destination_vault_arn}."
            )
        retention = (job.lifecycle or source.lifecycle).get("DeleteAfterDays")
        if destination.locked and destination.min_retention_days:
            if retention is None or retention == -1:
                pass
            elif retention < destination.min_retention_days:
                return (
                    f"The retention period of {retention} days is shorter than the minimum "
                    f"retention of {destination.min_retention_days} days of "
                    f"{job.destination_vault_arn}."
                )
        return None

    def _context(self, job: Job) -> dict[str, str | list[str]]:
        return {
            "aws:PrincipalArn": job.iam_role_arn,
            "aws:PrincipalAccount": job.account,
            "aws:PrincipalOrgID": self.organization.id
            if job.account in self.organization.members
            else "",
        }
