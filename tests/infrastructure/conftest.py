"""The deployable template, read as CloudFormation reads it, and deployed as users must.

The generated template is about 200 KB, four times CloudFormation's 51,200-byte TemplateBody
limit (aws-facts.md §E.2), so every deployment here uploads it to S3 and passes TemplateURL,
which is what the console's "Upload a template file" does for a user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, ORGANIZATION_ID
from local.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infrastructure" / "backup_events_aws.yaml"
STACK_NAME = "BackupEvents"
VAULT_NAME = "BackupEvents-Sample"

# The quick start's values (original-readme.md, Quick Start step 4); every stack gets the same.
QUICK_START: dict[str, str] = {
    "OrganizationId": ORGANIZATION_ID,
    "BackupAccountId": BACKUP_ACCOUNT,
    "BackupRegion": BACKUP_REGION,
    "BackupRegionAlternate": MAIN_REGION,
}

# The five task functions, by logical id, and the tasks/ module each one's inline code bundles.
TASK_FUNCTIONS: dict[str, str] = {
    "DescribeRecoveryPointFunction": "tasks.describe_recovery_point",
    "StartCopyJobFunction": "tasks.start_copy_job",
    "DescribeCopyJobFunction": "tasks.describe_copy_job",
    "VerifyCopiesFunction": "tasks.verify_copies",
    "CutRetentionFunction": "tasks.cut_retention",
}


@cache
def template_text() -> str:
    return TEMPLATE_PATH.read_text()


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


@dataclass
class Stack:
    """One deployed stack: what a user sees on its Outputs and Resources tabs."""

    twin: Twin
    account: str
    region: str
    name: str
    outputs: dict[str, str]
    # logical id → (resource type, physical id), without the rows moto leaves for resources it
    # did not create (a false Condition): those have an empty logical id.
    resources: dict[str, tuple[str, str]] = field(default_factory=dict)

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id][1]

    def client(self, service: str) -> Any:
        return self.twin.client(service, self.account, self.region)


def template_url(twin: Twin, account: str, region: str) -> str:
    """Upload the template to a bucket of `account` in `region`; return its TemplateURL."""
    s3 = twin.client("s3", account, region)
    bucket = f"backup-events-templates-{account}-{region}"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
    s3.put_object(Bucket=bucket, Key=TEMPLATE_PATH.name, Body=template_text().encode())
    return f"https://{bucket}.s3.{region}.amazonaws.com/{TEMPLATE_PATH.name}"


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
        Capabilities=["CAPABILITY_IAM"],
    )


def describe(twin: Twin, account: str, region: str, name: str = STACK_NAME) -> Stack:
    cfn = twin.client("cloudformation", account, region)
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return Stack(
        twin,
        account,
        region,
        name,
        outputs={o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        resources={
            s["LogicalResourceId"]: (s["ResourceType"], s["PhysicalResourceId"])
            for s in summaries
            if s["LogicalResourceId"]
        },
    )


def deploy(
    twin: Twin, account: str, region: str, name: str = STACK_NAME, **overrides: str
) -> Stack:
    """Create a stack of the template in `account`/`region` and return it, CREATE_COMPLETE."""
    create_stack(twin, account, region, name, **overrides)
    return describe(twin, account, region, name)


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
