"""The task handlers against the twin: real backups, real copy jobs, the handler called in-process.

A handler runs here as the Lambda runtime would run it: as the resource account, with a
Lambda context, its exceptions reaching the caller under their class names (the error names
the state machine sees). Inputs are built the way statemachines/backup_events.asl.json builds
them, from what the twin really made: `Original` is the DescribeOriginal state's output, `Copy`
the copy state's output, `KnownCopies` the wait states' outputs. A test changes only the one
thing it is about.

What a person does (delete a copy, change a retention) goes through the AWS Backup API of the
account that owns the recovery point, as it would in the console.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import ModuleType
from typing import Any

import botocore.loaders
import botocore.session
import pytest

import tasks.aws
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    acting_as,
)
from local.backup import CopyAction, Job, PlanInfo
from local.stacks import Stack, deploy_everywhere, quick_start_parameters
from local.twin import Twin
from tasks import (
    cut_retention,
    describe_copy_job,
    describe_recovery_point,
    reconcile,
    start_copy_job,
    verify_copies,
)
from tasks.logs import SERVICE
from tests.support import FakeLambdaContext, StackSettings

EFS = f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0a1b2c3d4e5f67890"
EBS = f"arn:aws:ec2:{MAIN_REGION}:{RESOURCE_ACCOUNT}:volume/vol-0123456789abcdef0"
AURORA = f"arn:aws:rds:{MAIN_REGION}:{RESOURCE_ACCOUNT}:cluster:orders"
DYNAMODB = f"arn:aws:dynamodb:{MAIN_REGION}:{RESOURCE_ACCOUNT}:table/Orders"
ROLE_ARN = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
# Each handler runs as its function's own role from the deployed template, so the twin holds
# every call to that role's least-privilege policy.
TASK_ROLES = {
    "DescribeRecoveryPoint": "DescribeRecoveryPointRole",
    "StartCopyJob": "StartCopyJobRole",
    "DescribeCopyJob": "DescribeCopyJobRole",
    "VerifyCopies": "VerifyCopiesRole",
    "CutRetention": "CutRetentionRole",
    "FindUnfinishedBackups": "FindUnfinishedBackupsRole",
}
EXECUTION = "3f6c2d0e-7a41-4b8e-9d5f-1c2b3a4d5e6f"
HOUR = 3600.0
DAY = 24 * HOUR
HANDLERS: dict[str, ModuleType] = {
    "DescribeRecoveryPoint": describe_recovery_point,
    "StartCopyJob": start_copy_job,
    "DescribeCopyJob": describe_copy_job,
    "VerifyCopies": verify_copies,
    "CutRetention": cut_retention,
    "FindUnfinishedBackups": reconcile,
}

__all__ = ["DAY", "HOUR", "CopyAction", "PlanInfo", "World"]


@dataclass
class World:
    twin: Twin
    settings: StackSettings
    stack: Stack  # the resource account's, in MAIN_REGION
    stacks: dict[str, Stack] = field(default_factory=dict)  # the resource account's, by Region
    # The event each backup was made with, so its DescribeOriginal output can be built.
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    originals: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def destinations(self) -> list[str]:
        """Copy 1 (the backup region) and copy 2 (this region), as the workflow computes them."""
        return [
            f"arn:aws:backup:{region}:{BACKUP_ACCOUNT}:backup-vault:{self.settings.vault_name}"
            for region in (self.settings.backup_region, MAIN_REGION)
        ]

    @property
    def reader_role_arn(self) -> str:
        """The backup account's read-only role for this Region (the template's substitution)."""
        return self.stack.outputs["CopyReaderRoleArn"]

    @property
    def ledger_table(self) -> str:
        return self.stack.outputs["CutLedgerTable"]

    @property
    def workflow_arn(self) -> str:
        return self.stack.outputs["StateMachineArn"]

    def role_of(self, task: str, region: str = MAIN_REGION) -> str:
        name = self.stacks.get(region, self.stack).physical_id(TASK_ROLES[task])
        return f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/backup-events/{name}"

    # -- making backups ---------------------------------------------------------------------
    def backup_event(
        self,
        *,
        resource: str = EFS,
        region: str = MAIN_REGION,
        lifecycle: dict[str, Any] | None = None,
        plan: PlanInfo | None = None,
        continuous: bool = False,
        copy_actions: tuple[str | CopyAction, ...] = (),
    ) -> dict[str, Any]:
        """Make a backup as AWS would and return its "Backup Job State Change" COMPLETED event."""
        job_id = self.twin.backup.start_backup(
            RESOURCE_ACCOUNT,
            region,
            self.settings.vault_name,
            resource.replace(f":{MAIN_REGION}:", f":{region}:"),
            lifecycle={"DeleteAfterDays": 35} if lifecycle is None else lifecycle,
            plan=plan,
            continuous=continuous,
            copy_actions=copy_actions,
        )
        self.twin.clock.advance(HOUR)
        for _, _, event in self.twin.router.events("Backup Job State Change"):
            detail = event["detail"]
            if detail["backupJobId"] == job_id and detail["state"] == "COMPLETED":
                self.events[event["resources"][0]] = event
                return event
        raise AssertionError(f"backup job {job_id} did not complete")

    def backup(self, **kwargs: Any) -> str:
        """Make a backup; return the original recovery point's ARN."""
        arn: str = self.backup_event(**kwargs)["resources"][0]
        return arn

    def copy_jobs(self, recovery_point_arn: str, destination: str | None = None) -> list[Job]:
        return sorted(
            (
                job
                for job in self.twin.backup.jobs.values()
                if job.kind == "copy"
                and job.source_recovery_point_arn == recovery_point_arn
                and destination in (None, job.destination_vault_arn)
            ),
            key=lambda job: job.creation_date,
        )

    def lifecycle(self, recovery_point_arn: str) -> dict[str, Any]:
        return dict(self.twin.backup.points[recovery_point_arn].lifecycle)

    # -- what a person does, through the owning account's AWS Backup API -------------------
    def _owner(self, recovery_point_arn: str) -> tuple[Any, str]:
        point = self.twin.backup.points[recovery_point_arn]
        return self.twin.client("backup", point.account, point.region), point.vault_name

    def set_lifecycle(self, recovery_point_arn: str, lifecycle: dict[str, Any]) -> None:
        backup, vault = self._owner(recovery_point_arn)
        backup.update_recovery_point_lifecycle(
            BackupVaultName=vault, RecoveryPointArn=recovery_point_arn, Lifecycle=lifecycle
        )

    def delete(self, recovery_point_arn: str) -> None:
        backup, vault = self._owner(recovery_point_arn)
        backup.delete_recovery_point(BackupVaultName=vault, RecoveryPointArn=recovery_point_arn)

    @contextmanager
    def narrow_reader(self, *actions: str) -> Iterator[None]:
        """Within the block, someone has narrowed the backup account's reader roles to these
        AWS Backup actions; the template's policy is back afterwards."""
        iam = self.twin.client("iam", self.settings.backup_account, MAIN_REGION)
        roles = [
            f"BackupEventsCopyReader-{region}"
            for region in sorted(
                {self.settings.backup_region, self.settings.alternate_region, BACKUP_REGION}
            )
        ]
        deployed = {
            role: iam.get_role_policy(RoleName=role, PolicyName="ReadCopiesOnly")["PolicyDocument"]
            for role in roles
        }
        statement = [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]
        narrowed = json.dumps({"Version": "2012-10-17", "Statement": statement})
        for role in roles:
            iam.put_role_policy(RoleName=role, PolicyName="ReadCopiesOnly", PolicyDocument=narrowed)
        try:
            yield
        finally:
            for role, document in deployed.items():
                iam.put_role_policy(
                    RoleName=role, PolicyName="ReadCopiesOnly", PolicyDocument=json.dumps(document)
                )

    def forget_copy_jobs(self, recovery_point_arn: str) -> None:
        """AWS keeps job history for a limited time (aws-facts.md §B.2); the twin keeps it
        forever, so a test that needs the history gone drops it."""
        for job in self.copy_jobs(recovery_point_arn):
            del self.twin.backup.jobs[job.job_id]

    # -- what was written -------------------------------------------------------------------
    def writes(self) -> int:
        return len(self.twin.backup.write_calls())

    def ledger(self) -> dict[str, dict[str, Any]]:
        """The cut ledger of the resource account in this Region, by recovery point."""
        items = self.twin.client("dynamodb", RESOURCE_ACCOUNT, MAIN_REGION).scan(
            TableName=self.ledger_table, ConsistentRead=True
        )["Items"]
        return {item["RecoveryPointArn"]["S"]: item for item in items}

    @contextmanager
    def nothing_written(self) -> Iterator[None]:
        """The block makes no AWS Backup write call and changes no ledger item."""
        writes, ledger = self.writes(), self.ledger()
        yield
        assert self.twin.backup.write_calls()[writes:] == [], "an AWS Backup write was made"
        assert self.ledger() == ledger, "the cut ledger changed"

    # -- task inputs, as the state machine builds them -------------------------------------
    def describe_input(self, event: Any, **changes: Any) -> dict[str, Any]:
        return {
            "Execution": EXECUTION,
            "Event": event,
            "Account": RESOURCE_ACCOUNT,
            "Region": MAIN_REGION,
            "VaultName": self.settings.vault_name,
            "BackupAccountId": self.settings.backup_account,
            "BackupRegion": self.settings.backup_region,
            "BackupRegionAlternate": self.settings.alternate_region,
            "CopyScheduledBackups": False,
            **changes,
        }

    def original(self, recovery_point_arn: str) -> dict[str, Any]:
        """The DescribeOriginal state's output for this backup (the execution's `$original`).

        An execution describes its original once, when it starts, and hands that to every
        later state; so does this, for the first execution of each backup.
        """
        if recovery_point_arn not in self.originals:
            event = self.events[recovery_point_arn]
            scheduled = "createdBy" in event["detail"]
            self.originals[recovery_point_arn] = self.run(
                "DescribeRecoveryPoint", self.describe_input(event, CopyScheduledBackups=scheduled)
            )
        return dict(self.originals[recovery_point_arn])

    def copy_input(self, recovery_point_arn: str, destination: int = 0, **changes: Any) -> Any:
        return {
            "Execution": EXECUTION,
            "Region": MAIN_REGION,
            "RecoveryPointArn": recovery_point_arn,
            "BackupVaultName": self.settings.vault_name,
            "DestinationBackupVaultArn": self.destinations[destination],
            "IamRoleArn": ROLE_ARN,
            "CopyReaderRoleArn": self.reader_role_arn,
            "Now": self.twin.clock.iso_now(),
            **changes,
        }

    def wait_input(
        self,
        recovery_point_arn: str,
        copy: dict[str, Any],
        waited: float = 0.0,
        **changes: Any,
    ) -> dict[str, Any]:
        now = self.twin.clock.now()
        return {
            "Execution": EXECUTION,
            "Region": MAIN_REGION,
            "RecoveryPointArn": recovery_point_arn,
            "Copy": copy,
            "Original": self.original(recovery_point_arn),
            "CopyReaderRoleArn": self.reader_role_arn,
            "Now": self.twin.clock.iso_now(),
            "WaitingSince": (now - timedelta(seconds=waited)).isoformat().replace("+00:00", "Z"),
            "TimeLimitSeconds": self.settings.copy_wait_limit_hours * 3600,
            **changes,
        }

    def verify_input(
        self, recovery_point_arn: str, known: list[dict[str, Any]] | None = None, **changes: Any
    ) -> dict[str, Any]:
        return {
            "Execution": EXECUTION,
            "Region": MAIN_REGION,
            "RecoveryPointArn": recovery_point_arn,
            "Original": self.original(recovery_point_arn),
            "Destinations": self.destinations,
            "KnownCopies": known or [],
            "CopyReaderRoleArn": self.reader_role_arn,
            "Now": self.twin.clock.iso_now(),
            **changes,
        }

    def cut_input(
        self, recovery_point_arn: str, known: list[dict[str, Any]] | None = None, **changes: Any
    ) -> dict[str, Any]:
        return {
            "Execution": EXECUTION,
            "Region": MAIN_REGION,
            "RecoveryPointArn": recovery_point_arn,
            "BackupVaultName": self.settings.vault_name,
            "Destinations": self.destinations,
            "KnownCopies": known or [],
            "CopyReaderRoleArn": self.reader_role_arn,
            "LedgerTableName": self.ledger_table,
            "NewDeleteAfterDays": self.settings.new_delete_after_days,
            "Now": self.twin.clock.iso_now(),
            **changes,
        }

    # -- running tasks --------------------------------------------------------------------
    def reconcile_input(self, **changes: Any) -> dict[str, Any]:
        """The reconciliation state machine's input to FindUnfinishedBackups."""
        settings = self.settings
        return {
            "Execution": "reconcile-1",
            "Account": RESOURCE_ACCOUNT,
            "Region": MAIN_REGION,
            "WorkflowArn": self.workflow_arn,
            "VaultName": settings.vault_name,
            "BackupAccountId": settings.backup_account,
            "BackupRegion": settings.backup_region,
            "BackupRegionAlternate": settings.alternate_region,
            "NewDeleteAfterDays": settings.new_delete_after_days,
            "CopyScheduledBackups": False,
            "EnableUpdateLifecycle": True,
            "CopyReaderRoleArn": self.reader_role_arn,
            "LedgerTableName": self.ledger_table,
            "HorizonDays": 14,
            "MaxStarts": 10,
            "MaxRedrives": 3,
            "MaxReports": 200,
            "Now": self.twin.clock.iso_now(),
            **changes,
        }

    def run(self, task: str, payload: Any) -> Any:
        """Call the task's handler as its Lambda function in the resource account would be:
        the function of the Region the input names."""
        region = payload.get("Region", MAIN_REGION) if isinstance(payload, dict) else MAIN_REGION
        if region not in self.stacks:
            region = MAIN_REGION  # a malformed Region: the test is about the task's answer
        with acting_as(RESOURCE_ACCOUNT, self.role_of(task, region)):
            return HANDLERS[task].handler(payload, FakeLambdaContext())

    def copy_one(self, recovery_point_arn: str, destination: int) -> dict[str, Any]:
        """CopyTo... then WaitFor... until the copy is COMPLETED; the wait state's output."""
        copy = self.run("StartCopyJob", self.copy_input(recovery_point_arn, destination))
        self.twin.clock.advance(HOUR)
        waited: dict[str, Any] = self.run(
            "DescribeCopyJob", self.wait_input(recovery_point_arn, copy, HOUR)
        )
        return waited

    def copy_both(self, recovery_point_arn: str) -> list[dict[str, Any]]:
        """Copy 1 then copy 2, as the workflow's first states do; returns `$copies`."""
        return [self.copy_one(recovery_point_arn, destination) for destination in (0, 1)]

    def copy_of(self, recovery_point_arn: str, destination: int) -> str:
        """The recovery point the latest COMPLETED copy job made in that destination."""
        done = [
            job
            for job in self.copy_jobs(recovery_point_arn, self.destinations[destination])
            if job.state == "COMPLETED"
        ]
        arn = done[-1].destination_recovery_point_arn
        assert arn is not None
        return arn


