"""backup-events deploy against the twin: dry runs change nothing, --apply deploys and waits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from backup_events.aws import ConfigError
from backup_events.deploy import (
    check_inputs,
    deploy_stack,
    deploy_stack_set,
    name_limit,
    read_parameters,
    report_stack,
    report_stack_set,
)
from backup_events.templates import template_path
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
)
from local.cloudformation import organizational_unit
from local.stacks import quick_start_parameters
from local.twin import Twin
from tests.cli.conftest import OneAccount, printed, recording_console, run

pytestmark = [pytest.mark.twin, pytest.mark.infrastructure]

BUCKET = "my-templates"
MANAGEMENT_ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as running:
        running.client("s3", RESOURCE_ACCOUNT, MAIN_REGION).create_bucket(Bucket=BUCKET)
        yield running


def deploy(twin: Twin, argv: list[str], account: str = RESOURCE_ACCOUNT) -> int:
    return run(twin, ["deploy", *argv], sessions=OneAccount(twin, account))


def params(**overrides: str) -> list[str]:
    return [f"--param={k}={v}" for k, v in quick_start_parameters(**overrides).items()]


def stack_args(*extra: str) -> list[str]:
    return ["stack", "--region", MAIN_REGION, "--template-bucket", BUCKET, *extra]


def stacks(twin: Twin) -> list[dict[str, Any]]:
    listed = twin.client("cloudformation").describe_stacks()["Stacks"]
    return [s for s in listed if s["StackStatus"] != "REVIEW_IN_PROGRESS"]


def test_a_dry_run_of_a_new_stack_shows_its_parameters_and_writes_nothing(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(twin, stack_args(*params())) == 0

    printed = capsys.readouterr().out
    assert "would create" in printed
    assert f"BackupAccountId: (new) -> {BACKUP_ACCOUNT}" in printed
    assert stacks(twin) == []
    assert "Contents" not in twin.client("s3").list_objects_v2(Bucket=BUCKET)


def test_apply_creates_the_stack_from_s3_and_waits_for_it(twin: Twin) -> None:
    assert deploy(twin, stack_args(*params(), "--apply")) == 0

    (stack,) = stacks(twin)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    sfn = twin.client("stepfunctions")
    assert sfn.describe_state_machine(stateMachineArn=outputs["StateMachineArn"])["status"] == (
        "ACTIVE"
    )
    uploaded = twin.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"].rsplit("/", 1)[1] for o in uploaded] == ["backup_events_aws.yaml"]


def test_an_update_is_previewed_then_applied_and_a_repeat_changes_nothing(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(twin, stack_args(*params(), "--apply")) == 0
    capsys.readouterr()

    changed = params(NewDeleteAfterDays="10")
    assert deploy(twin, stack_args(*changed)) == 0
    preview = capsys.readouterr().out
    assert "would update" in preview
    assert "parameter NewDeleteAfterDays: 7 -> 10" in preview
    (stack,) = stacks(twin)
    deployed = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert deployed["NewDeleteAfterDays"] == "7"  # the dry run changed nothing

    assert deploy(twin, stack_args(*changed, "--apply")) == 0
    (stack,) = stacks(twin)
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    definition = json.loads(
        twin.client("stepfunctions").describe_state_machine(
            stateMachineArn=outputs["StateMachineArn"]
        )["definition"]
    )
    cut = definition["States"]["CutOriginalRetention"]["Arguments"]["Payload"]
    assert cut["NewDeleteAfterDays"] == "{% 10 %}"

    capsys.readouterr()
    assert deploy(twin, stack_args(*changed, "--apply")) == 0
    assert "no changes" in capsys.readouterr().out


def test_parameters_come_from_a_file_in_either_form_and_flags_win(tmp_path: Path) -> None:
    as_object = tmp_path / "object.json"
    as_object.write_text(json.dumps({"VaultName": "Vault-A", "NewDeleteAfterDays": 9}))
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([{"ParameterKey": "VaultName", "ParameterValue": "Vault-B"}]))

    assert read_parameters(as_object, ["VaultName=Vault-C"]) == {
        "VaultName": "Vault-C",
        "NewDeleteAfterDays": "9",
    }
    assert read_parameters(as_list, []) == {"VaultName": "Vault-B"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stack", "--region", MAIN_REGION, *params()], "pass --template-bucket"),
        (
            ["stack", "--region", MAIN_REGION, "--template-bucket", "nobody-has-it", *params()],
            "cannot use S3 bucket 'nobody-has-it'",
        ),
        (stack_args(*params(), "--param", "NoEqualsSign"), "expected Key=value"),
        (["stack", "--region", "mars-north-1", *params()], "unknown region"),
        (stack_args(*params(BackupRegion="us-wset-2")), "unknown BackupRegion 'us-wset-2'"),
        (stack_args(*params(BackupRegion="cn-north-1")), "not in the aws partition"),
        (stack_args(*params(OrganizationId="o-short")), "'o-short' is not an organization ID"),
        (stack_args(*params(BackupAccountId="12345")), "12-digit AWS account ID"),
        (stack_args("--name", "1st", *params()), "starting with a letter"),
        (
            stack_args(*params(BackupRegionAlternate=BACKUP_REGION), "--apply"),
            "BackupRegion and BackupRegionAlternate must be different regions",
        ),
        (stack_args("--parameters", "/no/such/file.json"), "cannot read parameters"),
    ],
)
def test_configuration_errors_exit_2_with_one_line_and_deploy_nothing(
    twin: Twin, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert deploy(twin, argv) == 2

    error = capsys.readouterr().err.strip()
    assert error.startswith("backup-events deploy: error: ")
    assert message in error
    assert "\n" not in error
    assert stacks(twin) == []


def test_a_stack_set_is_previewed_then_deployed_to_the_organizational_unit(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = organizational_unit(MANAGEMENT_ACCOUNT, [RESOURCE_ACCOUNT, BACKUP_ACCOUNT])
    # Bucket names are global: the management account brings its own.
    twin.client("s3", MANAGEMENT_ACCOUNT, MAIN_REGION).create_bucket(Bucket="org-templates")
    argv = [
        "stackset",
        "--region",
        MAIN_REGION,
        "--template-bucket",
        "org-templates",
        "--org-units",
        unit,
        "--regions",
        f"{MAIN_REGION},{BACKUP_REGION}",
        *params(),
    ]

    assert deploy(twin, argv, MANAGEMENT_ACCOUNT) == 0
    assert "would create" in capsys.readouterr().out
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
    assert cfn.list_stack_sets()["Summaries"] == []

    assert deploy(twin, [*argv, "--apply"], MANAGEMENT_ACCOUNT) == 0
    assert "SUCCEEDED" in capsys.readouterr().out
    instances = cfn.list_stack_instances(StackSetName="BackupEvents")["Summaries"]
    assert {(i["Account"], i["Region"]) for i in instances} == {
        (a, r) for a in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT) for r in (MAIN_REGION, BACKUP_REGION)
    }
    # The resource account got the workflow, the backup account only its vault.
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
    assert workflows(sfn) == 1
    backup_sfn = twin.client("stepfunctions", BACKUP_ACCOUNT, MAIN_REGION)
    assert backup_sfn.list_state_machines()["stateMachines"] == []


def stack_set_args(unit: str, regions: str, *extra: str) -> list[str]:
    return [
        "stackset", "--region", MAIN_REGION, "--template-bucket", "org-templates",
        "--org-units", unit, "--regions", regions, *params(), *extra,
    ]  # fmt: skip


@pytest.fixture
def organization(twin: Twin) -> str:
    """The management account's OU holding the resource and backup accounts, and its bucket."""
    twin.client("s3", MANAGEMENT_ACCOUNT, MAIN_REGION).create_bucket(Bucket="org-templates")
    return organizational_unit(MANAGEMENT_ACCOUNT, [RESOURCE_ACCOUNT, BACKUP_ACCOUNT])


