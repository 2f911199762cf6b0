"""Bad or foreign input fails at once, with a named error and a cause, and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, MAIN_REGION, OTHER_REGION, SECOND_RESOURCE_ACCOUNT
from tests.statemachine.conftest import World
from tests.support import load_event

pytestmark = [pytest.mark.statemachine, pytest.mark.twin]


def _mutate(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    event = load_event(name)
    change(event)
    return event


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = event
        for part in parents:
            node = node[part]
        node[leaf] = value

    return change


FOREIGN_INPUTS: dict[str, Any] = {
    "empty object": {},
    "a string": "Backup Job State Change",
    "a list": [load_event("backup_job_completed_on_demand_efs.json")],
    "a failed backup job": load_event("backup_job_failed.json"),
    "a created backup job": load_event("backup_job_created.json"),
    "a running copy job": load_event("copy_job_running.json"),
    "a failed copy job": load_event("copy_job_failed.json"),
    "another service's event": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("source", "aws.ec2")
    ),
    "a restore job": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("detail-type", "Restore Job State Change")
    ),
    "another vault": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("detail.backupVaultName", "Other-Vault")
    ),
    "another account": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("account", SECOND_RESOURCE_ACCOUNT)
    ),
    "another region": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("region", OTHER_REGION)
    ),
    "no recovery point in resources": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("resources", [])
    ),
    "a resources entry that is not an ARN": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("resources", ["not-an-arn"])
    ),
    "a plan backup while plans copy themselves": load_event(
        "backup_job_completed_by_plan_efs.json"
    ),
    "a copy the workflow started itself": load_event("copy_job_completed_on_demand.json"),
    "a plan copy to a foreign vault": _mutate(
        "copy_job_completed_by_plan_to_backup_region.json",
        _set(
            "detail.destinationBackupVaultArn",
            f"arn:aws:backup:{MAIN_REGION}:{BACKUP_ACCOUNT}:backup-vault:Somebody-Else",
        ),
    ),
    "detail missing": _mutate("backup_job_completed_on_demand_efs.json", _set("detail", None)),
    "state with the wrong type": _mutate(
        "backup_job_completed_on_demand_efs.json", _set("detail.state", ["COMPLETED"])
    ),
}


@pytest.mark.parametrize("name", sorted(FOREIGN_INPUTS))
def test_foreign_or_malformed_input_fails_by_name_without_writing(world: World, name: str) -> None:
    writes_before = len(world.twin.backup.write_calls())
    sfn = world.twin.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=world.state_machine_arn, input=json.dumps(FOREIGN_INPUTS[name])
    )["executionArn"]
    world.twin.wait_for_executions()
    described = world.twin.describe_execution(arn)

    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidInput"
    assert described["cause"]  # says what was wrong
    assert len(world.twin.backup.write_calls()) == writes_before
    assert not [j for j in world.twin.backup.jobs.values() if j.kind == "copy"]


def test_the_cause_of_an_unexpected_event_names_what_arrived(world: World) -> None:
    sfn = world.twin.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=world.state_machine_arn,
        input=json.dumps(load_event("backup_job_failed.json")),
    )["executionArn"]
    world.twin.wait_for_executions()
    cause = world.twin.describe_execution(arn)["cause"]
    assert "Backup Job State Change" in cause
    assert "FAILED" in cause
