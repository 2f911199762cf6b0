"""The deployable template, read as CloudFormation reads it, and deployed as users must.

The generated template is far above CloudFormation's 51,200-byte TemplateBody limit
(docs/aws-facts.md §E.2), so every deployment here uploads it to S3 and passes TemplateURL,
which is what the console's "Upload a template file" does for a user.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.accounts import BACKUP_ACCOUNT
from local.stacks import (
    CAPABILITIES,
    STACK_NAME,
    TEMPLATE,
    Stack,
    deploy_everywhere,
    describe_stack,
    quick_start_parameters,
    template_text,
    template_url,
)
from local.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = TEMPLATE
VAULT_NAME = "BackupEvents-Sample"

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
    return [
        {"ParameterKey": k, "ParameterValue": v}
        for k, v in quick_start_parameters(**overrides).items()
    ]


def create_stack(
    twin: Twin,
    account: str,
    region: str,
    name: str = STACK_NAME,
    *,
    body: str | None = None,
    **overrides: str,
) -> Any:
    """CreateStack as a user would call it (the template, or `body`, from S3); returns the
    response, raises what AWS would."""
    cfn = twin.client("cloudformation", account, region)
    return cfn.create_stack(
        StackName=name,
        TemplateURL=template_url(twin, account, region, body),
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


def deploy_quick_start(twin: Twin, resource_account: str, region: str, **overrides: str) -> Stack:
    """Quick start steps 4-9 for one resource account and Region: the backup account in every
    Region a copy lands in, then the resource account, all with the same parameters. Returns
    the resource account's stack."""
    places = [(resource_account, region)]
    stacks = deploy_everywhere(twin, quick_start_parameters(**overrides), places)
    assert {s.status for s in stacks.values()} == {"CREATE_COMPLETE"}
    assert (BACKUP_ACCOUNT, region) in stacks
    return stacks[(resource_account, region)]


def drain_error_queue(stack: Stack) -> list[dict[str, Any]]:
    """Every message in the stack's error queue (the events EventBridge put there), removed."""
    sqs = stack.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=stack.outputs["ErrorQueueUrl"], MaxNumberOfMessages=10
        ).get("Messages", [])
        if not received:
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in received)
        sqs.delete_message_batch(
            QueueUrl=stack.outputs["ErrorQueueUrl"],
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)
            ],
        )


def executions_of(
    twin: Twin, state_machine_arn: str, original: str | None = None
) -> list[dict[str, Any]]:
    """DescribeExecution of each execution of one state machine (those whose input names the
    recovery point `original`, if given), in the order they started."""
    described = [twin.describe_execution(arn) for arn in twin.execution_arns()]
    return [
        d
        for d in described
        if d["stateMachineArn"] == state_machine_arn and (original or "") in d["input"]
    ]


def copies_of(twin: Twin, resource: str, region: str) -> list[dict[str, Any]]:
    """The backup account's recovery points of one protected resource in one Region."""
    backup = twin.client("backup", BACKUP_ACCOUNT, region)
    points: list[dict[str, Any]] = backup.list_recovery_points_by_backup_vault(
        BackupVaultName=VAULT_NAME, ByResourceArn=resource
    )["RecoveryPoints"]
    return points


# -- running the module's tests -----------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With -n, hand out this directory's tests a module at a time.

    Most modules here share one twin per module (a deployment and a run take seconds); split
    over workers, each worker would build it again.
    """
    from xdist.scheduler import LoadScopeScheduling

    if config.getoption("dist") != "load":
        return None
    return LoadScopeScheduling(config, log)


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
