"""The whole organization from the management account: status, rerun and backfill over a StackSet.

Backup Events is a StackSet over three accounts (two resource accounts and the backup account)
in two Regions, and the operator role another, both deployed with `backup-events deploy`. Then:
one account's role no longer trusts the management account (unreachable), one backup was made
while its Region's rules were off (stuck: nobody copied it), and one backup's copy failed (a
failed execution). Every command reaches each account as `backup-events` does on AWS: the
operator's own credentials, then AssumeRole into BackupEventsOperator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OUTSIDER_ACCOUNT,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.twin import Twin
from tests.cli.conftest import (
    ORGANIZATION_ACCOUNTS,
    ORGANIZATION_REGIONS,
    STACK_SET,
    VAULT,
    deploy_organization,
    operator,
    run,
)

pytestmark = [pytest.mark.twin, pytest.mark.slow]

EFS = "arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-0{n}a1b2c3d4e5f6789"
ORGANIZATION = ["--stack-set", STACK_SET, "--region", MAIN_REGION]


@dataclass
class Troubles:
    stuck_point: str  # made while its Region's rules were off: no execution, no copies
    failed_point: str  # its copy failed: a FAILED execution
    failed_execution: str


def state_machine_in(twin: Twin, account: str, region: str) -> str:
    machines = twin.client("stepfunctions", account, region).list_state_machines()
    (arn,) = [
        m["stateMachineArn"]
        for m in machines["stateMachines"]
        if not m["name"].endswith("-Reconcile")
    ]
    return str(arn)


@pytest.fixture
def troubles(twin: Twin) -> Troubles:
    deploy_organization(twin)
    # The second resource account's role now trusts another account only.
    twin.client("iam", SECOND_RESOURCE_ACCOUNT, MAIN_REGION).update_assume_role_policy(
        RoleName="BackupEventsOperator",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER_ACCOUNT}:root"},
                    }
                ],
            }
        ),
    )
    events = twin.client("events", RESOURCE_ACCOUNT, MAIN_REGION)
    for rule in events.list_rules()["Rules"]:
        events.disable_rule(Name=rule["Name"])
    fault = twin.backup.on_copy(lambda job: job.region == BACKUP_REGION, fail="Access denied")
    stuck = twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT,
        EFS.format(region=MAIN_REGION, account=RESOURCE_ACCOUNT, n=1),
        lifecycle={"DeleteAfterDays": 35},
    )  # fmt: skip
    twin.clock.advance(60)  # the stuck backup is the oldest
    failing = twin.backup.start_backup(
        RESOURCE_ACCOUNT, BACKUP_REGION, VAULT,
        EFS.format(region=BACKUP_REGION, account=RESOURCE_ACCOUNT, n=2),
        lifecycle={"DeleteAfterDays": 35},
    )  # fmt: skip
    twin.run_until_quiet()
    twin.backup.copy_rules.remove(fault)
    twin.clock.advance(timedelta(hours=2).total_seconds())
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, BACKUP_REGION)
    (failed,) = sfn.list_executions(
        stateMachineArn=state_machine_in(twin, RESOURCE_ACCOUNT, BACKUP_REGION),
        statusFilter="FAILED",
    )["executions"]
    return Troubles(
        stuck_point=twin.backup.jobs[stuck].recovery_point_arn or "",
        failed_point=twin.backup.jobs[failing].recovery_point_arn or "",
        failed_execution=str(failed["name"]),
    )


def backup_events(twin: Twin, *argv: str) -> int:
    return run(twin, argv, sessions=operator(twin))


@pytest.mark.usefixtures("wide")
def test_status_shows_every_place_the_stuck_backup_the_failure_and_the_unreachable_account(
    twin: Twin, troubles: Troubles, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()  # the workflow's own log lines
    assert backup_events(twin, "status", *ORGANIZATION) == 1

    out = capsys.readouterr().out
    assert f"STUCK {troubles.stuck_point}" in out
    assert f"FAILED execution {troubles.failed_execution}" in out
    unreachable = f"Unreachable: account {SECOND_RESOURCE_ACCOUNT} ({MAIN_REGION}, {BACKUP_REGION})"
    assert f"{unreachable}: cannot assume" in out
    assert "AccessDenied" in out
    oldest = (
        rf"oldest stuck backup\s*│\s*{troubles.stuck_point} in {RESOURCE_ACCOUNT} {MAIN_REGION}"
    )
    assert re.search(oldest, out), out

    assert backup_events(twin, "status", *ORGANIZATION, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    places = {(p["account"], p["region"]): p for p in report["places"]}
    assert set(places) == {(a, r) for a in ORGANIZATION_ACCOUNTS for r in ORGANIZATION_REGIONS}
    assert {k: p["result"] for k, p in places.items()} == {
        (RESOURCE_ACCOUNT, MAIN_REGION): "failed",
        (RESOURCE_ACCOUNT, BACKUP_REGION): "failed",
        (SECOND_RESOURCE_ACCOUNT, MAIN_REGION): "unreachable",
        (SECOND_RESOURCE_ACCOUNT, BACKUP_REGION): "unreachable",
        (BACKUP_ACCOUNT, MAIN_REGION): "no workflow",
        (BACKUP_ACCOUNT, BACKUP_REGION): "no workflow",
    }
    here = places[(RESOURCE_ACCOUNT, MAIN_REGION)]
    assert [s["recoveryPointArn"] for s in here["stuckBackups"]] == [troubles.stuck_point]
    assert here["executions"]["FAILED"] == 0
    there = places[(RESOURCE_ACCOUNT, BACKUP_REGION)]
    assert there["executions"]["FAILED"] == 1
    assert [f["name"] for f in there["failedExecutions"]] == [troubles.failed_execution]
    assert [s["recoveryPointArn"] for s in there["stuckBackups"]] == [troubles.failed_point]
    assert there["alarms"]  # the stack's alarms, each with its state
    assert there["errorQueueDepth"] is not None
    totals = report["totals"]
    assert totals["stuckBackups"] == 2
    assert totals["executions"]["FAILED"] == 1
    assert totals["oldestStuckBackup"]["recoveryPointArn"] == troubles.stuck_point
    assert {u["account"] for u in totals["unreachable"]} == {SECOND_RESOURCE_ACCOUNT}
    assert report["exitCode"] == 1


@pytest.mark.usefixtures("wide")
def test_preflight_checks_every_reachable_place_and_names_the_unreachable_one(
    twin: Twin, troubles: Troubles, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert backup_events(twin, "preflight", *ORGANIZATION) == 1
    out = capsys.readouterr().out
    for region in ORGANIZATION_REGIONS:
        machine = state_machine_in(twin, RESOURCE_ACCOUNT, region)
        assert f"Preflight of {machine}" in out
    assert f"Unreachable: account {SECOND_RESOURCE_ACCOUNT}" in out

    assert backup_events(twin, "preflight", *ORGANIZATION, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    checked = {(p["account"], p["region"]): p for p in report["places"] if "checks" in p}
    assert set(checked) == {(RESOURCE_ACCOUNT, r) for r in ORGANIZATION_REGIONS}
    for (_, region), place in checked.items():
        assert place["stateMachineArn"] == state_machine_in(twin, RESOURCE_ACCOUNT, region)
    assert {u["account"] for u in report["totals"]["unreachable"]} == {SECOND_RESOURCE_ACCOUNT}
    assert report["exitCode"] == 1


def test_rerun_and_backfill_across_the_organization_plan_first_and_act_with_apply(
    twin: Twin, troubles: Troubles, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = state_machine_in(twin, RESOURCE_ACCOUNT, BACKUP_REGION)
    stuck_machine = state_machine_in(twin, RESOURCE_ACCOUNT, MAIN_REGION)

    def executions(arn: str) -> list[dict[str, Any]]:
        account, region = arn.split(":")[4], arn.split(":")[3]
        listed = twin.client("stepfunctions", account, region).list_executions(stateMachineArn=arn)
        return list(listed["executions"])

    # Dry runs: the plans, nothing started; the unreachable account makes the exit code 1.
    assert backup_events(twin, "rerun", *ORGANIZATION) == 1
    assert backup_events(twin, "backfill", *ORGANIZATION) == 1
    out = capsys.readouterr().out
    assert "Dry run: 0 to redrive, 1 to start again" in out
    assert f"Unreachable: account {SECOND_RESOURCE_ACCOUNT}" in out
    assert len(executions(machine)) == 1
    assert executions(stuck_machine) == []
    assert backup_events(twin, "rerun", *ORGANIZATION, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    planned = [(p["account"], p["region"], i) for p in report["places"] for i in p.get("plans", [])]
    ((account, region, item),) = planned
    assert (account, region) == (RESOURCE_ACCOUNT, BACKUP_REGION)
    assert (item["name"], item["recoveryPointArn"]) == (
        troubles.failed_execution,
        troubles.failed_point,
    )
    assert item["action"] == "start"
    assert report["totals"]["actions"] == {"redrive": 0, "start": 1, "skip": 0, "unable": 0}
    assert {u["account"] for u in report["totals"]["unreachable"]} == {SECOND_RESOURCE_ACCOUNT}

    assert backup_events(twin, "rerun", *ORGANIZATION, "--apply") == 1
    assert backup_events(twin, "backfill", *ORGANIZATION, "--apply") == 1
    twin.run_until_quiet()

    # The failed backup was re-run once and finished; the stuck one was caught up.
    assert sorted(e["status"] for e in executions(machine)) == ["FAILED", "SUCCEEDED"]
    assert [e["status"] for e in executions(stuck_machine)] == ["SUCCEEDED"]
    for point in (troubles.stuck_point, troubles.failed_point):
        assert twin.backup.points[point].lifecycle == {"DeleteAfterDays": 8}
    capsys.readouterr()
    assert backup_events(twin, "status", *ORGANIZATION, "--json") == 1  # still unreachable
    report = json.loads(capsys.readouterr().out)
    totals = report["totals"]
    assert (totals["stuckBackups"], totals["oldestStuckBackup"]) == (0, None)
    # The failure stays in the history, shown with the re-run that finished its backup.
    assert totals["unsuccessful"] == {"resolved": 1, "unresolved": 0}
    (there,) = [p for p in report["places"] if p.get("failedExecutions")]
    (failure,) = there["failedExecutions"]
    assert failure["name"] == troubles.failed_execution
    assert failure["recoveryPointArn"] == troubles.failed_point
    assert failure["finishedBy"] in {e["name"] for e in executions(machine)}
    assert "-rerun-" in failure["finishedBy"]