@pytest.mark.usefixtures("wide")
def test_a_longer_regions_list_creates_the_missing_instances(
    twin: Twin, organization: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        deploy(twin, stack_set_args(organization, MAIN_REGION, "--apply"), MANAGEMENT_ACCOUNT) == 0
    )
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)

    def placed() -> set[tuple[str, str]]:
        listed = cfn.list_stack_instances(StackSetName="BackupEvents")["Summaries"]
        return {(i["Account"], i["Region"]) for i in listed}

    assert placed() == {(RESOURCE_ACCOUNT, MAIN_REGION), (BACKUP_ACCOUNT, MAIN_REGION)}
    capsys.readouterr()

    both = f"{MAIN_REGION},{BACKUP_REGION}"
    assert deploy(twin, stack_set_args(organization, both), MANAGEMENT_ACCOUNT) == 0
    assert f"instances would create: {organization} in {BACKUP_REGION}" in capsys.readouterr().out
    assert len(placed()) == 2  # the dry run created nothing

    assert deploy(twin, stack_set_args(organization, both, "--apply"), MANAGEMENT_ACCOUNT) == 0
    out = capsys.readouterr().out
    assert f"instances created: {organization} in {BACKUP_REGION}" in out
    assert placed() == {
        (a, r) for a in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT) for r in (MAIN_REGION, BACKUP_REGION)
    }
    # Each instance is shown with its status.
    for account in (RESOURCE_ACCOUNT, BACKUP_ACCOUNT):
        assert re.search(rf"{account}\s*│\s*{BACKUP_REGION}\s*│\s*CURRENT", out), out
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, BACKUP_REGION)
    assert workflows(sfn) == 1


