"""backup-events backfill: catching up on backups the workflow never saw, and only on those."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backup_events import backfill
from backup_events.aws import ConfigError
from backup_events.backfill import Place, plan_point, settings_from_stack
from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import PlanInfo
from local.stacks import STACK_NAME, Stack, deploy_stack, quick_start_parameters
from local.twin import Twin
from local.workflow import Settings, sample_vault_policy
from tasks.copies import Deployment
from tasks.trigger import read_trigger
from tests.cli.conftest import EFS, executions_of, run

NOW = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
VAULT = "BackupEvents-Sample"
SOURCE_VAULT = f"arn:aws:backup:us-east-1:{RESOURCE_ACCOUNT}:backup-vault:{VAULT}"
ROLE = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"
TO_BACKUP_REGION = f"arn:aws:backup:us-west-2:{BACKUP_ACCOUNT}:backup-vault:{VAULT}"
TO_THIS_REGION = f"arn:aws:backup:us-east-1:{BACKUP_ACCOUNT}:backup-vault:{VAULT}"
DEPLOYMENT = Deployment(BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, VAULT)
SETTINGS = backfill.Settings(DEPLOYMENT, new_delete_after_days=7)
PLACE = Place("aws", RESOURCE_ACCOUNT, MAIN_REGION)
PLAN = {
    "BackupPlanId": "plan-1",
    "BackupPlanArn": f"arn:aws:backup:us-east-1:{RESOURCE_ACCOUNT}:backup-plan:plan-1",
    "BackupPlanVersion": "v1",
    "BackupRuleId": "rule-1",
}


def point(
    *,
    point_id: str = "rp-1",
    age_days: float = 2,
    lifecycle: dict[str, Any] | None = None,
    status: str = "COMPLETED",
    storage: str = "WARM",
    created_by: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A DescribeRecoveryPoint answer, as JSON (what the planner reads)."""
    created = NOW - timedelta(days=age_days)
    described: dict[str, Any] = {
        "RecoveryPointArn": f"arn:aws:backup:us-east-1:{RESOURCE_ACCOUNT}:recovery-point:"
        + point_id,
        "BackupVaultName": VAULT,
        "BackupVaultArn": SOURCE_VAULT,
        "ResourceArn": EFS.format(1),
        "ResourceType": "EFS",
        "IamRoleArn": ROLE,
        "Status": status,
        "StorageClass": storage,
        "CreationDate": created.isoformat(),
        "CompletionDate": (created + timedelta(minutes=10)).isoformat(),
        "BackupSizeInBytes": 36048,
        "Lifecycle": {"DeleteAfterDays": 35} if lifecycle is None else lifecycle,
        "CalculatedLifecycle": {},
    }
    if created_by:
        described["CreatedBy"] = created_by
    return described


def copy_job(
    destination: str,
    state: str = "COMPLETED",
    *,
    job: str = "C1",
    hours: int = 1,
    plan: bool = False,
) -> dict[str, Any]:
    created = NOW - timedelta(days=2) + timedelta(hours=hours)
    found: dict[str, Any] = {
        "CopyJobId": job,
        "SourceRecoveryPointArn": point()["RecoveryPointArn"],
        "SourceBackupVaultArn": SOURCE_VAULT,
        "DestinationBackupVaultArn": destination,
        "State": state,
        "CreationDate": created.isoformat(),
        "ResourceArn": EFS.format(1),
        "ResourceType": "EFS",
        "IamRoleArn": ROLE,
        "BackupSizeInBytes": 36048,
    }
    if state == "COMPLETED":
        found["CompletionDate"] = (created + timedelta(minutes=30)).isoformat()
        found["DestinationRecoveryPointArn"] = (
            f"arn:aws:backup:{destination.split(':')[3]}:{BACKUP_ACCOUNT}:recovery-point:copy-{job}"
        )
    if plan:
        found["CreatedBy"] = PLAN
    return found


BOTH_COPIES = [copy_job(TO_BACKUP_REGION, job="C1"), copy_job(TO_THIS_REGION, job="C2", hours=2)]


def accepted_by_the_workflow(event: dict[str, Any] | None, copy_scheduled: bool = False) -> Any:
    return read_trigger(
        event,
        account=RESOURCE_ACCOUNT,
        region=MAIN_REGION,
        deployment=DEPLOYMENT,
        copy_scheduled_backups=copy_scheduled,
    )


# -- planning ----------------------------------------------------------------------------------


