"""A deployed workflow in the twin, and helpers to drive backups through it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import Job, RecoveryPoint
from local.stepfunctions import count_state_transitions
from local.twin import Twin
from local.workflow import Deployed, Settings, create_vaults, deploy_workflow

EFS = "arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-0a1b2c3d4e5f67890"


@dataclass
class Execution:
    arn: str
    status: str
    error: str | None
    cause: str | None
    output: Any
    history: list[dict[str, Any]]

    @property
    def transitions(self) -> int:
        return count_state_transitions(self.history)

    @property
    def path(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history
            if e["type"].endswith("StateEntered")
        ]


@dataclass
class World:
    twin: Twin
    settings: Settings
    deployed: Deployed
    account: str = RESOURCE_ACCOUNT
    region: str = MAIN_REGION
    resources: list[str] = field(default_factory=list)

    def backup(self, lifecycle: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Start an on-demand backup job (as the console would); returns its job id."""
        resource = kwargs.pop("resource", None) or EFS.format(
            region=self.region, account=self.account
        )
        return self.twin.backup.start_backup(
            self.account,
            self.region,
            self.settings.vault_name,
            resource,
            lifecycle={"DeleteAfterDays": 14} if lifecycle is None else lifecycle,
            **kwargs,
        )

    def settle(self, timeout: float = 60.0) -> list[Execution]:
        """Let virtual time run until every execution has finished; return them all."""
        self.twin.run_until_quiet(timeout=timeout)
        return self.executions()

    def executions(self) -> list[Execution]:
        found = []
        for arn in self.twin.execution_arns():
            described = self.twin.describe_execution(arn)
            output = described.get("output")
            found.append(
                Execution(
                    arn=arn,
                    status=described["status"],
                    error=described.get("error"),
                    cause=described.get("cause"),
                    output=None if output is None else __import__("json").loads(output),
                    history=self.twin.history(arn),
                )
            )
        return found

    def recovery_point_of(self, job_id: str) -> RecoveryPoint:
        arn = self.twin.backup.jobs[job_id].recovery_point_arn
        assert arn is not None, "the backup job has not completed"
        return self.twin.backup.points[arn]

    def copy_jobs_of(self, point: RecoveryPoint) -> list[Job]:
        return [
            j
            for j in self.twin.backup.jobs.values()
            if j.kind == "copy" and j.source_recovery_point_arn == point.arn
        ]

    def copies_of(self, point: RecoveryPoint) -> list[RecoveryPoint]:
        return [
            p
            for p in self.twin.backup.points.values()
            if p.source_backup_vault_arn == point.vault_arn
            and p.creation_date == point.creation_date
            and p.resource_arn == point.resource_arn
        ]

    def vault_arn(self, account: str, region: str) -> str:
        return f"arn:aws:backup:{region}:{account}:backup-vault:{self.settings.vault_name}"


def make_world(twin: Twin, settings: Settings | None = None, region: str = MAIN_REGION) -> World:
    settings = settings or Settings()
    create_vaults(twin, settings, resource_regions=(region,))
    deployed = deploy_workflow(twin, settings, RESOURCE_ACCOUNT, region)
    twin.backup.copy_duration = timedelta(hours=1)
    return World(twin, settings, deployed, RESOURCE_ACCOUNT, region)


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as running:
        yield running


@pytest.fixture
def world(twin: Twin) -> World:
    return make_world(twin)
