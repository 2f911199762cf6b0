"""CloudFormation as the twin plays it: what it refuses, what an update carries, AWS::NoValue.

docs/aws-facts.md §H (empty stacks: a template must define at least one resource, and a stack
whose conditions leave none is refused) and §E.3 (a StackSet deploys one stack per account and
Region; each instance succeeds or fails on its own).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.cloudformation import organizational_unit
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
    assert "StackId" not in failed  # CloudFormation refused the stack: there is none
    described = cfn.describe_stack_set_operation(StackSetName="Queues", OperationId=operation)
    assert described["StackSetOperation"]["Status"] == "FAILED"


# A queue named by CloudFormation after the stack, and its URL as an output.
QUEUE_TEMPLATE = json.dumps(
    {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
    }
)
MANAGEMENT_ACCOUNT = "123456789012"
INSTANCE_STACK_ID = re.compile(
    r"arn:aws:cloudformation:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stack/"
    r"(?P<name>StackSet-Queues-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
)


def test_each_stack_set_instance_is_a_stack_of_its_own_account_and_region(twin: Twin) -> None:
    """docs/aws-facts.md §E.3: a service-managed StackSet deploys one stack, named
    StackSet-<name>-<uuid>, per account and Region of its OUs; there DescribeStacks and
    ListStackResources answer for it, and ListStackInstances names its StackId."""
    places = {
        (a, r) for a in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT) for r in (MAIN_REGION, BACKUP_REGION)
    }
    unit = organizational_unit(MANAGEMENT_ACCOUNT, [RESOURCE_ACCOUNT, BACKUP_ACCOUNT])
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
    cfn.create_stack_set(
        StackSetName="Queues", TemplateBody=QUEUE_TEMPLATE, PermissionModel="SERVICE_MANAGED"
    )
    cfn.create_stack_instances(
        StackSetName="Queues",
        DeploymentTargets={"OrganizationalUnitIds": [unit]},
        Regions=[MAIN_REGION, BACKUP_REGION],
    )

    listed = cfn.list_stack_instances(StackSetName="Queues")["Summaries"]
    assert {(i["Account"], i["Region"]) for i in listed} == places
    assert cfn.list_stack_instances(StackSetName="Queues")["Summaries"] == listed
    assert len({i["StackId"] for i in listed}) == len(places)
    for instance in listed:
        account, region, stack_id = instance["Account"], instance["Region"], instance["StackId"]
        match = INSTANCE_STACK_ID.match(stack_id)
        assert match is not None, stack_id
        assert (match["account"], match["region"]) == (account, region)
        described = cfn.describe_stack_instance(
            StackSetName="Queues", StackInstanceAccount=account, StackInstanceRegion=region
        )["StackInstance"]
        assert described["StackId"] == stack_id

        there = twin.client("cloudformation", account, region)
        (by_id,) = there.describe_stacks(StackName=stack_id)["Stacks"]
        (by_name,) = there.describe_stacks(StackName=match["name"])["Stacks"]
        assert by_id == by_name
        assert (by_id["StackName"], by_id["StackStatus"]) == (match["name"], "CREATE_COMPLETE")
        (queue_url,) = twin.client("sqs", account, region).list_queues()["QueueUrls"]
        assert by_id["Outputs"][0]["OutputValue"] == queue_url
        assert f"/{account}/{match['name']}-Queue-" in queue_url
        (resource,) = there.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
        assert (resource["LogicalResourceId"], resource["PhysicalResourceId"]) == (
            "Queue",
            queue_url,
        )
    # The administrator's own CloudFormation holds the StackSet, not its instances' stacks.
    assert cfn.describe_stacks()["Stacks"] == []


def test_deleting_a_stack_set_instance_deletes_its_stack(twin: Twin) -> None:
    """docs/aws-facts.md §E.3: without RetainStacks, the instance's stack goes with it."""
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
    cfn.create_stack_set(StackSetName="Queues", TemplateBody=QUEUE_TEMPLATE)
    cfn.create_stack_instances(
        StackSetName="Queues", Accounts=[RESOURCE_ACCOUNT], Regions=[MAIN_REGION]
    )
    (instance,) = cfn.list_stack_instances(StackSetName="Queues")["Summaries"]
    match = INSTANCE_STACK_ID.match(instance["StackId"])
    assert match is not None, instance["StackId"]

    cfn.delete_stack_instances(
        StackSetName="Queues",
        Accounts=[RESOURCE_ACCOUNT],
        Regions=[MAIN_REGION],
        RetainStacks=False,
    )
    there = twin.client("cloudformation", RESOURCE_ACCOUNT, MAIN_REGION)
    (deleted,) = there.describe_stacks(StackName=instance["StackId"])["Stacks"]
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
    assert error_of(there.describe_stacks, StackName=match["name"])[0] == "ValidationError"
    assert cfn.list_stack_instances(StackSetName="Queues")["Summaries"] == []


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


