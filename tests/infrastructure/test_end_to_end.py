"""The quick start, end to end, with nothing but the template: the README's promise, kept.

The stacks of the quick start (the backup account in every Region a copy lands in, the
resource account in the main Region) and a resource account with copying off, then a day of
life in one twin, phase by phase: an on-demand backup copied twice and cut to 8 days, a copy
that fails, a copy someone starts to a vault of their choosing, the reconciliation's daily run,
and backups whose copies are slow to show in AWS's lists. No handler is registered with the
twin, so the code that runs is the template's inline code, exactly as CloudFormation wrote it
into index.py, under the roles the template gives it (the twin's IAM evaluates every AWS
Backup call and every AssumeRole, docs/twin.md §6).

Each phase records what a person would have seen at that moment (alarm states, the error
queue); the tests only read the run.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    ORGANIZATION_ID,
    OTHER_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.cloudwatch import STATES_NAMESPACE, STATUS_METRICS
from local.twin import Twin
from tasks.metrics import NAMESPACE, PUBLISHED
from tests.infrastructure.conftest import (
    TASK_FUNCTIONS,
    VAULT_NAME,
    Stack,
    copies_of,
    deploy,
    deploy_quick_start,
    drain_error_queue,
    executions_of,
    module_twin,
    template,
)

PERIOD = 300  # the alarms' period, seconds
ACCESS_DENIED = (
    "Access denied: the destination vault's access policy does not allow "
    "backup:CopyIntoBackupVault."
)
# Longer than a finished copy usually waits for its poll, shorter than the 15 minutes after
# which VerifyCopies counts a copy it cannot read as gone (tasks/verify_copies.py).
LAG = timedelta(minutes=12)
WORKFLOW_FUNCTIONS = sorted(set(TASK_FUNCTIONS) - {"FindUnfinishedBackupsFunction"})


def efs(name: str, account: str = RESOURCE_ACCOUNT) -> str:
    return f"arn:aws:elasticfilesystem:{MAIN_REGION}:{account}:file-system/fs-{name}"


COPIED = efs("0a1b2c3d4e5f60001")
FAILING = efs("0a1b2c3d4e5f60002")
LAGGING = efs("0a1b2c3d4e5f60003")
UNREADABLE = efs("0a1b2c3d4e5f60004")
NOT_COPIED = efs("0a1b2c3d4e5f60005", SECOND_RESOURCE_ACCOUNT)


@dataclass
class Day:
    """The deployed quick start and what was seen during its day."""

    twin: Twin
    stack: Stack
    off: Stack  # SECOND_RESOURCE_ACCOUNT, EnableCopy and EnableUpdateLifecycle false
    jobs: dict[str, str] = field(default_factory=dict)  # resource ARN -> backup job id
    alarms: dict[str, dict[str, str]] = field(default_factory=dict)  # moment -> name -> state
    queued: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # moment -> messages
    workflow_invocations: list[Any] = field(default_factory=list)  # those of the first backup
    failure_window: tuple[datetime, datetime] | None = None
    stdout: str = ""

    def original(self, resource: str) -> dict[str, Any]:
        arn = self.twin.backup.jobs[self.jobs[resource]].recovery_point_arn
        assert arn is not None, "the backup job did not complete"
        account = arn.split(":")[4]
        described: dict[str, Any] = self.twin.client(
            "backup", account, MAIN_REGION
        ).describe_recovery_point(BackupVaultName=VAULT_NAME, RecoveryPointArn=arn)
        return described

    def executions(self, resource: str, stack: Stack | None = None) -> list[dict[str, Any]]:
        """The executions of the workflow started for this resource's backup."""
        machine = (stack or self.stack).outputs["StateMachineArn"]
        return executions_of(self.twin, machine, self.original_arn(resource))

    def original_arn(self, resource: str) -> str:
        return str(self.twin.backup.jobs[self.jobs[resource]].recovery_point_arn)

    def copies(self, resource: str, region: str) -> list[dict[str, Any]]:
        return copies_of(self.twin, resource, region)

    def invocations(self, logical_id: str) -> list[Any]:
        name = self.stack.physical_id(logical_id)
        return [i for i in self.twin.lambdas.invocations if i.function_name == name]


