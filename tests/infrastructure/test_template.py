"""The template's own structure: lint, parameters, substitutions, least privilege, functions.

These read the committed template the way CloudFormation parses it. Least privilege is written
out as exact tables, so that any new permission is a visible change to this file.
"""

from __future__ import annotations

import ast
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from statemachines.definition import placeholders
from tests.infrastructure.conftest import TASK_FUNCTIONS, TEMPLATE_PATH, resources_of_type, template

ORIGINAL_PARAMETERS = (
    "BackupAccountId",
    "BackupRegion",
    "BackupRegionAlternate",
    "NewDeleteAfterDays",
    "VaultName",
    "CopyRoleName",
    "CreateSampleVault",
    "VaultCustomKmsKey",
    "EnableCopy",
    "EnableUpdateLifecycle",
    "LogLevel",
)

# Python runtimes on Amazon Linux 2023 with deprecation no earlier than 2028 (aws-facts.md §E.6).
CURRENT_PYTHON_RUNTIMES = {"python3.12", "python3.13", "python3.14"}

LOG_WRITES = {"logs:CreateLogStream", "logs:PutLogEvents"}

# Each task role's complete set of allowed actions.
TASK_ROLE_ACTIONS: dict[str, set[str]] = {
    "DescribeRecoveryPointRole": {"backup:DescribeRecoveryPoint", *LOG_WRITES},
    "StartCopyJobRole": {"backup:ListCopyJobs", "backup:StartCopyJob", "iam:PassRole", *LOG_WRITES},
    "DescribeCopyJobRole": {"backup:DescribeCopyJob", *LOG_WRITES},
    "VerifyCopiesRole": {"backup:ListCopyJobs", *LOG_WRITES},
    "CutRetentionRole": {
        "backup:ListCopyJobs",
        "backup:DescribeBackupVault",
        "backup:DescribeRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        *LOG_WRITES,
    },
}

# Each Region's stack serves only its own account's backups in that Region.
AT_HOME = {
    "StringEquals": {
        "aws:ResourceAccount": {"Ref": "AWS::AccountId"},
        "aws:RequestedRegion": {"Ref": "AWS::Region"},
    }
}


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        found.extend(policy["PolicyDocument"]["Statement"])
    return found


def allowed_actions(role: dict[str, Any]) -> set[str]:
    return {
        action
        for statement in statements(role)
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }


def roles() -> dict[str, dict[str, Any]]:
    return resources_of_type("AWS::IAM::Role")


def functions() -> dict[str, dict[str, Any]]:
    return resources_of_type("AWS::Lambda::Function")


@cache
def backup_operations() -> dict[str, str]:
    """boto3 method name → IAM action name, for every AWS Backup operation."""
    model = botocore.session.get_session().get_service_model("backup")
    return {xform_name(name): f"backup:{name}" for name in model.operation_names}


def backup_calls_reachable_from_handler(source: str) -> set[str]:
    """The AWS Backup actions the code can call: methods referenced from module-level code or
    from a definition reachable by name from `handler`. Bundles carry shared helpers that a
    given task never calls (tasks/aws.py's copy_jobs_of is in all five), so a plain text search
    would over-grant."""
    tree = ast.parse(source)
    definitions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    todo: list[ast.AST] = [n for n in tree.body if n not in definitions.values()]
    todo.append(definitions["handler"])
    seen = {"handler"}
    found: set[str] = set()
    while todo:
        for node in ast.walk(todo.pop()):
            if isinstance(node, ast.Attribute) and node.attr in backup_operations():
                found.add(backup_operations()[node.attr])
            if isinstance(node, ast.Name) and node.id in definitions and node.id not in seen:
                seen.add(node.id)
                todo.append(definitions[node.id])
    return found


# -- lint and parameters ----------------------------------------------------------------------


def test_cfn_lint_reports_nothing() -> None:
    from cfnlint.api import lint_file

    problems = lint_file(TEMPLATE_PATH)
    assert [str(p) for p in problems] == []


