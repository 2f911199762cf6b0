"""`make demo` tells the truth: what it prints and draws is what happened in the twin.

The demo runs once for the module, as `make demo` runs it (a plain console of 150 columns, as
in a pipe or a CI log), and the twin stays up while its outcomes are compared with what the
twin's own APIs say.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta

import pytest
from rich.console import Console

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.twin import Twin
from scripts import demo
from scripts.demo_report import Execution
from tasks.metrics import PUBLISHED

pytestmark = [pytest.mark.twin, pytest.mark.slow]

WORKLOAD_PLACES = {
    (a, r) for a in (RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT) for r in demo.REGIONS
}


@dataclass
class Ran:
    twin: Twin
    result: demo.DemoResult
    printed: str  # what the demo's console showed
    leaked: str  # anything else written to stdout or stderr while it ran


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    console = Console(file=io.StringIO(), width=150, color_system=None)
    leaked = io.StringIO()
    with (
        redirect_stdout(leaked),
        redirect_stderr(leaked),
        demo.running(tmp_path_factory.mktemp("demo"), console) as (twin, result),
    ):
        stream = console.file
        assert isinstance(stream, io.StringIO)
        yield Ran(twin, result, stream.getvalue(), leaked.getvalue())


def workflow_runs(result: demo.DemoResult, account: str, region: str) -> list[Execution]:
    return [
        e
        for e in result.runs
        if not e.is_reconciliation and (e.account, e.region) == (account, region)
    ]


def test_the_screen_shows_plain_lines_and_tables_and_never_a_log_line(ran: Ran) -> None:
    assert ran.leaked == ""
    for line in ran.printed.splitlines():
        assert not line.lstrip().startswith("{"), line
    assert '"level"' not in ran.printed
    assert '"_aws"' not in ran.printed
    # The tasks did log and publish metrics: the lines were kept, not lost.
    output = ran.result.task_output
    assert output.log_records > 50
    assert output.emf_lines > 10
    assert ran.result.files["logs"].read_text().count('"_aws"') == output.emf_lines
    first_screen = ran.printed.splitlines()[:12]
    assert any("deploys Backup Events to the organization" in line for line in first_screen)


def test_one_stack_set_covers_two_workload_accounts_and_the_backup_account_in_two_regions(
    ran: Ran,
) -> None:
    stacks = ran.result.stacks
    assert {(s.account, s.region) for s in stacks} == WORKLOAD_PLACES | {
        (BACKUP_ACCOUNT, r) for r in demo.REGIONS
    }
    assert all(s.status == "CREATE_COMPLETE" for s in stacks)
    for stack in stacks:
        assert ("StateMachineArn" in stack.outputs) == (stack.account != BACKUP_ACCOUNT)
    cfn = ran.twin.client("cloudformation", demo.MANAGEMENT_ACCOUNT, MAIN_REGION)
    instances = cfn.list_stack_instances(StackSetName=demo.STACK_SET)["Summaries"]
    assert {(i["Account"], i["Region"], i["Status"]) for i in instances} == {
        (s.account, s.region, "CURRENT") for s in stacks
    }
    assert {s.account for s in ran.result.operator_stacks} == {
        RESOURCE_ACCOUNT,
        SECOND_RESOURCE_ACCOUNT,
        BACKUP_ACCOUNT,
    }


def test_two_backups_are_copied_twice_and_cut_at_once(ran: Ran) -> None:
    for region in demo.REGIONS:
        [run] = workflow_runs(ran.result, RESOURCE_ACCOUNT, region)
        assert run.status == "SUCCEEDED"
        assert run.started_by.startswith("EventBridge: Backup Job State Change")
        assert run.top_steps[-2:][0].state == "CutOriginalRetention"


def test_the_vault_policy_failure_is_found_by_preflight_fixed_and_re_run(ran: Ran) -> None:
    failed, rerun = workflow_runs(ran.result, SECOND_RESOURCE_ACCOUNT, MAIN_REGION)
    assert (failed.status, failed.error, failed.failed_state) == (
        "FAILED",
        "CopyJobFailed",
        "CopyingFailed",
    )
    assert failed.statuses["WaitForCopyToBackupRegion"] == "caught"
    assert "not allowed to perform backup:CopyIntoBackupVault" in failed.cause_text

    commands = ran.result.commands
    # The morning's status: the failure, and the two backups nobody finished (the failed one's
    # and the one whose event was lost), read from its --json document.
    morning = commands["status-day-0"]
    assert morning.exit_code == 1
    places = {(p["account"], p["region"]): p for p in morning.places()}
    [reported] = places[(SECOND_RESOURCE_ACCOUNT, MAIN_REGION)]["failedExecutions"]
    assert (reported["name"], reported["finishedBy"]) == (failed.name, None)
    stuck = {s["recoveryPointArn"] for p in morning.places() for s in p.get("stuckBackups", [])}
    assert stuck == {b.recovery_point_arn for b in ran.result.backups[2:]}
    assert f"{SECOND_RESOURCE_ACCOUNT} {MAIN_REGION}: FAILED execution {failed.name} " in (
        ran.printed
    )

    found = commands["preflight"].failed_checks()
    assert commands["preflight"].exit_code == 1
    vault = f"vault {demo.VAULT} in {BACKUP_ACCOUNT} {BACKUP_REGION}"
    assert {(place, resource) for place, resource, _, _ in found} == {
        (f"{SECOND_RESOURCE_ACCOUNT} {region}", vault) for region in demo.REGIONS
    }
    assert all("aws:PrincipalOrgID" in fix for *_, fix in found)
    assert commands["preflight-after-fix"].exit_code == 0
    assert commands["preflight-after-fix"].failed_checks() == []

    # The dry run changed nothing; --apply started the re-run it planned, with the failed
    # one's input.
    assert "Dry run" in commands["rerun-dry-run"].output
    [plan] = [plan for p in commands["rerun-dry-run"].places() for plan in p.get("plans", [])]
    assert (plan["name"], plan["action"], plan["newName"]) == (failed.name, "start", rerun.name)
    assert plan["outcome"] is None
    assert f"{failed.name} (CopyJobFailed): start {rerun.name}, because" in ran.printed
    assert failed.stopped is not None
    assert rerun.started >= failed.stopped
    assert rerun.name.startswith(f"{failed.name}-rerun-")
    assert rerun.input == failed.input
    assert rerun.status == "SUCCEEDED"
    assert f"started {rerun.name}" in commands["rerun"].output
    policy = ran.twin.client(
        "backup", BACKUP_ACCOUNT, BACKUP_REGION
    ).get_backup_vault_access_policy(BackupVaultName=demo.VAULT)["Policy"]
    assert "aws:PrincipalOrgID" in policy


def test_the_lost_event_is_healed_by_the_scheduled_reconciliation(ran: Ran) -> None:
    [healed] = workflow_runs(ran.result, SECOND_RESOURCE_ACCOUNT, BACKUP_REGION)
    lost = ran.result.backups[3]
    assert healed.input["detail-type"] == "Backup Needs Finishing"
    assert healed.recovery_point == lost.recovery_point_arn
    assert healed.status == "SUCCEEDED"
    [starter] = [
        e
        for e in ran.result.runs
        if e.is_reconciliation
        and e.place == healed.place
        and (e.output or {}).get("Counts", {}).get("Started")
    ]
    assert starter.started == healed.started == ran.result.started + timedelta(days=1)
    assert starter.input["detail-type"] == "Scheduled Event"
    # Nobody started it: the schedule fired once a day in every workload place.
    days = Counter(e.place for e in ran.result.runs if e.is_reconciliation)
    assert days == {f"{a} {r}": demo.DAYS for a, r in WORKLOAD_PLACES}


def test_every_original_went_from_14_to_8_days_and_expired_while_both_copies_stay(
    ran: Ran,
) -> None:
    assert ran.result.finished - ran.result.started >= timedelta(days=demo.DAYS)
    points = ran.twin.backup.points.values()
    for check in ran.result.checks:
        assert (check.before_days, check.after_days) == (14, 8)
        assert sorted(check.copies) == [(r, 14, "COMPLETED") for r in sorted(demo.REGIONS)]
        assert check.original_now == "deleted"
        original = ran.twin.backup.points[check.backup.recovery_point_arn]
        assert original.lifecycle["DeleteAfterDays"] == 8
        copies = [
            p
            for p in points
            if p.source_backup_vault_arn == original.vault_arn
            and p.resource_arn == original.resource_arn
        ]
        assert sorted((p.account, p.region) for p in copies) == sorted(
            (BACKUP_ACCOUNT, r) for r in demo.REGIONS
        )
    assert "14 d -> 8 d" in ran.printed


def test_the_report_draws_each_execution_with_its_failed_state_marked(ran: Ran) -> None:
    report = ran.result.files["report"].read_text()
    sections = dict(
        re.findall(r'data-execution="([^"]+)">(.*?)</section>', report, flags=re.DOTALL)
    )
    workflow = [e for e in ran.result.runs if not e.is_reconciliation]
    assert {e.arn for e in workflow} <= set(sections)
    for execution in workflow:
        drawing = sections[execution.arn]
        marked = {
            state: status
            for status, state in re.findall(
                r'class="state ([a-z-]+)" data-state="([^"]+)"', drawing
            )
        }
        assert marked["Start"] == "succeeded"
        assert marked["End"] == ("failed" if execution.status == "FAILED" else "succeeded")
        entered = {s.state for s in execution.top_steps}
        assert {s for s, status in marked.items() if status != "not-run"} == entered | {
            "Start",
            "End",
        }
        assert 'class="legend"' in drawing
        for label in ("Succeeded", "Caught error", "Failed", "Not run"):
            assert f">{label}</text>" in drawing
    failed = next(e for e in workflow if e.status == "FAILED")
    drawing = sections[failed.arn]
    assert 'class="state failed" data-state="CopyingFailed"' in drawing
    assert 'class="state caught" data-state="WaitForCopyToBackupRegion"' in drawing
    assert 'stroke="#d13212"' in drawing  # the console's red


def test_the_organization_report_agrees_with_the_twin(ran: Ran) -> None:
    run = ran.result.commands["status"]
    # The failure of day 0 is still in the window, but its re-run finished the same backup: it
    # is listed with the execution that finished it, and the organization is well (exit 0).
    assert run.exit_code == 0
    failed, rerun = workflow_runs(ran.result, SECOND_RESOURCE_ACCOUNT, MAIN_REGION)
    shown = " ".join(run.output.split())  # the console wraps long lines
    assert (
        f"FAILED execution {failed.name} (CopyJobFailed), started "
        f"{failed.started:%Y-%m-%dT%H:%M:%SZ}, finished by {rerun.name}"
    ) in shown
    assert "0 that no later one finished, 1 finished by a later one" in shown
    assert (
        "(exit 0: the execution that failed on day 0 is still listed, finished by its re-run "
        f"{rerun.name},"
    ) in " ".join(ran.printed.split())
    blocks = re.findall(
        r"State machine (\S+)\n  executions: (\d+) SUCCEEDED, (\d+) FAILED, (\d+) TIMED_OUT, "
        r"(\d+) ABORTED, (\d+) RUNNING",
        run.output,
    )
    assert len(blocks) == len(WORKLOAD_PLACES)
    totals: Counter[str] = Counter()
    for arn, *counts in blocks:
        account, region = arn.split(":")[4], arn.split(":")[3]
        listed = ran.twin.client("stepfunctions", account, region).list_executions(
            stateMachineArn=arn
        )["executions"]
        truth = Counter(e["status"] for e in listed)
        statuses = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "RUNNING")
        assert [int(n) for n in counts] == [truth[s] for s in statuses]
        totals.update(truth)
    organization = (
        f"{totals['SUCCEEDED']} SUCCEEDED, {totals['FAILED']} FAILED, 0 TIMED_OUT, 0 ABORTED, "
        "0 RUNNING"
    )
    assert re.search(rf"executions\s*│\s*{organization}", run.output)
    assert re.search(r"stuck backups\s*│\s*0", run.output)
    assert run.output in ran.printed  # shown as the command printed it


def test_the_dashboard_shows_what_the_tasks_and_step_functions_published(ran: Ran) -> None:
    board = ran.result.board
    workflow = [e for e in ran.result.runs if not e.is_reconciliation]
    assert board.series("ExecutionsSucceeded").total == sum(
        e.status == "SUCCEEDED" for e in workflow
    )
    assert board.series("ExecutionsFailed").total == 1
    cuts = [
        c
        for c in ran.twin.backup.calls
        if c.operation == "update_recovery_point_lifecycle"
        and c.error is None
        and "CutRetentionRole" in (c.principal or "")
    ]
    assert board.series("BackupsCut").total == len(cuts) == 4
    assert board.series("RetentionDaysRemoved").total == 4 * (14 - 8)
    saved = sum(b.size_gb * (14 - 8) for b in ran.result.backups)
    assert board.series("StorageGBDaysSaved").total == pytest.approx(saved)
    longest = board.series("CopyJobSeconds", "Maximum").total
    assert longest is not None
    assert 3600 <= longest <= 3 * 3600
    # Each widget is the deployed dashboard's, and names only what something publishes.
    page = ran.result.files["dashboard"].read_text()
    body = json.loads(
        ran.result.stacks[0]
        .client("cloudwatch")
        .get_dashboard(DashboardName=ran.result.stacks[0].outputs["DashboardName"])["DashboardBody"]
    )
    for widget in body["widgets"]:
        assert widget["properties"]["title"] in page
    for widget in board.widgets:
        for series in widget.series:
            assert series.metric in PUBLISHED or series.metric.startswith(
                ("Executions", "ApproximateNumberOfMessages")
            )
    assert "GB-days no longer paid for" in page
    assert f"{saved:,}" in page