def alarm_states(twin: Twin, stack: Stack) -> dict[str, str]:
    """Every alarm of the stack's account and Region as DescribeAlarms shows it now."""
    alarms = stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    names = {stack.physical_id(n): n for n in ("FailedExecutionsAlarm", "ErrorQueueAlarm")}
    return {names.get(a["AlarmName"], a["AlarmName"]): a["StateValue"] for a in alarms}


def put_the_old_failure_alarm(stack: Stack) -> None:
    """The alarm as 7f3a301 had it: the deployed alarm with `failed + timedout + aborted`."""
    cloudwatch = stack.client("cloudwatch")
    (deployed,) = cloudwatch.describe_alarms(
        AlarmNames=[stack.physical_id("FailedExecutionsAlarm")]
    )["MetricAlarms"]
    cloudwatch.put_metric_alarm(
        AlarmName="OldFailedExecutionsAlarm",
        Metrics=[
            {**q, "Expression": "failed + timedout + aborted"} if "Expression" in q else q
            for q in deployed["Metrics"]
        ],
        ComparisonOperator=deployed["ComparisonOperator"],
        Threshold=deployed["Threshold"],
        EvaluationPeriods=deployed["EvaluationPeriods"],
        TreatMissingData=deployed["TreatMissingData"],
    )


def on_demand_backup(day: Day, resource: str, account: str = RESOURCE_ACCOUNT) -> None:
    """Quick start step 11: an on-demand backup of 14 days into the sample vault."""
    day.jobs[resource] = day.twin.backup.start_backup(
        account, MAIN_REGION, VAULT_NAME, resource, lifecycle={"DeleteAfterDays": 14}
    )


def next_period(moment: datetime) -> datetime:
    """The first moment at which the alarm period holding `moment` is complete."""
    seconds = int(moment.timestamp()) // PERIOD * PERIOD + PERIOD
    return datetime.fromtimestamp(seconds + 1, UTC)


def live_the_day(twin: Twin) -> Day:
    stack = deploy_quick_start(twin, RESOURCE_ACCOUNT, MAIN_REGION)
    off = deploy(
        twin,
        SECOND_RESOURCE_ACCOUNT,
        MAIN_REGION,
        EnableCopy="false",
        EnableUpdateLifecycle="false",
    )
    day = Day(twin, stack, off)

    # A backup copied twice and cut; one where copying is off.
    on_demand_backup(day, COPIED)
    on_demand_backup(day, NOT_COPIED, SECOND_RESOURCE_ACCOUNT)
    twin.run_until_quiet()
    day.workflow_invocations = list(twin.lambdas.invocations)
    day.alarms["after a success"] = alarm_states(twin, stack)
    day.queued["after a success"] = drain_error_queue(stack)

    # A copy that fails: its execution fails with it. Seen once the alarm period is complete.
    twin.backup.on_copy(lambda job: job.resource_arn == FAILING, fail=ACCESS_DENIED)
    on_demand_backup(day, FAILING)
    twin.run_until_quiet()
    (failed,) = day.executions(FAILING)
    stopped = failed["stopDate"].astimezone(UTC)
    twin.clock.advance(to=next_period(stopped))
    end = next_period(stopped) - timedelta(seconds=1)
    day.failure_window = (end - timedelta(seconds=PERIOD), end)
    put_the_old_failure_alarm(stack)
    day.alarms["after a failure"] = alarm_states(twin, stack)
    day.queued["after a failure"] = drain_error_queue(stack)
    day.alarms["after the queue was read"] = alarm_states(twin, stack)

    # Someone copies an original to a vault of their choosing, one that would accept it.
    elsewhere = twin.create_vault(
        BACKUP_ACCOUNT,
        OTHER_REGION,
        VAULT_NAME,
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID}},
                }
            ],
        },
    )
    stack.client("backup").start_copy_job(
        RecoveryPointArn=day.original_arn(COPIED),
        SourceBackupVaultName=VAULT_NAME,
        DestinationBackupVaultArn=elsewhere,
        IamRoleArn=f"arn:aws:iam::{RESOURCE_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole",
    )
    twin.run_until_quiet()
    day.queued["after a copy elsewhere"] = drain_error_queue(stack)

    # A day later: the schedule starts the reconciliation.
    twin.clock.advance(timedelta(days=1).total_seconds())
    twin.run_until_quiet()
    day.queued["after the reconciliation"] = drain_error_queue(stack)

    # Lists that lag a finished copy, then copies that cannot even be described yet.
    twin.backup.listing_lag = LAG
    on_demand_backup(day, LAGGING)
    twin.run_until_quiet()
    twin.backup.describe_lag = LAG
    on_demand_backup(day, UNREADABLE)
    twin.run_until_quiet()
    twin.backup.describe_lag = timedelta(0)
    twin.backup.listing_lag = timedelta(0)
    return day