# A role whose inline policy has a statement only when asked for, and a function that answers
# with its environment: what a stack update must carry to both (docs/aws-facts.md §E.1).
UPDATABLE = json.dumps(
    {
        "Parameters": {
            "Greeting": {"Type": "String"},
            "Extra": {"Type": "String", "AllowedValues": ["true", "false"]},
        },
        "Conditions": {"ExtraWanted": {"Fn::Equals": [{"Ref": "Extra"}, "true"]}},
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "Reads",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": "sqs:ListQueues",
                                        "Resource": "*",
                                    },
                                    {
                                        "Fn::If": [
                                            "ExtraWanted",
                                            {
                                                "Effect": "Allow",
                                                "Action": "sns:ListTopics",
                                                "Resource": "*",
                                            },
                                            {"Ref": "AWS::NoValue"},
                                        ]
                                    },
                                ],
                            },
                        }
                    ],
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Environment": {"Variables": {"GREETING": {"Ref": "Greeting"}}},
                    "Code": {
                        "ZipFile": "import os\n\n\ndef handler(event, context):\n"
                        "    return os.environ['GREETING']\n"
                    },
                },
            },
        },
    }
)


def updatable(greeting: str, extra: str = "false") -> dict[str, Any]:
    return {
        "StackName": "Updatable",
        "TemplateBody": UPDATABLE,
        "Parameters": [
            {"ParameterKey": "Greeting", "ParameterValue": greeting},
            {"ParameterKey": "Extra", "ParameterValue": extra},
        ],
        "Capabilities": ["CAPABILITY_IAM"],
    }


def physical_id(cfn: Any, logical_id: str) -> str:
    resources = cfn.list_stack_resources(StackName="Updatable")["StackResourceSummaries"]
    return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == logical_id)


def test_no_value_removes_a_list_element_as_cloudformation_does(twin: Twin) -> None:
    """A statement `!If [Cond, {...}, !Ref AWS::NoValue]` is absent, not null, when Cond is
    false: an IAM policy with a null statement is not a policy."""
    cfn = twin.client("cloudformation", RESOURCE_ACCOUNT, MAIN_REGION)
    cfn.create_stack(**updatable("hello"))
    iam = twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION)
    document = iam.get_role_policy(RoleName=physical_id(cfn, "Role"), PolicyName="Reads")
    statements = document["PolicyDocument"]["Statement"]
    assert [s["Action"] for s in statements] == ["sqs:ListQueues"]


def test_a_stack_update_gives_an_inline_function_its_new_environment_and_it_still_runs(
    twin: Twin,
) -> None:
    """CloudFormation writes an updated inline ZipFile to index.py again, as on create, and the
    function runs with the updated environment (stock moto broke the function's code)."""
    cfn = twin.client("cloudformation", RESOURCE_ACCOUNT, MAIN_REGION)
    awslambda = twin.client("lambda", RESOURCE_ACCOUNT, MAIN_REGION)
    cfn.create_stack(**updatable("hello"))
    function = physical_id(cfn, "Function")

    def answer() -> Any:
        response = awslambda.invoke(FunctionName=function, Payload=b"{}")
        assert "FunctionError" not in response, response["Payload"].read()
        return json.loads(response["Payload"].read())

    assert answer() == "hello"
    cfn.update_stack(**updatable("goodbye"))
    assert answer() == "goodbye"
