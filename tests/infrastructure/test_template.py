"""The template's own structure: lint, parameters, substitutions, least privilege, functions.

These read the committed template the way CloudFormation parses it. Least privilege is written
out as exact tables, so that any new permission is a visible change to this file.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from local.cloudformation import POWERTOOLS_REGIONS
from scripts.build import backup_regions
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
LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
ASSUME_READER = "sts:AssumeRole"
READER_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:iam::${BackupAccountId}:role/backup-events/"
    "BackupEventsCopyReader-${AWS::Region}"
}
OWN_VAULT = {
    "Fn::Sub": "arn:${AWS::Partition}:backup:${AWS::Region}:${AWS::AccountId}:backup-vault:"
    "${VaultName}"
}
# Recovery point actions: the resource cannot be narrowed (recovery point ARNs name no vault,
# EBS and EC2 ones no account, aws-facts.md §A.2, §B.9) and aws:ResourceAccount is not
# documented for every type (§H), so they are held to this Region.
IN_THIS_REGION = {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}

# A ledger under EncryptionKmsKey: DynamoDB uses the key as its caller (docs/aws-facts.md §I).
LEDGER_KEY_READS = {"kms:Decrypt", "kms:DescribeKey"}
LEDGER_KEY_WRITES = {*LEDGER_KEY_READS, "kms:GenerateDataKey"}
THROUGH_DYNAMODB = {
    "StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}
}

# Each role's complete set of allowed actions, task roles first.
TASK_ROLE_ACTIONS: dict[str, set[str]] = {
    "DescribeRecoveryPointRole": {"backup:DescribeRecoveryPoint", *LOG_WRITES},
    "StartCopyJobRole": {
        "backup:ListCopyJobs",
        "backup:DescribeRecoveryPoint",
        "backup:StartCopyJob",
        "iam:PassRole",
        ASSUME_READER,
        *LOG_WRITES,
    },
    "DescribeCopyJobRole": {"backup:DescribeCopyJob", ASSUME_READER, *LOG_WRITES},
    "VerifyCopiesRole": {"backup:ListCopyJobs", ASSUME_READER, *LOG_WRITES},
    "CutRetentionRole": {
        "backup:ListCopyJobs",
        "backup:DescribeBackupVault",
        "backup:DescribeRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        *LEDGER_KEY_WRITES,
        ASSUME_READER,
        *LOG_WRITES,
    },
    "FindUnfinishedBackupsRole": {
        "backup:ListRecoveryPointsByBackupVault",
        "backup:ListCopyJobs",
        "dynamodb:Scan",
        *LEDGER_KEY_READS,
        "states:ListExecutions",
        "states:DescribeExecution",
        ASSUME_READER,
        *LOG_WRITES,
    },
}
ROLE_ACTIONS: dict[str, set[str]] = {
    **TASK_ROLE_ACTIONS,
    "CopyReaderRole": {"backup:ListRecoveryPointsByBackupVault", "backup:DescribeRecoveryPoint"},
    "StateMachineRole": {"lambda:InvokeFunction", *LOG_DELIVERY},
    "ReconcileRole": {
        "lambda:InvokeFunction",
        "states:StartExecution",
        "states:RedriveExecution",
        "sqs:SendMessage",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        *LOG_DELIVERY,
    },
    "EventsRole": {"states:StartExecution"},
}

# Where each AWS Backup action may act, and on what condition, role by role.
BACKUP_GRANTS: dict[tuple[str, str], tuple[Any, Any]] = {
    ("DescribeRecoveryPointRole", "backup:DescribeRecoveryPoint"): ("*", IN_THIS_REGION),
    ("StartCopyJobRole", "backup:ListCopyJobs"): ("*", None),
    ("StartCopyJobRole", "backup:DescribeRecoveryPoint"): ("*", IN_THIS_REGION),
    ("StartCopyJobRole", "backup:StartCopyJob"): ("*", IN_THIS_REGION),
    ("DescribeCopyJobRole", "backup:DescribeCopyJob"): ("*", IN_THIS_REGION),
    ("VerifyCopiesRole", "backup:ListCopyJobs"): ("*", None),
    ("CutRetentionRole", "backup:ListCopyJobs"): ("*", None),
    ("CutRetentionRole", "backup:DescribeBackupVault"): (OWN_VAULT, None),
    ("CutRetentionRole", "backup:DescribeRecoveryPoint"): ("*", IN_THIS_REGION),
    ("CutRetentionRole", "backup:UpdateRecoveryPointLifecycle"): ("*", IN_THIS_REGION),
    ("FindUnfinishedBackupsRole", "backup:ListRecoveryPointsByBackupVault"): (OWN_VAULT, None),
    ("FindUnfinishedBackupsRole", "backup:ListCopyJobs"): ("*", None),
    # The backup account's reader: every Region's vault of that name in its own account.
    ("CopyReaderRole", "backup:ListRecoveryPointsByBackupVault"): (
        {"Fn::Sub": "arn:${AWS::Partition}:backup:*:${AWS::AccountId}:backup-vault:${VaultName}"},
        None,
    ),
    ("CopyReaderRole", "backup:DescribeRecoveryPoint"): ("*", None),
}

# The AWS SDK clients the task code makes, by botocore service name, and IAM's prefix for each.
TASK_SERVICES = {
    "backup": "backup",
    "dynamodb": "dynamodb",
    "stepfunctions": "states",
    "sts": "sts",
}
# The class whose AWS Backup calls are made with the backup account's reader role.
READER_CLASS = "CopyReader"


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement a role can have: both branches of an Fn::If, AWS::NoValue left out."""
    found: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                _, *branches = statement["Fn::If"]
                found.extend(b for b in branches if b != {"Ref": "AWS::NoValue"})
            else:
                found.append(statement)
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


