"""backup-events rerun: what an operator sees and gets when re-running failed executions.

moto has no RedriveExecution, so that path runs against botocore's Stubber; everything else
runs the real workflow in the twin.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from backup_events import rerun
from backup_events.main import main
from backup_events.rerun import ExecutionInfo, plan_rerun, rerun_name
from backup_events.targets import StateMachine
from backup_events.times import parse_window
from local.accounts import BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.cli.conftest import (
    EFS,
    VAULT,
    closed_executions,
    deployed,
    executions_of,
    printed,
    recording_console,
    run,
)

NOW = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
SM_ARN = "arn:aws:states:us-east-1:000022224444:stateMachine:BackupEvents"
EVENT = json.dumps({"source": "aws.backup", "detail-type": "Backup Job State Change"})


def execution(
    name: str = "0c1d2e3f-aaaa-bbbb-cccc-000000000001",
    *,
    status: str = "FAILED",
    closed_days_ago: float = 2,
    error: str | None = "CopyJobFailed",
    input: str | None = EVENT,
    redrive_status: str | None = None,
) -> ExecutionInfo:
    stop = NOW - timedelta(days=closed_days_ago)
    return ExecutionInfo(
        arn=f"arn:aws:states:us-east-1:000022224444:execution:BackupEvents:{name}",
        name=name,
        status=status,
        start=stop - timedelta(hours=3),
        stop=stop,
        input=input,
        error=error,
        redrive_status=redrive_status,
    )


def state_machine(workflow_type: str = "STANDARD") -> StateMachine:
    return StateMachine(SM_ARN, "aws", "us-east-1", RESOURCE_ACCOUNT, "BackupEvents", workflow_type)


# -- planning --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_standard_execution_closed_less_than_14_days_ago_is_redriven(status: str) -> None:
    planned = plan_rerun(
        execution(status=status, closed_days_ago=13.9), workflow_type="STANDARD", now=NOW
    )
    assert planned.action == "redrive"


def test_after_14_days_it_is_started_again_under_a_new_valid_name() -> None:
    old = execution(closed_days_ago=14)
    planned = plan_rerun(old, workflow_type="STANDARD", now=NOW)

    assert planned.action == "start"
    assert "closed 14 days ago" in planned.reason
    assert planned.new_name == rerun_name(old.name, old.arn)
    assert planned.new_name is not None
    assert planned.new_name.startswith(f"{old.name}-rerun-")


def test_rerun_names_are_valid_deterministic_and_distinct() -> None:
    long_odd = "x" * 75 + ".é+"  # valid for AWS, but not for CloudWatch Logs-friendly names
    names = {
        rerun_name(long_odd, "arn:1"),
        rerun_name(long_odd, "arn:2"),
        rerun_name("a", "arn:1"),
    }
    assert len(names) == 3
    for name in names:
        # 1-80 characters, and only those that also suit CloudWatch Logs (§C.2).
        assert 1 <= len(name) <= 80
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name), name
    assert rerun_name(long_odd, "arn:1") == rerun_name(long_odd, "arn:1")


def test_a_failure_caught_into_a_fail_state_is_started_again_not_redriven() -> None:
    # A redrive restarts at the unsuccessful step: here the Fail state, which fails again.
    caught = replace(execution(closed_days_ago=1), ended_in_fail_state="CopyingFailed")
    planned = plan_rerun(caught, workflow_type="STANDARD", now=NOW)
    assert planned.action == "start"
    assert "ended in the Fail state CopyingFailed" in planned.reason


def test_aws_saying_not_redrivable_wins_over_the_14_day_rule() -> None:
    planned = plan_rerun(
        execution(closed_days_ago=1, redrive_status="NOT_REDRIVABLE"),
        workflow_type="STANDARD",
        now=NOW,
    )
    assert planned.action == "start"
    assert "AWS says it is not redrivable" in planned.reason


def test_express_workflows_are_started_again_never_redriven() -> None:
    planned = plan_rerun(execution(closed_days_ago=1), workflow_type="EXPRESS", now=NOW)
    assert (planned.action, planned.reason.endswith("EXPRESS workflows cannot be redriven")) == (
        "start",
        True,
    )


def test_no_redrive_asks_for_a_new_execution_even_when_a_redrive_is_possible() -> None:
    planned = plan_rerun(execution(), workflow_type="STANDARD", now=NOW, allow_redrive=False)
    assert planned.action == "start"


def test_an_input_the_workflow_refuses_is_not_rerun() -> None:
    planned = plan_rerun(execution(error="InvalidInput"), workflow_type="STANDARD", now=NOW)
    assert planned.action == "skip"
    assert "would fail the same way" in planned.reason


def test_an_execution_without_its_input_cannot_be_rerun_and_fails_the_run() -> None:
    planned = plan_rerun(execution(input=None), workflow_type="STANDARD", now=NOW)
    assert planned.action == "unable"
    report = rerun.RerunReport(SM_ARN, parse_window("7d", "now", NOW), [planned])
    assert report.exit_code == 1


def test_an_execution_already_rerun_is_not_rerun_twice() -> None:
    planned = plan_rerun(
        execution(closed_days_ago=30),
        workflow_type="STANDARD",
        now=NOW,
        existing_rerun_status="SUCCEEDED",
    )
    assert planned.action == "skip"
    assert "already re-run as" in planned.reason


def about(point: str, name: str, *, started_hours_ago: float) -> ExecutionInfo:
    """A failed execution whose input is an event about recovery point `point`."""
    event = json.dumps({"source": "aws.backup", "resources": [f"arn:aws:backup:{point}"]})
    found = execution(name, input=event)
    return replace(found, start=NOW - timedelta(hours=started_hours_ago))


def test_only_the_latest_failure_of_a_recovery_point_is_acted_on() -> None:
    # A duplicated event started two executions for point A; both failed.
    first = about("A", "first", started_hours_ago=5)
    duplicate = about("A", "duplicate", started_hours_ago=4)
    other = about("B", "other", started_hours_ago=3)
    unnamed = execution("no-event", input="[]")

    chosen, skipped = rerun.one_per_point([first, duplicate, other, unnamed], running={})

    assert [e.name for e in chosen] == ["duplicate", "other", "no-event"]
    (skip,) = skipped
    assert (skip.execution.name, skip.action) == ("first", "skip")
    assert skip.reason == "the later duplicate is about the same recovery point; only it is re-run"


def test_a_recovery_point_with_a_running_execution_is_left_alone() -> None:
    failed = about("A", "failed", started_hours_ago=5)
    chosen, skipped = rerun.one_per_point([failed], running={"arn:aws:backup:A": "still-going"})
    assert chosen == []
    assert [(p.action, p.reason) for p in skipped] == [
        ("skip", "execution still-going is running for its recovery point")
    ]


def test_the_reconciliation_event_names_its_recovery_point_too() -> None:
    # "Backup Needs Finishing" (source backup-events) carries the point in resources, as AWS
    # Backup's own events do.
    needs = {"source": "backup-events", "detail-type": "Backup Needs Finishing"}
    finishing = replace(
        execution(), input=json.dumps({**needs, "resources": ["arn:aws:backup:rp"]})
    )
    assert finishing.recovery_point == "arn:aws:backup:rp"


# -- RedriveExecution, through botocore's Stubber ----------------------------------------------


def listed(info: ExecutionInfo) -> dict[str, Any]:
    return {
        "executionArn": info.arn,
        "stateMachineArn": SM_ARN,
        "name": info.name,
        "status": info.status,
        "startDate": info.start,
        "stopDate": info.stop,
    }


def described(info: ExecutionInfo) -> dict[str, Any]:
    found = {**listed(info), "input": info.input, "error": info.error, "redriveCount": 0}
    return {k: v for k, v in found.items() if v is not None}


def stubbed_client() -> tuple[Any, Stubber]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return sfn, Stubber(sfn)


def history_ending_in(state_type: str, name: str) -> dict[str, Any]:
    """GetExecutionHistory, newest first (reverseOrder), of an execution that failed there."""
    return {
        "events": [
            {"id": 9, "timestamp": NOW, "type": "ExecutionFailed"},
            {
                "id": 8,
                "timestamp": NOW,
                "type": state_type,
                "stateEnteredEventDetails": {"name": name},
            },
        ]
    }


def nothing_running(stub: Stubber) -> None:
    """ListExecutions of the RUNNING ones: none is working on any recovery point."""
    stub.add_response(
        "list_executions",
        {"executions": []},
        {"stateMachineArn": SM_ARN, "statusFilter": "RUNNING", "maxResults": 1000},
    )


def test_apply_redrives_a_recent_failure_and_restarts_an_old_one() -> None:
    # The recent one failed in a task without a Catch for its error (States.Runtime): a
    # redrive runs that task again. The old one is past the 14 days.
    recent = execution("recent-failure", closed_days_ago=2, error="States.Runtime")
    old = execution("old-timeout", status="TIMED_OUT", closed_days_ago=20, error="States.Timeout")
    new_name = rerun_name(old.name, old.arn)
    sfn, stub = stubbed_client()
    stub.add_response("list_executions", {"executions": [listed(recent)]})
    stub.add_response("describe_execution", described(recent), {"executionArn": recent.arn})
    stub.add_response("list_executions", {"executions": [listed(old)]})
    stub.add_response("describe_execution", described(old), {"executionArn": old.arn})
    nothing_running(stub)
    # Planning looks for an earlier re-run of the old one under its deterministic name ...
    stub.add_client_error(
        "describe_execution",
        "ExecutionDoesNotExist",
        expected_params={"executionArn": old.arn.rsplit(":", 1)[0] + f":{new_name}"},
    )
    # ... and at where the recent one failed: not in a Fail state.
    stub.add_response(
        "get_execution_history",
        history_ending_in("TaskStateEntered", "VerifyCopies"),
        {
            "executionArn": recent.arn,
            "reverseOrder": True,
            "maxResults": 20,
            "includeExecutionData": False,
        },
    )
    # Applied oldest first: the old one is started again with its own input ...
    stub.add_response(
        "start_execution",
        {"executionArn": f"{old.arn}-new", "startDate": NOW},
        {"stateMachineArn": SM_ARN, "name": new_name, "input": EVENT},
    )
    # ... and the recent one is redriven, keeping its ARN.
    stub.add_response(
        "redrive_execution",
        {"redriveDate": NOW},
        {"executionArn": recent.arn, "clientToken": ANY},
    )
    console = recording_console()
    with stub:
        report = rerun.rerun(
            sfn,
            state_machine(),
            window=parse_window("30d", "now", NOW),
            now=NOW,
            apply=True,
            statuses=("FAILED", "TIMED_OUT"),
            console=console,
        )
        stub.assert_no_pending_responses()

    assert report.exit_code == 0
    assert [(o.plan.action, o.ok) for o in report.outcomes] == [("start", True), ("redrive", True)]
    assert report.outcomes[1].execution_arn == recent.arn
    output = printed(console)
    assert f"started {new_name}" in output
    assert "recent-failure: redriven" in output
    assert "1 to redrive, 1 to start again" in output


def test_a_redrive_refused_by_aws_falls_back_to_a_new_execution() -> None:
    failed = execution("history-too-long", status="ABORTED", closed_days_ago=1, error=None)
    sfn, stub = stubbed_client()
    stub.add_response("list_executions", {"executions": [listed(failed)]})
    stub.add_response("describe_execution", described(failed))
    nothing_running(stub)
    stub.add_client_error(
        "redrive_execution", "ExecutionNotRedrivable", "Execution history event limit exceeded."
    )
    stub.add_response(
        "start_execution",
        {"executionArn": f"{failed.arn}-new", "startDate": NOW},
        {"stateMachineArn": SM_ARN, "name": rerun_name(failed.name, failed.arn), "input": EVENT},
    )
    with stub:
        report = rerun.rerun(
            sfn,
            state_machine(),
            window=parse_window("7d", "now", NOW),
            now=NOW,
            apply=True,
            statuses=("ABORTED",),
            console=recording_console(),
        )
        stub.assert_no_pending_responses()

    (outcome,) = report.outcomes
    assert outcome.ok
    assert "redrive refused (ExecutionNotRedrivable" in outcome.detail
    assert report.exit_code == 0


def test_a_start_that_fails_makes_exit_code_1() -> None:
    old = execution("old", closed_days_ago=20)
    sfn, stub = stubbed_client()
    stub.add_response("list_executions", {"executions": [listed(old)]})
    stub.add_response("describe_execution", described(old))
    nothing_running(stub)
    stub.add_client_error("describe_execution", "ExecutionDoesNotExist")
    stub.add_client_error("start_execution", "ExecutionLimitExceeded", "Too many executions")
    console = recording_console()
    with stub:
        report = rerun.rerun(
            sfn,
            state_machine(),
            window=parse_window("30d", "now", NOW),
            now=NOW,
            apply=True,
            statuses=("FAILED",),
            console=console,
        )

    assert report.exit_code == 1
    assert "FAILED old: StartExecution failed: ExecutionLimitExceeded" in printed(console)


# -- the real workflow in the twin --------------------------------------------------------------


def copy_jobs_of(twin: Twin, recovery_point_arn: str) -> dict[str, list[str]]:
    """Each destination Region's copy job states for one original."""
    states: dict[str, list[str]] = {}
    for job in twin.backup.jobs.values():
        if job.kind == "copy" and job.source_recovery_point_arn == recovery_point_arn:
            states.setdefault(job.destination_region or "", []).append(job.state)
    return states