def test_every_parameter_has_a_description_and_exactly_one_parameter_group() -> None:
    parameters = template()["Parameters"]
    groups = template()["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]

    assert [n for n, p in parameters.items() if not str(p.get("Description", "")).strip()] == []
    assert sorted(grouped) == sorted(parameters), "each parameter once, in some group"


def test_the_original_products_parameter_names_are_kept() -> None:
    missing = [name for name in ORIGINAL_PARAMETERS if name not in template()["Parameters"]]
    assert missing == []


def test_every_free_text_parameter_explains_its_constraint() -> None:
    # Without a ConstraintDescription the console shows only the raw regular expression.
    parameters = template()["Parameters"]
    unexplained = [
        name
        for name, slot in parameters.items()
        if "AllowedPattern" in slot and not slot.get("ConstraintDescription")
    ]
    assert unexplained == []


def test_definition_substitutions_supply_exactly_the_definitions_placeholders() -> None:
    machine = template()["Resources"]["StateMachine"]["Properties"]
    assert set(machine["DefinitionSubstitutions"]) == placeholders("backup_events")


# -- least privilege --------------------------------------------------------------------------


def test_each_task_function_has_its_own_role() -> None:
    assert {name: f["Properties"]["Role"] for name, f in functions().items()} == {
        function: get_att(function.removesuffix("Function") + "Role") for function in TASK_FUNCTIONS
    }


def test_each_task_role_allows_exactly_its_table_of_actions() -> None:
    task_roles = {name: role for name, role in roles().items() if name in TASK_ROLE_ACTIONS}
    assert {name: allowed_actions(role) for name, role in task_roles.items()} == TASK_ROLE_ACTIONS
    for name, role in task_roles.items():
        assert all(s["Effect"] == "Allow" for s in statements(role)), name
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            }
        ], name


@pytest.mark.parametrize("function", sorted(TASK_FUNCTIONS))
def test_each_task_role_allows_exactly_the_backup_calls_its_code_can_make(function: str) -> None:
    # Fewer actions and the task fails with AccessDenied in AWS (the twin does not check IAM);
    # more and the role can do what its code never does.
    code = functions()[function]["Properties"]["Code"]["ZipFile"]
    role = roles()[function.removesuffix("Function") + "Role"]
    granted = {a for a in allowed_actions(role) if a.startswith("backup:")}
    assert granted == backup_calls_reachable_from_handler(code)


def test_task_roles_write_logs_only_to_the_task_log_group() -> None:
    for name in TASK_ROLE_ACTIONS:
        logs = [s for s in statements(roles()[name]) if set(as_list(s["Action"])) & LOG_WRITES]
        assert logs == [
            {
                "Effect": "Allow",
                "Action": sorted(LOG_WRITES),
                "Resource": get_att("TaskLogGroup"),
            }
        ], name


def test_only_the_copy_role_can_be_passed_and_only_to_aws_backup() -> None:
    passing = [
        (name, statement)
        for name, role in roles().items()
        for statement in statements(role)
        if {"iam:PassRole", "iam:*", "*"} & set(as_list(statement["Action"]))
    ]
    assert passing == [
        (
            "StartCopyJobRole",
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${CopyRoleName}"
                },
                "Condition": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}},
            },
        )
    ]


def test_no_role_grants_a_wildcard_action() -> None:
    wildcards = [
        (name, action)
        for name, role in roles().items()
        for action in allowed_actions(role)
        if "*" in action
    ]
    assert wildcards == []


def test_backup_writes_are_scoped_to_this_account_and_region() -> None:
    # Recovery point ARNs carry no vault and sometimes no account (aws-facts.md §B.9), so the
    # resource cannot be narrowed; the account condition is what keeps writes at home.
    writes = {"backup:StartCopyJob", "backup:UpdateRecoveryPointLifecycle"}
    scoped = {
        (name, action): statement.get("Condition")
        for name, role in roles().items()
        for statement in statements(role)
        for action in as_list(statement["Action"])
        if action.startswith("backup:")
        and not action.startswith(("backup:Describe", "backup:List", "backup:Get"))
    }
    assert scoped == {
        ("StartCopyJobRole", "backup:StartCopyJob"): AT_HOME,
        ("CutRetentionRole", "backup:UpdateRecoveryPointLifecycle"): AT_HOME,
    }
    assert {action for _, action in scoped} == writes


