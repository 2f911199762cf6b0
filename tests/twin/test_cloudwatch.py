"""CloudWatch alarms evaluated on the twin's metrics (local/cloudwatch.py).

docs/aws-facts.md §H (alarms and missing data: Step Functions publishes ExecutionsFailed & co. only
in periods where such executions occur; metric math over a missing point gives no point;
notBreaching reads no point as OK; FILL puts zero in) and §T.2 (the metrics' names, namespaces
and dimensions; how EvaluationPeriods, DatapointsToAlarm and TreatMissingData decide a state).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.cloudwatch import AlarmError, evaluate_expression
from local.twin import Twin

pytestmark = pytest.mark.twin

PERIOD = 300
FAILING = {"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "Broken"}}}
PASSING = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("m1 + m2 + m3", {"m1": 1.0, "m2": None, "m3": None}, None),
        ("m1 + m2 + m3", {"m1": 1.0, "m2": 0.0, "m3": 2.0}, 3.0),
        ("FILL(m1, 0) + FILL(m2, 0) + FILL(m3, 0)", {"m1": 1.0, "m2": None, "m3": None}, 1.0),
        ("SUM([m1, m2, m3])", {"m1": 1.0, "m2": None, "m3": 4.0}, 5.0),
        ("SUM([m1, m2])", {"m1": None, "m2": None}, None),
        ("(m1 - m2) * 2 / 4", {"m1": 5.0, "m2": 1.0}, 2.0),
        ("MAX([m1, FILL(m2, 7)])", {"m1": 1.0, "m2": None}, 7.0),
    ],
)
def test_metric_math_over_present_and_missing_points(
    expression: str, values: dict[str, float | None], expected: float | None
) -> None:
    """docs/aws-facts.md §H: an operator over a missing point gives no point; FILL fills it."""
    assert evaluate_expression(expression, values) == expected


@pytest.mark.parametrize("expression", ["m1 +", "ANOMALY_DETECTION_BAND(m1)", "m9", "[m1, m2]"])
def test_metric_math_the_twin_cannot_evaluate_is_refused(expression: str) -> None:
    with pytest.raises(AlarmError):
        evaluate_expression(expression, {"m1": 1.0, "m2": 2.0})


def machine(twin: Twin, name: str, definition: dict[str, Any]) -> str:
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    arn: str = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/StepFunctions",
    )["stateMachineArn"]
    return arn


def run(twin: Twin, arn: str) -> None:
    twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION).start_execution(stateMachineArn=arn)
    twin.wait_for_executions()


def failures_alarm(twin: Twin, arn: str, expression: str, name: str = "Failures") -> None:
    """The shape of the template's alarm: failed, timed out and aborted executions added."""

    def metric(query_id: str, metric_name: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/States",
                    "MetricName": metric_name,
                    "Dimensions": [{"Name": "StateMachineArn", "Value": arn}],
                },
                "Period": PERIOD,
                "Stat": "Sum",
            },
        }

    twin.client("cloudwatch", RESOURCE_ACCOUNT, MAIN_REGION).put_metric_alarm(
        AlarmName=name,
        Metrics=[
            metric("failed", "ExecutionsFailed"),
            metric("timedout", "ExecutionsTimedOut"),
            metric("aborted", "ExecutionsAborted"),
            {"Id": "unsuccessful", "Expression": expression, "ReturnData": True},
        ],
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )


def test_step_functions_publishes_a_metric_only_for_what_happened(twin: Twin) -> None:
    """docs/aws-facts.md §T.2: AWS/States metrics per StateMachineArn, in the period they happen."""
    arn = machine(twin, "Passes", PASSING)
    run(twin, arn)
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[RESOURCE_ACCOUNT][MAIN_REGION]
    published = sorted(
        (d.namespace, d.name, d.value, [(x.name, x.value) for x in d.dimensions])
        for d in backend.metric_data
    )
    assert published == [
        ("AWS/States", "ExecutionsStarted", 1.0, [("StateMachineArn", arn)]),
        ("AWS/States", "ExecutionsSucceeded", 1.0, [("StateMachineArn", arn)]),
    ]


