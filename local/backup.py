"""An AWS Backup twin on top of moto's backup backend.

moto implements 17 of AWS Backup's 115 operations and none of jobs or recovery points
(local-testing.md §2). The twin adds the operations this project uses, with the request and
response shapes of the botocore model and AWS's error codes, and the behaviour the workflow
depends on. Each behaviour cites the fact it models (aws-facts.md):

- Jobs move CREATED → RUNNING → COMPLETED or FAILED on the virtual clock, never instantly;
  only one backup or copy job runs per resource at a time, the rest wait in CREATED, and at
  most `outbound_copy_limit` copies run per account towards one destination region (§B.1, §B.8).
  However far the clock jumps, jobs start and finish in time order at their own moments
  (`next_event_time()` tells the clock when), and `start_delay` can keep every job in CREATED
  for a while first, as AWS's examples show.
- A copy lands in the destination account and region's vault with the original's
  CreationDate, and the original's lifecycle unless the job gave one (§B.1).
- A cross-account copy fails unless both accounts are in one organization with cross-account
  backup on, and the destination vault's access policy allows the job's role
  `backup:CopyIntoBackupVault`; a source vault policy can deny `backup:CopyFromBackupVault`
  per destination with `backup:CopyTargets` (§B.1, §B.9). A vault lock's MinRetentionDays
  refuses shorter copies (§B.4).
- Cold and continuous points cannot be copied; continuous points' lifecycles cannot be changed;
  lifecycles are validated (1..36500 days, DeleteAfterDays ≥ MoveToColdStorageAfterDays + 90,
  no cold change once cold, a locked vault refuses the update); fields left out of an update
  become null (§B.1, §B.4).
- CalculatedLifecycle and StorageClass follow the clock: WARM → COLD, and deletion at a
  pseudo-random point within 8 h after DeleteAt, or after the update that expired it (§B.5).
- StartCopyJob with an IdempotencyToken already used in the account and region returns the
  same job (§B.1).
- Backup and copy job state changes are published as "Backup Job State Change" and
  "Copy Job State Change" events with AWS's documented shapes and quirks, only in the account
  and region where the job runs, timed when the state changed (§A.2 to §A.4).
- Faults on demand: throttle a fraction of calls (LimitExceededException, ThrottlingException),
  fail chosen copy jobs with a message, hold jobs in CREATED, fail a backup job
  (`start_backup(..., fail=...)`). Every AWS call is recorded in `calls`.

Two behaviours AWS does not document are configurable, so tests can prove the workflow safe
under both outcomes (aws-facts.md marks them UNCERTAIN): what UpdateRecoveryPointLifecycle does
with a DeleteAfterDays shorter than the point's age (`short_lifecycle`: "expire" or "reject")
and whether a lone MoveToColdStorageAfterDays of -1 is accepted (`accept_cold_minus_one`).
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

from local.accounts import Organization, caller_of
from local.clock import VirtualClock
from local.events import EventRouter
from local.policy import PolicyError, check, evaluate

DAY = timedelta(days=1)
# Types whose lifecycle can move to cold storage; for others AWS ignores the cold setting.
COLD_CAPABLE = {"EFS", "DynamoDB", "Timestream", "VirtualMachine", "SAP HANA on Amazon EC2"}
WRITE_OPERATIONS = {
    "start_backup_job",
    "start_copy_job",
    "update_recovery_point_lifecycle",
    "delete_recovery_point",
    "put_backup_vault_access_policy",
    "delete_backup_vault_access_policy",
    "create_backup_vault",
    "delete_backup_vault",
    "put_backup_vault_lock_configuration",
    "delete_backup_vault_lock_configuration",
    "create_backup_plan",
    "delete_backup_plan",
    "tag_resource",
    "untag_resource",
}
VAULT_NAME = re.compile(r"^[a-zA-Z0-9\-_]{2,50}$")
VAULT_ARN = re.compile(
    r"^arn:aws[a-z-]*:backup:([a-z0-9-]+):(\d{12}):backup-vault:([a-zA-Z0-9\-_]{2,50})$"
)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+")


def _error(code: str, message: str, status: int = 400) -> Exception:
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(code, message)
    error.code = status
    return error


def not_found(message: str) -> Exception:
    return _error("ResourceNotFoundException", message)


def invalid_parameter(message: str) -> Exception:
    return _error("InvalidParameterValueException", message)


def invalid_request(message: str) -> Exception:
    return _error("InvalidRequestException", message)


def missing_parameter(message: str) -> Exception:
    return _error("MissingParameterValueException", message)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _console_date(value: datetime) -> str:
    """'Nov 20, 2026 5:39:07 AM', the form of `expectedCompletionDate` in AWS's example."""
    value = value.astimezone(UTC)
    return f"{value:%b} {value.day}, {value.year} {value.hour % 12 or 12}:{value:%M:%S %p}"


def resource_type_of(resource_arn: str) -> str:
    service = resource_arn.split(":")[2]
    resource = resource_arn.split(":", 5)[5]
    if service == "elasticfilesystem":
        return "EFS"
    if service == "ec2":
        return "EBS" if resource.startswith("volume/") else "EC2"
    if service == "rds":
        return "Aurora" if resource.startswith("cluster:") else "RDS"
    if service == "dynamodb":
        return "DynamoDB"
    if service == "s3":
        return "S3"
    raise invalid_parameter(f"Unsupported resource type for {resource_arn}")


def vault_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{name}"


