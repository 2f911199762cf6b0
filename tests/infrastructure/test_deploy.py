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
from statemachines.definition import NUMERIC_FIELDS, substitute_text
from tests.infrastructure.conftest import (
    TASK_FUNCTIONS,
    VAULT_NAME,
    Stack,
    deploy,
    module_twin,
    template,
)

BACKUP_ACCOUNT_RESOURCES = {"CopiesVault"}
RESOURCE_ACCOUNT_RESOURCES = {
    "OriginalsVault",
    "TaskLogGroup",
    *(name.removesuffix("Function") + "Role" for name in TASK_FUNCTIONS),
    *TASK_FUNCTIONS,
    "StateMachineLogGroup",
    "StateMachineRole",
    "StateMachine",
    "EventsRole",
    "BackupCompletedRule",
    "PlanCopyCompletedRule",
    "ErrorQueue",
    "ErrorQueuePolicy",
    "FailuresRule",
    "FailedExecutionsAlarm",
}
ALARM_EMAIL = "backup-team@example.com"
COPY_ROLE_NAME = "service-role/AWSBackupDefaultServiceRole"  # the template's default


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
        "backup account, backup region", BACKUP_ACCOUNT, BACKUP_REGION, frozenset({"CopiesVault"})
    ),
    Placement(
        "backup account, alternate region", BACKUP_ACCOUNT, MAIN_REGION, frozenset({"CopiesVault"})
    ),
    Placement(
        "backup account, another resource region",
        BACKUP_ACCOUNT,
        OTHER_REGION,
        frozenset({"CopiesVault"}),
    ),
    Placement(
        "resource account with an alarm e-mail",
        SECOND_RESOURCE_ACCOUNT,
        MAIN_REGION,
        frozenset({*RESOURCE_ACCOUNT_RESOURCES, "AlarmTopic"}),
        (("AlarmEmail", ALARM_EMAIL),),
    ),
)
BY_LABEL = {p.label: p for p in PLACEMENTS}
RESOURCE_PLACEMENTS = [p.label for p in PLACEMENTS if "StateMachine" in p.expected]
BACKUP_PLACEMENTS = [p.label for p in PLACEMENTS if "StateMachine" not in p.expected]


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, Stack]]:
    with module_twin() as twin:
        yield {p.label: deploy(twin, p.account, p.region, **dict(p.overrides)) for p in PLACEMENTS}


def vault_arn(account: str, region: str) -> str:
    return f"arn:aws:backup:{region}:{account}:backup-vault:{VAULT_NAME}"


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


# -- what each placement creates --------------------------------------------------------------


@pytest.mark.parametrize("label", [p.label for p in PLACEMENTS])
def test_each_placement_creates_exactly_its_resources(stacks: dict[str, Stack], label: str) -> None:
    assert set(stacks[label].resources) == BY_LABEL[label].expected