def failed_backup(twin: Twin, fault: Any) -> tuple[str, str, dict[str, Any]]:
    """A deployed stack, and a backup whose execution failed; (state machine, point, execution)."""
    machine = deployed(twin).outputs["StateMachineArn"]
    job = twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS.format(1), lifecycle={"DeleteAfterDays": 35}
    )
    (failed,) = closed_executions(twin, machine)
    twin.backup.copy_rules.remove(fault)
    return machine, twin.backup.jobs[job].recovery_point_arn or "", failed


def test_a_failure_older_than_14_days_is_rerun_without_copying_again(twin: Twin) -> None:
    # Copy 2 fails once (a transient quota problem); copy 1 completed before it.
    fault = twin.backup.on_copy(lambda j: j.destination_region == MAIN_REGION, fail="Quota")
    machine, point, failed = failed_backup(twin, fault)
    assert failed["status"] == "FAILED"
    twin.clock.advance(timedelta(days=15).total_seconds())  # past the redrive period
    argv = ["rerun", "--stack-name", "BackupEvents", "--region", MAIN_REGION, "--since", "30d"]
    writes = len(twin.backup.write_calls())

    assert run(twin, argv) == 0  # dry run
    assert len(executions_of(twin, machine)) == 1
    assert len(twin.backup.write_calls()) == writes

    assert run(twin, [*argv, "--apply"]) == 0
    statuses = {e["name"]: e["status"] for e in closed_executions(twin, machine)}
    assert statuses == {
        failed["name"]: "FAILED",
        rerun_name(failed["name"], failed["executionArn"]): "SUCCEEDED",
    }
    states = copy_jobs_of(twin, point)
    assert states[BACKUP_REGION] == ["COMPLETED"]  # reused: no second copy job
    assert sorted(states[MAIN_REGION]) == ["COMPLETED", "FAILED"]
    assert twin.backup.points[point].lifecycle["DeleteAfterDays"] < 35  # cut once verified

    # Running it again re-runs nothing: the re-run is found by its name.
    assert run(twin, [*argv, "--apply"]) == 0
    assert len(executions_of(twin, machine)) == 2