@dataclass
class RecoveryPoint:
    arn: str
    account: str
    region: str
    vault_name: str
    resource_arn: str
    resource_type: str
    creation_date: datetime
    completion_date: datetime
    lifecycle: dict[str, Any]
    iam_role_arn: str
    backup_size: int
    created_by: dict[str, str] | None = None
    source_backup_vault_arn: str | None = None
    encryption_key_arn: str | None = None
    continuous: bool = False
    status: str = "COMPLETED"
    deleted: bool = False
    # AWS deletes "at a randomly chosen point over the following 8 hours" (§B.5).
    deletion_delay: timedelta = timedelta(0)
    # When a lifecycle update made the point already past its DeleteAt: it expires then, not
    # at the (earlier) DeleteAt, so it is not deleted at the very moment of the update.
    expired_at: datetime | None = None

    @property
    def vault_arn(self) -> str:
        return vault_arn(self.account, self.region, self.vault_name)

    def cold_capable(self) -> bool:
        return self.resource_type in COLD_CAPABLE or (
            self.resource_type == "EBS"
            and bool(self.lifecycle.get("OptInToArchiveForSupportedResources"))
        )

    def move_to_cold_at(self) -> datetime | None:
        days: int | None = self.lifecycle.get("MoveToColdStorageAfterDays")
        if days is None or days < 0 or not self.cold_capable():
            return None
        return self.creation_date + days * DAY

    def delete_at(self) -> datetime | None:
        days: int | None = self.lifecycle.get("DeleteAfterDays")
        if days is None or days < 0:
            return None
        return self.creation_date + days * DAY

    def storage_class(self, now: datetime) -> str:
        if self.deleted:
            return "DELETED"
        cold_at = self.move_to_cold_at()
        return "COLD" if cold_at is not None and now >= cold_at else "WARM"

    def describe(self, now: datetime) -> dict[str, Any]:
        calculated = {
            key: _epoch(value)
            for key, value in (
                ("MoveToColdStorageAt", self.move_to_cold_at()),
                ("DeleteAt", self.delete_at()),
            )
            if value is not None
        }
        described: dict[str, Any] = {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "IamRoleArn": self.iam_role_arn,
            "Status": self.status,
            "CreationDate": _epoch(self.creation_date),
            "CompletionDate": _epoch(self.completion_date),
            "BackupSizeInBytes": self.backup_size,
            "CalculatedLifecycle": calculated,
            "Lifecycle": dict(self.lifecycle),
            "StorageClass": self.storage_class(now),
            "IsEncrypted": self.encryption_key_arn is not None,
            "VaultType": "BACKUP_VAULT",
        }
        if self.encryption_key_arn:
            described["EncryptionKeyArn"] = self.encryption_key_arn
        if self.created_by:
            described["CreatedBy"] = dict(self.created_by)
        if self.source_backup_vault_arn:
            described["SourceBackupVaultArn"] = self.source_backup_vault_arn
        return described


@dataclass
class Job:
    kind: str  # "backup" or "copy"
    job_id: str
    account: str
    region: str
    resource_arn: str
    resource_type: str
    iam_role_arn: str
    creation_date: datetime
    lifecycle: dict[str, Any] | None
    created_by: dict[str, str] | None = None
    state: str = "CREATED"
    status_message: str | None = None
    start_date: datetime | None = None
    completion_date: datetime | None = None
    duration: timedelta = timedelta(minutes=10)
    held: bool = False
    fail_message: str | None = None
    # backup jobs
    vault_name: str | None = None
    recovery_point_arn: str | None = None
    copy_actions: tuple[CopyAction, ...] = ()
    continuous: bool = False
    encryption_key_arn: str | None = None
    # copy jobs
    source_recovery_point_arn: str | None = None
    source_vault_arn: str | None = None
    destination_vault_arn: str | None = None
    destination_recovery_point_arn: str | None = None
    idempotency_token: str | None = None
    backup_size: int = 0

    @property
    def destination_region(self) -> str | None:
        if self.destination_vault_arn is None:
            return None
        return self.destination_vault_arn.split(":")[3]

    def describe(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "AccountId": self.account,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "IamRoleArn": self.iam_role_arn,
            "CreationDate": _epoch(self.creation_date),
            "State": self.state,
            "BackupSizeInBytes": self.backup_size,
        }
        if self.completion_date is not None:
            common["CompletionDate"] = _epoch(self.completion_date)
        if self.status_message:
            common["StatusMessage"] = self.status_message
        if self.created_by:
            common["CreatedBy"] = {
                "BackupPlanId": self.created_by["backupPlanId"],
                "BackupPlanArn": self.created_by["backupPlanArn"],
                "BackupPlanVersion": self.created_by["backupPlanVersion"],
                "BackupRuleId": self.created_by["backupPlanRuleId"],
            }
        if self.kind == "copy":
            common.update(
                CopyJobId=self.job_id,
                SourceBackupVaultArn=self.source_vault_arn,
                SourceRecoveryPointArn=self.source_recovery_point_arn,
                DestinationBackupVaultArn=self.destination_vault_arn,
                IsParent=False,
            )
            if self.destination_recovery_point_arn:
                common["DestinationRecoveryPointArn"] = self.destination_recovery_point_arn
            if self.lifecycle:
                common["DestinationRecoveryPointLifecycle"] = dict(self.lifecycle)
        else:
            common.update(
                BackupJobId=self.job_id,
                BackupVaultName=self.vault_name,
                BackupVaultArn=vault_arn(self.account, self.region, self.vault_name or ""),
                PercentDone="100.0" if self.state == "COMPLETED" else "0.0",
                IsParent=False,
            )
            if self.recovery_point_arn and self.state == "COMPLETED":
                common["RecoveryPointArn"] = self.recovery_point_arn
            if self.lifecycle:
                common["RecoveryPointLifecycle"] = dict(self.lifecycle)
        return common


@dataclass(frozen=True)
class CopyAction:
    """A backup plan rule's copy action: where to, and the copy's own lifecycle if it has one.

    Without a lifecycle the copy takes the original's (aws-facts.md §B.1).
    """

    destination_vault_arn: str
    lifecycle: dict[str, Any] | None = None


@dataclass
class CopyRule:
    """How copy jobs that match `predicate` behave (fault injection and timing)."""

    predicate: Callable[[Job], bool]
    duration: timedelta | None = None
    fail: str | None = None
    hold: bool = False


@dataclass
class Call:
    account: str
    region: str
    operation: str
    params: dict[str, Any]
    error: str | None = None
    # The IAM role (or user) that made the call; None for a caller the twin does not know.
    principal: str | None = None


@dataclass
class Throttle:
    fraction: float
    codes: tuple[str, ...]
    operations: frozenset[str] | None
    rng: random.Random


@dataclass
class PlanInfo:
    """What a backup plan puts in `createdBy`, in the event's spelling (§A.2)."""

    plan_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    account: str = ""
    region: str = ""
    rule_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: str = "ZGQ1NWI0YjQtZDY3Ni00YzRkLWI2OWEtNDM3ZDk3OWE2ZWI5"

    def created_by(self) -> dict[str, str]:
        return {
            "backupPlanId": self.plan_id,
            "backupPlanArn": (
                f"arn:aws:backup:{self.region}:{self.account}:backup-plan:{self.plan_id}"
            ),
            "backupPlanVersion": self.version,
            "backupPlanRuleId": self.rule_id,
        }


