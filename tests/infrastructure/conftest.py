"""The deployable template, read as CloudFormation reads it, and deployed as users must.

The generated template is far above CloudFormation's 51,200-byte TemplateBody limit
(docs/aws-facts.md §E.2), so every deployment here uploads it to S3 and passes TemplateURL,
which is what the console's "Upload a template file" does for a user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, ORGANIZATION_ID
from local.stacks import (
    CAPABILITIES,
    STACK_NAME,
    TEMPLATE,
    Stack,
    describe_stack,
    template_text,
    template_url,
)
from local.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = TEMPLATE
VAULT_NAME = "BackupEvents-Sample"

# The quick start's values (original-readme.md, Quick Start step 4); every stack gets the same.
QUICK_START: dict[str, str] = {
    "OrganizationId": ORGANIZATION_ID,
    "BackupAccountId": BACKUP_ACCOUNT,
    "BackupRegion": BACKUP_REGION,
    "BackupRegionAlternate": MAIN_REGION,
}

# The task functions, by logical id, and the tasks/ module each one's inline code bundles.
TASK_FUNCTIONS: dict[str, str] = {
    "DescribeRecoveryPointFunction": "tasks.describe_recovery_point",
    "StartCopyJobFunction": "tasks.start_copy_job",
    "DescribeCopyJobFunction": "tasks.describe_copy_job",
    "VerifyCopiesFunction": "tasks.verify_copies",
    "CutRetentionFunction": "tasks.cut_retention",
    "FindUnfinishedBackupsFunction": "tasks.reconcile",
}


@cache
def _decoded() -> dict[str, Any]:
    # cfn-lint's decoder turns the short-form tags (!Ref, !Sub, !GetAtt ...) into the long
    # forms CloudFormation itself sees, so assertions compare against {"Ref": ...} and friends.
    from cfnlint.decode import decode_str

    decoded, problems = decode_str(template_text())
    assert not problems, problems
    assert decoded is not None
    return dict(decoded)


def template() -> dict[str, Any]:
    """The committed template as CloudFormation parses it (shared; do not modify)."""
    return _decoded()


def resources_of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template()["Resources"].items() if v["Type"] == kind}


# -- deploying ----------------------------------------------------------------------------------


def parameter_list(overrides: dict[str, str]) -> list[dict[str, str]]:
    values = {**QUICK_START, **overrides}
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def create_stack(
    twin: Twin, account: str, region: str, name: str = STACK_NAME, **overrides: str
) -> Any:
    """CreateStack as a user would call it; returns the response, raises what AWS would."""
    cfn = twin.client("cloudformation", account, region)
    return cfn.create_stack(
        StackName=name,
        TemplateURL=template_url(twin, account, region),
        Parameters=parameter_list(overrides),
        Capabilities=CAPABILITIES,
    )


def deploy(
    twin: Twin, account: str, region: str, name: str = STACK_NAME, **overrides: str
) -> Stack:
    """Create a stack of the template in `account`/`region` and return it, CREATE_COMPLETE."""
    create_stack(twin, account, region, name, **overrides)
    stack = describe_stack(twin, account, region, name)
    assert stack.status == "CREATE_COMPLETE", stack.status
    return stack


def deploy_quick_start(twin: Twin, resource_account: str, **overrides: str) -> Stack:
    """Quick start steps 4-9: backup account in its main and backup regions, then the resource
    account in the main region, all with the same parameters. Returns the resource stack."""
    deploy(twin, BACKUP_ACCOUNT, MAIN_REGION, **overrides)
    deploy(twin, BACKUP_ACCOUNT, BACKUP_REGION, **overrides)
    return deploy(twin, resource_account, MAIN_REGION, **overrides)


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as running:
        yield running


@contextmanager
def module_twin() -> Iterator[Twin]:
    """A twin for a module-scoped fixture.

    Module fixtures are set up before the per-test fake_aws_environment fixture, so this one
    seals itself off from any real AWS configuration the same way for its whole life.
    """
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        with Twin() as running:
            yield running
