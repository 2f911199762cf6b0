"""AWS Backup job events: AWS's shapes and quirks, where they are published, and delivery.

docs/aws-facts.md §A.2 (Backup Job State Change), §A.3 (Copy Job State Change: number sizes,
`destinationRecoveryPointArn` `{}` until COMPLETED, no copyJobId on CREATED, createdBy only for
plan jobs), §A.4 (only in the account and region where the job runs), §A.1 (best effort:
events can be lost), §D.2 (which targets a rule can reach), and the fixtures in tests/events/,
which record AWS's documented examples.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.backup import PlanInfo
from local.twin import Twin
from tests.support import load_event
from tests.twin.helpers import EFS, VAULT, Layout

pytestmark = pytest.mark.twin

ALL_BACKUP_EVENTS = {"source": ["aws.backup"]}
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ENVELOPE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CONSOLE_DATE = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d\d:\d\d [AP]M$")
DATE_KEYS = {"creationDate", "completionDate", "startBy"}


def skeleton(value: Any) -> Any:
    """The shape of a JSON value: keys and JSON types, not contents."""
    if isinstance(value, dict):
        return {key: skeleton(item) for key, item in value.items()}
    if isinstance(value, list):
        return [skeleton(item) for item in value]
    return type(value).__name__


def assert_shaped_like(event: dict[str, Any], fixture_name: str) -> None:
    fixture = load_event(fixture_name)
    assert skeleton(event) == skeleton(fixture), fixture_name
    for key in DATE_KEYS & set(event["detail"]):
        assert ISO_MILLIS.match(event["detail"][key]), (key, event["detail"][key])
    assert ENVELOPE_TIME.match(event["time"])
    if "expectedCompletionDate" in event["detail"]:
        assert CONSOLE_DATE.match(event["detail"]["expectedCompletionDate"])
        assert CONSOLE_DATE.match(fixture["detail"]["expectedCompletionDate"])


def published(twin: Twin, detail_type: str) -> dict[str, dict[str, Any]]:
    return {e["detail"]["state"]: e for _, _, e in twin.router.events(detail_type)}


def test_backup_job_events_have_the_documented_shapes(layout: Layout, twin: Twin) -> None:
    """§A.2: sizes are strings; CREATED carries only id, state and date; COMPLETED names the
    recovery point in `resources` only; on-demand jobs have no createdBy; RUNNING's
    expectedCompletionDate comes in the console's date format."""
    point = layout.backed_up(EFS)
    events = published(twin, "Backup Job State Change")
    assert list(events) == ["CREATED", "RUNNING", "COMPLETED"]
    assert_shaped_like(events["CREATED"], "backup_job_created.json")
    assert_shaped_like(events["RUNNING"], "backup_job_running.json")
    assert_shaped_like(events["COMPLETED"], "backup_job_completed_on_demand_efs.json")
    assert events["COMPLETED"]["resources"] == [point]
    assert events["RUNNING"]["detail"]["backupSizeInBytes"] == "0"
    assert events["COMPLETED"]["detail"]["backupSizeInBytes"] == "36048"

    twin.router.published.clear()
    twin.backup.start_backup(
        RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS, plan=PlanInfo(), lifecycle={"DeleteAfterDays": 7}
    )
    layout.run(timedelta(hours=1))
    assert_shaped_like(
        published(twin, "Backup Job State Change")["COMPLETED"],
        "backup_job_completed_by_plan_efs.json",
    )

    twin.router.published.clear()
    twin.backup.start_backup(
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        VAULT,
        EFS,
        fail="Insufficient privileges to perform this action.",
    )
    layout.run(timedelta(hours=1))
    failed = published(twin, "Backup Job State Change")["FAILED"]
    assert_shaped_like(failed, "backup_job_failed.json")
    assert failed["resources"] == []
    assert failed["detail"]["statusMessage"] == "Insufficient privileges to perform this action."


def test_copy_job_events_have_the_documented_shapes_and_quirks(layout: Layout, twin: Twin) -> None:
    """§A.3: backupSizeInBytes is a number; CREATED has no copyJobId; the destination point is
    `{}` until COMPLETED; `resources` is the SOURCE point; createdBy only for plan copies."""
    point = layout.backed_up()
    twin.router.published.clear()
    twin.backup.on_copy(
        lambda job: job.destination_region == MAIN_REGION, fail="Access denied: test."
    )
    ok = layout.start_copy(point, layout.to_backup_region)["CopyJobId"]
    bad = layout.start_copy(point, layout.to_this_region)["CopyJobId"]
    layout.run(timedelta(hours=2))

    ok_events = {e["detail"]["state"]: e for e in layout.copy_events(ok)}
    assert list(ok_events) == ["CREATED", "RUNNING", "COMPLETED"]
    assert_shaped_like(ok_events["CREATED"], "copy_job_created.json")
    assert_shaped_like(ok_events["RUNNING"], "copy_job_running.json")
    assert_shaped_like(ok_events["COMPLETED"], "copy_job_completed_on_demand.json")
    assert "copyJobId" not in ok_events["CREATED"]["detail"]
    assert ok_events["RUNNING"]["detail"]["destinationRecoveryPointArn"] == {}
    assert (
        ok_events["COMPLETED"]["detail"]["destinationRecoveryPointArn"]
        == (layout.copy_job(ok)["DestinationRecoveryPointArn"])
    )
    assert all(e["resources"] == [point] for e in ok_events.values())
    failed = layout.copy_events(bad)[-1]
    assert_shaped_like(failed, "copy_job_failed.json")
    assert failed["detail"]["statusMessage"] == "Access denied: test."

    layout.start_plan_backup(layout.to_backup_region)
    layout.run(timedelta(hours=2))
    by_plan = [e for e in layout.copy_events() if "createdBy" in e["detail"]]
    assert [e["detail"]["state"] for e in by_plan] == ["RUNNING", "COMPLETED"]
    assert_shaped_like(by_plan[-1], "copy_job_completed_by_plan_to_backup_region.json")


