"""The deployed EventBridge patterns against real-shaped events: what starts work, what is queued.

The patterns are read back from deployed stacks (events.describe_rule), so they are the
template's patterns after CloudFormation filled in the account, region, vault and state
machine. Matching is moto's implementation of EventBridge's matcher, the one the twin routes
with. A pattern that matches too little loses backups silently; one that matches too much
starts a second execution for the workflow's own copies, or floods the error queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from moto.events.models import EventPattern

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OTHER_REGION,
    OUTSIDER_ACCOUNT,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from tests.infrastructure.conftest import VAULT_NAME, deploy, module_twin
from tests.support import load_event

Event = dict[str, Any]
RULES = ("BackupCompletedRule", "PlanCopyCompletedRule", "FailuresRule")

# The stacks whose patterns are tested: the quick start's resource stack, the same account in
# the backup region (copies go to the alternate there), and a stack that copies plan backups.
ON_DEMAND = "on-demand only, main region"
IN_BACKUP_REGION = "on-demand only, backup region"
PLANS_TOO = "plan backups too"
STACKS = {
    ON_DEMAND: (RESOURCE_ACCOUNT, MAIN_REGION, {}),
    IN_BACKUP_REGION: (RESOURCE_ACCOUNT, BACKUP_REGION, {}),
    PLANS_TOO: (SECOND_RESOURCE_ACCOUNT, MAIN_REGION, {"CopyScheduledBackups": "true"}),
}


@pytest.fixture(scope="module")
def patterns() -> dict[str, dict[str, str]]:
    """stack label → rule logical id → the deployed rule's EventPattern (JSON text)."""
    found: dict[str, dict[str, str]] = {}
    with module_twin() as twin:
        for label, (account, region, overrides) in STACKS.items():
            stack = deploy(twin, account, region, **overrides)
            events = stack.client("events")
            found[label] = {
                rule: events.describe_rule(Name=stack.physical_id(rule))["EventPattern"]
                for rule in RULES
            }
            found[label]["StateMachineArn"] = stack.outputs["StateMachineArn"]
            found[label]["ReconcileStateMachineArn"] = stack.outputs["ReconcileStateMachineArn"]
    return found


def vault(
    account: str = RESOURCE_ACCOUNT, region: str = MAIN_REGION, name: str = VAULT_NAME
) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{name}"


# -- event builders: the tests/events fixtures, changed only where the case says --------------


def fixture(name: str, **detail: Any) -> Callable[[], Event]:
    def build() -> Event:
        event = load_event(name)
        event["detail"].update(detail)
        return event

    return build


def from_account(account: str, build: Callable[[], Event]) -> Callable[[], Event]:
    """The same event from another resource account (its own vault, its own envelope)."""

    def moved() -> Event:
        event: Event = json.loads(json.dumps(build()).replace(RESOURCE_ACCOUNT, account))
        return event

    return moved


def in_other_vault(name: str) -> Callable[[], Event]:
    other = "Nightly"
    return fixture(name, backupVaultName=other, backupVaultArn=vault(name=other))


def plan_copy(
    source_region: str, destination: str, state: str = "COMPLETED"
) -> Callable[[], Event]:
    """A backup plan's copy job event, where AWS sends it: the source account and region."""

    def build() -> Event:
        event = load_event("copy_job_completed_by_plan_to_backup_region.json")
        event["region"] = source_region
        event["resources"] = [
            event["resources"][0].replace(f":{MAIN_REGION}:", f":{source_region}:")
        ]
        event["detail"]["sourceBackupVaultArn"] = vault(region=source_region)
        event["detail"]["destinationBackupVaultArn"] = destination
        event["detail"]["state"] = state
        return event

    return build


def execution_status(status: str, state_machine: str | None = None) -> Callable[[str], Event]:
    """Step Functions' status-change event; `state_machine` None means the stack's own."""

    def build(own_state_machine: str) -> Event:
        machine = state_machine or own_state_machine
        execution = machine.replace(":stateMachine:", ":execution:") + ":0b8f1e9e"
        return {
            "version": "0",
            "id": "315c1398-40ff-a850-213b-158f73e60175",
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": RESOURCE_ACCOUNT,
            "time": "2026-11-20T06:02:11Z",
            "region": MAIN_REGION,
            "resources": [execution],
            "detail": {
                "executionArn": execution,
                "stateMachineArn": machine,
                "name": "0b8f1e9e",
                "status": status,
                "error": "CopyJobFailed" if status == "FAILED" else None,
            },
        }

    return build


def matches(pattern: str, event: Event) -> bool:
    return bool(EventPattern.load(pattern).matches_event(event))  # type: ignore[arg-type]


# -- BackupCompletedRule: which completed backups start an execution --------------------------