def test_get_metric_statistics_reads_the_sparse_series(twin: Twin) -> None:
    """docs/aws-facts.md §H: one FAILED execution, and no point at all for the others."""
    arn = machine(twin, "Fails", FAILING)
    start = twin.clock.now()
    run(twin, arn)
    cloudwatch = twin.client("cloudwatch", RESOURCE_ACCOUNT, MAIN_REGION)
    sums = {
        name: [
            p["Sum"]
            for p in cloudwatch.get_metric_statistics(
                Namespace="AWS/States",
                MetricName=name,
                Dimensions=[{"Name": "StateMachineArn", "Value": arn}],
                StartTime=start,
                EndTime=start + timedelta(seconds=PERIOD),
                Period=PERIOD,
                Statistics=["Sum"],
            )["Datapoints"]
        ]
        for name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
    }
    assert sums == {"ExecutionsFailed": [1.0], "ExecutionsTimedOut": [], "ExecutionsAborted": []}


def test_one_failure_alone_leaves_the_plain_sum_silent_and_fill_makes_it_fire(
    twin: Twin,
) -> None:
    """docs/aws-facts.md §H: failed + timedout + aborted with one FAILED and no time-out or abort
    has no data point, which notBreaching reads as OK; FILL(x, 0) makes the alarm fire."""
    arn = machine(twin, "Fails", FAILING)
    failures_alarm(twin, arn, "failed + timedout + aborted", "Silent")
    failures_alarm(twin, arn, "FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)", "Filled")
    run(twin, arn)
    twin.clock.advance(PERIOD)  # the period holding the failure is complete

    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "Silent") == "OK"
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "Filled") == "ALARM"
    # DescribeAlarms answers with the evaluated states, as a user (or a script) reads them.
    described = twin.client("cloudwatch", RESOURCE_ACCOUNT, MAIN_REGION).describe_alarms()
    assert {a["AlarmName"]: a["StateValue"] for a in described["MetricAlarms"]} == {
        "Silent": "OK",
        "Filled": "ALARM",
    }
    # A period later there is no failure: the filled sum is 0 and the alarm is OK again.
    twin.clock.advance(PERIOD)
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "Filled") == "OK"


def alarm(
    twin: Twin, name: str, namespace: str, metric: str, dimension: tuple[str, str], **more: Any
) -> None:
    """A single-metric alarm: at least 1 per period, by the given statistic and periods."""
    settings: dict[str, Any] = {
        "Statistic": "Sum",
        "EvaluationPeriods": 1,
        "TreatMissingData": "notBreaching",
        **more,
    }
    twin.client("cloudwatch", RESOURCE_ACCOUNT, MAIN_REGION).put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": dimension[0], "Value": dimension[1]}],
        Period=PERIOD,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        **settings,
    )


def failed_executions_alarm(twin: Twin, name: str, arn: str, **more: Any) -> None:
    alarm(twin, name, "AWS/States", "ExecutionsFailed", ("StateMachineArn", arn), **more)


@pytest.mark.parametrize(
    ("treat", "expected"),
    [
        ("missing", "INSUFFICIENT_DATA"),
        ("notBreaching", "OK"),
        ("breaching", "ALARM"),
        ("ignore", "OK"),  # keeps its state: new alarms start OK in moto
    ],
)
def test_treat_missing_data_decides_a_period_without_points(
    twin: Twin, treat: str, expected: str
) -> None:
    """docs/aws-facts.md §T.2: TreatMissingData."""
    arn = machine(twin, "Quiet", PASSING)
    failed_executions_alarm(twin, "Quiet", arn, EvaluationPeriods=2, TreatMissingData=treat)
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "Quiet") == expected


def test_datapoints_to_alarm_counts_breaching_periods(twin: Twin) -> None:
    """docs/aws-facts.md §T.2: M of N periods must breach."""
    arn = machine(twin, "Flaky", FAILING)
    failed_executions_alarm(twin, "TwoOfThree", arn, EvaluationPeriods=3, DatapointsToAlarm=2)
    run(twin, arn)
    twin.clock.advance(PERIOD)
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "TwoOfThree") == "OK"
    run(twin, arn)
    twin.clock.advance(PERIOD)
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "TwoOfThree") == "ALARM"
    twin.clock.advance(timedelta(minutes=15).total_seconds())
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "TwoOfThree") == "OK"


def test_a_queue_depth_alarm_reads_the_queue(twin: Twin) -> None:
    """docs/aws-facts.md §T.2: AWS/SQS ApproximateNumberOfMessagesVisible per QueueName."""
    sqs = twin.client("sqs", RESOURCE_ACCOUNT, MAIN_REGION)
    url = sqs.create_queue(QueueName="Errors")["QueueUrl"]
    alarm(
        twin,
        "ErrorsWaiting",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        ("QueueName", "Errors"),
        Statistic="Maximum",
    )
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "ErrorsWaiting") == "OK"
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    assert twin.cloudwatch.alarm_state(RESOURCE_ACCOUNT, MAIN_REGION, "ErrorsWaiting") == "ALARM"
