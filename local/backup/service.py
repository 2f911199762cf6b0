"""The AWS Backup twin as tests and scenarios hold it (`twin.backup`): its parts and controls.

The parts, one concern each: the store of points, jobs and policies (models.py), the job
scheduler on the virtual clock (jobs.py), the events it announces (announcements.py), the
faults injected on purpose (faults.py) and the API operations (responses.py). This class builds
them, records every AWS call, and offers what a test does that is not an AWS call: run a
backup as a plan would, put a recovery point in place, inject faults, tune timings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from local.accounts import Organization
from local.backup.announcements import Announcer
from local.backup.faults import CopyRule, Faults
from local.backup.jobs import JobScheduler
from local.backup.models import (
    BackupStore,
    CopyAction,
    Job,
    PlanInfo,
    RecoveryPoint,
    continuous_arn,
    default_role,
    resource_type_of,
)
from local.backup.responses import BackupApi
from local.clock import VirtualClock
from local.events import EventRouter

WRITE_OPERATIONS = frozenset(
    {
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
        "update_region_settings",
        "update_global_settings",
    }
)


@dataclass
class Intervention:
    """Something someone did to a recovery point outside the workflow, and how AWS answered."""

    at: datetime
    action: str  # "delete" or "lifecycle"
    point_arn: str
    lifecycle: dict[str, Any] | None
    error: str | None = None


@dataclass
class Call:
    account: str
    region: str
    operation: str
    params: dict[str, Any]
    error: str | None = None
    # The IAM role (or user) that made the call; None for a caller the twin does not know.
    principal: str | None = None


class _OnPart:
    """A setting of the twin that belongs to one of its parts (read and written there)."""

    def __init__(self, part: str) -> None:
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, twin: Any, owner: type | None = None) -> Any:
        return getattr(getattr(twin, self.part), self.name)

    def __set__(self, twin: Any, value: Any) -> None:
        setattr(getattr(twin, self.part), self.name, value)


class BackupTwin:
    backup_duration = _OnPart("scheduler")
    copy_duration = _OnPart("scheduler")
    outbound_copy_limit = _OnPart("scheduler")
    accept_cold_minus_one = _OnPart("api")
    listing_lag = _OnPart("api")
    describe_lag = _OnPart("api")
    dynamodb_advanced_features = _OnPart("store")

    def __init__(
        self, clock: VirtualClock, router: EventRouter, organization: Organization
    ) -> None:
        self.clock = clock
        self.organization = organization
        self.store = BackupStore()
        self.faults = Faults()
        self.scheduler = JobScheduler(
            clock, self.store, Announcer(router), self.faults, organization
        )
        self.api = BackupApi(clock, self.store, self.scheduler, organization)
        self.calls: list[Call] = []
        self._calls_lock = threading.Lock()
        self.interventions: list[Intervention] = []
        # Controls that belong to one part, offered here too.
        self.throttle = self.faults.throttle
        self.server_errors = self.faults.server_errors
        self.clear_faults = self.faults.clear
        self.release = self.scheduler.release
        self.next_event_time = self.scheduler.next_event_time

    # -- what the store holds ----------------------------------------------------------------
    @property
    def points(self) -> dict[str, RecoveryPoint]:
        return self.store.points

    @property
    def jobs(self) -> dict[str, Job]:
        return self.store.jobs

    @property
    def policies(self) -> dict[str, str]:
        """Vault ARN -> its access policy document."""
        return self.store.policies

    @property
    def copy_rules(self) -> list[CopyRule]:
        return self.faults.copy_rules

    # -- the call record ---------------------------------------------------------------------
    def record(self, call: Call) -> None:
        with self._calls_lock:
            self.calls.append(call)

    def write_calls(self) -> list[Call]:
        return [c for c in self.calls if c.operation in WRITE_OPERATIONS]

    # -- what a plan, the console or someone else does ---------------------------------------
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
        with self.store.lock:
            self.store.vault_or_404(account, region, vault_name)
            self.api.validate(lifecycle)
            for action in actions:
                self.api.validate(action.lifecycle)
            if plan is not None:
                plan.account, plan.region = plan.account or account, plan.region or region
            job = self.scheduler.create_backup_job(
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
        self.scheduler.progress()
        return job.job_id

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
        self.store.vault_or_404(account, region, vault_name)
        resource_type = resource_type_of(resource_arn)
        created = created or self.clock.now()
        with self.store.lock:
            arn = self.store.new_point_arn(account, region, resource_type, resource_arn)
            if continuous:
                arn = continuous_arn(region, account, arn)
            self.store.points[arn] = RecoveryPoint(
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
                deletion_delay=self.store.deletion_delay(),
            )
        return arn

    # -- faults ------------------------------------------------------------------------------
    def on_copy(
        self,
        predicate: Callable[[Job], bool] = lambda job: True,
        *,
        duration: timedelta | None = None,
        fail: str | None = None,
        hold: bool = False,
    ) -> CopyRule:
        """Copy jobs matching `predicate` take `duration`, FAIL with `fail`, or stay CREATED
        until `release(job_id)`; also those already waiting in CREATED."""
        rule = CopyRule(predicate, duration, fail, hold)
        with self.store.lock:
            self.faults.add_copy_rule(rule)
            for job in self.store.unfinished.values():
                if job.kind == "copy" and job.state == "CREATED" and predicate(job):
                    rule.apply(job)
        return rule

    # -- someone else ------------------------------------------------------------------------
    def at(self, when: datetime, action: Callable[[], None]) -> None:
        """Run `action()` at virtual time `when`, while the clock passes it."""
        self.clock.call_at(when, action)

    def someone_deletes(self, point_arn: str, *, at: datetime | None = None) -> None:
        """Someone deletes the recovery point (console, CLI), now or at `at`."""
        self._intervene("delete", point_arn, None, at)

    def someone_changes_lifecycle(
        self, point_arn: str, lifecycle: dict[str, Any], *, at: datetime | None = None
    ) -> None:
        """Someone sets the point's lifecycle (UpdateRecoveryPointLifecycle), now or at `at`.

        AWS's rules apply as to any caller: a locked vault, a cold point or an invalid lifecycle
        refuses it, and the refusal is recorded in `interventions` instead of raised.
        """
        self._intervene("lifecycle", point_arn, dict(lifecycle), at)

    def _intervene(
        self, action: str, point_arn: str, lifecycle: dict[str, Any] | None, at: datetime | None
    ) -> None:
        def act() -> None:
            from moto.core.exceptions import JsonRESTError

            record = Intervention(self.clock.now(), action, point_arn, lifecycle)
            point = self.store.points.get(point_arn)
            try:
                if point is None or point.deleted:
                    raise KeyError(point_arn)
                where = (point.account, point.region)
                params = {"BackupVaultName": point.vault_name, "RecoveryPointArn": point_arn}
                if action == "delete":
                    self.api.api_delete_recovery_point(*where, params)
                else:
                    self.api.api_update_recovery_point_lifecycle(
                        *where, {**params, "Lifecycle": lifecycle}
                    )
            except KeyError:
                record.error = "ResourceNotFoundException"
            except JsonRESTError as refused:
                record.error = refused.error_type
            self.interventions.append(record)

        self.clock.call_at(at or self.clock.now(), act)