BACKUP_COMPLETED = [
    (ON_DEMAND, fixture("backup_job_completed_on_demand_efs.json"), True, "on-demand EFS"),
    (ON_DEMAND, fixture("backup_job_completed_on_demand_ebs.json"), True, "on-demand EBS"),
    (ON_DEMAND, fixture("backup_job_completed_on_demand_rds.json"), True, "on-demand RDS"),
    (
        ON_DEMAND,
        fixture(
            "backup_job_completed_on_demand_efs.json",
            statusMessage="Windows VSS backup attempt failed because of timeout.",
        ),
        True,
        "completed with issues",
    ),
    (ON_DEMAND, fixture("backup_job_completed_by_plan_efs.json"), False, "plan backup"),
    (
        ON_DEMAND,
        in_other_vault("backup_job_completed_on_demand_efs.json"),
        False,
        "another vault",
    ),
    (
        ON_DEMAND,
        from_account(SECOND_RESOURCE_ACCOUNT, fixture("backup_job_completed_on_demand_efs.json")),
        False,
        "another account's vault",
    ),
    (
        IN_BACKUP_REGION,
        fixture("backup_job_completed_on_demand_efs.json"),
        False,
        "another region's vault",
    ),
    (ON_DEMAND, fixture("backup_job_created.json"), False, "backup CREATED"),
    (ON_DEMAND, fixture("backup_job_running.json"), False, "backup RUNNING"),
    (ON_DEMAND, fixture("backup_job_failed.json"), False, "backup FAILED"),
    (ON_DEMAND, fixture("copy_job_completed_on_demand.json"), False, "a copy job"),
    (
        PLANS_TOO,
        from_account(SECOND_RESOURCE_ACCOUNT, fixture("backup_job_completed_by_plan_efs.json")),
        True,
        "plan backup, CopyScheduledBackups true",
    ),
    (
        PLANS_TOO,
        from_account(SECOND_RESOURCE_ACCOUNT, fixture("backup_job_completed_on_demand_efs.json")),
        True,
        "on-demand, CopyScheduledBackups true",
    ),
    (
        PLANS_TOO,
        from_account(
            SECOND_RESOURCE_ACCOUNT, in_other_vault("backup_job_completed_by_plan_efs.json")
        ),
        False,
        "plan backup in another vault, CopyScheduledBackups true",
    ),
]


@pytest.mark.parametrize(
    ("stack", "build", "expected"),
    [pytest.param(s, b, e, id=i) for s, b, e, i in BACKUP_COMPLETED],
)
def test_a_completed_backup_starts_an_execution_only_when_it_should(
    patterns: dict[str, dict[str, str]],
    stack: str,
    build: Callable[[], Event],
    expected: bool,
) -> None:
    assert matches(patterns[stack]["BackupCompletedRule"], build()) is expected


# -- PlanCopyCompletedRule: which completed copies lead to the retention cut ------------------

BACKUP_VAULT_B = vault(BACKUP_ACCOUNT, BACKUP_REGION)
BACKUP_VAULT_MAIN = vault(BACKUP_ACCOUNT, MAIN_REGION)
PLAN_COPY_COMPLETED = [
    (
        ON_DEMAND,
        fixture("copy_job_completed_by_plan_to_backup_region.json"),
        True,
        "plan copy to the backup region",
    ),
    (
        ON_DEMAND,
        fixture("copy_job_completed_by_plan_to_this_region.json"),
        True,
        "plan copy to this region",
    ),
    (
        IN_BACKUP_REGION,
        plan_copy(BACKUP_REGION, BACKUP_VAULT_MAIN),
        True,
        "backup region: plan copy to the alternate",
    ),
    (
        IN_BACKUP_REGION,
        plan_copy(BACKUP_REGION, BACKUP_VAULT_B),
        True,
        "backup region: plan copy to this region",
    ),
    (
        ON_DEMAND,
        plan_copy(MAIN_REGION, vault(BACKUP_ACCOUNT, OTHER_REGION)),
        False,
        "plan copy to a third region",
    ),
    (
        ON_DEMAND,
        plan_copy(MAIN_REGION, vault(OUTSIDER_ACCOUNT, BACKUP_REGION)),
        False,
        "plan copy to a foreign account",
    ),
    (
        ON_DEMAND,
        plan_copy(MAIN_REGION, vault(BACKUP_ACCOUNT, BACKUP_REGION, "Archive")),
        False,
        "plan copy to another vault of the backup account",
    ),
    (
        ON_DEMAND,
        fixture(
            "copy_job_completed_by_plan_to_backup_region.json",
            sourceBackupVaultArn=vault(name="Nightly"),
        ),
        False,
        "plan copy from another vault",
    ),
    (
        ON_DEMAND,
        fixture("copy_job_completed_on_demand.json"),
        False,
        "the workflow's own copy (no createdBy)",
    ),
    (
        ON_DEMAND,
        plan_copy(MAIN_REGION, BACKUP_VAULT_B, state="RUNNING"),
        False,
        "plan copy RUNNING",
    ),
    (ON_DEMAND, fixture("copy_job_created.json"), False, "copy CREATED without copyJobId"),
    (ON_DEMAND, fixture("copy_job_failed.json"), False, "copy FAILED"),
    (
        ON_DEMAND,
        fixture("backup_job_completed_by_plan_efs.json"),
        False,
        "a backup job",
    ),
]