@pytest.fixture(scope="module")
def day() -> Iterator[Day]:
    printed = io.StringIO()
    with module_twin() as twin:
        # What the functions print is their log: Powertools writes EMF metrics there.
        with contextlib.redirect_stdout(printed):
            lived = live_the_day(twin)
        lived.stdout = printed.getvalue()
        yield lived


def deployed_code(stack: Stack, logical_id: str) -> str:
    # The package CloudFormation built from the inline ZipFile, as the function stores it.
    from moto.awslambda.models import lambda_backends

    function = lambda_backends[stack.account][stack.region].get_function(
        stack.physical_id(logical_id)
    )
    with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as package:
        return package.read("index.py").decode()


# -- the quick start --------------------------------------------------------------------------


def test_the_quick_start_copies_an_on_demand_backup_twice_then_cuts_it_to_8_days(
    day: Day,
) -> None:
    # One execution of this stack's state machine, started by the rule with the event itself.
    (execution,) = day.executions(COPIED)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    (completed,) = [
        event
        for _, _, event in day.twin.router.events("Backup Job State Change")
        if event["detail"].get("state") == "COMPLETED" and event["detail"]["resourceArn"] == COPIED
    ]
    assert json.loads(execution["input"]) == completed

    # Two copies in the backup account: the backup region and the original's own region.
    original = day.original(COPIED)
    for region in (BACKUP_REGION, MAIN_REGION):
        (copy,) = day.copies(COPIED, region)
        assert copy["SourceBackupVaultArn"] == original["BackupVaultArn"], region
        assert copy["Status"] == "COMPLETED", region
        assert copy["CreationDate"] == original["CreationDate"], region
    copy_jobs = [
        j
        for j in day.stack.client("backup").list_copy_jobs(ByResourceArn=COPIED)["CopyJobs"]
        if j["State"] == "COMPLETED"
    ]
    assert sorted(j["DestinationBackupVaultArn"] for j in copy_jobs) == sorted(
        f"arn:aws:backup:{region}:{BACKUP_ACCOUNT}:backup-vault:{VAULT_NAME}"
        for region in (BACKUP_REGION, MAIN_REGION)
    )

    # The original now expires after 8 days (NewDeleteAfterDays 7 plus one day of margin).
    assert original["Lifecycle"] == {"DeleteAfterDays": 8}
    assert day.queued["after a success"] == []


def test_the_functions_that_ran_are_the_stacks_running_the_templates_inline_code(
    day: Day,
) -> None:
    functions = {day.stack.physical_id(name): name for name in WORKFLOW_FUNCTIONS}
    invoked = {i.function_name for i in day.workflow_invocations}
    assert invoked == set(functions)
    assert {(i.account, i.region) for i in day.workflow_invocations} == {
        (RESOURCE_ACCOUNT, MAIN_REGION)
    }
    # CopyJobNotFinished is the wait itself: the describe task's Retry is the polling loop.
    errors = {i.error_type for i in day.workflow_invocations} - {None, "CopyJobNotFinished"}
    assert errors == set()
    for logical_id in TASK_FUNCTIONS:
        inline = template()["Resources"][logical_id]["Properties"]["Code"]["ZipFile"]
        assert deployed_code(day.stack, logical_id) == inline, logical_id


