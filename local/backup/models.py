"""Vaults, recovery points and jobs of the AWS Backup twin, and the store that holds them.

Vaults themselves are moto's (its backup backend creates, describes, locks and deletes them);
the twin adds what moto lacks: recovery points, backup and copy jobs, vault access policies,
and the lifecycle rules every operation that takes a `Lifecycle` validates (docs/aws-facts.md §B.1,
§B.4). Everything here is plain data and bookkeeping: time is the scheduler's (jobs.py), the
API's answers are responses.py's.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.backup.exceptions import invalid_parameter, missing_parameter, not_found

DAY = timedelta(days=1)
# Types whose lifecycle can move to cold storage; for others AWS ignores the cold setting.
COLD_CAPABLE = {"EFS", "DynamoDB", "Timestream", "VirtualMachine", "SAP HANA on Amazon EC2"}
# Types AWS Backup fully manages: their copies are encrypted anew under the destination vault's
# key; the others keep the source's key (DynamoDB only with advanced features, §B.1).
FULLY_MANAGED = {"EFS", "S3", "DynamoDB", "Timestream", "VirtualMachine"}
# The resource types DescribeRegionSettings lists; all opted in until UpdateRegionSettings.
OPT_IN_TYPES = (
    "Aurora",
    "CloudFormation",
    "DocumentDB",
    "DynamoDB",
    "EBS",
    "EC2",
    "EFS",
    "FSx",
    "Neptune",
    "RDS",
    "Redshift",
    "S3",
    "SAP HANA on Amazon EC2",
    "Storage Gateway",
    "Timestream",
    "VirtualMachine",
)
VAULT_NAME = re.compile(r"^[a-zA-Z0-9\-_]{2,50}$")
VAULT_ARN = re.compile(
    r"^arn:aws[a-z-]*:backup:([a-z0-9-]+):(\d{12}):backup-vault:([a-zA-Z0-9\-_]{2,50})$"
)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+")


def epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    if service == "fsx":
        return "FSx"
    raise invalid_parameter(f"Unsupported resource type for {resource_arn}")


def vault_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{name}"


def default_role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole"


def continuous_arn(region: str, account: str, arn: str) -> str:
    # Continuous (PITR) recovery points are named recovery-point:continuous:<id>.
    return f"arn:aws:backup:{region}:{account}:recovery-point:continuous:{arn.rsplit(':', 1)[-1]}"


def api_created_by(created_by: dict[str, str] | None) -> dict[str, str] | None:
    """A plan's `createdBy` in the API's spelling (events say backupPlanRuleId, §A.2)."""
    if not created_by:
        return None
    return {
        "BackupPlanId": created_by["backupPlanId"],
        "BackupPlanArn": created_by["backupPlanArn"],
        "BackupPlanVersion": created_by["backupPlanVersion"],
        "BackupRuleId": created_by["backupPlanRuleId"],
    }


def validate_lifecycle(lifecycle: dict[str, Any] | None, *, lone_cold_minus_one: bool) -> None:
    """AWS Backup's lifecycle rules, for every operation that takes one (§B.4).

    AWS documents -1 only for both days together ("keep forever", §H). A -1 cold day beside a
    positive DeleteAfterDays is refused unless `lone_cold_minus_one` says AWS accepts it.
    """
    if not lifecycle:
        return
    delete = lifecycle.get("DeleteAfterDays")
    cold = lifecycle.get("MoveToColdStorageAfterDays")
    if cold == -1 and delete not in (None, -1) and not lone_cold_minus_one:
        raise invalid_parameter(
            "Invalid lifecycle. MoveToColdStorageAfterDays can be -1 only with DeleteAfterDays -1"
        )
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

    def expire(self, now: datetime) -> None:
        """Follow the clock: DELETING once past DeleteAt, gone once its deletion delay is over."""
        delete_at = self.delete_at()
        if self.deleted or delete_at is None:
            return
        if now >= (self.expired_at or delete_at) + self.deletion_delay:
            self.deleted = True
            self.status = "DELETING"
        elif now >= delete_at:
            self.status = "DELETING"

    def describe(self, now: datetime) -> dict[str, Any]:
        calculated = {
            key: epoch(value)
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
            "CreationDate": epoch(self.creation_date),
            "CompletionDate": epoch(self.completion_date),
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


@dataclass(frozen=True)
class CopyAction:
    """A backup plan rule's copy action: where to, and the copy's own lifecycle if it has one.

    Without a lifecycle the copy takes the original's (docs/aws-facts.md §B.1).
    """

    destination_vault_arn: str
    lifecycle: dict[str, Any] | None = None


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

    @property
    def vault_arn(self) -> str:
        return vault_arn(self.account, self.region, self.vault_name or "")

    def describe(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "AccountId": self.account,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "IamRoleArn": self.iam_role_arn,
            "CreationDate": epoch(self.creation_date),
            "State": self.state,
            "BackupSizeInBytes": self.backup_size,
        }
        if self.completion_date is not None:
            common["CompletionDate"] = epoch(self.completion_date)
        if self.status_message:
            common["StatusMessage"] = self.status_message
        if self.created_by:
            common["CreatedBy"] = api_created_by(self.created_by)
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
                BackupVaultArn=self.vault_arn,
                PercentDone="100.0" if self.state == "COMPLETED" else "0.0",
                IsParent=False,
            )
            if self.recovery_point_arn and self.state == "COMPLETED":
                common["RecoveryPointArn"] = self.recovery_point_arn
            if self.lifecycle:
                common["RecoveryPointLifecycle"] = dict(self.lifecycle)
        return common


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


class BackupStore:
    """Every recovery point, job and vault access policy of the twin, in all accounts.

    One lock guards them all: the scheduler and the API both change them. The indexes keep a
    burst of thousands of jobs linear: jobs not yet finished, copy jobs by source recovery
    point, and jobs by idempotency token.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._rng = random.Random(20261120)
        self.points: dict[str, RecoveryPoint] = {}
        self.jobs: dict[str, Job] = {}
        self.unfinished: dict[str, Job] = {}
        self.copies_by_source: dict[str, list[Job]] = defaultdict(list)
        self._by_token: dict[tuple[str, str, str, str], Job] = {}
        # Vault ARN -> access policy document (moto keeps none).
        self.policies: dict[str, str] = {}
        # With DynamoDB's advanced features on (the default for new accounts) AWS Backup
        # manages DynamoDB backups itself and names them like EFS's; without, they are
        # DynamoDB's own table backups.
        self.dynamodb_advanced_features = True
        # (account, region) -> resource type -> opted in (DescribeRegionSettings).
        self.opt_in: dict[tuple[str, str], dict[str, bool]] = {}

    def region_settings(self, account: str, region: str) -> dict[str, bool]:
        return self.opt_in.setdefault((account, region), dict.fromkeys(OPT_IN_TYPES, True))

    def fully_managed(self, resource_type: str) -> bool:
        if resource_type == "DynamoDB":
            return self.dynamodb_advanced_features
        return resource_type in FULLY_MANAGED

    # -- vaults (moto's) ---------------------------------------------------------------------
    @staticmethod
    def vault(account: str, region: str, name: str) -> Any:
        from moto.backup.models import backup_backends

        return backup_backends[account][region].vaults.get(name)

    def vault_or_404(self, account: str, region: str, name: str) -> Any:
        if not name:
            raise missing_parameter("BackupVaultName is required")
        vault = self.vault(account, region, name)
        if vault is None:
            raise not_found(f"Backup vault {name} not found in {account} {region}")
        return vault

    def point_in_vault(self, account: str, region: str, vault_name: str, arn: str) -> RecoveryPoint:
        return self.vault_and_point(account, region, vault_name, arn)[1]

    def vault_and_point(
        self, account: str, region: str, vault_name: str, arn: str
    ) -> tuple[Any, RecoveryPoint]:
        """The vault and the recovery point in it, or AWS's ResourceNotFoundException."""
        vault = self.vault_or_404(account, region, vault_name)
        point = self.points.get(arn)
        if (
            point is None
            or point.deleted
            or (point.account, point.region, point.vault_name) != (account, region, vault_name)
        ):
            raise not_found(f"Recovery point {arn} not found in backup vault {vault_name}")
        return vault, point

    # -- names -------------------------------------------------------------------------------
    def new_job_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128))).upper()

    def new_point_arn(
        self, account: str, region: str, resource_type: str, resource_arn: str
    ) -> str:
        """A new recovery point's ARN, in its resource type's shape (docs/aws-facts.md §A.2)."""
        token = uuid.UUID(int=self._rng.getrandbits(128))
        if resource_type == "DynamoDB" and not self.dynamodb_advanced_features:
            table = resource_arn.split(":table/", 1)[-1].split("/")[0]
            backup_id = f"{token.int % 10**14:014d}-{token.hex[:8]}"
            return f"arn:aws:dynamodb:{region}:{account}:table/{table}/backup/{backup_id}"
        if resource_type == "FSx":
            return f"arn:aws:fsx:{region}:{account}:backup/backup-{token.hex[:17]}"
        if resource_type == "EBS":
            return f"arn:aws:ec2:{region}::snapshot/snap-{token.hex[:17]}"
        if resource_type == "EC2":
            return f"arn:aws:ec2:{region}::image/ami-{token.hex[:17]}"
        if resource_type in {"RDS", "Aurora"}:
            kind = "cluster-snapshot" if resource_type == "Aurora" else "snapshot"
            return f"arn:aws:rds:{region}:{account}:{kind}:awsbackup:job-{token}"
        return f"arn:aws:backup:{region}:{account}:recovery-point:{token}"

    def deletion_delay(self) -> timedelta:
        return timedelta(seconds=self._rng.uniform(0, 8 * 3600))

    # -- jobs --------------------------------------------------------------------------------
    def track(self, job: Job) -> None:
        """Index a new job (every job passes through here once, when it is created)."""
        self.jobs[job.job_id] = job
        self.unfinished[job.job_id] = job
        if job.kind == "copy":
            self.copies_by_source[job.source_recovery_point_arn or ""].append(job)
        if job.idempotency_token:
            self.remember_token(job)

    def remember_token(self, job: Job) -> None:
        key = (job.kind, job.account, job.region, job.idempotency_token or "")
        self._by_token.setdefault(key, job)

    def started_with(self, token: str | None, kind: str, account: str, region: str) -> Job | None:
        """The job a start with this idempotency token already made here, if any (§B.1)."""
        return self._by_token.get((kind, account, region, token)) if token else None

    def job(self, account: str, region: str, job_id: str, kind: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind or (job.account, job.region) != (account, region):
            label = "Copy job" if kind == "copy" else "Backup job"
            raise not_found(f"{label} {job_id} not found")
        return job

    def expire_points(self, now: datetime) -> None:
        for point in self.points.values():
            point.expire(now)
