"""The local AWS twin: moto plus this project's patches, on a virtual clock.

    with Twin() as twin:
        twin.create_vault(RESOURCE_ACCOUNT, MAIN_REGION, "BackupEvents-Sample")
        backup = twin.client("backup", RESOURCE_ACCOUNT, MAIN_REGION)
        ...
        twin.wait_for_executions()

Everything the tests and `make demo` prove runs through here. See docs/twin.md for the
gaps in stock moto that the modules of this package close.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from local import (
    accounts,
    backup,
    cloudformation,
    cloudwatch,
    events,
    iam,
    kms,
    lambdas,
    redrive,
    stepfunctions,
)
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OTHER_REGION,
    RESOURCE_ACCOUNT,
    Organization,
)
from local.backup import BackupTwin
from local.clock import DEFAULT_START, VirtualClock
from local.events import EventRouter, Schedules
from local.lambdas import LambdaRuntime
from local.stepfunctions import StepFunctionsTwin

ALL_REGIONS = (MAIN_REGION, BACKUP_REGION, OTHER_REGION)


def install_patches() -> None:
    """Patch moto once per process; every patch is inert while no twin runs."""
    accounts.install()
    iam.install()
    cloudwatch.install()
    kms.install()
    lambdas.install()
    stepfunctions.install()
    redrive.install()
    backup.install()
    cloudformation.install()
    events.install()
    # moto logs every failed state at ERROR; a failure here is an expected test outcome.
    for name in ("moto.stepfunctions.parser", "moto.stepfunctions"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class Twin:
    _running: Twin | None = None  # moto's patches are process-wide: one twin at a time

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        from moto import mock_aws

        self.clock = VirtualClock(start)
        self.organization = Organization()
        self.router = EventRouter(self.clock)
        self.schedules = Schedules(self.clock, self.router)
        self.backup = BackupTwin(self.clock, self.router, self.organization)
        self.lambdas = LambdaRuntime(self.clock)
        self.stepfunctions = StepFunctionsTwin(self.clock, self.router)
        self.iam = iam.Authorizer(self.organization)
        self.cloudwatch = cloudwatch.CloudWatchTwin(self.clock)
        self.stepfunctions.status_listeners.append(self.cloudwatch.execution_status)
        # Lambda keeps moto's Docker backend selected: local/lambdas.py replaces the Docker
        # call itself, so functions really run (the no-Docker backend only echoes canned text).
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._clients: dict[tuple[str, str, str, str | None], Any] = {}

    @property
    def mock_config(self) -> dict[str, Any]:
        """AWS's Step Functions Local MockConfigFile, for executions started as "<arn>#<case>"."""
        return self.stepfunctions.mock_config

    @mock_config.setter
    def mock_config(self, config: dict[str, Any]) -> None:
        self.stepfunctions.mock_config = config

    def _activate(self, on: bool) -> None:
        """Point moto's patches at this twin's parts (or back at stock moto)."""
        accounts.activate(self.clock if on else None)
        iam.activate(self.iam if on else None)
        cloudwatch.activate(self.cloudwatch if on else None)
        lambdas.activate(self.lambdas if on else None)
        stepfunctions.activate(self.stepfunctions if on else None)
        redrive.activate(self.stepfunctions if on else None)
        backup.activate(self.backup if on else None)
        cloudformation.activate(on)
        kms.activate(on)
        events.activate(self.schedules if on else None)

    def __enter__(self) -> Twin:
        if Twin._running is not None:
            raise RuntimeError("a twin is already running in this process")
        install_patches()
        self._mock.start()
        Twin._running = self
        self._activate(True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            # Let sleepers finish so no execution thread outlives the mock it runs in.
            self.clock.wait_until_idle(timeout=30)
        finally:
            self._activate(False)
            Twin._running = None
            accounts.forget_assumed_roles()
            self._mock.stop()

    # -- clients and setup ------------------------------------------------------------------
    def client(
        self,
        service: str,
        account: str = RESOURCE_ACCOUNT,
        region: str = MAIN_REGION,
        *,
        principal: str | None = None,
    ) -> Any:
        """One client per service, account, region and principal (making one costs far more
        than a call). Without a principal the caller is unknown to the twin: unrestricted."""
        key = (service, account, region, principal)
        if key not in self._clients:
            self._clients[key] = accounts.client(service, account, region, principal=principal)
        return self._clients[key]

    def create_vault(
        self,
        account: str,
        region: str,
        name: str,
        *,
        policy: dict[str, Any] | None = None,
        locked: bool = False,
        min_retention_days: int | None = None,
    ) -> str:
        client = self.client("backup", account, region)
        arn: str = client.create_backup_vault(BackupVaultName=name)["BackupVaultArn"]
        if policy is not None:
            client.put_backup_vault_access_policy(BackupVaultName=name, Policy=json.dumps(policy))
        if locked:
            client.put_backup_vault_lock_configuration(
                BackupVaultName=name, MinRetentionDays=min_retention_days or 1
            )
        return arn

    def aws_managed_key(self, account: str, region: str, service: str) -> str:
        """The ARN of the AWS managed KMS key `aws/<service>` ("ebs", "rds", ...)."""
        return kms.aws_managed_key(account, region, service)

    # -- Step Functions ---------------------------------------------------------------------
    def execution_arns(self) -> list[str]:
        return list(self.stepfunctions.executions)

    def wait_for_executions(self, timeout: float = 60.0) -> None:
        self.clock.wait_until_idle(timeout)

    def run_until_quiet(
        self, *, limit: timedelta = timedelta(days=30), timeout: float = 60.0
    ) -> None:
        """Let virtual time run until no execution is left and no job is running.

        Executions move the clock themselves while they wait; when none is left, the clock jumps
        to the next job that finishes, whose event may start new executions.
        """
        deadline = self.clock.now() + limit
        while True:
            self.wait_for_executions(timeout)
            # Jobs, late events and someone's actions; schedules fire only while time passes.
            due = [self.backup.next_event_time(), self.clock.next_timer()]
            upcoming = min((when for when in due if when is not None), default=None)
            if upcoming is None or upcoming > deadline:
                return
            self.clock.advance(to=upcoming)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        account, region = execution_arn.split(":")[4], execution_arn.split(":")[3]
        sfn = self.client("stepfunctions", account, region)
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        account, region = execution_arn.split(":")[4], execution_arn.split(":")[3]
        result: dict[str, Any] = self.client("stepfunctions", account, region).describe_execution(
            executionArn=execution_arn
        )
        return result


__all__ = [
    "ALL_REGIONS",
    "BACKUP_ACCOUNT",
    "BACKUP_REGION",
    "MAIN_REGION",
    "OTHER_REGION",
    "RESOURCE_ACCOUNT",
    "Twin",
]