class BackupTwin:
    def __init__(
        self, clock: VirtualClock, router: EventRouter, organization: Organization
    ) -> None:
        self.clock = clock
        self.router = router
        self.organization = organization
        self._lock = threading.RLock()
        self._pending: list[tuple[str, str, dict[str, Any]]] = []
        self._rng = random.Random(20261120)
        self.points: dict[str, RecoveryPoint] = {}
        self.jobs: dict[str, Job] = {}
        # Indexes, so that a burst of thousands of jobs stays linear: jobs not yet finished,
        # running jobs per resource and per (account, destination region), copy jobs by source
        # recovery point, and idempotency tokens.
        self._unfinished: dict[str, Job] = {}
        self._running_per_resource: Counter[str] = Counter()
        self._outbound: Counter[tuple[str, str | None]] = Counter()
        self._copies_by_source: dict[str, list[Job]] = defaultdict(list)
        self._by_token: dict[tuple[str, str, str, str], Job] = {}
        self.policies: dict[str, str] = {}
        self.calls: list[Call] = []
        self.copy_rules: list[CopyRule] = []
        self.throttles: list[Throttle] = []
        self.backup_duration = timedelta(minutes=10)
        self.copy_duration = timedelta(minutes=30)
        self.outbound_copy_limit = 100
        # How long a job sits in CREATED before it may start, even with its resource free.
        # AWS's examples show about a minute (tests/events/*_created.json → *_running.json);
        # 0 keeps the start at the creation instant.
        self.start_delay = timedelta(0)
        self._progressed_to = clock.now()
        self.short_lifecycle = "expire"
        self.accept_cold_minus_one = True
        clock.on_advance(self._on_clock, next_due=self.next_event_time)

    # ---------------------------------------------------------------- moto vault access
    @staticmethod
    def _moto_backend(account: str, region: str) -> Any:
        from moto.backup.models import backup_backends

        return backup_backends[account][region]

    def find_vault(self, account: str, region: str, name: str) -> Any:
        return self._moto_backend(account, region).vaults.get(name)

    def _vault_or_404(self, account: str, region: str, name: str) -> Any:
        if not name:
            raise missing_parameter("BackupVaultName is required")
        vault = self.find_vault(account, region, name)
        if vault is None:
            raise not_found(f"Backup vault {name} not found in {account} {region}")
        return vault

    # ---------------------------------------------------------------- faults and controls
    def throttle(
        self,
        fraction: float,
        *,
        codes: Iterable[str] = ("LimitExceededException", "ThrottlingException"),
        operations: Iterable[str] | None = None,
        seed: int = 1,
    ) -> None:
        """Refuse `fraction` of calls (all, or the named snake_case operations)."""
        self.throttles.append(
            Throttle(
                fraction,
                tuple(codes),
                frozenset(operations) if operations is not None else None,
                random.Random(seed),
            )
        )

    def clear_faults(self) -> None:
        self.throttles.clear()
        self.copy_rules.clear()

    def on_copy(
        self,
        predicate: Callable[[Job], bool] = lambda job: True,
        *,
        duration: timedelta | None = None,
        fail: str | None = None,
        hold: bool = False,
    ) -> CopyRule:
        """Copy jobs matching `predicate` take `duration`, FAIL with `fail`, or stay CREATED."""
        rule = CopyRule(predicate, duration, fail, hold)
        with self._lock:
            self.copy_rules.append(rule)
            for job in self._unfinished.values():
                if job.kind == "copy" and job.state == "CREATED" and predicate(job):
                    self._apply_copy_rule(job, rule)
        return rule

    def release(self, job_id: str) -> None:
        with self._lock:
            self.jobs[job_id].held = False
        self._progress()

    def maybe_throttle(self, operation: str) -> None:
        for throttle in self.throttles:
            if throttle.operations is not None and operation not in throttle.operations:
                continue
            if throttle.rng.random() < throttle.fraction:
                code = throttle.rng.choice(throttle.codes)
                raise _error(code, "Rate exceeded", 429 if code == "ThrottlingException" else 400)

    def record(
        self,
        account: str,
        region: str,
        operation: str,
        params: dict[str, Any],
        error: str | None,
        principal: str | None = None,
    ) -> None:
        with self._lock:
            self.calls.append(Call(account, region, operation, params, error, principal))

    def write_calls(self) -> list[Call]:
        return [c for c in self.calls if c.operation in WRITE_OPERATIONS]

    # ---------------------------------------------------------------- events
    def _emit(self, account: str, region: str, event: dict[str, Any]) -> None:
        # Published after the lock is released: a rule may start an execution that calls back.
        self._pending.append((account, region, event))

    def _flush(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                pending, self._pending = self._pending, []
            for account, region, event in pending:
                self.router.publish(account, region, event)

    def _backup_job_event(self, job: Job) -> dict[str, Any]:
        if job.state == "CREATED":
            detail: dict[str, Any] = {
                "backupJobId": job.job_id,
                "state": "CREATED",
                "creationDate": _iso(job.creation_date),
            }
        else:
            done = job.state == "COMPLETED"
            detail = {
                "backupJobId": job.job_id,
                # Strings, unlike copy job events; "0" until the backup is done (§A.2).
                "backupSizeInBytes": str(job.backup_size if done else 0),
                "backupVaultArn": vault_arn(job.account, job.region, job.vault_name or ""),
                "backupVaultName": job.vault_name,
                "bytesTransferred": str(job.backup_size if done else 0),
                "creationDate": _iso(job.creation_date),
                "iamRoleArn": job.iam_role_arn,
                "resourceArn": job.resource_arn,
                "resourceType": job.resource_type,
                "state": job.state,
                "startBy": _iso(job.creation_date + timedelta(hours=8)),
                "percentDone": 100.0 if done else 0.0,
                "retryCount": 0,
            }
            if job.state == "RUNNING" and job.start_date is not None:
                # AWS's RUNNING example writes this one date in another format (§A.2).
                detail["expectedCompletionDate"] = _console_date(job.start_date + job.duration)
            if job.completion_date is not None:
                detail["completionDate"] = _iso(job.completion_date)
            if job.status_message:
                detail["statusMessage"] = job.status_message
            if job.created_by:
                detail["createdBy"] = dict(job.created_by)
        resources = [job.recovery_point_arn or ""] if job.state == "COMPLETED" else []
        return self.router.envelope(
            job.account, job.region, "aws.backup", "Backup Job State Change", resources, detail
        )

    def _copy_job_event(self, job: Job) -> dict[str, Any]:
        if job.state == "CREATED":
            # AWS's CREATED example has no copyJobId (§A.3).
            detail: dict[str, Any] = {
                "creationDate": _iso(job.creation_date),
                "state": "CREATED",
                "sourceBackupVaultArn": job.source_vault_arn,
                "destinationBackupVaultArn": job.destination_vault_arn,
            }
        else:
            detail = {
                "copyJobId": job.job_id,
                "backupSizeInBytes": job.backup_size,
                "creationDate": _iso(job.creation_date),
                "iamRoleArn": job.iam_role_arn,
                "resourceArn": job.resource_arn,
                "resourceType": job.resource_type,
                "sourceBackupVaultArn": job.source_vault_arn,
                "destinationBackupVaultArn": job.destination_vault_arn,
                "state": job.state,
                # A string only once COMPLETED; an empty object before (§A.3).
                "destinationRecoveryPointArn": job.destination_recovery_point_arn or {},
            }
            if job.completion_date is not None:
                detail["completionDate"] = _iso(job.completion_date)
            if job.status_message:
                detail["statusMessage"] = job.status_message
            if job.created_by:
                detail["createdBy"] = dict(job.created_by)
        return self.router.envelope(
            job.account,
            job.region,
            "aws.backup",
            "Copy Job State Change",
            [job.source_recovery_point_arn or ""],
            detail,
        )

    def _announce(self, job: Job) -> None:
        event = self._backup_job_event(job) if job.kind == "backup" else self._copy_job_event(job)
        # The event's time is when the state changed, even if the clock has moved on since.
        changed = {"CREATED": job.creation_date, "RUNNING": job.start_date}.get(
            job.state, job.completion_date
        )
        if changed is not None:
            event["time"] = _iso(changed).split(".")[0] + "Z"
        self._emit(job.account, job.region, event)

    # ---------------------------------------------------------------- time
    def _on_clock(self, now: datetime) -> None:
        self._progress()

    def _progress(self) -> None:
        """Bring every job and recovery point up to the clock, one event at a time in time order.

        The clock may jump hours at once; what happened in between must still happen in the
        order AWS would have done it: a job that finishes frees its resource at that moment,
        and whoever waited starts then, not when the clock stopped (§B.1, §B.8).
        """
        with self._lock:
            now = self.clock.now()
            cursor = self._progressed_to
            while True:
                step = self._next_step(cursor, now)
                if step is None:
                    break
                at, job = step
                cursor = max(cursor, at)
                if job.state == "RUNNING":
                    self._finish(job, at)
                else:
                    self._start(job, at)
            self._progressed_to = now
            self._expire_points(now)
        self._flush()

    def _ready_at(self, job: Job) -> datetime:
        return job.creation_date + self.start_delay

    def _next_step(self, cursor: datetime, now: datetime) -> tuple[datetime, Job] | None:
        """The earliest job event due by `now`: a RUNNING job finishing or a CREATED one starting.

        Finishing wins a tie, so that a freed slot is seen by the job that starts at that moment;
        jobs that start at the same moment start in creation order.
        """
        best: tuple[datetime, int, datetime, Job] | None = None
        for job in self._unfinished.values():
            if job.state == "RUNNING" and job.start_date is not None:
                candidate = (job.start_date + job.duration, 0, job.creation_date, job)
            elif job.state == "CREATED" and not job.held and self._slot_free(job):
                candidate = (max(self._ready_at(job), cursor), 1, job.creation_date, job)
            else:
                continue
            if candidate[0] <= now and (best is None or candidate[:3] < best[:3]):
                best = candidate
        return None if best is None else (best[0], best[3])

    def next_event_time(self) -> datetime | None:
        """When the next job will start or finish on its own (None: nothing will, e.g. held).

        Drivers that let time run (`clock.advance(to=...)`) use this to jump straight there.
        """
        with self._lock:
            times = [
                job.start_date + job.duration
                for job in self._unfinished.values()
                if job.state == "RUNNING" and job.start_date is not None
            ]
            times += [
                max(self._ready_at(job), self._progressed_to)
                for job in self._unfinished.values()
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

    def _track(self, job: Job) -> None:
        """Index a new job (every job passes through here once, when it is created)."""
        self.jobs[job.job_id] = job
        self._unfinished[job.job_id] = job
        if job.kind == "copy":
            self._copies_by_source[job.source_recovery_point_arn or ""].append(job)
        if job.idempotency_token:
            key = (job.kind, job.account, job.region, job.idempotency_token)
            self._by_token.setdefault(key, job)

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
        self._announce(job)

    def _finish(self, job: Job, at: datetime) -> None:
        job.completion_date = at
        self._running(job, -1)
        del self._unfinished[job.job_id]
        if job.fail_message is not None:
            job.state = "FAILED"
            job.status_message = job.fail_message
            self._announce(job)
            return
        job.state = "COMPLETED"
        if job.kind == "backup":
            self._complete_backup(job, at)
        else:
            self._complete_copy(job, at)
        self._announce(job)
        if job.kind == "backup":
            for action in job.copy_actions:
                # A plan's copy actions start when its backup completes.
                self._create_copy_job(
                    account=job.account,
                    region=job.region,
                    source_point=self.points[job.recovery_point_arn or ""],
                    destination_vault_arn=action.destination_vault_arn,
                    iam_role_arn=job.iam_role_arn,
                    lifecycle=action.lifecycle,
                    created_by=job.created_by,
                    token=None,
                    created=at,
                )

    def _expire_points(self, now: datetime) -> None:
        for point in self.points.values():
            delete_at = point.delete_at()
            if point.deleted or delete_at is None:
                continue
            if now >= (point.expired_at or delete_at) + point.deletion_delay:
                point.deleted = True
                point.status = "DELETING"
            elif now >= delete_at:
                point.status = "DELETING"

    # ---------------------------------------------------------------- recovery points
    def _new_point_arn(
        self, account: str, region: str, resource_type: str, resource_arn: str
    ) -> str:
        token = uuid.UUID(int=self._rng.getrandbits(128))
        if resource_type == "EBS":
            return f"arn:aws:ec2:{region}::snapshot/snap-{token.hex[:17]}"
        if resource_type == "EC2":
            return f"arn:aws:ec2:{region}::image/ami-{token.hex[:17]}"
        if resource_type in {"RDS", "Aurora"}:
            kind = "cluster-snapshot" if resource_type == "Aurora" else "snapshot"
            return f"arn:aws:rds:{region}:{account}:{kind}:awsbackup:job-{token}"
        return f"arn:aws:backup:{region}:{account}:recovery-point:{token}"

    def put_recovery_point(
        self,
        account: str,
        region: str,
        vault_name: str,
        resource_arn: str,
        *,
        lifecycle: dict[str, Any] | None = None,
        created: datetime | None = None,
        continuous: bool = False,
        created_by: dict[str, str] | None = None,
        iam_role_arn: str | None = None,
        encryption_key_arn: str | None = None,
        backup_size: int = 36048,
    ) -> str:
        """Create a recovery point directly (setup for tests: old, cold or continuous points)."""
        self._vault_or_404(account, region, vault_name)
        resource_type = resource_type_of(resource_arn)
        created = created or self.clock.now()
        arn = self._new_point_arn(account, region, resource_type, resource_arn)
        if continuous:
            arn = _continuous_arn(region, account, arn)
        with self._lock:
            self.points[arn] = RecoveryPoint(
                arn=arn,
                account=account,
                region=region,
                vault_name=vault_name,
                resource_arn=resource_arn,
                resource_type=resource_type,
                creation_date=created,
                completion_date=created + timedelta(minutes=10),
                lifecycle=dict(lifecycle or {}),
                iam_role_arn=iam_role_arn or default_role(account),
                backup_size=backup_size,
                created_by=created_by,
                encryption_key_arn=encryption_key_arn,
                continuous=continuous,
                deletion_delay=timedelta(seconds=self._rng.uniform(0, 8 * 3600)),
            )
        return arn

    def _point_in_vault(
        self, account: str, region: str, vault_name: str, arn: str
    ) -> RecoveryPoint:
        self._vault_or_404(account, region, vault_name)
        point = self.points.get(arn)
        if (
            point is None
            or point.deleted
            or (point.account, point.region, point.vault_name) != (account, region, vault_name)
        ):
            raise not_found(f"Recovery point {arn} not found in backup vault {vault_name}")
        return point

    def _complete_backup(self, job: Job, at: datetime) -> None:
        arn = self._new_point_arn(job.account, job.region, job.resource_type, job.resource_arn)
        if job.continuous:
            arn = _continuous_arn(job.region, job.account, arn)
        job.recovery_point_arn = arn
        self.points[arn] = RecoveryPoint(
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
            created_by=_api_created_by(job.created_by),
            encryption_key_arn=job.encryption_key_arn,
            continuous=job.continuous,
            deletion_delay=timedelta(seconds=self._rng.uniform(0, 8 * 3600)),
        )

    def _complete_copy(self, job: Job, at: datetime) -> None:
        source = self.points[job.source_recovery_point_arn or ""]
        match = VAULT_ARN.match(job.destination_vault_arn or "")
        assert match is not None
        region, account, name = match.groups()
        arn = self._new_point_arn(account, region, source.resource_type, source.resource_arn)
        job.destination_recovery_point_arn = arn
        # A copy keeps the original's creation date; without a lifecycle of its own it takes
        # the original's (§B.1).
        self.points[arn] = RecoveryPoint(
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
            created_by=_api_created_by(job.created_by),
            source_backup_vault_arn=source.vault_arn,
            encryption_key_arn=source.encryption_key_arn,
            deletion_delay=timedelta(seconds=self._rng.uniform(0, 8 * 3600)),
        )

    # ---------------------------------------------------------------- lifecycle rules
    @staticmethod
    def _validate_lifecycle(lifecycle: dict[str, Any] | None) -> None:
        if not lifecycle:
            return
        delete = lifecycle.get("DeleteAfterDays")
        cold = lifecycle.get("MoveToColdStorageAfterDays")
        for name, value in (("DeleteAfterDays", delete), ("MoveToColdStorageAfterDays", cold)):
            if value is not None and not isinstance(value, int):
                raise invalid_parameter(f"Invalid lifecycle. {name} must be a number")
        if delete is not None and delete != -1 and not 1 <= delete <= 36500:
            raise invalid_parameter(
                "Invalid lifecycle. DeleteAfterDays cannot be less than 1 or more than 36500 days"
            )
        if cold is not None and cold != -1 and not 0 <= cold <= 36500:
            raise invalid_parameter(
                "Invalid lifecycle. MoveToColdStorageAfterDays cannot be less than 0 or more "
                "than 36500 days"
            )
        if delete not in (None, -1) and cold not in (None, -1) and delete < cold + 90:
            raise invalid_parameter(
                "Invalid lifecycle. DeleteAfterDays cannot be less than 90 days apart from "
                "MoveToColdStorageAfterDays"
            )

    # ---------------------------------------------------------------- jobs
    def _create_backup_job(
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
        backup_size: int = 36048,
    ) -> Job:
        job = Job(
            kind="backup",
            job_id=str(uuid.UUID(int=self._rng.getrandbits(128))).upper(),
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
            backup_size=backup_size,
        )
        self._track(job)
        self._announce(job)
        return job

    def start_backup(
        self,
        account: str,
        region: str,
        vault_name: str,
        resource_arn: str,
        *,
        lifecycle: dict[str, Any] | None = None,
        plan: PlanInfo | None = None,
        copy_actions: Iterable[str | CopyAction] = (),
        continuous: bool = False,
        iam_role_arn: str | None = None,
        encryption_key_arn: str | None = None,
        fail: str | None = None,
    ) -> str:
        """What a backup plan (or the console) does: start a backup job, as AWS would.

        `fail` makes the job end FAILED with that status message when its time is up. A copy
        action is a destination vault ARN, or a CopyAction when the plan gives the copy its own
        lifecycle.
        """
        actions = tuple(a if isinstance(a, CopyAction) else CopyAction(a) for a in copy_actions)
        with self._lock:
            self._vault_or_404(account, region, vault_name)
            self._validate_lifecycle(lifecycle)
            for action in actions:
                self._validate_lifecycle(action.lifecycle)
            if plan is not None:
                plan.account, plan.region = plan.account or account, plan.region or region
            job = self._create_backup_job(
                account,
                region,
                vault_name,
                resource_arn,
                iam_role_arn or default_role(account),
                lifecycle,
                plan.created_by() if plan else None,
                actions,
                continuous,
                encryption_key_arn,
            )
            job.fail_message = fail
        self._progress()
        return job.job_id

    def _apply_copy_rule(self, job: Job, rule: CopyRule) -> None:
        if rule.duration is not None:
            job.duration = rule.duration
        if rule.fail is not None:
            job.fail_message = rule.fail
        if rule.hold:
            job.held = True

    def _create_copy_job(
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
            job_id=str(uuid.UUID(int=self._rng.getrandbits(128))).upper(),
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
        for rule in self.copy_rules:
            if rule.predicate(job):
                self._apply_copy_rule(job, rule)
        self._track(job)
        self._announce(job)
        return job

    def _copy_problem(self, job: Job) -> str | None:
        """Why AWS would fail this copy when it starts, or None (§B.1, §B.4, §B.9)."""
        source = self.points.get(job.source_recovery_point_arn or "")
        if source is None or source.deleted:
            return f"Recovery point {job.source_recovery_point_arn} was not found."
        match = VAULT_ARN.match(job.destination_vault_arn or "")
        assert match is not None
        region, account, name = match.groups()
        destination = self.find_vault(account, region, name)
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
            allowed = evaluate(
                self.policies.get(job.destination_vault_arn or ""),
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
            self.policies.get(source.vault_arn),
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

    # ================================================================ the API
    def api_start_backup_job(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        for required in ("BackupVaultName", "ResourceArn", "IamRoleArn"):
            if not p.get(required):
                raise missing_parameter(f"{required} is required")
        if not ROLE_ARN.match(p["IamRoleArn"]):
            raise invalid_parameter(f"Invalid IamRoleArn {p['IamRoleArn']}")
        with self._lock:
            self._vault_or_404(account, region, p["BackupVaultName"])
            self._validate_lifecycle(p.get("Lifecycle"))
            token = p.get("IdempotencyToken")
            known = self._started_with(token, "backup", account, region)
            if known is not None:
                return known
            job = self._create_backup_job(
                account,
                region,
                p["BackupVaultName"],
                p["ResourceArn"],
                p["IamRoleArn"],
                p.get("Lifecycle"),
                None,
            )
            job.idempotency_token = token
            if token:
                self._by_token.setdefault(("backup", account, region, token), job)
        self._progress()
        return {
            "BackupJobId": job.job_id,
            "CreationDate": _epoch(job.creation_date),
            "IsParent": False,
        }

    def _started_with(
        self, token: str | None, kind: str, account: str, region: str
    ) -> dict[str, Any] | None:
        """The answer to a start already made with this token in this account and region.

        "Retrying a successful request with the same idempotency token results in a success
        message with no action taken" (§B.1): the same job, nothing new.
        """
        job = self._by_token.get((kind, account, region, token)) if token else None
        if job is None:
            return None
        id_key = "CopyJobId" if kind == "copy" else "BackupJobId"
        return {id_key: job.job_id, "CreationDate": _epoch(job.creation_date), "IsParent": False}

    def _job(self, account: str, region: str, job_id: str, kind: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind or (job.account, job.region) != (account, region):
            label = "Copy job" if kind == "copy" else "Backup job"
            raise not_found(f"{label} {job_id} not found")
        return job

    def api_describe_backup_job(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            return self._job(account, region, p["BackupJobId"], "backup").describe()

    def api_start_copy_job(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        for required in (
            "RecoveryPointArn",
            "SourceBackupVaultName",
            "DestinationBackupVaultArn",
            "IamRoleArn",
        ):
            if not p.get(required):
                raise missing_parameter(f"{required} is required")
        if not VAULT_NAME.match(p["SourceBackupVaultName"]):
            raise invalid_parameter(f"Invalid SourceBackupVaultName {p['SourceBackupVaultName']}")
        if not VAULT_ARN.match(p["DestinationBackupVaultArn"]):
            raise invalid_parameter(
                f"Invalid DestinationBackupVaultArn {p['DestinationBackupVaultArn']}"
            )
        if not ROLE_ARN.match(p["IamRoleArn"]):
            raise invalid_parameter(f"Invalid IamRoleArn {p['IamRoleArn']}")
        self._validate_lifecycle(p.get("Lifecycle"))
        with self._lock:
            token = p.get("IdempotencyToken")
            known = self._started_with(token, "copy", account, region)
            if known is not None:
                return known
            point = self._point_in_vault(
                account, region, p["SourceBackupVaultName"], p["RecoveryPointArn"]
            )
            if point.continuous:
                raise invalid_request("StartCopyJob does not support continuous backups.")
            if point.storage_class(self.clock.now()) == "COLD":
                raise invalid_request("Recovery points in cold storage cannot be copied.")
            if point.status not in {"COMPLETED", "AVAILABLE"}:
                raise invalid_request(
                    f"Recovery point {point.arn} is {point.status} and cannot be copied."
                )
            job = self._create_copy_job(
                account=account,
                region=region,
                source_point=point,
                destination_vault_arn=p["DestinationBackupVaultArn"],
                iam_role_arn=p["IamRoleArn"],
                lifecycle=p.get("Lifecycle"),
                created_by=None,
                token=token,
            )
        self._progress()
        return {
            "CopyJobId": job.job_id,
            "CreationDate": _epoch(job.creation_date),
            "IsParent": False,
        }

    def api_describe_copy_job(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"CopyJob": self._job(account, region, p["CopyJobId"], "copy").describe()}

    def api_list_copy_jobs(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            source = p.get("BySourceRecoveryPointArn")
            candidates = self._copies_by_source.get(source, []) if source else self.jobs.values()
            jobs = [
                j
                for j in candidates
                if j.kind == "copy" and (j.account, j.region) == (account, region)
            ]
        filters: list[Callable[[Job], bool]] = []
        if p.get("ByResourceArn"):
            filters.append(lambda j: j.resource_arn == p["ByResourceArn"])
        if p.get("ByState"):
            filters.append(lambda j: j.state == p["ByState"])
        if p.get("ByResourceType"):
            filters.append(lambda j: j.resource_type == p["ByResourceType"])
        if p.get("ByDestinationVaultArn"):
            filters.append(lambda j: j.destination_vault_arn == p["ByDestinationVaultArn"])
        if p.get("BySourceRecoveryPointArn"):
            filters.append(lambda j: j.source_recovery_point_arn == p["BySourceRecoveryPointArn"])
        if p.get("ByAccountId"):
            filters.append(lambda j: j.account == p["ByAccountId"])
        if p.get("ByCreatedAfter") is not None:
            filters.append(lambda j: j.creation_date >= _timestamp(p["ByCreatedAfter"]))
        if p.get("ByCreatedBefore") is not None:
            filters.append(lambda j: j.creation_date <= _timestamp(p["ByCreatedBefore"]))
        if p.get("ByCompleteAfter") is not None:
            filters.append(
                lambda j: (
                    j.completion_date is not None
                    and j.completion_date >= _timestamp(p["ByCompleteAfter"])
                )
            )
        if p.get("ByCompleteBefore") is not None:
            filters.append(
                lambda j: (
                    j.completion_date is not None
                    and j.completion_date <= _timestamp(p["ByCompleteBefore"])
                )
            )
        selected = [j for j in jobs if all(f(j) for f in filters)]
        selected.sort(key=lambda j: (j.creation_date, j.job_id), reverse=True)
        page, token = _paginate(selected, p)
        result: dict[str, Any] = {"CopyJobs": [j.describe() for j in page]}
        if token:
            result["NextToken"] = token
        return result

    def api_describe_recovery_point(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            point = self._point_in_vault(
                account, region, p["BackupVaultName"], p["RecoveryPointArn"]
            )
            return point.describe(self.clock.now())

    def api_list_recovery_points_by_backup_vault(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self._vault_or_404(account, region, p["BackupVaultName"])
            now = self.clock.now()
            points = [
                pt
                for pt in self.points.values()
                if (pt.account, pt.region, pt.vault_name) == (account, region, p["BackupVaultName"])
                and not pt.deleted
            ]
        if p.get("ByResourceArn"):
            points = [pt for pt in points if pt.resource_arn == p["ByResourceArn"]]
        if p.get("ByResourceType"):
            points = [pt for pt in points if pt.resource_type == p["ByResourceType"]]
        if p.get("ByCreatedAfter") is not None:
            points = [pt for pt in points if pt.creation_date >= _timestamp(p["ByCreatedAfter"])]
        if p.get("ByCreatedBefore") is not None:
            points = [pt for pt in points if pt.creation_date <= _timestamp(p["ByCreatedBefore"])]
        points.sort(key=lambda pt: (pt.creation_date, pt.arn), reverse=True)
        page, token = _paginate(points, p)
        keep = set(_RECOVERY_POINT_BY_VAULT_FIELDS)
        result: dict[str, Any] = {
            "RecoveryPoints": [
                {k: v for k, v in pt.describe(now).items() if k in keep} for pt in page
            ]
        }
        if token:
            result["NextToken"] = token
        return result

    def api_update_recovery_point_lifecycle(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            vault = self._vault_or_404(account, region, p["BackupVaultName"])
            point = self._point_in_vault(
                account, region, p["BackupVaultName"], p["RecoveryPointArn"]
            )
            if point.continuous:
                raise invalid_request(
                    "UpdateRecoveryPointLifecycle does not support continuous backups."
                )
            if vault.locked:
                raise invalid_request(
                    f"Backup vault {p['BackupVaultName']} is locked; the lifecycle of its recovery "
                    "points cannot be changed."
                )
            # Fields the caller leaves out are not kept: AWS stores null for them (§B.4).
            requested = {k: v for k, v in (p.get("Lifecycle") or {}).items() if v is not None}
            requested.pop("DeleteAfterEvent", None)
            cold = requested.get("MoveToColdStorageAfterDays")
            if (
                cold == -1
                and requested.get("DeleteAfterDays") not in (None, -1)
                and not self.accept_cold_minus_one
            ):
                raise invalid_parameter(
                    "Invalid lifecycle. MoveToColdStorageAfterDays must be positive"
                )
            self._validate_lifecycle(requested)
            now = self.clock.now()
            if point.storage_class(now) == "COLD" and cold != point.lifecycle.get(
                "MoveToColdStorageAfterDays"
            ):
                raise invalid_request(
                    "MoveToColdStorageAfterDays cannot be changed once the recovery point is in "
                    "cold storage."
                )
            delete = requested.get("DeleteAfterDays")
            if (
                delete not in (None, -1)
                and point.creation_date + delete * DAY <= now
                and self.short_lifecycle == "reject"
            ):
                raise invalid_parameter(
                    "Invalid lifecycle. DeleteAfterDays would expire the recovery point "
                    "immediately."
                )
            point.lifecycle = requested
            delete_at = point.delete_at()
            point.expired_at = now if delete_at is not None and delete_at <= now else None
            self._expire_points(now)
            described = point.describe(now)
        return {
            "BackupVaultArn": point.vault_arn,
            "RecoveryPointArn": point.arn,
            "Lifecycle": described["Lifecycle"],
            "CalculatedLifecycle": described["CalculatedLifecycle"],
        }

    def api_delete_recovery_point(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            vault = self._vault_or_404(account, region, p["BackupVaultName"])
            point = self._point_in_vault(
                account, region, p["BackupVaultName"], p["RecoveryPointArn"]
            )
            if vault.locked:
                raise invalid_request(f"Backup vault {p['BackupVaultName']} is locked.")
            point.deleted = True
            point.status = "DELETING"
        return {}

    def api_put_backup_vault_access_policy(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self._vault_or_404(account, region, p["BackupVaultName"])
            try:
                check(p.get("Policy") or "")
            except json.JSONDecodeError as error:
                raise invalid_parameter(f"Invalid policy document: {error}") from error
            except PolicyError as error:
                # AWS may accept it; the twin refuses what it cannot evaluate, loudly.
                raise invalid_parameter(f"The twin cannot evaluate this policy: {error}") from error
            self.policies[vault_arn(account, region, p["BackupVaultName"])] = p["Policy"]
        return {}

    def api_get_backup_vault_access_policy(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self._vault_or_404(account, region, p["BackupVaultName"])
            arn = vault_arn(account, region, p["BackupVaultName"])
            if arn not in self.policies:
                raise not_found(f"Backup vault {p['BackupVaultName']} has no access policy")
            return {
                "BackupVaultName": p["BackupVaultName"],
                "BackupVaultArn": arn,
                "Policy": self.policies[arn],
            }

    def api_delete_backup_vault_access_policy(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self._vault_or_404(account, region, p["BackupVaultName"])
            self.policies.pop(vault_arn(account, region, p["BackupVaultName"]), None)
        return {}


_RECOVERY_POINT_BY_VAULT_FIELDS = (
    "RecoveryPointArn",
    "BackupVaultName",
    "BackupVaultArn",
    "SourceBackupVaultArn",
    "ResourceArn",
    "ResourceType",
    "CreatedBy",
    "IamRoleArn",
    "Status",
    "CreationDate",
    "CompletionDate",
    "BackupSizeInBytes",
    "CalculatedLifecycle",
    "Lifecycle",
    "EncryptionKeyArn",
    "IsEncrypted",
    "VaultType",
)


def _continuous_arn(region: str, account: str, arn: str) -> str:
    # Continuous (PITR) recovery points are named recovery-point:continuous:<id>.
    return f"arn:aws:backup:{region}:{account}:recovery-point:continuous:{arn.rsplit(':', 1)[-1]}"


def default_role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole"


def _api_created_by(created_by: dict[str, str] | None) -> dict[str, str] | None:
    if not created_by:
        return None
    return {
        "BackupPlanId": created_by["backupPlanId"],
        "BackupPlanArn": created_by["backupPlanArn"],
        "BackupPlanVersion": created_by["backupPlanVersion"],
        "BackupRuleId": created_by["backupPlanRuleId"],
    }


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _paginate(items: list[Any], p: dict[str, Any]) -> tuple[list[Any], str | None]:
    size = int(p.get("MaxResults") or 1000)
    if not 1 <= size <= 1000:
        raise invalid_parameter("MaxResults must be between 1 and 1000")
    start = int(p.get("NextToken") or 0)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


# ==================================================================== moto wiring
_OPERATIONS: dict[str, tuple[str, str]] = {
    # snake_case name → (HTTP method, URI template); the botocore model decides the names.
    "start_backup_job": ("PUT", "/backup-jobs"),
    "describe_backup_job": ("GET", "/backup-jobs/{BackupJobId}"),
    "start_copy_job": ("PUT", "/copy-jobs"),
    "describe_copy_job": ("GET", "/copy-jobs/{CopyJobId}"),
    "list_copy_jobs": ("GET", "/copy-jobs/"),
    "describe_recovery_point": (
        "GET",
        "/backup-vaults/{BackupVaultName}/recovery-points/{RecoveryPointArn}",
    ),
    "update_recovery_point_lifecycle": (
        "POST",
        "/backup-vaults/{BackupVaultName}/recovery-points/{RecoveryPointArn}",
    ),
    "delete_recovery_point": (
        "DELETE",
        "/backup-vaults/{BackupVaultName}/recovery-points/{RecoveryPointArn}",
    ),
    "list_recovery_points_by_backup_vault": (
        "GET",
        "/backup-vaults/{BackupVaultName}/recovery-points/",
    ),
    "put_backup_vault_access_policy": ("PUT", "/backup-vaults/{BackupVaultName}/access-policy"),
    "get_backup_vault_access_policy": ("GET", "/backup-vaults/{BackupVaultName}/access-policy"),
    "delete_backup_vault_access_policy": (
        "DELETE",
        "/backup-vaults/{BackupVaultName}/access-policy",
    ),
}

_QUERY_NAMES = {
    "nextToken": "NextToken",
    "maxResults": "MaxResults",
    "resourceArn": "ByResourceArn",
    "state": "ByState",
    "createdBefore": "ByCreatedBefore",
    "createdAfter": "ByCreatedAfter",
    "resourceType": "ByResourceType",
    "destinationVaultArn": "ByDestinationVaultArn",
    "accountId": "ByAccountId",
    "completeBefore": "ByCompleteBefore",
    "completeAfter": "ByCompleteAfter",
    "sourceRecoveryPointArn": "BySourceRecoveryPointArn",
    "backupVaultAccountId": "BackupVaultAccountId",
}


def _params_from_request(response: Any, template: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if response.body:
        body = response.body.decode() if isinstance(response.body, bytes) else response.body
        if body.strip():
            params.update(json.loads(body))
    pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/")) + "/?$"
    raw_path = response.parsed_url.path if hasattr(response, "parsed_url") else response.path
    match = re.match(pattern, raw_path)
    if match:
        params.update({k: unquote(v) for k, v in match.groupdict().items()})
    # Not `response.querystring`: moto fills it with the request headers when the URL has no
    # query, and the recorded calls would show headers as parameters.
    query = response.parsed_url.query if hasattr(response, "parsed_url") else ""
    for key, values in parse_qs(query, keep_blank_values=True).items():
        params[_QUERY_NAMES.get(key, key)] = values[0]
    return params


def install() -> None:
    from moto.backup import responses as backup_responses
    from moto.backup import urls as backup_urls

    response_class = backup_responses.BackupResponse
    if getattr(response_class, "_twin", False):
        return

    def make_method(operation: str, template: str) -> Callable[[Any], str]:
        def method(self: Any) -> str:
            twin = _running_backup()
            params = _params_from_request(self, template)
            result = getattr(twin, f"api_{operation}")(self.current_account, self.region, params)
            return json.dumps(result)

        method.__name__ = operation
        return method

    for operation, (_, template) in _OPERATIONS.items():
        setattr(response_class, operation, make_method(operation, template))

    original_call_action = response_class.call_action

    def call_action(self: Any) -> Any:
        from moto.core.utils import camelcase_to_underscores

        twin = _maybe_running_backup()
        if twin is None:
            return original_call_action(self)
        operation = camelcase_to_underscores(self._get_action())
        caller = caller_of(self)
        account, region = caller.account, self.region
        try:
            params = _params_from_request(self, _OPERATIONS.get(operation, ("", ""))[1] or "/")
        except (ValueError, json.JSONDecodeError):
            params = {}
        try:
            twin.maybe_throttle(operation)
        except Exception as error:
            twin.record(
                account,
                region,
                operation,
                params,
                getattr(error, "error_type", "Throttled"),
                caller.principal,
            )
            raise
        result = original_call_action(self)
        status = result[0] if isinstance(result, tuple) else 200
        error_code = None
        if isinstance(status, int) and status >= 400:
            try:
                error_code = json.loads(result[2]).get("__type") or json.loads(result[2]).get(
                    "code"
                )
            except (ValueError, TypeError, IndexError):
                error_code = str(status)
        twin.record(account, region, operation, params, error_code, caller.principal)
        return result

    response_class.call_action = call_action  # type: ignore[method-assign]

    for pattern in (
        "{0}/backup-jobs/?$",
        "{0}/backup-jobs/(?P<backupJobId>[^/]+)$",
        "{0}/copy-jobs/?$",
        "{0}/copy-jobs/(?P<copyJobId>[^/]+)$",
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/?$",
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<recoveryPointArn>.+)$",
        "{0}/backup-vaults/(?P<name>[^/]+)/access-policy$",
    ):
        backup_urls.url_paths[pattern] = backup_urls.response.dispatch
    # Vault creation and lock dates (and when a lock's grace time ends) follow the virtual
    # clock, like everything else in the twin; stock moto reads the wall clock.
    from moto.backup import models as backup_models

    wall_clock = backup_models.unix_time  # type: ignore[attr-defined]

    def unix_time(dt: datetime | None = None) -> float:
        twin = _maybe_running_backup()
        if dt is not None or twin is None:
            return float(wall_clock(dt))
        return twin.clock.now().timestamp()

    backup_models.unix_time = unix_time  # type: ignore[attr-defined]
    response_class._twin = True  # type: ignore[attr-defined]


def _maybe_running_backup() -> BackupTwin | None:
    from local.active import running_twin

    twin = running_twin()
    return None if twin is None else twin.backup


def _running_backup() -> BackupTwin:
    twin = _maybe_running_backup()
    if twin is None:
        raise _error("ServiceUnavailableException", "the AWS Backup twin is not running", 503)
    return twin
