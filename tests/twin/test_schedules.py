"""Schedules, someone else's hands, and what executions announce.

docs/aws-facts.md §D.1 (a rule can run on a `rate(...)` schedule; its target receives a scheduled
event, or the target's Input), §C.3 (redrive, for the reconciliation the schedule starts), §B.4
and §B.5 (someone can change a point's lifecycle or delete it at any time; AWS's rules apply),
and §D.1 / §C.5 (Step Functions Execution Status Change events carry the error and cause).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.events import rate_of
from local.twin import Twin
from tests.twin.helpers import VAULT, Layout, function

pytestmark = pytest.mark.twin

ROLE = f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/Scheduler"


@pytest.mark.parametrize(
    ("expression", "period"),
    [
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(24 hours)", timedelta(days=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(2 days)", timedelta(days=2)),
    ],
)
def test_rate_expressions(expression: str, period: timedelta) -> None:
    assert rate_of(expression) == period


def test_cron_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="rate"):
        rate_of("cron(0 5 * * ? *)")


def machine(twin: Twin, name: str = "Reconcile") -> str:
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    arn: str = sfn.create_state_machine(
        name=name,
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
        roleArn=ROLE,
    )["stateMachineArn"]
    return arn


def inputs(twin: Twin, arn: str) -> list[Any]:
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    runs = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [
        json.loads(sfn.describe_execution(executionArn=r["executionArn"])["input"])
        for r in sorted(runs, key=lambda r: r["startDate"])
    ]


def test_a_rate_schedule_starts_its_state_machine_every_period_with_its_input(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §D.1: the reconciliation runs by itself while the clock runs."""
    arn = machine(twin)
    events = twin.client("events", RESOURCE_ACCOUNT, MAIN_REGION)
    events.put_rule(Name="Daily", ScheduleExpression="rate(24 hours)")
    events.put_targets(
        Rule="Daily",
        Targets=[{"Id": "Run", "Arn": arn, "RoleArn": ROLE, "Input": '{"horizonDays": 35}'}],
    )
    twin.clock.advance(timedelta(hours=23).total_seconds())
    assert inputs(twin, arn) == []
    twin.clock.advance(timedelta(days=2, hours=1).total_seconds())
    twin.wait_for_executions()
    assert inputs(twin, arn) == [{"horizonDays": 35}, {"horizonDays": 35}, {"horizonDays": 35}]
    fired = [when - twin.schedules.fired[0][0] for when, _ in twin.schedules.fired]
    assert fired == [timedelta(0), timedelta(days=1), timedelta(days=2)]


def test_a_schedule_without_input_delivers_the_scheduled_event_and_stops_when_disabled(
    twin: Twin,
) -> None:
    arn = machine(twin)
    events = twin.client("events", RESOURCE_ACCOUNT, MAIN_REGION)
    events.put_rule(Name="Hourly", ScheduleExpression="rate(1 hour)")
    events.put_targets(Rule="Hourly", Targets=[{"Id": "Run", "Arn": arn, "RoleArn": ROLE}])
    twin.clock.advance(timedelta(hours=1).total_seconds())
    twin.wait_for_executions()
    [scheduled] = inputs(twin, arn)
    assert (scheduled["source"], scheduled["detail-type"]) == ("aws.events", "Scheduled Event")
    assert scheduled["resources"] == [events.describe_rule(Name="Hourly")["Arn"]]
    events.disable_rule(Name="Hourly")
    twin.clock.advance(timedelta(hours=3).total_seconds())
    assert len(inputs(twin, arn)) == 1
    events.remove_targets(Rule="Hourly", Ids=["Run"])
    events.delete_rule(Name="Hourly")
    twin.clock.advance(timedelta(hours=3).total_seconds())
    assert twin.schedules.next_due() is None


def test_a_schedule_can_invoke_a_function(twin: Twin) -> None:
    calls: list[Any] = []
    tick = function(twin, "Tick", lambda event, context: calls.append(event))
    events = twin.client("events", RESOURCE_ACCOUNT, MAIN_REGION)
    events.put_rule(Name="Often", ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule="Often", Targets=[{"Id": "Fn", "Arn": tick}])
    twin.clock.advance(timedelta(minutes=16).total_seconds())
    assert [c["detail-type"] for c in calls] == ["Scheduled Event"] * 3


def test_someone_deletes_a_point_and_changes_another_at_chosen_times(
    layout: Layout, twin: Twin
) -> None:
    """docs/aws-facts.md §B.4, §B.5: a person's change happens at its moment; AWS's rules apply."""
    start = twin.clock.now()
    doomed = layout.backed_up(lifecycle={"DeleteAfterDays": 35})
    retimed = layout.backed_up(lifecycle={"DeleteAfterDays": 35})
    twin.backup.someone_deletes(doomed, at=start + timedelta(days=2))
    twin.backup.someone_changes_lifecycle(
        retimed, {"DeleteAfterDays": 60}, at=start + timedelta(days=3)
    )
    twin.backup.someone_changes_lifecycle(
        retimed,
        {"MoveToColdStorageAfterDays": 1, "DeleteAfterDays": 10},
        at=start + timedelta(days=4),
    )

    def describe(arn: str) -> Any:
        return layout.source.describe_recovery_point(BackupVaultName=VAULT, RecoveryPointArn=arn)

    layout.run(timedelta(days=1))
    assert describe(doomed)["Status"] == "COMPLETED"
    twin.run_until_quiet()  # stops at each intervention, then nothing is left to happen
    with pytest.raises(layout.source.exceptions.ResourceNotFoundException):
        describe(doomed)
    assert describe(retimed)["Lifecycle"] == {"DeleteAfterDays": 60}
    assert [(i.action, i.at - start, i.error) for i in twin.backup.interventions] == [
        ("delete", timedelta(days=2), None),
        ("lifecycle", timedelta(days=3), None),
        # 10 days is not 90 past a cold move: AWS refuses it, and the point keeps 60.
        ("lifecycle", timedelta(days=4), "InvalidParameterValueException"),
    ]
    assert all(c.operation != "delete_recovery_point" for c in twin.backup.calls)


def test_a_failed_executions_status_event_carries_its_error_and_cause(twin: Twin) -> None:
    """docs/aws-facts.md §D.1: Step Functions Execution Status Change carries error and cause."""
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    arn = sfn.create_state_machine(
        name="Fails",
        definition=json.dumps(
            {
                "StartAt": "Fail",
                "States": {"Fail": {"Type": "Fail", "Error": "CopiesNotVerified", "Cause": "gone"}},
            }
        ),
        roleArn=ROLE,
    )["stateMachineArn"]
    sfn.start_execution(stateMachineArn=arn)
    twin.wait_for_executions()
    statuses = {
        e["detail"]["status"]: e["detail"]
        for _, _, e in twin.router.events("Step Functions Execution Status Change")
    }
    assert (statuses["FAILED"]["error"], statuses["FAILED"]["cause"]) == (
        "CopiesNotVerified",
        "gone",
    )
    assert (statuses["RUNNING"]["error"], statuses["RUNNING"]["cause"]) == (None, None)
