"""What the reconciliation starts, redrives and reports (tasks/reconcile.py, tasks/survey.py).

plan_actions turns a survey into the three lists the reconciliation state machine acts on
(design.md §5b): never two executions for one backup, a redrive rather than a new start for
an execution that failed on a transient error, a report when that is not allowed any more, the
oldest backups first, every list bounded, and names and event ids that are the same for the
same backup on the same day.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasks.copies import Deployment
from tasks.errors import FINAL_ERRORS, TRANSIENT_AWS_ERRORS
from tasks.events import parse_finish_request
from tasks.inputs import EXECUTION_NAME
from tasks.ledger import CutRecord
from tasks.needs import Action, Need
from tasks.reconcile import EVENTS, execution_name, plan_actions
from tasks.survey import (
    Execution,
    Place,
    Survey,
    execution_point,
    executions,
    ledger_records,
    pages,
    redrivable,
)
from tasks.trigger import read_trigger
from tests.support import BACKUP_ACCOUNT, MAIN_REGION, RESOURCE_ACCOUNT, VAULT_NAME, load_event

PLACE = Place("aws", RESOURCE_ACCOUNT, MAIN_REGION)
VAULT = f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:backup-vault:{VAULT_NAME}"
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
MACHINE = f"arn:aws:states:{MAIN_REGION}:{RESOURCE_ACCOUNT}:stateMachine:BackupEvents"


def point(n: int) -> str:
    return f"arn:aws:backup:{MAIN_REGION}:{RESOURCE_ACCOUNT}:recovery-point:{n:08d}-0000-4000"


def made(
    n: int, action: Action = "start", reason: str = "no verified copy", days_ago: int = 1
) -> Need:
    return Need(point(n), action, reason, NOW - timedelta(days=days_ago, minutes=n))


def failed(
    n: int,
    error: str | None = "ThrottlingException",
    redrives: int = 0,
    hours_ago: float = 5,
    name: str | None = None,
) -> Execution:
    label = name or f"run-{n}"
    return Execution(
        arn=f"arn:aws:states:{MAIN_REGION}:{RESOURCE_ACCOUNT}:execution:BackupEvents:{label}",
        name=label,
        status="FAILED",
        recovery_point_arn=point(n),
        error=error,
        redrive_count=redrives,
        stopped=NOW - timedelta(hours=hours_ago),
    )


def plan(
    needs: list[Need],
    failures: list[Execution] | None = None,
    *,
    running: dict[str, str] | None = None,
    max_starts: int = 10,
    max_redrives: int = 3,
    max_reports: int = 10,
) -> dict[str, Any]:
    return plan_actions(
        Survey(needs=needs, running=running or {}, failed=failures or []),
        PLACE,
        VAULT,
        now=NOW,
        max_starts=max_starts,
        max_redrives=max_redrives,
        max_reports=max_reports,
    )


def started(actions: dict[str, Any]) -> list[str]:
    return [item["RecoveryPointArn"] for item in actions["Start"]]


def reported(actions: dict[str, Any]) -> list[str]:
    return [item["RecoveryPointArn"] for item in actions["Report"]]


# --- Start ---------------------------------------------------------------------------------


def test_each_backup_that_needs_an_execution_gets_one_start() -> None:
    actions = plan([made(1), made(2), made(3, "done"), made(4, "skip")])
    assert sorted(started(actions)) == [point(1), point(2)]
    assert actions["Redrive"] == []
    assert actions["Report"] == []
    assert actions["Truncated"] is False


def test_the_oldest_backups_start_first() -> None:
    # Closest to expiring, so furthest from being copied in time.
    actions = plan([made(1, days_ago=1), made(2, days_ago=9), made(3, days_ago=4)])
    assert started(actions) == [point(2), point(3), point(1)]


def test_starts_are_bounded_and_the_rest_wait_for_the_next_run() -> None:
    actions = plan([made(n, days_ago=n) for n in range(1, 6)], max_starts=2)
    assert started(actions) == [point(5), point(4)]
    assert actions["Truncated"] is True
    assert actions["Counts"]["ToStart"] == 5
    assert actions["Counts"]["Started"] == 2


def test_each_start_is_a_backup_needs_finishing_event_the_workflow_accepts() -> None:
    [item] = plan([made(1, reason="lost event")])["Start"]
    event = json.loads(item["Input"])
    finish = parse_finish_request(event)
    assert finish.recovery_point_arn == point(1)
    assert finish.vault_arn == VAULT
    assert finish.reason == "lost event"
    assert event["time"] == "2026-11-25T03:00:00Z"
    # ...and the workflow's first task takes it for this deployment (design.md §3, branch 3).
    trigger = read_trigger(
        event,
        account=RESOURCE_ACCOUNT,
        region=MAIN_REGION,
        deployment=Deployment(BACKUP_ACCOUNT, "us-west-2", MAIN_REGION, VAULT_NAME),
        copy_scheduled_backups=False,
    )
    assert (trigger.kind, trigger.recovery_point_arn) == ("Finish", point(1))


def test_names_and_event_ids_are_the_same_for_the_same_backup_on_the_same_day() -> None:
    # A second reconciliation that day is refused by Step Functions (aws-facts.md §C.2).
    first = plan([made(1)])["Start"][0]
    later = plan_actions(
        Survey(needs=[made(1)]),
        PLACE,
        VAULT,
        now=NOW + timedelta(hours=20),
        max_starts=10,
        max_redrives=3,
        max_reports=10,
    )["Start"][0]
    assert later["Name"] == first["Name"]
    assert json.loads(later["Input"])["id"] == json.loads(first["Input"])["id"]
    assert first["Name"] == execution_name(point(1), NOW)
    assert json.loads(first["Input"])["id"] == str(uuid.uuid5(EVENTS, first["Name"]))


def test_names_differ_by_backup_and_by_day_and_are_valid_execution_names() -> None:
    names = {
        execution_name(point(1), NOW),
        execution_name(point(2), NOW),
        execution_name(point(1), NOW + timedelta(days=1)),
    }
    assert len(names) == 3
    for name in names:
        assert EXECUTION_NAME.fullmatch(name)
        assert name.startswith("finish-")
    assert execution_name(point(1), NOW).endswith("-20261125")


# --- Redrive -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [*TRANSIENT_AWS_ERRORS, "CopyJobTimedOut", "Lambda.Unknown", None]
)
def test_an_execution_that_failed_on_a_transient_error_is_redriven_not_started_again(
    error: str | None,
) -> None:
    execution = failed(1, error=error)
    actions = plan([made(1)], [execution])
    assert actions["Redrive"] == [execution.arn]
    assert actions["Start"] == []  # never two executions for one backup
    assert actions["Counts"]["ToRedrive"] == 1


def test_only_the_latest_failure_of_a_backup_is_redriven() -> None:
    older = failed(1, hours_ago=30, name="older")
    newer = failed(1, hours_ago=2, name="newer")
    assert plan([made(1)], [newer, older])["Redrive"] == [newer.arn]


def test_a_failed_execution_whose_input_names_no_backup_is_not_redriven_for_one() -> None:
    # Started by hand with some other input: it stands for no backup.
    stranger = replace(failed(1), recovery_point_arn=None)
    actions = plan([made(1)], [stranger])
    assert (actions["Redrive"], started(actions)) == ([], [point(1)])


def test_a_failed_execution_of_a_backup_that_needs_nothing_is_left_alone() -> None:
    actions = plan([made(1, "done")], [failed(1)])
    assert (actions["Redrive"], actions["Start"], actions["Report"]) == ([], [], [])


def test_exhausted_redrives_are_reported_by_name() -> None:
    execution = failed(1, redrives=3)
    actions = plan([made(1, reason="no verified copy in the backup region")], [execution])
    assert (actions["Redrive"], actions["Start"]) == ([], [])
    [report] = actions["Report"]
    body = json.loads(report["MessageBody"])
    assert body["problem"] == (
        f"execution {execution.arn} failed with ThrottlingException after 3 redrives; "
        "no verified copy in the backup region"
    )
    assert body["recoveryPointArn"] == point(1)


@pytest.mark.parametrize("error", ["CopiesNotVerified", "RecoveryPointNotEligible"])
def test_a_backup_whose_last_execution_ended_in_a_final_error_is_reported_not_started(
    error: str,
) -> None:
    # A copy deleted by someone makes the cut fail with CopiesNotVerified; the survey then sees
    # that copy missing and says "start". A person must look first.
    assert error in FINAL_ERRORS
    actions = plan([made(1)], [failed(1, error=error)])
    assert actions["Start"] == []
    assert reported(actions) == [point(1)]


# --- Report --------------------------------------------------------------------------------


def test_backups_needing_attention_are_reported_with_what_is_wrong() -> None:
    actions = plan([made(1, "attention", "the copy to X is FAILED: KMS key disabled", 3)])
    [report] = actions["Report"]
    assert json.loads(report["MessageBody"]) == {
        "source": "backup-events.reconciliation",
        "account": RESOURCE_ACCOUNT,
        "region": MAIN_REGION,
        "recoveryPointArn": point(1),
        "createdAt": "2026-11-22T02:59:00Z",
        "problem": "the copy to X is FAILED: KMS key disabled",
        "foundAt": "2026-11-25T03:00:00Z",
    }
    assert actions["Counts"]["NeedAttention"] == 1


def test_reports_are_bounded_too() -> None:
    actions = plan([made(n, "attention") for n in range(5)], max_reports=3)
    assert len(actions["Report"]) == 3
    assert actions["Truncated"] is True


# --- Counts and the oldest unfinished backup ------------------------------------------------


def test_counts_and_the_oldest_unfinished_backup() -> None:
    needs = [
        made(1, "start", "both copies verified and the cut is due: ...", days_ago=2),
        made(2, "start", days_ago=3),
        made(3, "attention", "copies too short", days_ago=7),
        made(4, "done", days_ago=30),
        made(5, "skip", days_ago=40),
    ]
    running = {point(6): f"{MACHINE}:x"}
    actions = plan(needs, running=running)
    assert actions["Counts"] == {
        "Originals": 5,
        "Done": 1,
        "Skipped": 1,
        "ToStart": 2,
        "Started": 2,
        "ToRedrive": 0,
        "NeedAttention": 1,
        "AwaitingCut": 1,
        "Running": 1,
    }
    assert actions["OldestUnfinished"] == {
        "RecoveryPointArn": point(3),
        "CreatedAt": "2026-11-18T02:57:00Z",
        "Reason": "copies too short",
    }


def test_nothing_unfinished_has_no_oldest() -> None:
    assert plan([made(1, "done")])["OldestUnfinished"] is None


# --- survey helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "backup_job_completed_on_demand_efs.json",
            "arn:aws:backup:us-east-1:000022224444:recovery-point:"
            "7c3a6e0f-2b4d-4c8e-9a51-5f0d3e2b1a98",
        ),
        (
            "copy_job_completed_by_plan_to_backup_region.json",
            "arn:aws:backup:us-east-1:000022224444:recovery-point:"
            "7c3a6e0f-2b4d-4c8e-9a51-5f0d3e2b1a98",
        ),
        ("backup_job_failed.json", None),  # no resources
    ],
)
def test_an_executions_input_names_its_recovery_point(name: str, expected: str | None) -> None:
    assert execution_point(json.dumps(load_event(name))) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "not json", "[]", '{"resources": "x"}', '{"resources": ["arn:aws:s3:::b"]}']
)
def test_an_input_without_a_recovery_point_names_none(raw: str | None) -> None:
    assert execution_point(raw) is None


def test_a_finish_request_names_its_recovery_point() -> None:
    [item] = plan([made(1)])["Start"]
    assert execution_point(item["Input"]) == point(1)


def test_final_errors_are_never_redriven_and_redrives_are_bounded() -> None:
    for error in FINAL_ERRORS:
        assert not redrivable(failed(1, error=error), 3, NOW)
    assert redrivable(failed(1, redrives=2), 3, NOW)
    assert not redrivable(failed(1, redrives=3), 3, NOW)


def test_an_execution_closed_more_than_14_days_ago_is_not_redriven() -> None:
    # RedriveExecution refuses past 14 days after the execution closed (aws-facts.md §C.3).
    old = replace(failed(1), stopped=NOW - timedelta(days=14, seconds=1))
    assert not redrivable(old, 3, NOW)
    assert redrivable(replace(old, stopped=NOW - timedelta(days=14)), 3, NOW)


class Executions:
    """ListExecutions and DescribeExecution as Step Functions answers them, one page each."""

    def __init__(self, listed: dict[str, list[dict[str, Any]]]) -> None:
        self.listed = listed
        self.described: dict[str, dict[str, Any]] = {}

    def list_executions(self, **request: Any) -> dict[str, Any]:
        assert request["stateMachineArn"] == MACHINE
        return {"executions": self.listed.get(request["statusFilter"], [])}

    def describe_execution(self, **request: Any) -> dict[str, Any]:
        return self.described[request["executionArn"]]


def test_executions_are_running_ones_and_unsuccessful_ones_within_the_horizon() -> None:
    event = json.dumps(load_event("backup_job_completed_on_demand_efs.json"))
    sfn = Executions(
        {
            "RUNNING": [{"executionArn": "r", "name": "r"}],
            "FAILED": [
                {"executionArn": "f", "name": "f", "stopDate": NOW - timedelta(days=13)},
                {"executionArn": "old", "name": "old", "stopDate": NOW - timedelta(days=15)},
            ],
            "ABORTED": [{"executionArn": "a", "name": "a", "stopDate": NOW - timedelta(hours=1)}],
        }
    )
    sfn.described = {
        "r": {"status": "RUNNING", "input": event},
        "f": {"status": "FAILED", "input": event, "error": "CopyJobTimedOut", "redriveCount": 2},
        "a": {"status": "ABORTED", "input": "{}"},
    }
    found = {e.arn: e for e in executions(sfn, MACHINE, NOW - timedelta(days=14))}
    # Closed before the horizon: not even described.
    assert set(found) == {"r", "f", "a"}
    assert found["f"].error == "CopyJobTimedOut"
    assert found["f"].redrive_count == 2
    assert found["f"].stopped == NOW - timedelta(days=13)
    assert found["r"].recovery_point_arn == found["f"].recovery_point_arn is not None
    assert found["a"].recovery_point_arn is None


def test_paged_listings_are_read_to_the_end_in_either_spelling_of_the_token() -> None:
    # AWS Backup pages with NextToken, Step Functions with nextToken.
    def backup_pages(**request: Any) -> dict[str, Any]:
        start = int(request.get("NextToken") or 0)
        page: dict[str, Any] = {"Items": [start, start + 1]}
        if start < 4:
            page["NextToken"] = str(start + 2)
        return page

    def sfn_pages(**request: Any) -> dict[str, Any]:
        if request.get("nextToken") is None:
            return {"executions": [{"stopDate": NOW}], "nextToken": "2"}
        return {"executions": [{"name": "last"}]}

    assert list(pages(backup_pages, "Items")) == [0, 1, 2, 3, 4, 5]
    # ...as JSON: dates in UTC text.
    assert list(pages(sfn_pages, "executions")) == [
        {"stopDate": "2026-11-25T03:00:00Z"},
        {"name": "last"},
    ]


def test_the_whole_ledger_is_read_page_by_page() -> None:
    items = [CutRecord(point(n), "CUT", 8, 35, "2026-11-21T05:00:00Z").to_item() for n in range(3)]
    asked: list[dict[str, Any]] = []

    class Ledger:
        def scan(self, **request: Any) -> dict[str, Any]:
            asked.append(request)
            if "ExclusiveStartKey" not in request:
                return {"Items": items[:2], "LastEvaluatedKey": {"k": 2}}
            return {"Items": items[2:]}

    records = ledger_records(Ledger(), "BackupEvents-CutLedger")
    assert sorted(records) == [point(0), point(1), point(2)]
    assert records[point(2)].delete_after_days == 8
    assert [r.get("ExclusiveStartKey") for r in asked] == [None, {"k": 2}]
    assert all(r["ConsistentRead"] is True for r in asked)
