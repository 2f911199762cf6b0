"""Deploy the generated template into the twin, the way a user deploys it to AWS.

The one way tests, the demo and the chaos run put Backup Events into the twin: the real
template, uploaded to S3 (it is larger than CloudFormation's 51,200-byte TemplateBody limit,
docs/aws-facts.md §E.2) and created from its URL with the capabilities AWS asks for, so every
piece of wiring (event patterns, vault policies, roles, substitutions) comes from the
template itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    ORGANIZATION_ID,
)
from local.twin import Twin

TEMPLATE = Path(__file__).resolve().parent.parent / "infrastructure" / "backup_events_aws.yaml"
STACK_NAME = "BackupEvents"
# The template names the backup account's read-only role (design.md §2).
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]


def quick_start_parameters(**overrides: str) -> dict[str, str]:
    """The quick start's values: backup account in us-west-2, main region us-east-1."""
    return {
        "OrganizationId": ORGANIZATION_ID,
        "BackupAccountId": BACKUP_ACCOUNT,
        "BackupRegion": BACKUP_REGION,
        "BackupRegionAlternate": MAIN_REGION,
        **overrides,
    }


@cache
def template_text() -> str:
    return TEMPLATE.read_text()


def template_url(twin: Twin, account: str, region: str, body: str | None = None) -> str:
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
    s3.put_object(Bucket=bucket, Key=TEMPLATE.name, Body=(body or template_text()).encode())
    return f"https://{bucket}.s3.{region}.amazonaws.com/{TEMPLATE.name}"


@dataclass
class Stack:
    twin: Twin
    account: str
    region: str
    name: str
    status: str
    outputs: dict[str, str]
    # logical id → (resource type, physical id), without the rows moto leaves for resources it
    # did not create (a false Condition): those have an empty logical id.
    resources: dict[str, tuple[str, str]] = field(default_factory=dict)

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id][1]

    def client(self, service: str) -> Any:
        return self.twin.client(service, self.account, self.region)


def describe_stack(twin: Twin, account: str, region: str, name: str = STACK_NAME) -> Stack:
    cfn = twin.client("cloudformation", account, region)
    described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return Stack(
        twin,
        account,
        region,
        described["StackName"],  # `name` may be a StackId
        status=described["StackStatus"],
        outputs={o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        resources={
            s["LogicalResourceId"]: (s["ResourceType"], s["PhysicalResourceId"])
            for s in summaries
            if s["LogicalResourceId"]
        },
    )


def deploy_stack(
    twin: Twin,
    account: str,
    region: str,
    parameters: dict[str, str],
    *,
    name: str = STACK_NAME,
) -> Stack:
    """CreateStack as a user calls it; the stack as CloudFormation then describes it."""
    twin.client("cloudformation", account, region).create_stack(
        StackName=name,
        TemplateURL=template_url(twin, account, region),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
    )
    return describe_stack(twin, account, region, name)


def deploy_everywhere(
    twin: Twin,
    parameters: dict[str, str],
    resource_places: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], Stack]:
    """The backup account in every Region a copy lands in, then each resource placement.

    Copies go to the backup Region (or its alternate) and to the backup's own Region, so the
    backup account needs a stack (vaults and its read-only copy reader) in each of them.
    """
    places = list(resource_places)
    backup = parameters["BackupAccountId"]
    regions = {parameters["BackupRegion"], parameters["BackupRegionAlternate"]}
    regions |= {region for _, region in places}
    stacks = {
        (backup, region): deploy_stack(twin, backup, region, parameters)
        for region in sorted(regions)
    }
    for account, region in places:
        stacks[(account, region)] = deploy_stack(twin, account, region, parameters)
    return stacks


# -- StackSets ------------------------------------------------------------------------------------


def stack_set_instances(
    twin: Twin, administrator: str, region: str, name: str = STACK_NAME
) -> list[Stack]:
    """Every instance of the StackSet `name` that has a stack, described as CloudFormation
    describes it in the instance's account and Region, under the StackId ListStackInstances
    names (docs/aws-facts.md §E.3)."""
    cfn = twin.client("cloudformation", administrator, region)
    listed = cfn.list_stack_instances(StackSetName=name)["Summaries"]
    return sorted(
        (
            describe_stack(twin, i["Account"], i["Region"], i["StackId"])
            for i in listed
            if "StackId" in i
        ),
        key=lambda s: (s.account, s.region),
    )