@pytest.mark.usefixtures("wide")
def test_a_recent_failure_caught_by_the_workflow_is_planned_anew_and_nothing_is_written(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    machine, _, failed = failed_backup(twin, twin.backup.on_copy(fail="Access denied"))
    capsys.readouterr()
    writes = len(twin.backup.write_calls())

    code = run(twin, ["rerun", "--state-machine-arn", machine])

    out = capsys.readouterr().out
    assert code == 0
    assert f"ended in the Fail state {failed_state(twin, failed)} after a caught error" in out
    assert "Dry run: 0 to redrive, 1 to start again" in out
    assert len(twin.backup.write_calls()) == writes
    assert len(executions_of(twin, machine)) == 1


def test_json_carries_the_plan_and_after_apply_what_each_execution_got(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    machine, point, failed = failed_backup(twin, twin.backup.on_copy(fail="Access denied"))
    new_name = rerun_name(failed["name"], failed["executionArn"])
    argv = ["rerun", "--state-machine-arn", machine, "--json"]
    capsys.readouterr()

    assert run(twin, argv) == 0
    report = json.loads(capsys.readouterr().out)  # one document, and nothing else
    (place,) = report["places"]
    assert (place["stateMachineArn"], place["applied"], place["result"]) == (machine, False, "ok")
    (planned,) = place["plans"]
    assert planned["name"] == failed["name"]
    assert (planned["status"], planned["recoveryPointArn"]) == ("FAILED", point)
    assert (planned["action"], planned["newName"], planned["outcome"]) == ("start", new_name, None)
    assert planned["reason"].startswith(f"it ended in the Fail state {failed_state(twin, failed)}")
    assert place["actions"] == {"redrive": 0, "start": 1, "skip": 0, "unable": 0}
    assert len(executions_of(twin, machine)) == 1  # a dry run still

    assert run(twin, [*argv, "--apply"]) == 0
    report = json.loads(capsys.readouterr().out)
    (place,) = report["places"]
    (planned,) = place["plans"]
    started = {e["name"]: e["executionArn"] for e in executions_of(twin, machine)}
    assert planned["outcome"] == {
        "ok": True,
        "detail": f"started {new_name}",
        "executionArn": started[new_name],
    }
    assert report["totals"]["outcomes"] == {"ok": 1, "failed": 0}
    assert (place["applied"], report["exitCode"]) == (True, 0)


def failed_state(twin: Twin, execution: dict[str, Any]) -> str:
    """The Fail state the execution's history ends in."""
    entered = [
        e for e in twin.history(execution["executionArn"]) if e["type"] == "FailStateEntered"
    ]
    return str(entered[-1]["stateEnteredEventDetails"]["name"])


def test_the_stack_output_names_the_state_machine(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = deployed(twin).outputs["StateMachineArn"]

    code = run(twin, ["rerun", "--stack-name", "BackupEvents", "--region", MAIN_REGION])

    assert code == 0
    assert f"State machine {machine}: 0 unsuccessful" in capsys.readouterr().out


def test_a_duplicated_events_two_failures_are_rerun_once(twin: Twin) -> None:
    fault = twin.backup.on_copy(fail="Access denied")
    machine, _, failed = failed_backup(twin, fault)
    twin.backup.on_copy(fail="Access denied")  # still failing while the duplicate runs
    # EventBridge delivers at least once: the same event starts a second execution.
    twin.client("stepfunctions").start_execution(
        stateMachineArn=machine,
        name="delivered-twice",
        input=twin.describe_execution(failed["executionArn"])["input"],
    )
    assert len(closed_executions(twin, machine)) == 2
    twin.backup.copy_rules.clear()

    assert run(twin, ["rerun", "--state-machine-arn", machine, "--apply"]) == 0

    # One re-run, of the later execution; the earlier one is left as it is.
    names = [e["name"] for e in closed_executions(twin, machine)]
    assert len(names) == 3
    (rerun_of,) = [n for n in names if "-rerun-" in n]
    assert rerun_of.startswith("delivered-twice-rerun-")


# -- configuration errors: one line, exit code 2 -----------------------------------------------


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_no_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["rerun", "--state-machine-arn", SM_ARN]) == 2
    assert error_line(capsys).startswith("backup-events rerun: error: no AWS credentials found")


def test_unknown_region(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rerun", "--stack-name", "BackupEvents", "--region", "us-east-9"]) == 2
    assert "unknown region 'us-east-9'" in error_line(capsys)


def test_no_such_state_machine(twin: Twin, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(twin, ["rerun", "--state-machine-arn", SM_ARN])
    assert code == 2
    assert f"no state machine {SM_ARN}" in error_line(capsys)


@pytest.mark.parametrize("command", ["rerun", "preflight", "status"])
@pytest.mark.parametrize("options", [[], ["--json"]])
def test_no_such_stack(
    twin: Twin, capsys: pytest.CaptureFixture[str], command: str, options: list[str]
) -> None:
    # A single stack that is not there is a configuration error, for a script as for a person:
    # one line on stderr, and with --json a document on stdout that says so.
    code = run(twin, [command, "--stack-name", "Nope", "--region", MAIN_REGION, *options])
    assert code == 2
    printed = capsys.readouterr()
    assert printed.err.startswith(f"backup-events {command}: error: no stack 'Nope' in us-east-1")
    assert printed.err.count("\n") == 1
    if options:
        document = json.loads(printed.out)
        assert (document["exitCode"], document["places"]) == (2, [])
        assert printed.err.rstrip("\n").endswith(document["error"])
    else:
        assert printed.out == ""


def test_bad_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rerun", "--state-machine-arn", SM_ARN, "--since", "1d", "--until", "2d"]) == 2
    assert "--since" in error_line(capsys)


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rerun"])  # neither --state-machine-arn, --stack-name nor --stack-set
    assert exited.value.code == 2
