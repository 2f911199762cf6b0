"""One template, deployed in every place it goes: what each stack creates, and how it is wired.

All placements share one twin (they are in different accounts and regions, as in a real
organization), so the module deploys each stack once and the tests read what was made through
the same APIs a user's console uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
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
from local.cloudformation import powertools_layer_arn
from local.policy import decide
from statemachines.definition import NUMERIC_FIELDS, substitute_text
from tests.infrastructure.conftest import (
    TASK_FUNCTIONS,
    VAULT_NAME,
    Stack,
    deploy,
    module_twin,
    template,
)

FOURTH_REGION = "eu-west-1"
BACKUP_ACCOUNT_RESOURCES = {"CopiesVault", "CopyReaderRole"}
RESOURCE_ACCOUNT_RESOURCES = {
    "OriginalsVault",
    "TaskLogGroup",
    *(name.removesuffix("Function") + "Role" for name in TASK_FUNCTIONS),
    *TASK_FUNCTIONS,
    "CutLedger",
    "StateMachineLogGroup",
    "StateMachineRole",
    "StateMachine",
    "EventsRole",
    "BackupCompletedRule",
    "PlanCopyCompletedRule",
    "ReconcileLogGroup",
    "ReconcileRole",
    "ReconcileStateMachine",
    "ReconcileSchedule",
    "ErrorQueue",
    "ErrorQueuePolicy",
    "FailuresRule",
    "ErrorQueueAlarm",
    "FailedExecutionsAlarm",
    "Dashboard",
}
RESOURCE_OUTPUTS = {
    "StateMachineArn",
    "ReconcileStateMachineArn",
    "ErrorQueueUrl",
    "CutLedgerTable",
    "CopyReaderRoleArn",
    "DashboardName",
}
ALARM_EMAIL = "backup-team@example.com"
COPY_ROLE_NAME = "service-role/AWSBackupDefaultServiceRole"  # the template's default
COPY_ROLE_PATTERN = f"arn:aws:iam::*:role/{COPY_ROLE_NAME}"


@dataclass(frozen=True)
class Placement:
    label: str
    account: str
    region: str
    expected: frozenset[str]
    overrides: tuple[tuple[str, str], ...] = ()


PLACEMENTS = (
    Placement(
        "resource account, not the backup region",
        RESOURCE_ACCOUNT,
        MAIN_REGION,
        frozenset(RESOURCE_ACCOUNT_RESOURCES),
    ),
    Placement(
        "resource account, backup region",
        RESOURCE_ACCOUNT,
        BACKUP_REGION,
        frozenset(RESOURCE_ACCOUNT_RESOURCES),
    ),
    Placement(
        "backup account, backup region",
        BACKUP_ACCOUNT,
        BACKUP_REGION,
        frozenset(BACKUP_ACCOUNT_RESOURCES),
    ),
    Placement(
        "backup account, alternate region",
        BACKUP_ACCOUNT,
        MAIN_REGION,
        frozenset(BACKUP_ACCOUNT_RESOURCES),
    ),
    Placement(
        "backup account, another resource region",
        BACKUP_ACCOUNT,
        OTHER_REGION,
        frozenset(BACKUP_ACCOUNT_RESOURCES),
    ),
    Placement(
        "backup account without sample vaults",
        BACKUP_ACCOUNT,
        FOURTH_REGION,
        frozenset({"CopyReaderRole"}),
        (("CreateSampleVault", "false"),),
    ),
    Placement(
        "resource account with an alarm e-mail, reconciled hourly",
        SECOND_RESOURCE_ACCOUNT,
        MAIN_REGION,
        frozenset({*RESOURCE_ACCOUNT_RESOURCES, "AlarmTopic"}),
        (("AlarmEmail", ALARM_EMAIL), ("ReconcileEveryHours", "1")),
    ),
    Placement(
        "resource account, own vault, no scheduled reconciliation",
        SECOND_RESOURCE_ACCOUNT,
        BACKUP_REGION,
        frozenset(RESOURCE_ACCOUNT_RESOURCES - {"OriginalsVault", "ReconcileSchedule"}),
        (("CreateSampleVault", "false"), ("ReconcileEveryHours", "")),
    ),
)
BY_LABEL = {p.label: p for p in PLACEMENTS}
RESOURCE_PLACEMENTS = [p.label for p in PLACEMENTS if "StateMachine" in p.expected]
SAMPLE_VAULT_PLACEMENTS = [
    p for p in RESOURCE_PLACEMENTS if "OriginalsVault" in BY_LABEL[p].expected
]
BACKUP_PLACEMENTS = [p.label for p in PLACEMENTS if "StateMachine" not in p.expected]


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, Stack]]:
    with module_twin() as twin:
        yield {p.label: deploy(twin, p.account, p.region, **dict(p.overrides)) for p in PLACEMENTS}


def vault_arn(account: str, region: str) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{VAULT_NAME}"


def reader_arn(region: str) -> str:
    return f"arn:aws:iam::{BACKUP_ACCOUNT}:role/backup-events/BackupEventsCopyReader-{region}"


def first_copy_region(region: str) -> str:
    """Where copy 1 goes: the backup region, or its alternate for backups made there."""
    return MAIN_REGION if region == BACKUP_REGION else BACKUP_REGION


def numeric_fields(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of the definition whose key is one of ASL's numeric fields."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NUMERIC_FIELDS:
                yield key, value
            yield from numeric_fields(value)
    elif isinstance(node, list):
        for item in node:
            yield from numeric_fields(item)


def rule_named(stack: Stack, logical_id: str) -> dict[str, Any]:
    described: dict[str, Any] = stack.client("events").describe_rule(
        Name=stack.physical_id(logical_id)
    )
    return described


def vault_policy(stack: Stack) -> dict[str, Any]:
    backup = stack.client("backup")
    policy: dict[str, Any] = json.loads(
        backup.get_backup_vault_access_policy(BackupVaultName=VAULT_NAME)["Policy"]
    )
    return policy


def deployed_definition(stack: Stack, logical_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(DescribeStateMachine, its definition parsed) of one of the stack's state machines."""
    machine = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.physical_id(logical_id)
    )
    return machine, json.loads(machine["definition"])


