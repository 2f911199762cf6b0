"""Backup Events deployed from the real template in the twin, and helpers to drive backups.

Every scenario deploys infrastructure/backup_events_aws.yaml as a user would (the backup
account in each Region a copy lands in, then the resource account), so the event rules, vault
policies, roles, substitutions and the task code that run are the template's own: nothing here
restates the template's wiring.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import Job, RecoveryPoint
from local.stacks import Stack, deploy_everywhere, quick_start_parameters
from local.stepfunctions import count_state_transitions
from local.twin import Twin
from tests.support import StackSettings

EFS = "arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-0a1b2c3d4e5f67890"


@dataclass
class Execution:
    arn: str
    status: str
    error: str | None
    cause: str | None
    output: Any
    history: list[dict[str, Any]]
    input: Any = None

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
    settings: StackSettings
    stacks: dict[tuple[str, str], Stack]
    account: str = RESOURCE_ACCOUNT
    region: str = MAIN_REGION
    resources: list[str] = field(default_factory=list)

    @property
    def stack(self) -> Stack:
        return self.stacks[(self.account, self.region)]

    @property
    def state_machine_arn(self) -> str:
        return self.stack.outputs["StateMachineArn"]

    @property
    def reconcile_arn(self) -> str:
        return self.stack.outputs["ReconcileStateMachineArn"]

    def backup(self, lifecycle: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Start a backup job (on demand, as the console would, unless a plan is given)."""
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
        """Let virtual time run until every execution has finished; return the workflow's."""
        self.twin.run_until_quiet(timeout=timeout)
        return self.executions()

    def executions(self, state_machine_arn: str | None = None) -> list[Execution]:
        """Executions of the workflow (or of another state machine), oldest first."""
        wanted = state_machine_arn or self.state_machine_arn
        found = []
        for arn in self.twin.execution_arns():
            described = self.twin.describe_execution(arn)
            if described["stateMachineArn"] != wanted:
                continue
            output = described.get("output")
            found.append(
                Execution(
                    arn=arn,
                    status=described["status"],
                    error=described.get("error"),
                    cause=described.get("cause"),
                    output=None if output is None else json.loads(output),
                    history=self.twin.history(arn),
                    input=json.loads(described["input"]),
                )
            )
        return sorted(found, key=lambda e: e.history[0]["timestamp"])

    def start(self, event: Any) -> str:
        """Start the workflow by hand with `event` as its input (a re-run); its ARN."""
        sfn = self.twin.client("stepfunctions", self.account, self.region)
        arn: str = sfn.start_execution(
            stateMachineArn=self.state_machine_arn, input=json.dumps(event)
        )["executionArn"]
        return arn

    def reconcile(self) -> Execution:
        """Run the reconciliation once, as its schedule would, and let everything settle."""
        sfn = self.twin.client("stepfunctions", self.account, self.region)
        arn = sfn.start_execution(stateMachineArn=self.reconcile_arn)["executionArn"]
        self.settle()
        [execution] = [e for e in self.executions(self.reconcile_arn) if e.arn == arn]
        return execution

    def error_queue(self) -> list[dict[str, Any]]:
        """Every message waiting in the error queue (read and deleted)."""
        sqs = self.stack.client("sqs")
        url = self.stack.outputs["ErrorQueueUrl"]
        bodies: list[dict[str, Any]] = []
        while received := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            bodies.extend(json.loads(m["Body"]) for m in received)
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(received)
                ],
            )
        return bodies

    def recovery_point_of(self, job_id: str) -> RecoveryPoint:
        arn = self.twin.backup.jobs[job_id].recovery_point_arn
        assert arn is not None, "the backup job has not completed"
        return self.twin.backup.points[arn]

    def copy_jobs_of(self, point: RecoveryPoint) -> list[Job]:
        return sorted(
            (
                j
                for j in self.twin.backup.jobs.values()
                if j.kind == "copy" and j.source_recovery_point_arn == point.arn
            ),
            key=lambda j: j.creation_date,
        )

    def copies_of(self, point: RecoveryPoint) -> list[RecoveryPoint]:
        return [
            p
            for p in self.twin.backup.points.values()
            if p.source_backup_vault_arn == point.vault_arn
            and p.creation_date == point.creation_date
            and p.resource_arn == point.resource_arn
            and not p.deleted
        ]

    def copies_of_job(self, job_id: str) -> list[RecoveryPoint]:
        """The copies of a backup job's recovery point so far (none before it completes)."""
        arn = self.twin.backup.jobs[job_id].recovery_point_arn
        return [] if arn is None else self.copies_of(self.twin.backup.points[arn])

    def vault_arn(self, account: str, region: str) -> str:
        return f"arn:aws:backup:{region}:{account}:backup-vault:{self.settings.vault_name}"

    def backup_client(self, account: str = BACKUP_ACCOUNT, region: str | None = None) -> Any:
        """AWS Backup as a person in that account would use it (console, CLI)."""
        return self.twin.client("backup", account, region or self.region)

    def cuts(self) -> list[Any]:
        """Every lifecycle change the workflow's cut made (not a person's) that AWS accepted."""
        return [
            c
            for c in self.twin.backup.calls
            if c.operation == "update_recovery_point_lifecycle"
            and c.error is None
            and "CutRetentionRole" in (c.principal or "")
        ]


def make_world(
    twin: Twin,
    region: str = MAIN_REGION,
    account: str = RESOURCE_ACCOUNT,
    **overrides: str,
) -> World:
    """Backup Events deployed by its template; the reconciliation is off unless asked for."""
    parameters = quick_start_parameters(**{"ReconcileEveryHours": "0", **overrides})
    stacks = deploy_everywhere(twin, parameters, [(account, region)])
    twin.backup.copy_duration = timedelta(hours=1)
    return World(twin, StackSettings(parameters), stacks, account, region)


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as running:
        yield running


@pytest.fixture
def world(twin: Twin) -> World:
    return make_world(twin)