def test_an_on_demand_backup_without_copies_gets_the_event_aws_would_have_sent() -> None:
    missed = point()
    planned = plan_point(missed, [], settings=SETTINGS, place=PLACE, now=NOW)

    assert planned.action == "start"
    assert "no COMPLETED copy in us-west-2, us-east-1" in planned.reason
    event = planned.event
    assert event is not None
    assert (event["detail-type"], event["detail"]["state"]) == (
        "Backup Job State Change",
        "COMPLETED",
    )
    assert "createdBy" not in event["detail"]
    trigger = accepted_by_the_workflow(event)
    assert (trigger.kind, trigger.recovery_point_arn) == ("BackupJob", missed["RecoveryPointArn"])
    # Planned again, the same point in the same state gets the same name and input, which makes
    # StartExecution idempotent (aws-facts.md §C.2).
    again = plan_point(missed, [], settings=SETTINGS, place=PLACE, now=NOW)
    assert (again.execution_name, again.event) == (planned.execution_name, planned.event)
    assert planned.execution_name is not None
    assert planned.execution_name.startswith("backfill-")


def test_both_copies_and_a_cut_retention_leave_nothing_to_do() -> None:
    planned = plan_point(
        point(lifecycle={"DeleteAfterDays": 8}),
        BOTH_COPIES,
        settings=SETTINGS,
        place=PLACE,
        now=NOW,
    )
    assert planned.action == "done"


def test_an_old_backup_cut_to_its_age_plus_a_day_is_not_started_again() -> None:
    # 30 days old, cut to 31 days (age + 1, more than NewDeleteAfterDays + 1 = 8): done. A rule
    # comparing with NewDeleteAfterDays + 1 only would start it again on every run.
    cut = point(age_days=29.5, lifecycle={"DeleteAfterDays": 31})
    assert plan_point(cut, BOTH_COPIES, settings=SETTINGS, place=PLACE, now=NOW).action == "done"


def test_a_never_expiring_backup_with_both_copies_still_needs_its_cut() -> None:
    planned = plan_point(point(lifecycle={}), BOTH_COPIES, settings=SETTINGS, place=PLACE, now=NOW)
    assert planned.action == "start"
    assert planned.reason == "retention not cut yet (no expiry, would be 8 days)"


def test_with_lifecycle_updates_off_only_missing_copies_count() -> None:
    copies_only = backfill.Settings(DEPLOYMENT, 7, cut_enabled=False)
    planned = plan_point(
        point(lifecycle={}), BOTH_COPIES, settings=copies_only, place=PLACE, now=NOW
    )
    assert planned.action == "done"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"point_id": "continuous:abc"}, "continuous (point-in-time) backup"),
        ({"storage": "COLD", "lifecycle": {"MoveToColdStorageAfterDays": 1}}, "in cold storage"),
        ({"storage": "DELETED"}, "status COMPLETED, storage DELETED"),
        ({"status": "EXPIRED"}, "status EXPIRED"),
    ],
)
def test_points_the_workflow_cannot_handle_are_skipped_with_a_reason(
    changes: dict[str, Any], reason: str
) -> None:
    planned = plan_point(point(**changes), [], settings=SETTINGS, place=PLACE, now=NOW)
    assert planned.action == "skip"
    assert reason in planned.reason


@pytest.mark.parametrize("made_by_plan", [False, True])
def test_a_cold_original_whose_only_pending_step_is_the_cut_waits_for_a_plan_copy_event(
    made_by_plan: bool,
) -> None:
    # Copies exist (made by this workflow, not by a plan): only a backup job event could
    # trigger the cut, and the workflow refuses cold originals on that path.
    cold = point(
        storage="COLD",
        lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 1},
        created_by=PLAN if made_by_plan else None,
    )
    planned = plan_point(cold, BOTH_COPIES, settings=SETTINGS, place=PLACE, now=NOW)
    assert planned.action == "skip"
    assert planned.reason.startswith("in cold storage; the workflow cuts only warm backups")


def test_a_cold_plan_backup_with_plan_copies_is_cut_through_the_plan_path() -> None:
    plan_copies = [
        copy_job(TO_BACKUP_REGION, job="P1", plan=True),
        copy_job(TO_THIS_REGION, job="P2", hours=3, plan=True),
    ]
    cold = point(
        storage="COLD",
        lifecycle={"DeleteAfterDays": 365, "MoveToColdStorageAfterDays": 1},
        created_by=PLAN,
    )
    planned = plan_point(cold, plan_copies, settings=SETTINGS, place=PLACE, now=NOW)
    assert planned.action == "start"
    assert accepted_by_the_workflow(planned.event).kind == "PlanCopyJob"