@pytest.mark.parametrize("label", BACKUP_PLACEMENTS)
def test_the_backup_account_holds_only_a_vault_that_takes_copies_from_the_organization(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    assert stack.client("lambda").list_functions()["Functions"] == []
    assert stack.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert stack.client("events").list_rules()["Rules"] == []
    assert stack.client("sqs").list_queues().get("QueueUrls", []) == []
    assert stack.outputs == {"VaultArn": vault_arn(stack.account, stack.region)}

    backup = stack.client("backup")
    assert [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]] == [
        VAULT_NAME
    ]
    policy = json.loads(backup.get_backup_vault_access_policy(BackupVaultName=VAULT_NAME)["Policy"])
    assert policy["Statement"] == [
        {
            "Sid": "CopyIntoFromOrganizationCopyRole",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "backup:CopyIntoBackupVault",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": ORGANIZATION_ID},
                "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{COPY_ROLE_NAME}"},
            },
        }
    ]


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_originals_may_be_copied_only_to_this_regions_two_backup_vaults(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    destinations = [
        vault_arn(BACKUP_ACCOUNT, first_copy_region(stack.region)),
        vault_arn(BACKUP_ACCOUNT, stack.region),
    ]
    backup = stack.client("backup")
    policy = json.loads(backup.get_backup_vault_access_policy(BackupVaultName=VAULT_NAME)["Policy"])
    assert policy["Statement"] == [
        {
            "Sid": "CopyOnlyToTheTwoBackupVaults",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "backup:CopyFromBackupVault",
            "Resource": "*",
            "Condition": {"ForAnyValue:ArnNotEquals": {"backup:CopyTargets": destinations}},
        }
    ]
    # A plan's copies to exactly those two vaults are the ones that lead to the retention cut.
    pattern = json.loads(rule_named(stack, "PlanCopyCompletedRule")["EventPattern"])
    assert pattern["detail"]["destinationBackupVaultArn"] == destinations


@pytest.mark.parametrize("label", RESOURCE_PLACEMENTS)
def test_the_state_machine_runs_the_definition_with_this_stacks_values(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    functions = {
        name: stack.client("lambda").get_function(FunctionName=stack.physical_id(name))
        for name in TASK_FUNCTIONS
    }
    # The template's own definition text, filled in the way CloudFormation fills it: whether that
    # text is current with statemachines/ is test_build's question, not this one's.
    definition = template()["Resources"]["StateMachine"]["Properties"]["DefinitionString"]
    expected = substitute_text(
        definition,
        {
            "Partition": "aws",
            "VaultName": VAULT_NAME,
            "BackupAccountId": BACKUP_ACCOUNT,
            "BackupRegion": BACKUP_REGION,
            "BackupRegionAlternate": MAIN_REGION,
            "CopyScheduledBackups": "false",
            "EnableUpdateLifecycle": "true",
            "CopyRoleArn": f"arn:aws:iam::{stack.account}:role/{COPY_ROLE_NAME}",
            "NewDeleteAfterDays": 7,
            "PollFirstIntervalSeconds": 300,
            "PollMaxIntervalSeconds": 14400,
            "CopyWaitLimitHours": 72,
            **{
                f"{name.removesuffix('Function')}FunctionArn": f["Configuration"]["FunctionArn"]
                for name, f in functions.items()
            },
        },
    )
    machine = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.outputs["StateMachineArn"]
    )
    assert machine["stateMachineArn"] == stack.physical_id("StateMachine")
    assert machine["type"] == "STANDARD"
    deployed = json.loads(machine["definition"])
    assert deployed == json.loads(expected)
    # Waits and retries need JSON numbers: a quoted "300" is an invalid definition in AWS.
    numeric = list(numeric_fields(deployed))
    assert numeric, "the definition has waits and retries"
    assert [(k, v) for k, v in numeric if not isinstance(v, int | float)] == []
    role = stack.client("iam").get_role(RoleName=stack.physical_id("StateMachineRole"))
    assert machine["roleArn"] == role["Role"]["Arn"]


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
def test_the_rules_start_this_state_machine_with_the_event_itself(
    stacks: dict[str, Stack], label: str
) -> None:
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
        assert not {"Input", "InputPath", "InputTransformer"} & set(target), logical_id
        assert target["DeadLetterConfig"] == {"Arn": queue_arn}, logical_id
    failures = events.list_targets_by_rule(Rule=stack.physical_id("FailuresRule"))["Targets"]
    assert [t["Arn"] for t in failures] == [queue_arn]


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
def test_an_alarm_watches_this_state_machines_unsuccessful_executions(
    stacks: dict[str, Stack], label: str
) -> None:
    stack = stacks[label]
    (alarm,) = stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    watched = {
        q["MetricStat"]["Metric"]["MetricName"]: q["MetricStat"]["Metric"]["Dimensions"]
        for q in alarm["Metrics"]
        if "MetricStat" in q
    }
    dimension = [{"Name": "StateMachineArn", "Value": stack.outputs["StateMachineArn"]}]
    assert watched == {
        "ExecutionsFailed": dimension,
        "ExecutionsTimedOut": dimension,
        "ExecutionsAborted": dimension,
    }
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    if "AlarmTopic" in stack.resources:
        topic = stack.physical_id("AlarmTopic")
        assert alarm["AlarmActions"] == [topic]
        subscriptions = stack.client("sns").list_subscriptions_by_topic(TopicArn=topic)
        assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [
            ("email", ALARM_EMAIL)
        ]
    else:
        assert alarm["AlarmActions"] == []