def test_event_times_are_when_the_state_changed_on_the_virtual_clock(
    layout: Layout, twin: Twin
) -> None:
    """§A.2/§A.3 envelopes carry `time`; a copy completing during a long jump of the clock is
    still published at its own completion time, so rules fire in the right order."""
    point = layout.backed_up()
    job = layout.start_copy(point)["CopyJobId"]
    layout.run(timedelta(days=2))
    times = [e["time"] for e in layout.copy_events(job)]
    assert times == ["2026-11-20T05:10:00Z", "2026-11-20T05:10:00Z", "2026-11-20T05:40:00Z"]
    assert [e["time"] for _, _, e in twin.router.events("Backup Job State Change")] == [
        "2026-11-20T05:00:00Z",
        "2026-11-20T05:00:00Z",
        "2026-11-20T05:10:00Z",
    ]


class Queues:
    """SQS queues behind EventBridge rules, made with real clients (put_rule / put_targets)."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin

    def queue(self, account: str, region: str, name: str) -> str:
        sqs = self.twin.client("sqs", account, region)
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return arn

    def rule(
        self,
        account: str,
        region: str,
        name: str,
        target_arn: str,
        pattern: dict[str, Any] | None = None,
        **target: Any,
    ) -> None:
        events = self.twin.client("events", account, region)
        events.put_rule(Name=name, EventPattern=json.dumps(pattern or ALL_BACKUP_EVENTS))
        events.put_targets(Rule=name, Targets=[{"Id": "Target", "Arn": target_arn, **target}])

    def messages(self, queue_arn: str) -> list[Any]:
        region, account, name = queue_arn.split(":")[3:6]
        sqs = self.twin.client("sqs", account, region)
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        bodies: list[Any] = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return bodies
            bodies.extend(json.loads(m["Body"]) for m in got)


def test_events_arrive_only_in_the_account_and_region_where_the_job_runs(
    layout: Layout, twin: Twin
) -> None:
    """§A.4: a copy into the backup account publishes in the source account and region only."""
    queues = Queues(twin)
    watched = {}
    for account, region in (
        (RESOURCE_ACCOUNT, MAIN_REGION),
        (RESOURCE_ACCOUNT, BACKUP_REGION),
        (BACKUP_ACCOUNT, BACKUP_REGION),
        (BACKUP_ACCOUNT, MAIN_REGION),
    ):
        arn = queues.queue(account, region, "AllBackupEvents")
        queues.rule(account, region, "AllBackupEvents", arn)
        watched[(account, region)] = arn

    point = layout.backed_up()
    layout.start_copy(point, layout.to_backup_region)
    layout.start_copy(point, layout.to_this_region)
    layout.run(timedelta(hours=2))

    here = queues.messages(watched[(RESOURCE_ACCOUNT, MAIN_REGION)])
    assert [(e["detail-type"], e["detail"]["state"]) for e in here].count(
        ("Copy Job State Change", "COMPLETED")
    ) == 2
    assert len(here) == 3 + 2 * 3
    assert {(e["account"], e["region"]) for e in here} == {(RESOURCE_ACCOUNT, MAIN_REGION)}
    for elsewhere in list(watched)[1:]:
        assert queues.messages(watched[elsewhere]) == [], elsewhere
    assert {(a, r) for a, r, _ in twin.router.published} == {(RESOURCE_ACCOUNT, MAIN_REGION)}


def test_rules_deliver_to_sqs_in_another_account_but_not_another_region(
    layout: Layout, twin: Twin
) -> None:
    """§D.2: direct cross-account targets (SQS among them) work in the rule's region only."""
    queues = Queues(twin)
    other_account = queues.queue(BACKUP_ACCOUNT, MAIN_REGION, "CopyEvents")
    other_region = queues.queue(RESOURCE_ACCOUNT, BACKUP_REGION, "CopyEvents")
    completed = {
        "source": ["aws.backup"],
        "detail-type": ["Copy Job State Change"],
        "detail": {"state": ["COMPLETED"]},
    }
    queues.rule(
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        "ToOtherAccount",
        other_account,
        completed,
        InputPath="$.detail",
    )
    queues.rule(RESOURCE_ACCOUNT, MAIN_REGION, "ToOtherRegion", other_region, completed)

    job = layout.start_copy(layout.backed_up())["CopyJobId"]
    layout.run(timedelta(hours=1))

    delivered = queues.messages(other_account)
    assert [d["copyJobId"] for d in delivered] == [job]  # InputPath applied: the detail only
    assert queues.messages(other_region) == []
    [failure] = twin.router.failed_deliveries
    assert failure.target_arn == other_region
    assert "region" in (failure.error or "")


