"""backup-events deploy against the twin: dry runs change nothing, --apply deploys and waits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_events.deploy import read_parameters
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
)
from local.cloudformation import organizational_unit
from local.stacks import quick_start_parameters
from local.twin import Twin
from tests.cli.conftest import OneAccount, run

pytestmark = [pytest.mark.twin, pytest.mark.infrastructure]

BUCKET = "my-templates"
MANAGEMENT_ACCOUNT = "123456789012"


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
        (
            stack_args(*params(BackupRegionAlternate=BACKUP_REGION), "--apply"),
            "BackupRegion and BackupRegionAlternate must be different regions",
        ),
        (stack_args(*params(BackupAccountId="12345"), "--apply"), "12-digit AWS account ID"),
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
    assert len(sfn.list_state_machines()["stateMachines"]) == 1
    backup_sfn = twin.client("stepfunctions", BACKUP_ACCOUNT, MAIN_REGION)
    assert backup_sfn.list_state_machines()["stateMachines"] == []
