"""Deploy the generated template into the twin, the way a user deploys it to AWS.

The template is larger than CloudFormation's 51,200-byte TemplateBody limit, so, as in AWS,
it is uploaded to S3 first and the stack is created from its URL.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def quick_start_parameters(**overrides: str) -> dict[str, str]:
    """The quick start's values: backup account in us-west-2, main region us-east-1."""
    return {
        "OrganizationId": ORGANIZATION_ID,
        "BackupAccountId": BACKUP_ACCOUNT,
        "BackupRegion": BACKUP_REGION,
        "BackupRegionAlternate": MAIN_REGION,
        **overrides,
    }


def template_url(twin: Twin, account: str, region: str, body: str | None = None) -> str:
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
    s3.put_object(Bucket=bucket, Key="backup_events_aws.yaml", Body=(body or TEMPLATE.read_text()))
    return f"https://{bucket}.s3.amazonaws.com/backup_events_aws.yaml"


@dataclass
class Stack:
    account: str
    region: str
    status: str
    outputs: dict[str, str]
    resources: list[str]


def deploy_stack(
    twin: Twin,
    account: str,
    region: str,
    parameters: dict[str, str],
    *,
    name: str = STACK_NAME,
) -> Stack:
    cfn = twin.client("cloudformation", account, region)
    cfn.create_stack(
        StackName=name,
        TemplateURL=template_url(twin, account, region),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    described: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
    resources = [
        r["LogicalResourceId"]
        for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
        # moto lists resources whose Condition is false with an empty logical ID.
        if r["LogicalResourceId"]
    ]
    return Stack(
        account=account,
        region=region,
        status=described["StackStatus"],
        outputs={o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        resources=sorted(resources),
    )