def test_rules_start_step_functions_executions_in_their_own_account_only(
    layout: Layout, twin: Twin
) -> None:
    """§D.1/§D.2: a rule starts a state machine with the event as input; Step Functions is not
    a direct cross-account target."""
    pass_through = json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    )
    machines = {}
    for account in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT):
        sfn = twin.client("stepfunctions", account, MAIN_REGION)
        machines[account] = sfn.create_state_machine(
            name="OnCopy", definition=pass_through, roleArn=f"arn:aws:iam::{account}:role/OnCopy"
        )["stateMachineArn"]
    completed = {
        "source": ["aws.backup"],
        "detail-type": ["Copy Job State Change"],
        "detail": {"state": ["COMPLETED"]},
    }
    queues = Queues(twin)
    for account, arn in machines.items():
        queues.rule(
            RESOURCE_ACCOUNT,
            MAIN_REGION,
            f"Start-{account}",
            arn,
            completed,
            RoleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/Events",
        )

    job = layout.start_copy(layout.backed_up())["CopyJobId"]
    layout.run(timedelta(hours=1))
    twin.wait_for_executions()

    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    [execution] = sfn.list_executions(stateMachineArn=machines[RESOURCE_ACCOUNT])["executions"]
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert described["status"] == "SUCCEEDED"
    event = json.loads(described["input"])
    assert (event["detail-type"], event["detail"]["copyJobId"]) == ("Copy Job State Change", job)
    assert described["startDate"] == layout.copy_job(job)["CompletionDate"]  # virtual time
    other = twin.client("stepfunctions", BACKUP_ACCOUNT, MAIN_REGION)
    assert other.list_executions(stateMachineArn=machines[BACKUP_ACCOUNT])["executions"] == []
    assert [f.target_arn for f in twin.router.failed_deliveries] == [machines[BACKUP_ACCOUNT]]


def test_dropped_events_are_lost_while_the_job_itself_completes(layout: Layout, twin: Twin) -> None:
    """§A.1: Backup delivers events best effort; `router.drop` loses the chosen ones."""
    queues = Queues(twin)
    queue = queues.queue(RESOURCE_ACCOUNT, MAIN_REGION, "All")
    queues.rule(RESOURCE_ACCOUNT, MAIN_REGION, "All", queue)
    point = layout.backed_up()
    twin.router.drop(
        lambda e: (
            e["detail-type"] == "Copy Job State Change" and e["detail"]["state"] == "COMPLETED"
        )
    )
    job = layout.start_copy(point)["CopyJobId"]
    layout.run(timedelta(hours=1))

    copy_states = [
        e["detail"]["state"]
        for e in queues.messages(queue)
        if e["detail-type"] == "Copy Job State Change"
    ]
    assert copy_states == ["CREATED", "RUNNING"]
    assert layout.state(job) == "COMPLETED"
    assert [e["detail"]["copyJobId"] for e in twin.router.dropped] == [job]


def test_patterns_match_like_eventbridge_and_schedules_see_no_events(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §D.3: `exists: false` on createdBy.backupPlanArn also matches
    when createdBy is missing, which is how on-demand jobs are told from plan jobs."""
    queues = Queues(twin)
    on_demand = queues.queue(RESOURCE_ACCOUNT, MAIN_REGION, "OnDemand")
    scheduled = queues.queue(RESOURCE_ACCOUNT, MAIN_REGION, "Scheduled")
    pattern = {
        "source": ["aws.backup"],
        "detail-type": ["Backup Job State Change"],
        "detail": {"state": ["COMPLETED"], "createdBy": {"backupPlanArn": [{"exists": False}]}},
    }
    queues.rule(RESOURCE_ACCOUNT, MAIN_REGION, "OnDemand", on_demand, pattern)
    events = twin.client("events", RESOURCE_ACCOUNT, MAIN_REGION)
    events.put_rule(Name="Hourly", ScheduleExpression="rate(1 hour)")
    events.put_targets(Rule="Hourly", Targets=[{"Id": "Queue", "Arn": scheduled}])

    manual = layout.backed_up()
    twin.backup.start_backup(RESOURCE_ACCOUNT, MAIN_REGION, VAULT, EFS, plan=PlanInfo())
    layout.run(timedelta(hours=1))

    assert [e["resources"] for e in queues.messages(on_demand)] == [[manual]]
    # The schedule sees no Backup event: only its own Scheduled Event, once an hour.
    assert [e["detail-type"] for e in queues.messages(scheduled)] == ["Scheduled Event"]
