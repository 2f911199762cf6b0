"""infrastructure/operator_role.yaml: the role `backup-events` assumes in every account.

It passes cfn-lint, deploys as a StackSet from the management account, trusts that account
only, and allows reads plus starting and redriving the workflow's own executions, nothing else.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from backup_events.sessions import Unreachable
from backup_events.templates import OPERATOR_ROLE, template_path
from local.accounts import MAIN_REGION, OUTSIDER_ACCOUNT, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.cli.conftest import (
    MANAGEMENT_ACCOUNT,
    ORGANIZATION_ACCOUNTS,
    deploy_organization,
    operator,
)

pytestmark = [pytest.mark.twin, pytest.mark.infrastructure]

TEMPLATE = template_path(OPERATOR_ROLE)
READ_ONLY = ("Describe", "List", "Get", "Scan")
WRITES = {"states:StartExecution", "states:RedriveExecution"}


def statements() -> list[dict[str, Any]]:
    class Loader(yaml.SafeLoader):
        pass

    # The short-form tags (!Sub, !Ref ...) as plain values: only the shape matters here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))
    role = yaml.load(TEMPLATE.read_text(), Loader)["Resources"]["OperatorRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    linted = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_it_allows_reads_and_only_the_workflows_executions_to_be_started_or_redriven() -> None:
    for statement in statements():
        assert statement["Effect"] == "Allow"
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        for action in actions:
            assert "*" not in action, action
            if action == "kms:Decrypt":
                # Reading an encrypted ledger: only through DynamoDB, so only for the tables
                # the role may Scan.
                assert statement["Condition"] == {
                    "StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"}
                }
                continue
            assert action in WRITES or action.split(":")[1].startswith(READ_ONLY), action
        if set(actions) & WRITES:
            # Only this account's Backup Events state machines and their executions.
            for resource in statement["Resource"]:
                assert ":${AWS::AccountId}:" in resource, resource
                assert "${WorkflowStackName}" in resource, resource


def test_deployed_as_a_stack_set_the_management_account_reaches_every_account(
    twin: Twin,
) -> None:
    deploy_organization(twin)
    sessions = operator(twin)
    assert sessions.caller().account == MANAGEMENT_ACCOUNT
    for account in ORGANIZATION_ACCOUNTS:
        clients = sessions.clients(account, "BackupEventsOperator")
        identity = clients("sts", MAIN_REGION).get_caller_identity()
        assert identity["Account"] == account
        assert "assumed-role/BackupEventsOperator/" in identity["Arn"]


def test_a_role_that_trusts_another_account_leaves_the_account_unreachable(twin: Twin) -> None:
    deploy_organization(twin)
    iam = twin.client("iam", RESOURCE_ACCOUNT, MAIN_REGION)
    iam.update_assume_role_policy(
        RoleName="BackupEventsOperator",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
            f'"sts:AssumeRole", "Principal": {{"AWS": "arn:aws:iam::{OUTSIDER_ACCOUNT}:root"}}}}]}}'
        ),
    )
    with pytest.raises(Unreachable, match="AccessDenied") as refused:
        operator(twin).clients(RESOURCE_ACCOUNT, "BackupEventsOperator")
    assert refused.value.account == RESOURCE_ACCOUNT
    with pytest.raises(Unreachable, match=r"cannot assume .*role/NoSuchRole"):
        operator(twin).clients(RESOURCE_ACCOUNT, "NoSuchRole")
