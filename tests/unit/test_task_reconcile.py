"""FindUnfinishedBackups against the twin: the scheduled reconciliation's one task.

One vault holds a backup of each kind the reconciliation must tell apart (design.md §5b): one
whose event was lost, one with both copies and the cut still due, one cut and done, one
lengthened by a person after its cut, one whose copy FAILED, one whose execution failed on a
transient error, and one made minutes ago. The task's answer is read once; each test checks
one part of it, and the last follows a start through the workflow's tasks to the cut.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from tests.unit.conftest import EFS, HOUR, World

KMS = "Copy job failed. The KMS key is disabled."


def resource(name: str) -> str:
    return EFS.replace("fs-0a1b2c3d4e5f67890", f"fs-{name}")


@dataclass
class Vault:
    world: World
    backups: dict[str, str]
    failed_execution: str
    actions: dict[str, Any]

    def payload(self, **changes: Any) -> dict[str, Any]:
        return self.world.reconcile_input(**changes)


@pytest.fixture(scope="module")
def vault(shared_world: World) -> Vault:
    world = shared_world
    backups: dict[str, str] = {}

    backups["lost"] = world.backup(resource=resource("lost"))
    for name in ("due", "cut", "lengthened"):
        backups[name] = world.backup(resource=resource(name))
        world.copy_both(backups[name])
    for name in ("cut", "lengthened"):
        world.run("CutRetention", world.cut_input(backups[name]))
    world.set_lifecycle(backups["lengthened"], {"DeleteAfterDays": 35})

    backups["kms"] = world.backup(resource=resource("kms"))
    world.twin.backup.on_copy(lambda job: job.resource_arn == resource("kms"), fail=KMS)
    world.run("StartCopyJob", world.copy_input(backups["kms"]))
    world.twin.clock.advance(HOUR)

    # The deployed workflow, started on this backup while AWS Backup throttles every
    # description, fails at its first task once the state machine's retries run out.
    backups["throttled"] = world.backup(resource=resource("throttled"))
    world.twin.backup.throttle(
        1.0, codes=["ThrottlingException"], operations=["describe_recovery_point"]
    )
    sfn = world.twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    failed = sfn.start_execution(
        stateMachineArn=world.workflow_arn, input=json.dumps(world.events[backups["throttled"]])
    )["executionArn"]
    world.twin.wait_for_executions()
    world.twin.backup.faults.clear()
    assert sfn.describe_execution(executionArn=failed)["status"] == "FAILED"

    job = world.twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, world.settings.vault_name, resource("fresh")
    )
    world.twin.clock.advance(timedelta(minutes=15).total_seconds())
    backups["fresh"] = world.twin.backup.jobs[job].recovery_point_arn or ""

    found = Vault(world, backups, failed, {})
    with world.nothing_written():
        found.actions = world.run("FindUnfinishedBackups", found.payload())
    return found


def started(vault: Vault) -> dict[str, dict[str, Any]]:
    return {item["RecoveryPointArn"]: item for item in vault.actions["Start"]}


def test_a_backup_whose_event_was_lost_is_started(vault: Vault) -> None:
    item = started(vault)[vault.backups["lost"]]
    event = json.loads(item["Input"])
    assert event["detail-type"] == "Backup Needs Finishing"
    assert event["resources"] == [vault.backups["lost"]]
    assert event["detail"]["reason"].startswith("no verified copy in ")


def test_a_backup_copied_but_not_cut_is_started_for_its_cut(vault: Vault) -> None:
    event = json.loads(started(vault)[vault.backups["due"]]["Input"])
    assert event["detail"]["reason"].startswith("both copies verified and the cut is due")
    assert vault.actions["Counts"]["AwaitingCut"] == 1


def test_backups_that_are_done_or_too_fresh_are_not_started(vault: Vault) -> None:
    for name in ("cut", "lengthened", "fresh", "throttled", "kms"):
        assert vault.backups[name] not in started(vault), name
    counts = vault.actions["Counts"]
    assert (counts["Originals"], counts["Done"], counts["Skipped"]) == (7, 2, 1)


def test_an_execution_that_failed_on_throttling_is_redriven(vault: Vault) -> None:
    assert vault.actions["Redrive"] == [vault.failed_execution]


def test_a_failed_copy_is_reported_with_aws_message(vault: Vault) -> None:
    [report] = vault.actions["Report"]
    body = json.loads(report["MessageBody"])
    assert body["recoveryPointArn"] == vault.backups["kms"]
    assert body["problem"] == f"the copy to {vault.world.destinations[0]} is FAILED: {KMS}"
    assert body["account"] == RESOURCE_ACCOUNT


def test_the_oldest_unfinished_backup_is_named(vault: Vault) -> None:
    assert vault.actions["OldestUnfinished"]["RecoveryPointArn"] == vault.backups["lost"]
    assert vault.actions["Truncated"] is False


def test_a_second_reconciliation_the_same_day_names_the_same_starts(vault: Vault) -> None:
    world = vault.world
    with world.nothing_written():
        again = world.run("FindUnfinishedBackups", vault.payload())
    assert [i["Name"] for i in again["Start"]] == [i["Name"] for i in vault.actions["Start"]]
    assert [i["Input"] for i in again["Start"]] == [i["Input"] for i in vault.actions["Start"]]


def test_a_start_runs_through_the_workflows_tasks_to_the_cut(vault: Vault) -> None:
    # The workflow takes the start as branch 3 (design.md §3): it reuses both copies, and cuts.
    world = vault.world
    arn = vault.backups["due"]
    event = json.loads(started(vault)[arn]["Input"])
    original = world.run("DescribeRecoveryPoint", world.describe_input(event))
    assert original["Trigger"] == "Finish"
    known = []
    with world.nothing_written():
        for destination in (0, 1):
            copy = world.run("StartCopyJob", world.copy_input(arn, destination))
            assert (copy["State"], copy["Started"]) == ("COMPLETED", False)
            known.append(world.run("DescribeCopyJob", world.wait_input(arn, copy)))
    result = world.run("CutRetention", world.cut_input(arn, known))
    assert result["NewLifecycle"] == {"DeleteAfterDays": 8}
    with world.nothing_written():
        after = world.run("FindUnfinishedBackups", vault.payload())
    assert arn not in [i["RecoveryPointArn"] for i in after["Start"]]
    assert after["Counts"]["Done"] == 3