@pytest.mark.parametrize(
    ("stack", "build", "expected"),
    [pytest.param(s, b, e, id=i) for s, b, e, i in PLAN_COPY_COMPLETED],
)
def test_a_completed_plan_copy_starts_an_execution_only_to_the_two_backup_vaults(
    patterns: dict[str, dict[str, str]],
    stack: str,
    build: Callable[[], Event],
    expected: bool,
) -> None:
    assert matches(patterns[stack]["PlanCopyCompletedRule"], build()) is expected


# -- FailuresRule: what is queued for a person to look at -------------------------------------

FAILURES = [
    (fixture("backup_job_failed.json"), True, "backup FAILED"),
    (fixture("backup_job_failed.json", state="ABORTED"), True, "backup ABORTED"),
    (fixture("backup_job_failed.json", state="EXPIRED"), True, "backup EXPIRED"),
    (
        fixture("backup_job_failed.json", backupVaultName="Nightly"),
        False,
        "backup FAILED in another vault",
    ),
    (fixture("copy_job_failed.json"), True, "copy FAILED, destinationRecoveryPointArn {}"),
    (
        fixture("copy_job_failed.json", sourceBackupVaultArn=vault(name="Nightly")),
        False,
        "copy FAILED from another vault",
    ),
    (fixture("copy_job_created.json"), False, "copy CREATED without copyJobId"),
    (fixture("copy_job_running.json"), False, "copy RUNNING, destinationRecoveryPointArn {}"),
    (fixture("copy_job_completed_on_demand.json"), False, "copy COMPLETED"),
    (fixture("backup_job_completed_on_demand_efs.json"), False, "backup COMPLETED"),
    (fixture("backup_job_running.json"), False, "backup RUNNING"),
]
EXECUTIONS = [
    (execution_status("FAILED"), True, "this state machine FAILED"),
    (execution_status("TIMED_OUT"), True, "this state machine TIMED_OUT"),
    (execution_status("ABORTED"), True, "this state machine ABORTED"),
    (execution_status("SUCCEEDED"), False, "this state machine SUCCEEDED"),
    (execution_status("RUNNING"), False, "this state machine RUNNING"),
    (
        execution_status(
            "FAILED", f"arn:aws:states:{MAIN_REGION}:{RESOURCE_ACCOUNT}:stateMachine:Billing"
        ),
        False,
        "another state machine FAILED",
    ),
]


@pytest.mark.parametrize(("build", "expected"), [pytest.param(b, e, id=i) for b, e, i in FAILURES])
def test_failed_jobs_of_the_watched_vault_are_queued(
    patterns: dict[str, dict[str, str]], build: Callable[[], Event], expected: bool
) -> None:
    assert matches(patterns[ON_DEMAND]["FailuresRule"], build()) is expected


@pytest.mark.parametrize(
    ("build", "expected"), [pytest.param(b, e, id=i) for b, e, i in EXECUTIONS]
)
def test_unsuccessful_executions_of_this_state_machine_are_queued(
    patterns: dict[str, dict[str, str]], build: Callable[[str], Event], expected: bool
) -> None:
    own = patterns[ON_DEMAND]["StateMachineArn"]
    assert matches(patterns[ON_DEMAND]["FailuresRule"], build(own)) is expected


@pytest.mark.parametrize(
    ("status", "expected"), [("FAILED", True), ("TIMED_OUT", True), ("SUCCEEDED", False)]
)
def test_unsuccessful_reconciliations_are_queued_too(
    patterns: dict[str, dict[str, str]], status: str, expected: bool
) -> None:
    # A reconciliation that cannot finish leaves backups unfinished: a person must hear of it.
    reconciliation = patterns[ON_DEMAND]["ReconcileStateMachineArn"]
    event = execution_status(status, reconciliation)(patterns[ON_DEMAND]["StateMachineArn"])
    assert matches(patterns[ON_DEMAND]["FailuresRule"], event) is expected


def test_the_quirky_events_are_the_ones_aws_documents() -> None:
    # The cases above rely on these fixture quirks (aws-facts.md §A.3); keep them honest.
    created = load_event("copy_job_created.json")
    assert "copyJobId" not in created["detail"]
    assert load_event("copy_job_failed.json")["detail"]["destinationRecoveryPointArn"] == {}
    assert "createdBy" not in load_event("copy_job_completed_on_demand.json")["detail"]
