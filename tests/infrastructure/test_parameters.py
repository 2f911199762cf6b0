"""Settings that cannot work are refused before anything is created, with the reason given.

A stack half-created from contradictory settings is worse than none: the user must delete it
before trying again, and meanwhile its rules may already be acting on backups. CloudFormation
checks parameter constraints and Rules before it creates anything (docs/aws-facts.md §E.4),
and so does the twin (docs/twin.md §4).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.stacks import describe_stack
from local.twin import Twin
from tests.infrastructure.conftest import (
    CAPABILITIES,
    STACK_NAME,
    TASK_FUNCTIONS,
    create_stack,
    deploy,
    module_twin,
    parameter_list,
    template,
    template_url,
)

MANAGEMENT_ACCOUNT = "123456789012"
# A commercial Region AWS Backup serves where Powertools publishes no layer parameter, and
# GovCloud, where it publishes none at all (docs/aws-facts.md §H).
NO_PUBLIC_LAYER = ("ap-southeast-5", "us-gov-west-1")
NO_LAYER_REFUSED = (
    "Template error: rule PowertoolsLayerPublished: AWS publishes no Powertools layer parameter "
    "in this Region: give PowertoolsLayerArn"
)

REFUSED = [
    pytest.param(
        {"BackupRegionAlternate": BACKUP_REGION},
        "BackupRegion and BackupRegionAlternate must be different regions.",
        id="alternate region equals backup region",
    ),
    pytest.param(
        {"EnableCopy": "false"},
        "EnableUpdateLifecycle needs EnableCopy: originals are shortened only after their copies",
        id="cutting retention without copying",
    ),
    pytest.param(
        {"EnableCopy": "false", "EnableUpdateLifecycle": "true"},
        "EnableUpdateLifecycle needs EnableCopy",
        id="cutting retention without copying, both given",
    ),
    # Both off is accepted: test_end_to_end deploys it.
    pytest.param(
        {"BackupAccountId": "99997777555"},
        "Parameter 'BackupAccountId' must be a 12-digit AWS account ID, got '99997777555'",
        id="backup account id of 11 digits",
    ),
    pytest.param(
        {"BackupAccountId": "9999-7777-5555"},
        "Parameter 'BackupAccountId' must be a 12-digit AWS account ID",
        id="backup account id with dashes",
    ),
    pytest.param(
        {"BackupRegion": "US West (Oregon)"},
        "Parameter 'BackupRegion' must be a Region where AWS Backup runs, such as us-west-2",
        id="region name instead of code",
    ),
    pytest.param(
        {"BackupRegionAlternate": "us-east-7"},
        "Parameter 'BackupRegionAlternate' must be a Region where AWS Backup runs, such as "
        "us-east-1, got 'us-east-7'",
        id="alternate region that does not exist",
    ),
    pytest.param(
        {"ReconcileEveryHours": "daily"},
        "Parameter 'ReconcileEveryHours' must be empty, 0 (off) or a whole number of hours",
        id="reconciliation interval in words",
    ),
    pytest.param(
        {"PowertoolsLayerArn": "/aws/service/powertools/python/arm64/python3.13/latest"},
        "Parameter 'PowertoolsLayerArn' must be empty or a Lambda layer version ARN",
        id="layer parameter name instead of a layer ARN",
    ),
]


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    """One twin for the module: refusals leave nothing behind, and the stacks that are made
    go to accounts and Regions no refusal looks at (refused: RESOURCE_ACCOUNT; made:
    SECOND_RESOURCE_ACCOUNT, and the backup account for the empty-stack case)."""
    with module_twin() as running:
        yield running


def assert_nothing_created(twin: Twin, account: str, region: str) -> None:
    cfn = twin.client("cloudformation", account, region)
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=STACK_NAME)
    assert twin.client("lambda", account, region).list_functions()["Functions"] == []
    machines = twin.client("stepfunctions", account, region).list_state_machines()
    assert machines["stateMachines"] == []
    vaults = twin.client("backup", account, region).list_backup_vaults()
    assert vaults["BackupVaultList"] == []
    assert twin.client("events", account, region).list_rules()["Rules"] == []
    assert twin.client("sqs", account, region).list_queues().get("QueueUrls", []) == []
    roles = twin.client("iam", account, region).list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if "BackupEvents" in r["RoleName"]] == []


def refusal(twin: Twin, account: str, region: str, **overrides: str) -> dict[str, str]:
    """CreateStack's error, which must come before anything is made."""
    with pytest.raises(ClientError) as refused:
        create_stack(twin, account, region, **overrides)
    assert_nothing_created(twin, account, region)
    error: dict[str, str] = refused.value.response["Error"]
    return error


@pytest.mark.parametrize(("overrides", "reason"), REFUSED)
def test_create_stack_refuses_settings_that_cannot_work(
    twin: Twin, overrides: dict[str, str], reason: str
) -> None:
    error = refusal(twin, RESOURCE_ACCOUNT, MAIN_REGION, **overrides)
    assert error["Code"] == "ValidationError"
    assert reason in error["Message"]


