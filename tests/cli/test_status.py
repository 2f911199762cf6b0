"""backup-events status for one stack: all finished, or what is not, and its exit code."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.cli.conftest import EFS, VAULT, closed_executions, deployed, run

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


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--since", "soon"], "--since 'soon' is neither"), (["--backups-since", "x"], "neither")],
)
def test_bad_windows_exit_2(
    twin: Twin, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert run(twin, [*STACK, *options]) == 2
    assert message in capsys.readouterr().err
