"""backup-events backfill: catching up on backups the workflow never finished, and only on those.

What a backup still needs is the workflow's own rule (tasks/needs.py, tested with the tasks);
these tests run the command against the real template in the twin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from backup_events.aws import ConfigError
from backup_events.survey import settings_from_stack
from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import PlanInfo
from local.stacks import STACK_NAME, Stack, quick_start_parameters
from local.twin import Twin
from tests.cli.conftest import EFS, VAULT, deployed, executions_of, run

TO_BACKUP_REGION = f"arn:aws:backup:us-west-2:{BACKUP_ACCOUNT}:backup-vault:{VAULT}"
TO_THIS_REGION = f"arn:aws:backup:us-east-1:{BACKUP_ACCOUNT}:backup-vault:{VAULT}"


def quiet_deployment(twin: Twin) -> Stack:
    """A deployment whose EventBridge rules are disabled: every backup goes unnoticed."""
    stack = deployed(twin)
    events = twin.client("events", RESOURCE_ACCOUNT, MAIN_REGION)
    for rule in events.list_rules()["Rules"]:
        events.disable_rule(Name=rule["Name"])
    return stack


def state_machine_of(stack: Stack) -> str:
    return stack.outputs["StateMachineArn"]


def backfill_run(twin: Twin, *extra: str) -> int:
    return run(twin, ["backfill", "--stack-name", STACK_NAME, "--region", MAIN_REGION, *extra])


@pytest.mark.usefixtures("wide")
def test_backups_missed_while_the_rules_were_off_get_two_copies_and_a_cut(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = quiet_deployment(twin)
    jobs = [
        twin.backup.start_backup(
            RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(n), lifecycle={"DeleteAfterDays": 35}
        )
        for n in range(3)
    ]
    twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(9), continuous=True)
    twin.run_until_quiet()
    twin.clock.advance(timedelta(hours=2).total_seconds())  # past the hour an event may take
    assert executions_of(twin, state_machine_of(stack)) == []  # nobody noticed them
    writes = len(twin.backup.write_calls())

    # The dry run shows the plan and writes nothing.
    assert backfill_run(twin) == 0
    out = capsys.readouterr().out
    assert "0 done, 3 to start, 1 skipped, 0 need attention" in out
    assert "continuous backup" in out
    assert len(twin.backup.write_calls()) == writes
    assert executions_of(twin, state_machine_of(stack)) == []

    assert backfill_run(twin, "--apply", "--rate", "0.5") == 0
    assert "3 execution(s) started, 0 failed" in capsys.readouterr().out
    # At most half an execution a second: two waits of 2 s between the three starts.
    assert [s.seconds for s in twin.clock.sleeps if s.reason == "backup-events"] == [2.0, 2.0]
    twin.run_until_quiet()

    assert {e["status"] for e in executions_of(twin, state_machine_of(stack))} == {"SUCCEEDED"}
    for job in jobs:
        original = twin.backup.points[twin.backup.jobs[job].recovery_point_arn or ""]
        copies = [
            (p.account, p.region)
            for p in twin.backup.points.values()
            if p.source_backup_vault_arn == original.vault_arn
            and p.resource_arn == original.resource_arn
        ]
        assert sorted(copies) == [(BACKUP_ACCOUNT, MAIN_REGION), (BACKUP_ACCOUNT, BACKUP_REGION)]
        assert original.lifecycle == {"DeleteAfterDays": 8}

    # A second run finds nothing to do and starts nothing.
    assert backfill_run(twin, "--apply") == 0
    assert "Nothing to do (3 done, 0 to start, 1 skipped" in capsys.readouterr().out
    assert len(executions_of(twin, state_machine_of(stack))) == 3


@contextmanager
def describe_task_held(twin: Twin) -> Iterator[None]:
    """Executions stop (RUNNING) in their first task until the block ends."""
    from tasks.describe_recovery_point import handler

    gate = threading.Event()

    def held(event: Any, context: Any) -> Any:
        gate.wait(timeout=20)
        return handler(event, context)

    twin.lambdas.register("BackupEvents-DescribeRecoveryPoint", held)
    try:
        yield
    finally:
        gate.set()
        twin.lambdas.register("BackupEvents-DescribeRecoveryPoint", handler)


@pytest.mark.usefixtures("wide")
def test_a_point_whose_execution_is_running_is_not_started_twice(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    # This time the rules are on: the backup's own event starts an execution (named by
    # EventBridge, not by the backfill), which is still RUNNING when the backfill looks.
    stack = deployed(twin)
    with describe_task_held(twin):
        twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(1))
        twin.clock.advance(twin.backup.backup_duration.total_seconds())
        (running,) = executions_of(twin, state_machine_of(stack))
        assert running["status"] == "RUNNING"
        # Two hours on, its execution is still working on it (the hour's grace is over).
        twin.clock.advance(timedelta(hours=2).total_seconds())

        assert backfill_run(twin, "--apply") == 0
        out = capsys.readouterr().out
        assert f"execution {running['executionArn']} is working on it" in out
        assert "0 to start" in out
        assert len(executions_of(twin, state_machine_of(stack))) == 1
    twin.run_until_quiet()


@pytest.mark.usefixtures("wide")
def test_plan_backups_are_cut_once_plan_copies_exist_and_reported_when_they_do_not(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = quiet_deployment(twin)
    destinations = [TO_BACKUP_REGION, TO_THIS_REGION]
    copied = twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(1), lifecycle={"DeleteAfterDays": 35},
        plan=PlanInfo(), copy_actions=destinations,
    )  # fmt: skip
    uncopied = twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(2), lifecycle={"DeleteAfterDays": 35},
        plan=PlanInfo(),
    )  # fmt: skip
    twin.run_until_quiet()
    twin.clock.advance(timedelta(hours=2).total_seconds())

    assert backfill_run(twin, "--apply") == 1  # one point needs a person
    out = capsys.readouterr().out
    assert "made by a backup plan that copied it to neither destination" in out
    twin.run_until_quiet()

    (execution,) = executions_of(twin, state_machine_of(stack))
    assert execution["status"] == "SUCCEEDED"
    points = twin.backup.points
    assert points[twin.backup.jobs[copied].recovery_point_arn or ""].lifecycle == {
        "DeleteAfterDays": 8
    }
    uncopied_point = points[twin.backup.jobs[uncopied].recovery_point_arn or ""]
    assert uncopied_point.lifecycle == {"DeleteAfterDays": 35}
    plan_copy_jobs = [j for j in twin.backup.jobs.values() if j.kind == "copy"]
    assert len(plan_copy_jobs) == 2  # the plan's own: the workflow copied nothing again


@pytest.mark.usefixtures("wide")
def test_the_stack_says_retention_is_kept_so_copied_backups_are_done(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real template, deployed with EnableUpdateLifecycle=false: the workflow copies and
    # keeps the original's retention. The settings are the stack's parameters, so the backfill
    # judges the point exactly as the workflow did.
    deployed(twin, EnableUpdateLifecycle="false")
    twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(1), lifecycle={"DeleteAfterDays": 35}
    )
    twin.run_until_quiet()
    twin.clock.advance(timedelta(hours=2).total_seconds())

    assert backfill_run(twin, "--apply") == 0
    assert "Nothing to do (1 done, 0 to start" in capsys.readouterr().out


def test_settings_are_the_stack_parameters_and_a_typo_in_them_is_named() -> None:
    parameters = quick_start_parameters(VaultName=VAULT, NewDeleteAfterDays="9")
    settings = settings_from_stack({**parameters, "CopyScheduledBackups": "true"})
    assert (settings.deployment.vault_name, settings.new_delete_after_days) == (VAULT, 9)
    assert (settings.copy_scheduled_backups, settings.cut_enabled) == (True, True)
    assert not settings_from_stack({**parameters, "EnableUpdateLifecycle": "false"}).cut_enabled
    with pytest.raises(ConfigError, match="unknown BackupRegion 'us-wset-2'"):
        settings_from_stack({**parameters, "BackupRegion": "us-wset-2"})
    with pytest.raises(ConfigError, match="no VaultName parameter"):
        settings_from_stack({k: v for k, v in parameters.items() if k != "VaultName"})


# -- configuration errors: one line, exit code 2 ----------------------------------------------


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_unknown_vault(twin: Twin, capsys: pytest.CaptureFixture[str]) -> None:
    # A stack watching a vault that does not exist (it created none) in its account and Region.
    deployed(twin, VaultName="Gone", CreateSampleVault="false")
    assert backfill_run(twin) == 2
    assert "cannot survey the vault Gone" in error_line(capsys)


def test_no_stack(twin: Twin, capsys: pytest.CaptureFixture[str]) -> None:
    assert backfill_run(twin) == 2
    assert f"no stack '{STACK_NAME}' in us-east-1" in error_line(capsys)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--since", "2d", "--until", "3d"], "must be before --until"),
        (["--since", "tomorrow"], "--since 'tomorrow' is neither"),
        (["--concurrency", "0"], "--concurrency must be at least 1"),
        (["--rate", "0"], "--rate must be more than 0"),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(
    twin: Twin, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert backfill_run(twin, *options) == 2
    assert message in error_line(capsys)