def test_a_typo_in_the_backup_region_is_refused_by_create_stack(twin: Twin) -> None:
    """Issue 13, finding 10: `us-wset-2` matched the old pattern and deployed; nothing failed
    until the first copy. The Region parameters now take only Regions AWS Backup serves, which
    CloudFormation checks before it creates anything (docs/aws-facts.md §E.4; docs/twin.md
    §4)."""
    error = refusal(twin, RESOURCE_ACCOUNT, MAIN_REGION, BackupRegion="us-wset-2")
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "Parameter 'BackupRegion' must be a Region where AWS Backup runs, such as us-west-2, "
        "got 'us-wset-2'"
    )


def test_create_stack_set_refuses_them_too(twin: Twin) -> None:
    cfn = twin.client("cloudformation", MANAGEMENT_ACCOUNT, MAIN_REGION)
    with pytest.raises(ClientError) as refused:
        cfn.create_stack_set(
            StackSetName=STACK_NAME,
            TemplateURL=template_url(twin, MANAGEMENT_ACCOUNT, MAIN_REGION),
            Parameters=parameter_list({"BackupRegion": "us-wset-2"}),
            Capabilities=CAPABILITIES,
            PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        )

    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "'us-wset-2'" in refused.value.response["Error"]["Message"]
    assert cfn.list_stack_sets()["Summaries"] == []


# -- the Powertools layer ---------------------------------------------------------------------


def publish_layer(twin: Twin, account: str, region: str) -> str:
    """A layer version of the user's own (as when they publish Powertools themselves)."""
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("python/aws_lambda_powertools/__init__.py", "")
    published = twin.client("lambda", account, region).publish_layer_version(
        LayerName="AWSLambdaPowertoolsPythonV3-python313-arm64",
        Content={"ZipFile": package.getvalue()},
        CompatibleRuntimes=["python3.13"],
        CompatibleArchitectures=["arm64"],
    )
    arn: str = published["LayerVersionArn"]
    return arn


@pytest.mark.parametrize("region", NO_PUBLIC_LAYER)
def test_a_region_without_the_public_layer_parameter_is_refused_unless_a_layer_is_given(
    twin: Twin, region: str
) -> None:
    """Issue 13, finding 7: Powertools' public SSM parameter exists only in some commercial
    Regions, none in GovCloud or China (docs/aws-facts.md §E.5, §H). Without a layer ARN the
    PowertoolsLayerPublished rule refuses the stack before anything is made, saying what to
    give, instead of a missing-parameter failure deep in the deployment."""
    ssm = twin.client("ssm", RESOURCE_ACCOUNT, region)
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ssm.get_parameter(Name="/aws/service/powertools/python/arm64/python3.13/latest")

    error = refusal(twin, RESOURCE_ACCOUNT, region)
    assert error["Code"] == "ValidationError"
    assert NO_LAYER_REFUSED in error["Message"]


@pytest.mark.parametrize("region", ["us-gov-west-1", MAIN_REGION])
def test_a_given_layer_arn_is_used_as_is(twin: Twin, region: str) -> None:
    """Issue 13, finding 7: a layer version ARN, given where there is no public parameter or to
    pin a version where there is one, is what every function runs with (docs/aws-facts.md
    §E.5)."""
    layer = publish_layer(twin, SECOND_RESOURCE_ACCOUNT, region)
    stack = deploy(twin, SECOND_RESOURCE_ACCOUNT, region, PowertoolsLayerArn=layer)

    lambdas = stack.client("lambda")
    layers = {
        name: [
            layer["Arn"]
            for layer in lambdas.get_function_configuration(FunctionName=stack.physical_id(name))[
                "Layers"
            ]
        ]
        for name in TASK_FUNCTIONS
    }
    assert layers == {name: [layer] for name in TASK_FUNCTIONS}


# -- empty stacks ---------------------------------------------------------------------------------


def test_the_twin_refuses_a_stack_whose_conditions_leave_nothing_to_create(twin: Twin) -> None:
    """Issue 13, finding 3 (the twin's half): CloudFormation refuses a stack with no resource to
    create (docs/aws-facts.md §H, empty stacks), so the twin does too. Without its copy reader,
    the template in the backup account with CreateSampleVault=false would be such a stack."""
    resources = template()["Resources"]
    without_reader = {
        **template(),
        "Resources": {k: v for k, v in resources.items() if k != "CopyReaderRole"},
    }
    body = json.dumps(without_reader)

    with pytest.raises(ClientError) as refused:
        create_stack(twin, BACKUP_ACCOUNT, BACKUP_REGION, body=body, CreateSampleVault="false")
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "At least one Resources member must be defined" in error["Message"]
    assert_nothing_created(twin, BACKUP_ACCOUNT, BACKUP_REGION)

    # The control: the same template with something left to create is accepted.
    create_stack(twin, BACKUP_ACCOUNT, BACKUP_REGION, body=body)
    stack = describe_stack(twin, BACKUP_ACCOUNT, BACKUP_REGION)
    assert (stack.status, set(stack.resources)) == ("CREATE_COMPLETE", {"CopiesVault"})
