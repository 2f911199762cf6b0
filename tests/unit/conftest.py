"""The task handlers against the twin: real backups, real copy jobs, the handler called in-process.

A handler runs here as the Lambda runtime would run it: as the resource account, with a
Lambda context, its exceptions reaching the caller under their class names (the error names
the state machine sees). Inputs are built from what the twin really made, so a test changes
only the one thing it is about.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, MAIN_REGION, RESOURCE_ACCOUNT, acting_as
from local.backup import CopyAction, Job, PlanInfo
from local.twin import Twin
from local.workflow import COPY_ROLE_NAME, Settings, create_vaults
from tasks import (
    cut_retention,
    describe_copy_job,
    describe_recovery_point,
    start_copy_job,
    verify_copies,
)
from tasks.logs import SERVICE
from tests.support import FakeLambdaContext

EFS = f"arn:aws:elasticfilesystem:{MAIN_REGION}:{RESOURCE_ACCOUNT}:file-system/fs-0a1b2c3d4e5f67890"
EBS = f"arn:aws:ec2:{MAIN_REGION}:{RESOURCE_ACCOUNT}:volume/vol-0123456789abcdef0"
ROLE_ARN = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/{COPY_ROLE_NAME}"
EXECUTION = "3f6c2d0e-7a41-4b8e-9d5f-1c2b3a4d5e6f"
HANDLERS: dict[str, ModuleType] = {
    "DescribeRecoveryPoint": describe_recovery_point,
    "StartCopyJob": start_copy_job,
    "DescribeCopyJob": describe_copy_job,
    "VerifyCopies": verify_copies,
    "CutRetention": cut_retention,
}


@dataclass
class World:
    twin: Twin
    settings: Settings

    @property
    def destinations(self) -> list[str]:
        """Copy 1 (the backup region) and copy 2 (this region), as the workflow computes them."""
        return [
            f"arn:aws:backup:{region}:{BACKUP_ACCOUNT}:backup-vault:{self.settings.vault_name}"
            for region in (self.settings.backup_region, MAIN_REGION)
        ]

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
        self.twin.clock.advance(timedelta(hours=1).total_seconds())
        for _, _, event in self.twin.router.events("Backup Job State Change"):
            detail = event["detail"]
            if detail["backupJobId"] == job_id and detail["state"] == "COMPLETED":
                return event
        raise AssertionError(f"backup job {job_id} did not complete")

    def backup(self, **kwargs: Any) -> str:
        """Make a backup; return the original recovery point's ARN."""
        arn: str = self.backup_event(**kwargs)["resources"][0]
        return arn

    def copy_jobs(self, recovery_point_arn: str, destination: str | None = None) -> list[Job]:
        return [
            job
            for job in self.twin.backup.jobs.values()
            if job.kind == "copy"
            and job.source_recovery_point_arn == recovery_point_arn
            and destination in (None, job.destination_vault_arn)
        ]

    def writes(self) -> int:
        return len(self.twin.backup.write_calls())

    # -- task inputs, as the state machine passes them ------------------------------------
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

    def copy_input(self, recovery_point_arn: str, destination: int = 0, **changes: Any) -> Any:
        return {
            "Execution": EXECUTION,
            "Region": MAIN_REGION,
            "RecoveryPointArn": recovery_point_arn,
            "BackupVaultName": self.settings.vault_name,
            "DestinationBackupVaultArn": self.destinations[destination],
            "IamRoleArn": ROLE_ARN,
            **changes,
        }

    def wait_input(
        self, recovery_point_arn: str, copy_job_id: str, waited: float = 0.0, **changes: Any
    ) -> dict[str, Any]:
        now = self.twin.clock.now()
        return {
            "Execution": EXECUTION,
            "Region": MAIN_REGION,
            "RecoveryPointArn": recovery_point_arn,
            "CopyJobId": copy_job_id,
            "Now": self.twin.clock.iso_now(),
            "WaitingSince": (now - timedelta(seconds=waited)).isoformat().replace("+00:00", "Z"),
            "TimeLimitSeconds": self.settings.copy_wait_limit_hours * 3600,
            **changes,
        }

    def verify_input(self, recovery_point_arn: str, **changes: Any) -> dict[str, Any]:
        return {
            "Execution": EXECUTION,
            "Region": MAIN_REGION,
            "RecoveryPointArn": recovery_point_arn,
            "Destinations": self.destinations,
            **changes,
        }

    def cut_input(self, recovery_point_arn: str, **changes: Any) -> dict[str, Any]:
        return {
            **self.verify_input(recovery_point_arn),
            "BackupVaultName": self.settings.vault_name,
            "NewDeleteAfterDays": self.settings.new_delete_after_days,
            "Now": self.twin.clock.iso_now(),
            **changes,
        }

    # -- running tasks --------------------------------------------------------------------
    def run(self, task: str, payload: Any) -> Any:
        """Call the task's handler as its Lambda function in the resource account would be."""
        with acting_as(RESOURCE_ACCOUNT):
            return HANDLERS[task].handler(payload, FakeLambdaContext())

    def copy_both(self, recovery_point_arn: str) -> None:
        """Copy 1 then copy 2, each to COMPLETED, the way the workflow's first states do."""
        for destination in (0, 1):
            self.run("StartCopyJob", self.copy_input(recovery_point_arn, destination))
            self.twin.clock.advance(timedelta(hours=1).total_seconds())


def _world() -> Iterator[World]:
    with Twin() as twin:
        settings = Settings()
        create_vaults(twin, settings)
        yield World(twin, settings)


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
