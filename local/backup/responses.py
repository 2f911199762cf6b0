"""The AWS Backup operations the twin adds to moto, with the botocore model's shapes.

Each `api_<operation>(account, region, params)` answers one request as AWS would: its
validation and error codes, then the store and the scheduler do the work. Every behaviour
cites the fact it models (docs/aws-facts.md):

- StartBackupJob and StartCopyJob validate their input and lifecycle, return the same job for
  an IdempotencyToken already used in the account and region (§B.1); cold and continuous
  points cannot be copied.
- ListCopyJobs and ListRecoveryPointsByBackupVault take AWS's filters, newest first, paged.
  With `listing_lag`, a job that finished (or a point completed) less than that long ago is
  not listed yet, though DescribeCopyJob and DescribeRecoveryPoint already show it.
- DescribeRecoveryPoint: with `describe_lag`, a copy that landed in its destination vault
  less than that long ago is not found yet (ResourceNotFoundException), as eventual
  consistency would show it (§T.3).
- UpdateRecoveryPointLifecycle: continuous points and locked vaults refuse it; fields left out
  become null; no cold change once cold (§B.4). A DeleteAfterDays shorter than the point's age
  expires it now, and it is deleted within 8 hours (§B.5).
- Every Lifecycle (StartBackupJob, StartCopyJob, UpdateRecoveryPointLifecycle) takes -1 only
  for both days together, as documented (§H); `accept_cold_minus_one = True` plays the
  undocumented outcome where a lone -1 cold day (cancelling a pending cold move) is accepted.
- Vault access policies are stored and read back; one the twin could not evaluate is refused
  loudly rather than half applied (local/policy.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from local.accounts import Organization
from local.backup.exceptions import (
    invalid_parameter,
    invalid_request,
    missing_parameter,
    not_found,
)
from local.backup.jobs import JobScheduler
from local.backup.models import (
    ROLE_ARN,
    VAULT_ARN,
    VAULT_NAME,
    BackupStore,
    Job,
    RecoveryPoint,
    epoch,
    resource_type_of,
    validate_lifecycle,
    vault_arn,
)
from local.clock import VirtualClock
from local.policy import PolicyError, check

_RECOVERY_POINT_BY_VAULT_FIELDS = frozenset(
    {
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
    }
)


def _require(params: dict[str, Any], names: Iterable[str]) -> None:
    for name in names:
        if not params.get(name):
            raise missing_parameter(f"{name} is required")


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


def _page(key: str, items: list[Any], p: dict[str, Any], show: Callable[[Any], Any]) -> Any:
    page, token = _paginate(items, p)
    result: dict[str, Any] = {key: [show(item) for item in page]}
    if token:
        result["NextToken"] = token
    return result


def _started(job: Job) -> dict[str, Any]:
    """StartBackupJob's and StartCopyJob's answer for a job (also for a repeated token)."""
    id_key = "CopyJobId" if job.kind == "copy" else "BackupJobId"
    return {id_key: job.job_id, "CreationDate": epoch(job.creation_date), "IsParent": False}


# ListCopyJobs' filters: parameter → whether a job passes it, given the parameter's value.
_COPY_JOB_FILTERS: dict[str, Callable[[Job, Any], bool]] = {
    "ByResourceArn": lambda j, v: j.resource_arn == v,
    "ByState": lambda j, v: j.state == v,
    "ByResourceType": lambda j, v: j.resource_type == v,
    "ByDestinationVaultArn": lambda j, v: j.destination_vault_arn == v,
    "BySourceRecoveryPointArn": lambda j, v: j.source_recovery_point_arn == v,
    "ByAccountId": lambda j, v: j.account == v,
    "ByCreatedAfter": lambda j, v: j.creation_date >= _timestamp(v),
    "ByCreatedBefore": lambda j, v: j.creation_date <= _timestamp(v),
    "ByCompleteAfter": lambda j, v: (
        j.completion_date is not None and j.completion_date >= _timestamp(v)
    ),
    "ByCompleteBefore": lambda j, v: (
        j.completion_date is not None and j.completion_date <= _timestamp(v)
    ),
}
_POINT_FILTERS: dict[str, Callable[[RecoveryPoint, Any], bool]] = {
    "ByResourceArn": lambda pt, v: pt.resource_arn == v,
    "ByResourceType": lambda pt, v: pt.resource_type == v,
    "ByCreatedAfter": lambda pt, v: pt.creation_date >= _timestamp(v),
    "ByCreatedBefore": lambda pt, v: pt.creation_date <= _timestamp(v),
}


def _passes(item: Any, p: dict[str, Any], filters: dict[str, Callable[[Any, Any], bool]]) -> bool:
    return all(
        test(item, p[name]) for name, test in filters.items() if p.get(name) not in (None, "")
    )


class BackupApi:
    def __init__(
        self,
        clock: VirtualClock,
        store: BackupStore,
        scheduler: JobScheduler,
        organization: Organization,
    ) -> None:
        self.clock = clock
        self.store = store
        self.scheduler = scheduler
        self.organization = organization
        # What AWS does not document: a lone MoveToColdStorageAfterDays of -1. Refused by
        # default, as the strict answer is the one the workflow must survive (§H).
        self.accept_cold_minus_one = False
        # How long a finished job or a new recovery point stays out of the list operations
        # while Describe* already shows it (docs/aws-facts.md §T.3). 0: lists are current.
        self.listing_lag = timedelta(0)
        # How long a copy that completed stays unknown to DescribeRecoveryPoint in its
        # destination vault (docs/aws-facts.md §T.3). 0: it is found at once.
        self.describe_lag = timedelta(0)

    def _caught_up(self, finished: datetime | None, lag: timedelta) -> bool:
        """Whether something that finished then is seen yet by a read that lags by `lag`."""
        if not lag or finished is None:
            return True
        return finished <= self.clock.now() - lag

    def validate(self, lifecycle: dict[str, Any] | None) -> None:
        validate_lifecycle(lifecycle, lone_cold_minus_one=self.accept_cold_minus_one)

    # -- jobs --------------------------------------------------------------------------------
    def api_start_backup_job(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        _require(p, ("BackupVaultName", "ResourceArn", "IamRoleArn"))
        if not ROLE_ARN.match(p["IamRoleArn"]):
            raise invalid_parameter(f"Invalid IamRoleArn {p['IamRoleArn']}")
        with self.store.lock:
            self.store.vault_or_404(account, region, p["BackupVaultName"])
            self.validate(p.get("Lifecycle"))
            resource_type = resource_type_of(p["ResourceArn"])
            if not self.store.region_settings(account, region).get(resource_type, True):
                raise invalid_request(
                    f"Resource type {resource_type} is not opted in for AWS Backup in {region}."
                )
            token = p.get("IdempotencyToken")
            known = self.store.started_with(token, "backup", account, region)
            if known is not None:
                return _started(known)
            job = self.scheduler.create_backup_job(
                account,
                region,
                p["BackupVaultName"],
                p["ResourceArn"],
                p["IamRoleArn"],
                p.get("Lifecycle"),
                None,
            )
            if token:
                job.idempotency_token = token
                self.store.remember_token(job)
        self.scheduler.progress()
        return _started(job)

    def api_describe_backup_job(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            return self.store.job(account, region, p["BackupJobId"], "backup").describe()

    def api_start_copy_job(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        _require(
            p,
            (
                "RecoveryPointArn",
                "SourceBackupVaultName",
                "DestinationBackupVaultArn",
                "IamRoleArn",
            ),
        )
        if not VAULT_NAME.match(p["SourceBackupVaultName"]):
            raise invalid_parameter(f"Invalid SourceBackupVaultName {p['SourceBackupVaultName']}")
        if not VAULT_ARN.match(p["DestinationBackupVaultArn"]):
            raise invalid_parameter(
                f"Invalid DestinationBackupVaultArn {p['DestinationBackupVaultArn']}"
            )
        if not ROLE_ARN.match(p["IamRoleArn"]):
            raise invalid_parameter(f"Invalid IamRoleArn {p['IamRoleArn']}")
        self.validate(p.get("Lifecycle"))
        with self.store.lock:
            token = p.get("IdempotencyToken")
            known = self.store.started_with(token, "copy", account, region)
            if known is not None:
                return _started(known)
            point = self.store.point_in_vault(
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
            job = self.scheduler.create_copy_job(
                account=account,
                region=region,
                source_point=point,
                destination_vault_arn=p["DestinationBackupVaultArn"],
                iam_role_arn=p["IamRoleArn"],
                lifecycle=p.get("Lifecycle"),
                created_by=None,
                token=token,
            )
        self.scheduler.progress()
        return _started(job)

    def api_describe_copy_job(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            return {"CopyJob": self.store.job(account, region, p["CopyJobId"], "copy").describe()}

    def api_list_copy_jobs(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            source = p.get("BySourceRecoveryPointArn")
            candidates = (
                self.store.copies_by_source.get(source, []) if source else self.store.jobs.values()
            )
            jobs = [
                j
                for j in candidates
                if j.kind == "copy"
                and (j.account, j.region) == (account, region)
                and self._caught_up(j.completion_date, self.listing_lag)
            ]
        selected = [j for j in jobs if _passes(j, p, _COPY_JOB_FILTERS)]
        selected.sort(key=lambda j: (j.creation_date, j.job_id), reverse=True)
        return _page("CopyJobs", selected, p, Job.describe)

    # -- recovery points ---------------------------------------------------------------------
    def api_describe_recovery_point(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            point = self.store.point_in_vault(
                account, region, p["BackupVaultName"], p["RecoveryPointArn"]
            )
            if point.source_backup_vault_arn and not self._caught_up(
                point.completion_date, self.describe_lag
            ):
                raise not_found(
                    f"Recovery point {point.arn} not found in backup vault {point.vault_name}"
                )
            return point.describe(self.clock.now())

    def api_list_recovery_points_by_backup_vault(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            self.store.vault_or_404(account, region, p["BackupVaultName"])
            now = self.clock.now()
            points = [
                pt
                for pt in self.store.points.values()
                if (pt.account, pt.region, pt.vault_name) == (account, region, p["BackupVaultName"])
                and not pt.deleted
                and self._caught_up(pt.completion_date, self.listing_lag)
            ]
        points = [pt for pt in points if _passes(pt, p, _POINT_FILTERS)]
        points.sort(key=lambda pt: (pt.creation_date, pt.arn), reverse=True)

        def summary(point: RecoveryPoint) -> dict[str, Any]:
            return {
                k: v for k, v in point.describe(now).items() if k in _RECOVERY_POINT_BY_VAULT_FIELDS
            }

        return _page("RecoveryPoints", points, p, summary)

    def api_update_recovery_point_lifecycle(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            vault, point = self.store.vault_and_point(
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
            self.validate(requested)
            now = self.clock.now()
            if point.storage_class(now) == "COLD" and cold != point.lifecycle.get(
                "MoveToColdStorageAfterDays"
            ):
                raise invalid_request(
                    "MoveToColdStorageAfterDays cannot be changed once the recovery point is in "
                    "cold storage."
                )
            point.lifecycle = requested
            delete_at = point.delete_at()
            point.expired_at = now if delete_at is not None and delete_at <= now else None
            self.store.expire_points(now)
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
        with self.store.lock:
            vault, point = self.store.vault_and_point(
                account, region, p["BackupVaultName"], p["RecoveryPointArn"]
            )
            if vault.locked:
                raise invalid_request(f"Backup vault {p['BackupVaultName']} is locked.")
            point.deleted = True
            point.status = "DELETING"
        return {}

    # -- vault access policies ---------------------------------------------------------------
    def api_put_backup_vault_access_policy(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            self.store.vault_or_404(account, region, p["BackupVaultName"])
            try:
                check(p.get("Policy") or "")
            except json.JSONDecodeError as error:
                raise invalid_parameter(f"Invalid policy document: {error}") from error
            except PolicyError as error:
                # AWS may accept it; the twin refuses what it cannot evaluate, loudly.
                raise invalid_parameter(f"The twin cannot evaluate this policy: {error}") from error
            self.store.policies[vault_arn(account, region, p["BackupVaultName"])] = p["Policy"]
        return {}

    def api_get_backup_vault_access_policy(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            self.store.vault_or_404(account, region, p["BackupVaultName"])
            arn = vault_arn(account, region, p["BackupVaultName"])
            if arn not in self.store.policies:
                raise not_found(f"Backup vault {p['BackupVaultName']} has no access policy")
            return {
                "BackupVaultName": p["BackupVaultName"],
                "BackupVaultArn": arn,
                "Policy": self.store.policies[arn],
            }

    def api_delete_backup_vault_access_policy(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            self.store.vault_or_404(account, region, p["BackupVaultName"])
            self.store.policies.pop(vault_arn(account, region, p["BackupVaultName"]), None)
        return {}

    # -- settings ----------------------------------------------------------------------------
    def api_describe_global_settings(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        """Whether the organization allows cross-account backup (docs/aws-facts.md §B.1)."""
        if account not in self.organization.members:
            raise invalid_request(f"Account {account} is not a member of an organization.")
        enabled = self.organization.cross_account_backup_enabled
        return {
            "GlobalSettings": {"isCrossAccountBackupEnabled": "true" if enabled else "false"},
            "LastUpdateTime": epoch(self.clock.now()),
        }

    def api_describe_region_settings(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        """Which resource types this account has opted in to here (docs/aws-facts.md §B.9)."""
        with self.store.lock:
            opted = dict(self.store.region_settings(account, region))
        return {
            "ResourceTypeOptInPreference": opted,
            "ResourceTypeManagementPreference": {
                "DynamoDB": self.store.dynamodb_advanced_features,
                "EFS": True,
            },
        }

    def api_update_region_settings(
        self, account: str, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        with self.store.lock:
            settings = self.store.region_settings(account, region)
            for resource_type, opted in (p.get("ResourceTypeOptInPreference") or {}).items():
                if resource_type not in settings:
                    raise invalid_parameter(f"Unsupported resource type {resource_type}")
                settings[resource_type] = bool(opted)
        return {}