def expected_definition(logical_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """The template's own definition text, filled in the way CloudFormation fills it: whether
    that text is current with statemachines/ is test_build's question, not this one's."""
    definition = template()["Resources"][logical_id]["Properties"]["DefinitionString"]
    expected: dict[str, Any] = json.loads(substitute_text(definition, values))
    return expected


# -- what each placement creates --------------------------------------------------------------


@pytest.mark.parametrize("label", [p.label for p in PLACEMENTS])
def test_each_placement_creates_exactly_its_resources(stacks: dict[str, Stack], label: str) -> None:
    assert set(stacks[label].resources) == BY_LABEL[label].expected


def test_a_backup_account_stack_without_sample_vaults_still_creates_the_copy_reader(
    stacks: dict[str, Stack],
) -> None:
    """Issue 13, finding 3: CloudFormation refuses a stack whose conditions leave nothing to
    create (docs/aws-facts.md §H, empty stacks; the twin refuses it too, see test_parameters),
    and the README offers CreateSampleVault=false. Every backup-account placement creates its
    Region's copy reader (design.md §2), so that stack is valid."""
    stack = stacks["backup account without sample vaults"]
    assert stack.status == "CREATE_COMPLETE"
    assert stack.resources == {
        "CopyReaderRole": ("AWS::IAM::Role", f"BackupEventsCopyReader-{FOURTH_REGION}")
    }
    assert stack.client("backup").list_backup_vaults()["BackupVaultList"] == []
    assert stack.outputs == {}


@pytest.mark.parametrize("label", BACKUP_PLACEMENTS)
def test_the_backup_account_holds_only_vaults_and_a_reader_that_can_only_read(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    assert stack.client("lambda").list_functions()["Functions"] == []
    assert stack.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert stack.client("events").list_rules()["Rules"] == []
    assert stack.client("sqs").list_queues().get("QueueUrls", []) == []

    iam = stack.client("iam")
    reader = iam.get_role(RoleName=f"BackupEventsCopyReader-{stack.region}")["Role"]
    assert (reader["Arn"], reader["Path"]) == (reader_arn(stack.region), "/backup-events/")
    assert reader["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID},
                "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/backup-events/*"},
            },
        }
    ]
    (policy_name,) = iam.list_role_policies(RoleName=reader["RoleName"])["PolicyNames"]
    document = iam.get_role_policy(RoleName=reader["RoleName"], PolicyName=policy_name)
    assert document["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "backup:ListRecoveryPointsByBackupVault",
            "Resource": f"arn:aws:backup:*:{BACKUP_ACCOUNT}:backup-vault:{VAULT_NAME}",
        },
        {"Effect": "Allow", "Action": "backup:DescribeRecoveryPoint", "Resource": "*"},
    ]
    if "CopiesVault" not in stack.resources:
        return
    assert stack.outputs == {"VaultArn": vault_arn(stack.account, stack.region)}
    backup = stack.client("backup")
    assert [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]] == [
        VAULT_NAME
    ]
    assert vault_policy(stack)["Statement"] == [
        {
            "Sid": "CopyIntoFromOrganizationCopyRole",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "backup:CopyIntoBackupVault",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID},
                "ArnLike": {"aws:PrincipalArn": COPY_ROLE_PATTERN},
            },
        }
    ]


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_a_resource_stack_names_its_reader_ledger_machines_queue_and_dashboard(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    expected = RESOURCE_OUTPUTS | ({"VaultArn"} if "OriginalsVault" in stack.resources else set())
    assert set(stack.outputs) == expected
    # The reader the tasks assume is the backup account's stack's role in this Region.
    assert stack.outputs["CopyReaderRoleArn"] == reader_arn(stack.region)
    assert any(s.account == BACKUP_ACCOUNT and s.region == stack.region for s in stacks.values()), (
        "the backup account has a stack (and so a reader) in every resource Region"
    )
    assert stack.outputs["ReconcileStateMachineArn"] == stack.physical_id("ReconcileStateMachine")

    table = stack.client("dynamodb").describe_table(TableName=stack.outputs["CutLedgerTable"])
    assert table["Table"]["KeySchema"] == [{"AttributeName": "RecoveryPointArn", "KeyType": "HASH"}]
    assert table["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    dashboard = stack.client("cloudwatch").get_dashboard(
        DashboardName=stack.outputs["DashboardName"]
    )
    assert json.loads(dashboard["DashboardBody"])["widgets"], "a dashboard with widgets"


@pytest.mark.parametrize("label", SAMPLE_VAULT_PLACEMENTS)
def test_originals_may_be_copied_only_to_this_regions_two_backup_vaults(
    stacks: dict[str, Stack], label: str
) -> None:
    """Issue 13, finding 5: the source vault's policy fails closed. A ForAnyValue condition is
    false when the request has no backup:CopyTargets, so a Deny on it alone would not apply;
    a Null check denies that request (docs/aws-facts.md §H, set operators; §B.9: only the
    source vault's policy can limit where copies go). Evaluated with the twin's policy
    evaluator, the one AWS Backup's copy jobs are checked with."""
    stack = stacks[label]
    destinations = [
        vault_arn(BACKUP_ACCOUNT, first_copy_region(stack.region)),
        vault_arn(BACKUP_ACCOUNT, stack.region),
    ]
    policy = vault_policy(stack)
    assert policy["Statement"] == [
        {
            "Sid": "CopyOnlyToTheTwoBackupVaults",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "backup:CopyFromBackupVault",
            "Resource": "*",
            "Condition": {"ForAnyValue:ArnNotEquals": {"backup:CopyTargets": destinations}},
        },
        {
            "Sid": "CopyOnlyWhereTheRequestSays",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "backup:CopyFromBackupVault",
            "Resource": "*",
            "Condition": {"Null": {"backup:CopyTargets": "true"}},
        },
    ]

    def decision(**targets: list[str]) -> str:
        return decide(
            [json.dumps(policy)],
            action="backup:CopyFromBackupVault",
            resource=f"arn:aws:backup:{stack.region}:{stack.account}:recovery-point:0a1b",
            context={"aws:PrincipalOrgID": ORGANIZATION_ID, **targets},
            principal_arn=f"arn:aws:iam::{stack.account}:role/{COPY_ROLE_NAME}",
        )

    elsewhere = vault_arn(BACKUP_ACCOUNT, OTHER_REGION)
    assert decision() == "Deny", "a request that does not say where it copies to"
    assert decision(**{"backup:CopyTargets": [elsewhere]}) == "Deny"
    assert decision(**{"backup:CopyTargets": [destinations[0], elsewhere]}) == "Deny"
    for destination in destinations:  # not denied: the job's role allows the rest
        assert decision(**{"backup:CopyTargets": [destination]}) == "NoMatch", destination
    assert decision(**{"backup:CopyTargets": destinations}) == "NoMatch"

    # A plan's copies to exactly those two vaults are the ones that lead to the retention cut.
    pattern = json.loads(rule_named(stack, "PlanCopyCompletedRule")["EventPattern"])
    assert pattern["detail"]["destinationBackupVaultArn"] == destinations


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_the_state_machines_run_their_definitions_with_this_stacks_values(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    function_arns = {
        f"{name.removesuffix('Function')}FunctionArn": stack.client("lambda").get_function(
            FunctionName=stack.physical_id(name)
        )["Configuration"]["FunctionArn"]
        for name in TASK_FUNCTIONS
    }
    common = {
        "Partition": "aws",
        "VaultName": VAULT_NAME,
        "BackupAccountId": BACKUP_ACCOUNT,
        "BackupRegion": BACKUP_REGION,
        "BackupRegionAlternate": MAIN_REGION,
        "CopyScheduledBackups": "false",
        "EnableUpdateLifecycle": "true",
        "CopyReaderRoleArn": reader_arn(stack.region),
        "LedgerTableName": stack.outputs["CutLedgerTable"],
        "NewDeleteAfterDays": 7,
    }
    workflow = {
        **common,
        "CopyRoleArn": f"arn:aws:iam::{stack.account}:role/{COPY_ROLE_NAME}",
        "PollFirstIntervalSeconds": 300,
        "PollMaxIntervalSeconds": 14400,
        "CopyWaitLimitHours": 72,
        **{k: v for k, v in function_arns.items() if not k.startswith("FindUnfinished")},
    }
    reconcile = {
        **common,
        "FindUnfinishedBackupsFunctionArn": function_arns["FindUnfinishedBackupsFunctionArn"],
        "WorkflowArn": stack.outputs["StateMachineArn"],
        "ErrorQueueUrl": stack.outputs["ErrorQueueUrl"],
        "ReconcileHorizonDays": 35,
        "ReconcileMaxStarts": 100,
        "MaxRedrives": 3,
        "ReconcileStartIntervalSeconds": 2,
    }
    for logical_id, values, role in (
        ("StateMachine", workflow, "StateMachineRole"),
        ("ReconcileStateMachine", reconcile, "ReconcileRole"),
    ):
        machine, deployed = deployed_definition(stack, logical_id)
        assert machine["type"] == "STANDARD", logical_id
        assert deployed == expected_definition(logical_id, values), logical_id
        # Waits and retries need JSON numbers: a quoted "300" is an invalid definition in AWS.
        numeric = list(numeric_fields(deployed))
        assert numeric, f"{logical_id} has waits and retries"
        assert [(k, v) for k, v in numeric if not isinstance(v, int | float)] == [], logical_id
        role_arn = stack.client("iam").get_role(RoleName=stack.physical_id(role))["Role"]["Arn"]
        assert machine["roleArn"] == role_arn, logical_id
    assert stack.outputs["StateMachineArn"].endswith(":stateMachine:BackupEvents")
    assert stack.outputs["ReconcileStateMachineArn"].endswith(
        ":stateMachine:BackupEvents-Reconcile"
    )


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_the_functions_run_arm64_python_with_the_regions_powertools_layer(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    runtime = template()["Resources"]["CutRetentionFunction"]["Properties"]["Runtime"]
    for name in TASK_FUNCTIONS:
        configuration = stack.client("lambda").get_function_configuration(
            FunctionName=stack.physical_id(name)
        )
        assert configuration["Runtime"] == runtime, name
        assert configuration["Architectures"] == ["arm64"], name
        assert configuration["Handler"] == "index.handler", name
        # The SSM parameter resolved to the layer published in this stack's own region.
        assert [layer["Arn"] for layer in configuration["Layers"]] == [
            powertools_layer_arn(stack.region, runtime, "arm64")
        ], name
        assert configuration["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO", name


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_the_rules_start_this_stacks_state_machines(stacks: dict[str, Stack], label: str) -> None:
    stack = stacks[label]
    events = stack.client("events")
    queue_arn = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["ErrorQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    role_arn = stack.client("iam").get_role(RoleName=stack.physical_id("EventsRole"))["Role"]["Arn"]
    for logical_id in ("BackupCompletedRule", "PlanCopyCompletedRule"):
        assert rule_named(stack, logical_id)["State"] == "ENABLED"
        targets = events.list_targets_by_rule(Rule=stack.physical_id(logical_id))["Targets"]
        assert len(targets) == 1, logical_id
        (target,) = targets
        assert target["Arn"] == stack.outputs["StateMachineArn"], logical_id
        assert target["RoleArn"] == role_arn, logical_id
        # The event itself is the input: any execution can be re-run with its own input.
        assert not {"Input", "InputPath", "InputTransformer"} & set(target), logical_id
        assert target["DeadLetterConfig"] == {"Arn": queue_arn}, logical_id
    failures = events.list_targets_by_rule(Rule=stack.physical_id("FailuresRule"))["Targets"]
    assert [t["Arn"] for t in failures] == [queue_arn]

    hours = dict(BY_LABEL[label].overrides).get("ReconcileEveryHours", "24")
    if "ReconcileSchedule" not in stack.resources:
        assert hours in {"", "0"}
        return
    schedule = rule_named(stack, "ReconcileSchedule")
    assert schedule["ScheduleExpression"] == (
        "rate(1 hour)" if hours == "1" else f"rate({hours} hours)"
    )
    assert schedule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=stack.physical_id("ReconcileSchedule"))["Targets"]
    assert (target["Arn"], target["RoleArn"]) == (
        stack.outputs["ReconcileStateMachineArn"],
        role_arn,
    )


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_the_error_queue_accepts_messages_only_from_this_stacks_rules_over_tls(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.outputs["ErrorQueueUrl"], AttributeNames=["Policy", "QueueArn"]
    )["Attributes"]
    allow, deny = json.loads(attributes["Policy"])["Statement"]
    rule_arns = sorted(
        rule_named(stack, name)["Arn"]
        for name in ("BackupCompletedRule", "PlanCopyCompletedRule", "FailuresRule")
    )

    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == attributes["QueueArn"]
    assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule_arns
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "sqs:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Other stacks' rules (the other region's) are not among the senders.
    others = [s for s in stacks.values() if s is not stack and "FailuresRule" in s.resources]
    foreign = {rule_named(s, "FailuresRule")["Arn"] for s in others}
    assert foreign
    assert not foreign & set(rule_arns)


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_two_alarms_watch_unsuccessful_executions_and_the_error_queue(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    alarms = {
        a["AlarmName"]: a for a in stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    }
    assert set(alarms) == {
        stack.physical_id("FailedExecutionsAlarm"),
        stack.physical_id("ErrorQueueAlarm"),
    }
    failed = alarms[stack.physical_id("FailedExecutionsAlarm")]
    watched = {
        q["MetricStat"]["Metric"]["MetricName"]: q["MetricStat"]["Metric"]["Dimensions"]
        for q in failed["Metrics"]
        if "MetricStat" in q
    }
    dimension = [{"Name": "StateMachineArn", "Value": stack.outputs["StateMachineArn"]}]
    assert watched == {
        "ExecutionsFailed": dimension,
        "ExecutionsTimedOut": dimension,
        "ExecutionsAborted": dimension,
    }
    queue = alarms[stack.physical_id("ErrorQueueAlarm")]
    queue_name = stack.outputs["ErrorQueueUrl"].rsplit("/", 1)[-1]
    assert (queue["Namespace"], queue["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert queue["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]
    for alarm in (failed, queue):
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Threshold"] == 1
        assert alarm["TreatMissingData"] == "notBreaching"
        # Nothing has failed: CloudWatch shows both alarms OK, not INSUFFICIENT_DATA.
        assert alarm["StateValue"] == "OK"
        if "AlarmTopic" in stack.resources:
            topic = stack.physical_id("AlarmTopic")
            assert alarm["AlarmActions"] == [topic]
        else:
            assert alarm["AlarmActions"] == []
    if "AlarmTopic" in stack.resources:
        topic = stack.physical_id("AlarmTopic")
        subscriptions = stack.client("sns").list_subscriptions_by_topic(TopicArn=topic)
        assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [
            ("email", ALARM_EMAIL)
        ]