def test_with_enable_copy_false_a_backup_is_left_alone(day: Day) -> None:
    events = day.off.client("events")
    for rule in ("BackupCompletedRule", "PlanCopyCompletedRule", "ReconcileSchedule"):
        assert events.describe_rule(Name=day.off.physical_id(rule))["State"] == "DISABLED"

    assert day.executions(NOT_COPIED, day.off) == []
    assert executions_of(day.twin, day.off.outputs["ReconcileStateMachineArn"]) == []
    assert {i.account for i in day.twin.lambdas.invocations} == {RESOURCE_ACCOUNT}
    assert day.off.client("backup").list_copy_jobs()["CopyJobs"] == []
    assert day.copies(NOT_COPIED, BACKUP_REGION) == []
    assert day.copies(NOT_COPIED, MAIN_REGION) == []
    assert day.original(NOT_COPIED)["Lifecycle"] == {"DeleteAfterDays": 14}


def test_a_failed_copy_and_its_failed_execution_land_in_the_error_queue(day: Day) -> None:
    (execution,) = day.executions(FAILING)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "CopyJobFailed"
    # Nothing was cut: without both copies the original keeps its full retention.
    assert day.original(FAILING)["Lifecycle"] == {"DeleteAfterDays": 14}

    queued = sorted(day.queued["after a failure"], key=lambda event: str(event["detail-type"]))
    assert [event["detail-type"] for event in queued] == [
        "Copy Job State Change",
        "Step Functions Execution Status Change",
    ]
    copy_event, execution_event = queued
    assert copy_event["detail"]["state"] == "FAILED"
    assert copy_event["detail"]["statusMessage"] == ACCESS_DENIED
    assert execution_event["detail"]["executionArn"] == execution["executionArn"]
    assert execution_event["detail"]["status"] == "FAILED"
    assert execution_event["detail"]["error"] == "CopyJobFailed"


def test_the_failure_alarm_fires_after_one_failed_execution_without_time_outs_or_aborts(
    day: Day,
) -> None:
    """Issue 13, finding 1: Step Functions publishes ExecutionsFailed, ExecutionsTimedOut and
    ExecutionsAborted only in periods with such an execution; metric math over a missing
    point gives none, which notBreaching reads as OK; FILL(x, 0) makes it zero
    (docs/aws-facts.md §H, alarms and missing data; §T.2). The twin publishes the sparse
    series and evaluates the deployed alarm as CloudWatch does (docs/twin.md §7)."""
    assert day.alarms["after a success"] == {"FailedExecutionsAlarm": "OK", "ErrorQueueAlarm": "OK"}

    # Step Functions' series of this state machine: failures only, no time-out, no abort.
    machine = day.stack.outputs["StateMachineArn"]
    listed = day.stack.client("cloudwatch").list_metrics(
        Namespace="AWS/States", Dimensions=[{"Name": "StateMachineArn", "Value": machine}]
    )["Metrics"]
    published = {m["MetricName"] for m in listed}
    assert "ExecutionsFailed" in published
    assert not {"ExecutionsTimedOut", "ExecutionsAborted"} & published

    assert day.alarms["after a failure"] == {
        "FailedExecutionsAlarm": "ALARM",
        "ErrorQueueAlarm": "ALARM",
        # The previous template's expression, over the same series: silent.
        "OldFailedExecutionsAlarm": "OK",
    }
    # The queue's alarm follows its depth: read and emptied, it is OK again.
    assert day.alarms["after the queue was read"]["ErrorQueueAlarm"] == "OK"


def test_get_metric_statistics_reads_the_sparse_series_of_the_failure_period(day: Day) -> None:
    assert day.failure_window is not None
    start, end = day.failure_window
    cloudwatch = day.stack.client("cloudwatch")
    machine = day.stack.outputs["StateMachineArn"]
    points = {
        name: cloudwatch.get_metric_statistics(
            Namespace="AWS/States",
            MetricName=name,
            Dimensions=[{"Name": "StateMachineArn", "Value": machine}],
            StartTime=start,
            EndTime=end,
            Period=PERIOD,
            Statistics=["Sum"],
        )["Datapoints"]
        for name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
    }
    assert {name: [p["Sum"] for p in found] for name, found in points.items()} == {
        "ExecutionsFailed": [1.0],
        "ExecutionsTimedOut": [],
        "ExecutionsAborted": [],
    }