@pytest.mark.parametrize(
    ("unit", "regions", "extra", "message"),
    [
        ("ou-ab12-cdef3456", "us-wset-2", [], "unknown --regions Region 'us-wset-2'"),
        ("ou-ab12-cdef3456", "us-east-1,cn-north-1", [], "cn-north-1 is not in the aws partition"),
        ("12345", MAIN_REGION, [], "'12345' is not an organizational unit ID"),
        ("ou-ab12-cdef3456", MAIN_REGION, ["--name", "B" * 35], "at most"),
    ],
)
def test_stack_set_inputs_are_checked_before_anything_is_written(
    twin: Twin,
    capsys: pytest.CaptureFixture[str],
    unit: str,
    regions: str,
    extra: list[str],
    message: str,
) -> None:
    twin.client("s3", MANAGEMENT_ACCOUNT, MAIN_REGION).create_bucket(Bucket="org-templates")
    argv = [*stack_set_args(unit, regions), *extra, "--apply"]
    assert deploy(twin, argv, MANAGEMENT_ACCOUNT) == 2
    error = capsys.readouterr().err.strip()
    assert message in error, error
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
    assert cfn.list_stack_sets()["Summaries"] == []
    assert "Contents" not in twin.client("s3", MANAGEMENT_ACCOUNT).list_objects_v2(
        Bucket="org-templates"
    )


def test_the_name_limit_follows_the_state_machine_names_in_the_template() -> None:
    # A StackSet's instances are stacks named StackSet-<name>-<36-character id>, and the
    # template names a state machine after its stack (at most 80 characters): 34 left. A second
    # state machine named "<stack>-Reconcile" leaves 10 fewer.
    one = "StateMachineName: !Ref AWS::StackName\n"
    two = one + 'StateMachineName: !Sub "${AWS::StackName}-Reconcile"\n'
    assert name_limit(one, stack_set=True) == 34
    assert name_limit(two, stack_set=True) == 24
    assert name_limit(two, stack_set=False) == 70
    shipped = template_path().read_text()
    limit = name_limit(shipped, stack_set=True)
    check_inputs(
        region=MAIN_REGION, name="B" * limit, parameters={}, template_body=shipped,
        org_units=["ou-ab12-cdef3456"], regions=[MAIN_REGION],
    )  # fmt: skip
    with pytest.raises(ConfigError, match=f"is {limit + 1} characters; at most {limit}"):
        check_inputs(
            region=MAIN_REGION, name="B" * (limit + 1), parameters={}, template_body=shipped,
            org_units=["ou-ab12-cdef3456"], regions=[MAIN_REGION],
        )  # fmt: skip


# -- AWS's reasons when a stack or an instance fails (the twin's stacks do not fail) -----------


