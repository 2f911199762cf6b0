"""backup-events status for one stack: all finished, or what is not, and its exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backup_events.rerun import rerun_name
from backup_events.status import Closed, finishers
from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.stacks import Stack
from local.twin import Twin
from tasks.events import finish_request
from tasks.reconcile import execution_name
from tests.cli.conftest import EFS, VAULT, closed_executions, deployed, executions_of, run

pytestmark = pytest.mark.twin

STACK = ["status", "--stack-name", "BackupEvents", "--region", MAIN_REGION]


def test_a_deployment_whose_backups_all_finished_reports_so_and_exits_0(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = deployed(twin).outputs["StateMachineArn"]
    twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(1), lifecycle={"DeleteAfterDays": 35}
    )
    assert [e["status"] for e in closed_executions(twin, machine)] == ["SUCCEEDED"]
    twin.clock.advance(timedelta(hours=2).total_seconds())
    capsys.readouterr()  # the workflow's own log lines

    assert run(twin, [*STACK, "--json"]) == 0
    (place,) = json.loads(capsys.readouterr().out)["places"]
    assert (place["account"], place["region"], place["result"]) == (
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        "ok",
    )
    assert place["executions"]["SUCCEEDED"] == 1
    assert (place["originals"], place["stuckBackups"], place["errorQueueDepth"]) == (1, [], 0)
    assert set(place["alarms"].values()) == {"OK"}

    assert run(twin, STACK) == 0
    assert "all finished" in capsys.readouterr().out


def test_an_execution_that_failed_in_the_window_makes_it_exit_1(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = deployed(twin).outputs["StateMachineArn"]
    twin.backup.on_copy(fail="Access denied")
    twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(1))
    (failed,) = closed_executions(twin, machine)
    capsys.readouterr()  # the workflow's own log lines

    assert run(twin, STACK) == 1
    out = capsys.readouterr().out
    assert f"FAILED execution {failed['name']}" in out
    # Outside the window it no longer counts as a failure; the backup is still stuck.
    twin.clock.advance(timedelta(days=8).total_seconds())
    assert run(twin, [*STACK, "--json"]) == 1
    (place,) = json.loads(capsys.readouterr().out)["places"]
    assert place["executions"]["FAILED"] == 0
    assert [s["needs"] for s in place["stuckBackups"]] == ["attention"]


# -- failures a later execution made good ------------------------------------------------------

T0 = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def closed(name: str, point: str | None, hours: float, status: str = "SUCCEEDED") -> Closed:
    return Closed(name, status, T0 + timedelta(hours=hours), point)


def test_only_a_later_success_of_the_same_backup_finishes_a_failure() -> None:
    failed = [
        closed("a-failed", "rp-a", 1, "FAILED"),
        closed("b-timed-out", "rp-b", 1, "TIMED_OUT"),
        closed("no-point", None, 1, "ABORTED"),
    ]
    succeeded = [
        closed("b-before", "rp-b", 0.5),  # started before the failure: it did not finish it
        closed("other", "rp-c", 2),
        closed("a-rerun", "rp-a", 3),
        closed("a-again", "rp-a", 4),
    ]

    assert finishers(failed, succeeded) == {"a-failed": "a-rerun"}


def test_successes_are_read_only_until_every_failure_is_finished() -> None:
    read: list[str] = []

    def described() -> Iterator[Closed]:
        for success in (closed("first", "rp-a", 2), closed("never-needed", "rp-b", 3)):
            read.append(success.name)
            yield success

    assert finishers([closed("failed", "rp-a", 1, "FAILED")], described()) == {"failed": "first"}
    assert read == ["first"]
    assert finishers([closed("no-point", None, 1, "FAILED")], described()) == {}
    assert read == ["first"]  # nothing to match: nothing described


def two_failed_backups(twin: Twin) -> tuple[Stack, list[dict[str, Any]], list[str]]:
    """A stack and two backups whose executions failed (oldest first), the fault since fixed
    and the failures' messages read from the error queue and deleted."""
    stack = deployed(twin)
    machine = stack.outputs["StateMachineArn"]
    fault = twin.backup.on_copy(fail="Access denied")
    jobs = []
    for n in (1, 2):
        jobs.append(twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(n)))
        twin.clock.advance(60)
    failed = sorted(closed_executions(twin, machine), key=lambda e: e["startDate"])
    assert [e["status"] for e in failed] == ["FAILED", "FAILED"]
    twin.backup.copy_rules.remove(fault)
    twin.client("sqs").purge_queue(QueueUrl=stack.outputs["ErrorQueueUrl"])
    return stack, failed, [twin.backup.jobs[j].recovery_point_arn or "" for j in jobs]