def test_the_sample_vault_refuses_a_copy_to_any_other_destination(day: Day) -> None:
    # Someone with the resource account's credentials copies an original to a vault of their
    # choosing, in the backup account's third region, that would itself accept it.
    assert day.copies(COPIED, OTHER_REGION) == []
    (queued,) = day.queued["after a copy elsewhere"]
    assert queued["detail-type"] == "Copy Job State Change"
    assert queued["detail"]["state"] == "FAILED"
    assert queued["detail"]["destinationBackupVaultArn"].startswith(
        f"arn:aws:backup:{OTHER_REGION}:{BACKUP_ACCOUNT}:"
    )
    assert "backup:CopyFromBackupVault" in queued["detail"]["statusMessage"]


def test_the_schedule_starts_the_reconciliation_which_reports_the_failed_backup(
    day: Day,
) -> None:
    schedule = day.stack.client("events").describe_rule(
        Name=day.stack.physical_id("ReconcileSchedule")
    )
    assert [arn for _, arn in day.twin.schedules.fired] == [schedule["Arn"]]
    (reconciliation,) = executions_of(day.twin, day.stack.outputs["ReconcileStateMachineArn"])
    assert reconciliation["status"] == "SUCCEEDED", reconciliation.get("cause")
    # A final error is never retried by itself: the backup is reported, by name.
    assert len(day.executions(FAILING)) == 1
    reported = json.dumps(day.queued["after the reconciliation"])
    assert day.original_arn(FAILING) in reported
    assert day.original_arn(COPIED) not in reported


def test_a_listing_that_lags_the_copies_does_not_stop_the_cut(day: Day) -> None:
    """Issue 13, finding 6: AWS does not promise that ListCopyJobs or
    ListRecoveryPointsByBackupVault show a job the moment DescribeCopyJob says COMPLETED
    (docs/aws-facts.md §T.3). With the twin's lists lagging (`listing_lag`), the copies this
    execution saw complete are read by their ARNs and the original is cut."""
    (execution,) = day.executions(LAGGING)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert day.original(LAGGING)["Lifecycle"] == {"DeleteAfterDays": 8}


def test_verify_copies_retries_a_copy_it_cannot_read_yet_and_the_backup_is_cut(day: Day) -> None:
    """Issue 13, finding 6: a copy this execution saw complete that the backup account cannot
    show yet (docs/aws-facts.md §T.3) is CopiesNotYetVisible, which the state machine retries
    for a bounded time (design.md §3), not CopiesNotVerified at once."""
    (execution,) = day.executions(UNREADABLE)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert day.original(UNREADABLE)["Lifecycle"] == {"DeleteAfterDays": 8}
    original = day.original_arn(UNREADABLE)
    verified = [
        i.error_type
        for i in day.invocations("VerifyCopiesFunction")
        if i.event.get("RecoveryPointArn") == original
    ]
    assert verified[-1] is None
    assert set(verified[:-1]) == {"CopiesNotYetVisible"}
    assert verified[:-1], "the copy was not readable at first"


# -- the dashboard (issue 15) -------------------------------------------------------------------


Metric = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, name, dimensions


def dashboard_metrics(body: dict[str, Any]) -> set[Metric]:
    """Every (namespace, metric, dimensions) a metric widget of the dashboard names.

    A row is [namespace, name, dimension name, value, ..., {options}]; "." repeats the row
    above at that place and "..." the rest of it (CloudWatch's dashboard body syntax). A row
    of only options is metric math over other rows and names no metric itself.
    """
    found: set[Metric] = set()
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        previous: list[str] = []
        for row in widget["properties"]["metrics"]:
            parts = [p for p in row if not isinstance(p, dict)]
            if not parts:
                continue
            if "..." in parts:
                at = parts.index("...")
                parts = parts[:at] + previous[at:]
            parts = [previous[i] if p == "." else p for i, p in enumerate(parts)]
            namespace, name, *dimensions = parts
            assert len(dimensions) % 2 == 0, row
            pairs = tuple(sorted(zip(dimensions[::2], dimensions[1::2], strict=True)))
            found.add((namespace, name, pairs))
            previous = parts
    return found