def _world() -> Iterator[World]:
    with Twin() as twin:
        # A warm Lambda keeps the reader role's credentials; a new twin is a new account
        # history, so it starts cold.
        tasks.aws._assumed.clear()
        parameters = quick_start_parameters(ReconcileEveryHours="0")
        regions = (MAIN_REGION, BACKUP_REGION)
        deployed = deploy_everywhere(
            twin, parameters, [(RESOURCE_ACCOUNT, region) for region in regions]
        )
        stacks = {region: deployed[(RESOURCE_ACCOUNT, region)] for region in regions}
        # These tests call each handler themselves; the deployed rules would also start the
        # state machine on every backup and copy the twin completes, and its tasks would act
        # behind the test's back.
        for region, stack in stacks.items():
            events = twin.client("events", RESOURCE_ACCOUNT, region)
            for rule in ("BackupCompletedRule", "PlanCopyCompletedRule"):
                events.disable_rule(Name=stack.physical_id(rule).rsplit("/", 1)[-1])
        yield World(twin, StackSettings(parameters), stacks[MAIN_REGION], stacks)
        tasks.aws._assumed.clear()


@pytest.fixture(scope="package", autouse=True)
def one_model_loader() -> Iterator[None]:
    """Every botocore session of these tests reads AWS's API models once.

    Each twin starts the tasks cold, and a cold task makes a new boto3 session for the reader
    role's credentials; each new session would parse botocore's model files again (a few tenths
    of a second, more than most tests take). The models are read-only data, so one loader can
    serve every session.
    """
    loader = botocore.loaders.create_loader()
    original = botocore.session.Session._register_data_loader

    def register(self: botocore.session.Session) -> None:
        self._components.lazy_register_component("data_loader", lambda: loader)

    botocore.session.Session._register_data_loader = register  # type: ignore[method-assign]
    yield
    botocore.session.Session._register_data_loader = original  # type: ignore[method-assign]


@pytest.fixture
def world() -> Iterator[World]:
    yield from _world()


@pytest.fixture(scope="module")
def shared_world() -> Iterator[World]:
    """One twin for a module whose tests write nothing (each asserts so), to stay fast."""
    yield from _world()


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the moment of writing.

    Powertools binds its handler to the sys.stdout of the moment the first task module was
    imported; pytest swaps sys.stdout per test and per phase, so follow it instead.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def task_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """Capture what the tasks log; call the fixture's value to read (and reset) it."""
    handlers = [
        h for h in logging.getLogger(SERVICE).handlers if isinstance(h, logging.StreamHandler)
    ]
    previous = [h.setStream(_CurrentStdout()) for h in handlers]  # type: ignore[arg-type]
    try:
        yield lambda: capsys.readouterr().out
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)


def pytest_configure(config: pytest.Config) -> None:
    # Tasks that count nothing on a path (a reuse, a refusal) publish no metric, and Powertools
    # warns about the empty flush on every such call.
    config.addinivalue_line(
        "filterwarnings", "ignore:No application metrics to publish:UserWarning"
    )