def role_of(function: str) -> str:
    return function.removesuffix("Function") + "Role"


def inline_code(function: str) -> str:
    code: str = functions()[function]["Properties"]["Code"]["ZipFile"]
    return code


@cache
def sdk_operations() -> dict[str, set[str]]:
    """boto3 method name → the IAM actions of the task services' operations of that name."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service, prefix in TASK_SERVICES.items():
        for name in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(name), set()).add(f"{prefix}:{name}")
    return found


def calls_reachable_from_handler(source: str) -> tuple[set[str], set[str]]:
    """(the function's own AWS calls, the calls it makes as the backup account's reader).

    Methods referenced from module-level code or from a definition reachable by name from
    `handler`. Bundles carry shared helpers that a given task never calls (tasks/aws.py is in
    all six), so a plain text search would over-grant. AWS Backup calls written inside the
    CopyReader class go through the client of the role it assumed (tasks/copy_reader.py); the
    AssumeRole call itself is the function's own.
    """
    tree = ast.parse(source)
    definitions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    reader_nodes = (
        {id(n) for n in ast.walk(definitions[READER_CLASS])}
        if READER_CLASS in definitions
        else set()
    )
    todo: list[ast.AST] = [n for n in tree.body if n not in definitions.values()]
    todo.append(definitions["handler"])
    seen = {"handler"}
    own: set[str] = set()
    as_reader: set[str] = set()
    while todo:
        for node in ast.walk(todo.pop()):
            if isinstance(node, ast.Attribute) and node.attr in sdk_operations():
                actions = sdk_operations()[node.attr]
                backup = {a for a in actions if a.startswith("backup:")}
                if id(node) in reader_nodes and backup:
                    as_reader |= backup
                else:
                    own |= actions
            if isinstance(node, ast.Name) and node.id in definitions and node.id not in seen:
                seen.add(node.id)
                todo.append(definitions[node.id])
    return own, as_reader


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


def test_backup_regions_are_exactly_the_regions_aws_backup_serves() -> None:
    """Issue 13, finding 10 (a Region typo deploys): the Region parameters are a closed list,
    every Region of every partition where the pinned SDK knows AWS Backup (aws-facts.md §E.4:
    CloudFormation checks parameters before it creates anything)."""
    served = backup_regions()
    assert {"us-west-2", "us-gov-west-1", "cn-north-1"} <= set(served)
    for name in ("BackupRegion", "BackupRegionAlternate"):
        slot = template()["Parameters"][name]
        assert slot["AllowedValues"] == served, name
        assert "AllowedPattern" not in slot, name
        # Else the console's refusal would list some forty Regions.
        assert "such as us-" in slot["ConstraintDescription"], name


def test_definition_substitutions_supply_exactly_each_definitions_placeholders() -> None:
    resources = template()["Resources"]
    for logical_id, definition in (
        ("StateMachine", "backup_events"),
        ("ReconcileStateMachine", "reconcile"),
    ):
        substitutions = resources[logical_id]["Properties"]["DefinitionSubstitutions"]
        assert set(substitutions) == placeholders(definition), logical_id
        assert substitutions.get("CopyReaderRoleArn", READER_ARN) == READER_ARN, logical_id


# -- least privilege --------------------------------------------------------------------------


def test_each_task_function_has_its_own_role_on_the_path_the_reader_trusts() -> None:
    assert {name: f["Properties"]["Role"] for name, f in functions().items()} == {
        function: get_att(role_of(function)) for function in TASK_FUNCTIONS
    }
    for function in TASK_FUNCTIONS:
        # The copy reader trusts only roles under /backup-events/ (design.md §2).
        assert roles()[role_of(function)]["Properties"]["Path"] == "/backup-events/", function


def test_each_role_allows_exactly_its_table_of_actions() -> None:
    assert {name: allowed_actions(role) for name, role in roles().items()} == ROLE_ACTIONS
    for name, role in roles().items():
        assert all(s["Effect"] == "Allow" for s in statements(role)), name


def test_task_roles_trust_only_lambda_of_this_account() -> None:
    for name in TASK_ROLE_ACTIONS:
        trust = roles()[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            }
        ], name


@pytest.mark.parametrize("function", sorted(TASK_FUNCTIONS))
def test_each_task_role_allows_exactly_the_calls_its_code_can_make(function: str) -> None:
    # Fewer actions and the task fails with AccessDenied in AWS (the twin's IAM refuses it
    # too, on the paths a run takes); more and the role can do what its code never does.
    own, as_reader = calls_reachable_from_handler(inline_code(function))
    role = roles()[role_of(function)]
    granted = {a for a in allowed_actions(role) if a.split(":")[0] in TASK_SERVICES.values()}
    assert granted == own
    # What the code reads as the reader, the reader role allows.
    assert as_reader <= allowed_actions(roles()["CopyReaderRole"])
    assert (ASSUME_READER in own) == bool(as_reader), "assumes the reader exactly to read copies"


def test_the_reader_role_is_granted_exactly_what_the_tasks_read_through_it() -> None:
    read = set().union(*(calls_reachable_from_handler(inline_code(f))[1] for f in TASK_FUNCTIONS))
    assert read == ROLE_ACTIONS["CopyReaderRole"]


def test_backup_actions_are_scoped_by_region_or_vault_and_never_by_resource_account() -> None:
    """Issue 13, finding 2: AWS does not document aws:ResourceAccount for EBS and EC2 recovery
    points, whose ARNs name no account (docs/aws-facts.md §A.2, §H); the roles rely on
    aws:RequestedRegion and vault ARNs instead (§B.9)."""
    grants = {
        (name, action): (statement["Resource"], statement.get("Condition"))
        for name, role in roles().items()
        for statement in statements(role)
        for action in as_list(statement["Action"])
        if action.startswith("backup:")
    }
    assert grants == BACKUP_GRANTS
    assert "aws:ResourceAccount" not in repr(roles())


def test_only_roles_on_the_readers_path_assume_and_only_this_regions_reader() -> None:
    assuming = {
        name: statement
        for name, role in roles().items()
        for statement in statements(role)
        if {"sts:AssumeRole", "sts:*", "*"} & set(as_list(statement["Action"]))
    }
    assert set(assuming) == {n for n, actions in ROLE_ACTIONS.items() if ASSUME_READER in actions}
    for name, statement in assuming.items():
        assert statement == {"Effect": "Allow", "Action": ASSUME_READER, "Resource": READER_ARN}
        assert roles()[name]["Properties"]["Path"] == "/backup-events/", name


def test_the_copy_reader_is_named_per_region_and_trusts_only_the_organizations_path() -> None:
    reader = roles()["CopyReaderRole"]
    assert reader["Condition"] == "InBackupAccount"
    properties = reader["Properties"]
    assert properties["RoleName"] == {"Fn::Sub": "BackupEventsCopyReader-${AWS::Region}"}
    assert properties["Path"] == "/backup-events/"
    assert properties["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
                "ArnLike": {
                    "aws:PrincipalArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/backup-events/*"
                    }
                },
            },
        }
    ]


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


def test_the_ledger_is_read_and_written_only_by_the_cut_and_read_by_the_survey() -> None:
    grants = {
        name: (sorted(as_list(s["Action"])), s["Resource"])
        for name, role in roles().items()
        for s in statements(role)
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    }
    assert grants == {
        "CutRetentionRole": (["dynamodb:GetItem", "dynamodb:PutItem"], get_att("CutLedger")),
        "FindUnfinishedBackupsRole": (["dynamodb:Scan"], get_att("CutLedger")),
    }


def test_the_cut_ledger_outlives_the_stack_and_is_recoverable() -> None:
    # design.md §5: the ledger is what stops a re-run from cutting a lengthened retention.
    ledger = template()["Resources"]["CutLedger"]
    assert (ledger["DeletionPolicy"], ledger["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = ledger["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "RecoveryPointArn", "KeyType": "HASH"}]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


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


def test_the_state_machine_role_invokes_only_the_five_workflow_functions() -> None:
    role = roles()["StateMachineRole"]
    invoking = [s for s in statements(role) if "lambda:InvokeFunction" in as_list(s["Action"])]
    workflow = [f for f in TASK_FUNCTIONS if f != "FindUnfinishedBackupsFunction"]
    assert invoking == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [get_att(name) for name in workflow],
        }
    ]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "states.amazonaws.com"
    }


def test_the_reconciliation_role_starts_redrives_and_reports_only_for_this_workflow() -> None:
    role = roles()["ReconcileRole"]
    grants = {
        action: statement["Resource"]
        for statement in statements(role)
        for action in as_list(statement["Action"])
        if action not in LOG_DELIVERY
    }
    assert grants == {
        "lambda:InvokeFunction": get_att("FindUnfinishedBackupsFunction"),
        "states:StartExecution": {"Ref": "StateMachine"},
        "states:RedriveExecution": {
            "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
            "execution:${StateMachine.Name}:*"
        },
        "sqs:SendMessage": get_att("ErrorQueue"),
        # Only when the queue is encrypted with the user's key.
        "kms:GenerateDataKey": {"Ref": "EncryptionKmsKey"},
        "kms:Decrypt": {"Ref": "EncryptionKmsKey"},
    }
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "states.amazonaws.com"
    }


@pytest.mark.parametrize(
    ("role", "actions"),
    [("CutRetentionRole", LEDGER_KEY_WRITES), ("FindUnfinishedBackupsRole", LEDGER_KEY_READS)],
)
def test_the_ledgers_key_is_granted_only_when_given_and_only_through_dynamodb(
    role: str, actions: set[str]
) -> None:
    policy = roles()[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (given,) = [s for s in policy if "Fn::If" in s]
    condition, statement, otherwise = given["Fn::If"]
    assert (condition, otherwise) == ("EncryptionKeyGiven", {"Ref": "AWS::NoValue"})
    assert set(as_list(statement["Action"])) == actions
    assert statement["Resource"] == {"Ref": "EncryptionKmsKey"}
    assert statement["Condition"] == THROUGH_DYNAMODB


def test_the_events_role_can_only_start_this_stacks_two_state_machines() -> None:
    role = roles()["EventsRole"]
    assert statements(role) == [
        {
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": [{"Ref": "StateMachine"}, {"Ref": "ReconcileStateMachine"}],
        }
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


def test_each_function_is_arm64_on_a_current_python_with_a_powertools_layer_and_json_logs() -> None:
    for name, function in functions().items():
        properties = function["Properties"]
        runtime = properties["Runtime"]
        assert runtime in CURRENT_PYTHON_RUNTIMES, name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["Handler"] == "index.handler", name  # inline code lives in index.py
        # The given layer, or the public one for the function's own runtime and architecture
        # (its compiled dependencies must match them, aws-facts.md §E.5).
        assert properties["Layers"] == [
            {
                "Fn::If": [
                    "PowertoolsLayerGiven",
                    {"Ref": "PowertoolsLayerArn"},
                    f"{{{{resolve:ssm:/aws/service/powertools/python/arm64/{runtime}/latest}}}}",
                ]
            }
        ], name
        assert properties["LoggingConfig"] == {
            "LogFormat": "JSON",
            "LogGroup": {"Ref": "TaskLogGroup"},
        }, name


def test_a_given_layer_must_be_a_layer_version_arn_of_any_partition() -> None:
    pattern = template()["Parameters"]["PowertoolsLayerArn"]["AllowedPattern"]
    accepted = [
        "",
        "arn:aws:lambda:ap-southeast-5:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:21",
        "arn:aws-us-gov:lambda:us-gov-west-1:000022224444:layer:Powertools:3",
        "arn:aws-cn:lambda:cn-north-1:000022224444:layer:Powertools:3",
    ]
    refused = [
        "/aws/service/powertools/python/arm64/python3.13/latest",
        "arn:aws:lambda:us-east-1:000022224444:layer:Powertools",  # no version
        "arn:aws:lambda:us-east-1:000022224444:function:Powertools:3",
    ]
    assert [a for a in accepted if not re.fullmatch(pattern, a)] == []
    assert [r for r in refused if re.fullmatch(pattern, r)] == []


def test_the_powertools_rule_admits_exactly_the_regions_with_the_public_parameter() -> None:
    """Issue 13, finding 7: the public Powertools parameter exists only in some commercial
    Regions (docs/aws-facts.md §E.5, §H); the rule names the same Regions as the twin's model
    of where Powertools publishes it, and applies only when no layer ARN is given."""
    rule = template()["Rules"]["PowertoolsLayerPublished"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "PowertoolsLayerArn"}, ""]}
    ((assertion),) = rule["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert sorted(regions) == sorted(POWERTOOLS_REGIONS)
    assert set(regions) <= set(backup_regions())
    assert "PowertoolsLayerArn" in assertion["AssertDescription"]


def test_rules_pass_the_event_to_the_state_machine_unchanged() -> None:
    # A person can copy any execution's input and start it again by hand (design.md §3).
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


def test_the_reconciliation_runs_on_a_schedule_only_when_asked() -> None:
    conditions = template()["Conditions"]
    schedule = template()["Resources"]["ReconcileSchedule"]
    assert schedule["Condition"] == "ReconcileScheduled"
    assert conditions["ReconcileScheduled"] == {
        "Fn::And": [{"Condition": "InResourceAccount"}, {"Condition": "ReconcileWanted"}]
    }
    # Empty or 0 turns it off (design.md §5b).
    assert conditions["ReconcileWanted"] == {
        "Fn::Not": [
            {
                "Fn::Or": [
                    {"Fn::Equals": [{"Ref": "ReconcileEveryHours"}, ""]},
                    {"Fn::Equals": [{"Ref": "ReconcileEveryHours"}, "0"]},
                ]
            }
        ]
    }
    (target,) = schedule["Properties"]["Targets"]
    assert target == {
        "Id": "Reconciliation",
        "Arn": {"Ref": "ReconcileStateMachine"},
        "RoleArn": get_att("EventsRole"),
    }


def test_the_alarm_topic_never_uses_the_aws_managed_key_cloudwatch_cannot_publish_to() -> None:
    # docs.aws.amazon.com/sns/latest/dg/sns-key-management.html: an alarm's notification to a
    # topic under alias/aws/sns is dropped, since that key's policy cannot admit CloudWatch.
    topic = template()["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {
        "Fn::If": ["EncryptionKeyGiven", {"Ref": "EncryptionKmsKey"}, {"Ref": "AWS::NoValue"}]
    }
    key = template()["Parameters"]["EncryptionKmsKey"]["Description"]
    assert "cloudwatch.amazonaws.com" in key


def test_the_failure_alarm_fills_each_missing_series_with_zero() -> None:
    """Issue 13, finding 1 (the expression; test_end_to_end evaluates it): Step Functions
    publishes each series only in periods with such an execution (docs/aws-facts.md §H, §T.2)."""
    alarm = template()["Resources"]["FailedExecutionsAlarm"]["Properties"]
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    operands = {q["Id"] for q in alarm["Metrics"] if "MetricStat" in q}
    assert operands == {"failed", "timedout", "aborted"}
    assert expression == " + ".join(f"FILL({o}, 0)" for o in ("failed", "timedout", "aborted"))
    assert alarm["TreatMissingData"] == "notBreaching"