def emf_metrics(printed: str) -> set[Metric]:
    """Every metric an EMF record in the functions' output carries, with its dimensions."""
    found: set[Metric] = set()
    for line in printed.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                pairs = tuple(sorted((d, str(record[d])) for d in dimension_set))
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], pairs))
    return found


def twin_has_data(stack: Stack, metric: Metric) -> bool:
    """Whether CloudWatch in the twin has a value for this metric now (a probe alarm's state)."""
    namespace, name, dimensions = metric
    cloudwatch = stack.client("cloudwatch")
    probe = f"probe-{namespace}-{name}"
    cloudwatch.put_metric_alarm(
        AlarmName=probe,
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing",
    )
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[probe])["MetricAlarms"]
    cloudwatch.delete_alarms(AlarmNames=[probe])
    return bool(alarm["StateValue"] != "INSUFFICIENT_DATA")


@pytest.fixture(scope="module")
def dashboard(day: Day) -> dict[str, Any]:
    described = day.stack.client("cloudwatch").get_dashboard(
        DashboardName=day.stack.outputs["DashboardName"]
    )
    body: dict[str, Any] = json.loads(described["DashboardBody"])
    return body


def test_the_dashboard_names_only_metrics_the_tasks_really_publish(
    day: Day, dashboard: dict[str, Any]
) -> None:
    """Issue 15: every BackupEvents metric a widget names is one tasks/metrics.py declares and
    one the functions really printed as EMF during this day, with the same dimensions
    (docs/aws-facts.md §F: Powertools Metrics writes EMF to the log)."""
    named = {m for m in dashboard_metrics(dashboard) if m[0] == NAMESPACE}
    printed = emf_metrics(day.stdout)
    assert named, "the dashboard shows the product's own figures"
    assert {name for _, name, _ in named} - PUBLISHED == set()
    assert named - printed == set(), "named on the dashboard, never printed by a task"
    # And the tasks print nothing in the namespace that tasks/metrics.py does not declare.
    assert {name for namespace, name, _ in printed if namespace == NAMESPACE} <= PUBLISHED


def test_the_dashboard_names_only_aws_metrics_the_services_publish(
    day: Day, dashboard: dict[str, Any]
) -> None:
    """Issue 15: the Step Functions and SQS metrics a widget names are ones those services
    publish for this stack's state machine and error queue (docs/aws-facts.md §T.2), as the
    twin publishes them (docs/twin.md §7)."""
    named = dashboard_metrics(dashboard)
    assert {m[0] for m in named} == {NAMESPACE, STATES_NAMESPACE, "AWS/SQS"}

    machine = day.stack.outputs["StateMachineArn"]
    states = {m for m in named if m[0] == STATES_NAMESPACE}
    published = {
        (STATES_NAMESPACE, name, (("StateMachineArn", machine),))
        for name in STATUS_METRICS.values()
    }
    assert states - published == set()
    # What the twin did publish during the day is of that kind.
    listed = day.stack.client("cloudwatch").list_metrics(Namespace=STATES_NAMESPACE)["Metrics"]
    seen = {
        (STATES_NAMESPACE, m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
        for m in listed
    }
    assert {m for m in seen if m[2] == (("StateMachineArn", machine),)} <= published

    queues = {m for m in named if m[0] == "AWS/SQS"}
    queue_name = day.stack.outputs["ErrorQueueUrl"].rsplit("/", 1)[-1]
    assert queues == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", queue_name),))
    }
    assert all(twin_has_data(day.stack, m) for m in queues)


def test_the_dashboards_alarm_widget_shows_this_stacks_two_alarms(
    day: Day, dashboard: dict[str, Any]
) -> None:
    shown = [
        arn
        for widget in dashboard["widgets"]
        if widget["type"] == "alarm"
        for arn in widget["properties"]["alarms"]
    ]
    alarms = day.stack.client("cloudwatch").describe_alarms(
        AlarmNames=[day.stack.physical_id(n) for n in ("FailedExecutionsAlarm", "ErrorQueueAlarm")]
    )["MetricAlarms"]
    assert sorted(shown) == sorted(a["AlarmArn"] for a in alarms)
    assert len(shown) == 2
