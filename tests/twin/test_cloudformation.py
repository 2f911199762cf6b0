"""CloudFormation refuses what has nothing to create, per stack and per StackSet instance.

docs/aws-facts.md §H (empty stacks: a template must define at least one resource, and a stack
whose conditions leave none is refused) and §E.3 (a StackSet deploys one stack per account and
Region; each instance succeeds or fails on its own).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.twin.helpers import error_of

pytestmark = pytest.mark.twin

# A queue only in the backup account, and only when asked for: in a resource account, or with
# CreateQueue=false, the conditions leave nothing to create.
TEMPLATE = json.dumps(
    {
        "Parameters": {
            "BackupAccountId": {"Type": "String"},
            "CreateQueue": {"Type": "String", "AllowedValues": ["true", "false"]},
        },
        "Conditions": {
            "InBackupAccount": {
                "Fn::Equals": [{"Ref": "AWS::AccountId"}, {"Ref": "BackupAccountId"}]
            },
            "QueueWanted": {"Fn::Equals": [{"Ref": "CreateQueue"}, "true"]},
            "QueueHere": {
                "Fn::And": [{"Condition": "InBackupAccount"}, {"Condition": "QueueWanted"}]
            },
        },
        "Resources": {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Condition": "QueueHere",
                "Properties": {"QueueName": "TwinQueue"},
            },
        },
    }
)


def parameters(create_queue: str) -> list[dict[str, str]]:
    return [
        {"ParameterKey": "BackupAccountId", "ParameterValue": BACKUP_ACCOUNT},
        {"ParameterKey": "CreateQueue", "ParameterValue": create_queue},
    ]


@pytest.mark.parametrize(
    ("account", "create_queue"),
    [(RESOURCE_ACCOUNT, "true"), (BACKUP_ACCOUNT, "false")],
)
def test_a_stack_whose_conditions_leave_no_resource_is_refused(
    twin: Twin, account: str, create_queue: str
) -> None:
    """docs/aws-facts.md §H: nothing to create is a template error, and no stack is made."""
    cfn = twin.client("cloudformation", account, MAIN_REGION)
    code, message, _ = error_of(
        cfn.create_stack,
        StackName="Empty",
        TemplateBody=TEMPLATE,
        Parameters=parameters(create_queue),
    )
    assert code == "ValidationError"
    assert message.startswith("Template format error: At least one Resources member")
    assert cfn.list_stacks()["StackSummaries"] == []


def test_a_stack_with_something_to_create_is_made(twin: Twin) -> None:
    cfn = twin.client("cloudformation", BACKUP_ACCOUNT, MAIN_REGION)
    cfn.create_stack(StackName="One", TemplateBody=TEMPLATE, Parameters=parameters("true"))
    resources = cfn.list_stack_resources(StackName="One")["StackResourceSummaries"]
    assert [r["LogicalResourceId"] for r in resources] == ["Queue"]


def test_a_stack_set_instance_with_nothing_to_create_fails_alone(twin: Twin) -> None:
    """docs/aws-facts.md §E.3, §H: the resource account's instance fails with the reason; the backup
    account's instance is made; the operation reports FAILED."""
    cfn = twin.client("cloudformation", BACKUP_ACCOUNT, MAIN_REGION)
    cfn.create_stack_set(
        StackSetName="Queues", TemplateBody=TEMPLATE, Parameters=parameters("true")
    )
    operation = cfn.create_stack_instances(
        StackSetName="Queues", Accounts=[BACKUP_ACCOUNT, RESOURCE_ACCOUNT], Regions=[MAIN_REGION]
    )["OperationId"]

    instances: dict[str, Any] = {
        i["Account"]: i for i in cfn.list_stack_instances(StackSetName="Queues")["Summaries"]
    }
    assert instances[BACKUP_ACCOUNT]["Status"] == "CURRENT"
    failed = instances[RESOURCE_ACCOUNT]
    assert (failed["Status"], failed["StackInstanceStatus"]["DetailedStatus"]) == (
        "OUTDATED",
        "FAILED",
    )
    assert "At least one Resources member" in failed["StatusReason"]
    described = cfn.describe_stack_set_operation(StackSetName="Queues", OperationId=operation)
    assert described["StackSetOperation"]["Status"] == "FAILED"


POWERTOOLS = "/aws/service/powertools/python/arm64/python3.13/latest"


@pytest.mark.parametrize(
    ("region", "published"),
    [
        ("us-east-1", True),
        ("eu-west-1", True),
        ("ap-southeast-4", True),
        ("mx-central-1", True),
        ("us-gov-west-1", False),
        ("cn-north-1", False),
        ("ap-southeast-5", False),
    ],
)
def test_the_powertools_parameter_exists_only_where_powertools_publishes_it(
    twin: Twin, region: str, published: bool
) -> None:
    """docs/aws-facts.md §E.5 and §H (Powertools layer Regions): about 30 commercial Regions, none
    in GovCloud or China."""
    ssm = twin.client("ssm", RESOURCE_ACCOUNT, region)
    if published:
        value = ssm.get_parameter(Name=POWERTOOLS)["Parameter"]["Value"]
        assert value.startswith(f"arn:aws:lambda:{region}:017000801446:layer:")
        assert ssm.get_parameters(Names=[POWERTOOLS])["InvalidParameters"] == []
    else:
        assert error_of(ssm.get_parameter, Name=POWERTOOLS)[0] == "ParameterNotFound"
        assert ssm.get_parameters(Names=[POWERTOOLS])["InvalidParameters"] == [POWERTOOLS]