@pytest.mark.usefixtures("wide")
def test_a_failure_its_rerun_finished_is_shown_with_the_rerun_and_exits_0(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, failed, _ = two_failed_backups(twin)
    machine = stack.outputs["StateMachineArn"]
    assert run(twin, ["rerun", "--state-machine-arn", machine, "--apply"]) == 0
    twin.run_until_quiet()
    after = executions_of(twin, machine)
    reruns = {e["name"]: e["status"] for e in after if "-rerun-" in e["name"]}
    assert set(reruns.values()) == {"SUCCEEDED"}
    capsys.readouterr()

    assert run(twin, STACK) == 0

    out = capsys.readouterr().out
    for execution in failed:
        finisher = rerun_name(execution["name"], execution["executionArn"])
        assert finisher in reruns
        assert f"FAILED execution {execution['name']} " in out
        assert f", finished by {finisher}" in out
    assert "all finished; 2 unsuccessful execution(s) finished by a later one" in out
    assert "0 that no later one finished, 2 finished by a later one" in out


def test_a_reconciliation_that_finished_one_backup_resolves_only_that_failure(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, failed, points = two_failed_backups(twin)
    machine = stack.outputs["StateMachineArn"]
    # What the scheduled reconciliation starts for a backup it finds unfinished: a "Backup
    # Needs Finishing" event whose resources[0] is the recovery point.
    now = twin.clock.now()
    name = execution_name(points[0], now)
    event = finish_request(
        event_id=name,
        account=RESOURCE_ACCOUNT,
        region=MAIN_REGION,
        time=now.isoformat(),
        recovery_point_arn=points[0],
        vault_arn=f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:backup-vault:{VAULT}",
        reason="no verified copy",
    )
    twin.client("stepfunctions").start_execution(
        stateMachineArn=machine, name=name, input=json.dumps(event)
    )
    twin.run_until_quiet()
    capsys.readouterr()

    assert run(twin, [*STACK, "--json"]) == 1

    report = json.loads(capsys.readouterr().out)
    (place,) = report["places"]
    assert place["executions"]["FAILED"] == 2  # still counted
    assert place["executions"]["SUCCEEDED"] == 1
    by_name = {f["name"]: f for f in place["failedExecutions"]}
    finished, unfinished = (by_name[e["name"]] for e in failed)
    assert (finished["recoveryPointArn"], finished["finishedBy"]) == (points[0], name)
    assert (unfinished["recoveryPointArn"], unfinished["finishedBy"]) == (points[1], None)
    assert place["unsuccessful"] == {"resolved": 1, "unresolved": 1}
    assert place["summary"] == (
        "1 stuck backup(s); 1 unsuccessful execution(s) that no later one finished; "
        "1 unsuccessful execution(s) finished by a later one"
    )
    assert report["totals"]["unsuccessful"] == {"resolved": 1, "unresolved": 1}


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--since", "soon"], "--since 'soon' is neither"), (["--backups-since", "x"], "neither")],
)
def test_bad_windows_exit_2(
    twin: Twin, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert run(twin, [*STACK, *options]) == 2
    assert message in capsys.readouterr().err