def test_the_state_machine_role_invokes_only_the_five_task_functions() -> None:
    role = roles()["StateMachineRole"]
    invoking = [
        s for s in statements(role) if any(a.startswith("lambda:") for a in as_list(s["Action"]))
    ]
    assert invoking == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [get_att(name) for name in TASK_FUNCTIONS],
        }
    ]
    others = {a for s in statements(role) if s not in invoking for a in as_list(s["Action"])}
    # Log delivery for execution logs is all the rest (those actions take no narrower resource).
    assert others == {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "states.amazonaws.com"
    }


def test_the_events_role_can_only_start_this_state_machine() -> None:
    role = roles()["EventsRole"]
    assert statements(role) == [
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": "StateMachine"}}
    ]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }


def test_the_error_queue_policy_is_tls_only_and_admits_only_this_stacks_rules() -> None:
    policy = template()["Resources"]["ErrorQueuePolicy"]["Properties"]
    rules = resources_of_type("AWS::Events::Rule")
    # Every rule that can put a message in the queue, as a target or as its dead-letter queue.
    senders = sorted(
        name
        for name, rule in rules.items()
        for target in rule["Properties"]["Targets"]
        if get_att("ErrorQueue") in (target["Arn"], target.get("DeadLetterConfig", {}).get("Arn"))
    )

    assert policy["Queues"] == [{"Ref": "ErrorQueue"}]
    allow, deny = policy["PolicyDocument"]["Statement"]
    source_arns = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(source_arns, key=str) == sorted((get_att(n) for n in senders), key=str)
    assert [allow, deny] == [
        {
            "Sid": "OnlyThisStacksRules",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": get_att("ErrorQueue"),
            "Condition": {"ArnEquals": {"aws:SourceArn": source_arns}},
        },
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": get_att("ErrorQueue"),
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    assert senders == ["BackupCompletedRule", "FailuresRule", "PlanCopyCompletedRule"]


# -- functions and rules ----------------------------------------------------------------------


def test_each_function_is_arm64_on_a_current_python_with_the_powertools_layer_and_json_logs() -> (
    None
):
    layer = template()["Parameters"]["PowertoolsLayerArn"]
    assert layer["Type"] == "AWS::SSM::Parameter::Value<String>"
    for name, function in functions().items():
        properties = function["Properties"]
        runtime = properties["Runtime"]
        assert runtime in CURRENT_PYTHON_RUNTIMES, name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["Handler"] == "index.handler", name  # inline code lives in index.py
        assert properties["Layers"] == [{"Ref": "PowertoolsLayerArn"}], name
        assert properties["LoggingConfig"]["LogFormat"] == "JSON", name
        # The layer's compiled dependencies must match the function's runtime and architecture.
        assert layer["Default"] == f"/aws/service/powertools/python/arm64/{runtime}/latest", name


def test_rules_pass_the_event_to_the_state_machine_unchanged() -> None:
    # A person can copy any execution's input and start it again by hand (DESIGN.md §3).
    targets = {
        name: target
        for name, rule in resources_of_type("AWS::Events::Rule").items()
        for target in rule["Properties"]["Targets"]
        if target["Arn"] == {"Ref": "StateMachine"}
    }
    assert sorted(targets) == ["BackupCompletedRule", "PlanCopyCompletedRule"]
    for name, target in targets.items():
        assert not {"Input", "InputPath", "InputTransformer"} & set(target), name
        assert target["RoleArn"] == get_att("EventsRole"), name
        assert target["DeadLetterConfig"] == {"Arn": get_att("ErrorQueue")}, name


def test_the_alarm_topic_never_uses_the_aws_managed_key_cloudwatch_cannot_publish_to() -> None:
    # docs.aws.amazon.com/sns/latest/dg/sns-key-management.html: an alarm's notification to a
    # topic under alias/aws/sns is dropped, since that key's policy cannot admit CloudWatch.
    topic = template()["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {
        "Fn::If": ["EncryptionKeyGiven", {"Ref": "EncryptionKmsKey"}, {"Ref": "AWS::NoValue"}]
    }
    key = template()["Parameters"]["EncryptionKmsKey"]["Description"]
    assert "cloudwatch.amazonaws.com" in key