def test_a_failed_stack_prints_the_reasons_from_its_events(tmp_path: Path) -> None:
    cfn = boto3.client("cloudformation", region_name=MAIN_REGION)
    stub = Stubber(cfn)
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id X does not exist")
    stub.add_response("create_stack", {"StackId": "arn:stack"})
    stub.add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": "X", "StackStatus": "ROLLBACK_COMPLETE", "CreationTime": NOW}]},
    )
    events = [  # newest first, as AWS returns them
        event("X", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", None),
        event("Queue", "AWS::SQS::Queue", "CREATE_FAILED", "Resource creation cancelled"),
        event("Role", "AWS::IAM::Role", "CREATE_FAILED", "Encountered a permissions error"),
        event("X", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
        event("Old", "AWS::SQS::Queue", "CREATE_FAILED", "from an earlier operation"),
    ]
    stub.add_response("describe_stack_events", {"StackEvents": events})
    template = tmp_path / "small.yaml"
    template.write_text("Resources: {}\n")
    console = recording_console()
    with stub:
        outcome = deploy_stack(
            lambda service, region: cfn, MAIN_REGION, "X", {},
            template=template, apply=True, console=console, sleep=lambda s: None,
        )  # fmt: skip

    assert report_stack(outcome, console) == 1
    assert outcome.reasons == [
        "Role (AWS::IAM::Role): CREATE_FAILED: Encountered a permissions error",
        "Queue (AWS::SQS::Queue): CREATE_FAILED: Resource creation cancelled",
    ]
    assert "FAILED Role (AWS::IAM::Role): CREATE_FAILED: Encountered a permissions" in printed(
        console
    )


def test_a_failed_stack_set_instance_prints_its_status_reason(tmp_path: Path) -> None:
    cfn = boto3.client("cloudformation", region_name=MAIN_REGION)
    stub = Stubber(cfn)
    stub.add_client_error("describe_stack_set", "StackSetNotFoundException", "StackSetNotFound")
    stub.add_response("create_stack_set", {"StackSetId": "set-1"})
    stub.add_response("create_stack_instances", {"OperationId": "op-1"})
    stub.add_response("describe_stack_set_operation", {"StackSetOperation": {"Status": "FAILED"}})
    reason = "ResourceLogicalId:StateMachine, ResourceType:AWS::StepFunctions::StateMachine"
    stub.add_response(
        "list_stack_set_operation_results",
        {
            "Summaries": [
                {"Account": RESOURCE_ACCOUNT, "Region": MAIN_REGION, "Status": "SUCCEEDED"},
                {
                    "Account": BACKUP_ACCOUNT,
                    "Region": MAIN_REGION,
                    "Status": "FAILED",
                    "StatusReason": reason,
                },
            ]
        },
    )
    stub.add_response(
        "list_stack_instances",
        {
            "Summaries": [
                {
                    "Account": BACKUP_ACCOUNT,
                    "Region": MAIN_REGION,
                    "Status": "OUTDATED",
                    "StatusReason": reason,
                    "StackInstanceStatus": {"DetailedStatus": "FAILED"},
                }
            ]
        },
    )
    template = tmp_path / "small.yaml"
    template.write_text("Resources: {}\n")
    console = recording_console()
    with stub:
        outcome = deploy_stack_set(
            lambda service, region: cfn, MAIN_REGION, "X", {},
            org_units=["ou-ab12-cdef3456"], regions=[MAIN_REGION], template=template,
            apply=True, console=console, sleep=lambda s: None,
        )  # fmt: skip
        stub.assert_no_pending_responses()

    assert report_stack_set(outcome, console) == 1
    out = printed(console)
    assert f"FAILED {BACKUP_ACCOUNT} {MAIN_REGION}: FAILED: {reason}" in out
    assert "OUTDATED" in out


def workflows(sfn: Any) -> int:
    """Backup Events state machines (the stack name; its reconciliation is "<name>-Reconcile")."""
    names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    return sum(1 for n in names if not n.endswith("-Reconcile"))


def event(logical: str, kind: str, status: str, reason: str | None) -> dict[str, Any]:
    found = {
        "StackId": "arn:stack",
        "EventId": f"{logical}-{status}",
        "StackName": "X",
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "Timestamp": NOW,
    }
    return {**found, "ResourceStatusReason": reason} if reason else found