def test_a_point_with_a_running_execution_is_skipped() -> None:
    planned = plan_point(
        point(), [], settings=SETTINGS, place=PLACE, now=NOW, running_execution="abc-123"
    )
    assert (planned.action, planned.reason) == (
        "skip",
        "execution abc-123 is already running for it",
    )


def test_a_plan_backup_with_both_plan_copies_gets_the_latest_plan_copy_event() -> None:
    plan_copies = [
        copy_job(TO_BACKUP_REGION, job="P1", plan=True),
        copy_job(TO_THIS_REGION, job="P2", hours=3, plan=True),
    ]
    planned = plan_point(
        point(created_by=PLAN), plan_copies, settings=SETTINGS, place=PLACE, now=NOW
    )

    assert planned.action == "start"
    event = planned.event
    assert event is not None
    assert event["detail-type"] == "Copy Job State Change"
    assert event["detail"]["copyJobId"] == "P2"
    assert event["detail"]["createdBy"]["backupPlanRuleId"] == "rule-1"
    trigger = accepted_by_the_workflow(event)
    assert (trigger.kind, trigger.job_id) == ("PlanCopyJob", "P2")


def test_a_plan_backup_missing_a_plan_copy_is_reported_not_copied() -> None:
    one_copy = [copy_job(TO_BACKUP_REGION, job="P1", plan=True)]
    planned = plan_point(point(created_by=PLAN), one_copy, settings=SETTINGS, place=PLACE, now=NOW)

    assert planned.action == "attention"
    assert "no COMPLETED copy in us-east-1" in planned.reason
    assert planned.event is None


def test_include_plan_backups_copies_it_with_the_workflow() -> None:
    planned = plan_point(
        point(created_by=PLAN), [], settings=SETTINGS, place=PLACE, now=NOW,
        include_plan_backups=True,
    )  # fmt: skip
    assert planned.action == "start"
    # Without createdBy, a deployment that leaves plan backups to their plans still copies it.
    assert accepted_by_the_workflow(planned.event).kind == "BackupJob"


def test_a_plan_copy_still_running_is_waited_for() -> None:
    running = [copy_job(TO_BACKUP_REGION, job="P1", plan=True), copy_job(TO_THIS_REGION, "RUNNING")]
    planned = plan_point(point(created_by=PLAN), running, settings=SETTINGS, place=PLACE, now=NOW)
    assert (planned.action, planned.reason) == (
        "skip",
        "the plan's copy to us-east-1 is still in progress",
    )


# -- the real workflow in the twin --------------------------------------------------------------


def deployed(twin: Twin, **parameters: str) -> Stack:
    """The real template as a stack in the resource account, the backup account's vaults."""
    for region in (MAIN_REGION, BACKUP_REGION):
        twin.create_vault(BACKUP_ACCOUNT, region, VAULT, policy=sample_vault_policy(Settings()))
    return deploy_stack(twin, RESOURCE_ACCOUNT, MAIN_REGION, quick_start_parameters(**parameters))


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
    assert executions_of(twin, state_machine_of(stack)) == []  # nobody noticed them
    writes = len(twin.backup.write_calls())

    # The dry run shows the plan and writes nothing.
    assert backfill_run(twin) == 0
    out = capsys.readouterr().out
    assert "0 done, 3 to start, 1 skipped, 0 need attention" in out
    assert "continuous (point-in-time) backup" in out
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

        assert backfill_run(twin, "--apply") == 0
        out = capsys.readouterr().out
        assert f"execution {running['name']} is already running for it" in out
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

    assert backfill_run(twin, "--apply") == 1  # one point needs a person
    out = capsys.readouterr().out
    assert "made by a backup plan whose copy rules left no COMPLETED copy" in out
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

    assert backfill_run(twin, "--apply") == 0
    assert "Nothing to do (1 done, 0 to start" in capsys.readouterr().out


def test_settings_are_the_stack_parameters_and_a_typo_in_them_is_named() -> None:
    parameters = quick_start_parameters(VaultName=VAULT, NewDeleteAfterDays="9")
    settings = settings_from_stack({**parameters, "CopyScheduledBackups": "true"})
    assert (settings.vault_name, settings.new_delete_after_days) == (VAULT, 9)
    assert (settings.copy_scheduled_backups, settings.cut_enabled) == (True, True)
    assert not settings_from_stack(parameters, copies_only=True).cut_enabled
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
    assert f"no vault 'Gone' in account {RESOURCE_ACCOUNT}, us-east-1" in error_line(capsys)


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
