"""The operator command against the local twin: sessions, consoles and runs of `backup-events`."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import botocore.exceptions
import pytest
from rich.console import Console

from backup_events.aws import ClientFactory
from backup_events.main import main
from backup_events.sessions import AwsSessions, Caller, Environment
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.cloudformation import organizational_unit
from local.stacks import Stack, deploy_everywhere, quick_start_parameters
from local.twin import Twin

EFS = "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-{:017x}"


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as running:
        yield running


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command prints to a console this wide, so table cells do not wrap inside a phrase."""
    monkeypatch.setenv("COLUMNS", "1000")


def factory(twin: Twin, account: str = RESOURCE_ACCOUNT) -> ClientFactory:
    """Clients in one account, as the operator's own credentials would make them."""

    def make(service: str, region: str) -> Any:
        return twin.client(service, account, region)

    return make


class OneAccount:
    """The operator's credentials in one account of the twin, and any other account's clients.

    Reaching another account through a role (and being refused) is what `operator()` tests.
    """

    def __init__(self, twin: Twin, account: str = RESOURCE_ACCOUNT, region: str | None = None):
        self._twin, self._account, self._region = twin, account, region

    @property
    def default_region(self) -> str | None:
        return self._region

    def caller(self) -> Caller:
        return Caller(self._account, "aws", f"arn:aws:iam::{self._account}:user/operator")

    def clients(self, account: str | None, role: str | None) -> ClientFactory:
        return factory(self._twin, account or self._account)


def run(twin: Twin, argv: Sequence[str], *, sessions: Any = None, **env: Any) -> int:
    """`backup-events ARGV` with the twin's clients and clock (and its virtual sleep)."""
    return main(
        list(argv),
        Environment(
            sessions=sessions if sessions is not None else OneAccount(twin),
            clock=env.pop("clock", twin.clock.now),
            sleep=env.pop("sleep", lambda seconds: twin.clock.sleep(seconds, "backup-events")),
            **env,
        ),
    )


def recording_console() -> Console:
    """A console whose output the test reads back; wide, so an ARN stays on one line."""
    return Console(file=io.StringIO(), width=400, color_system=None)


def printed(console: Console) -> str:
    stream = console.file
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def executions_of(twin: Twin, state_machine_arn: str) -> list[dict[str, Any]]:
    account, region = state_machine_arn.split(":")[4], state_machine_arn.split(":")[3]
    sfn = twin.client("stepfunctions", account, region)
    found: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=state_machine_arn)[
        "executions"
    ]
    return found


def operator_session(twin: Twin) -> boto3.session.Session:
    """The operator's own credentials (moto's default account), as `backup-events` reads them.

    The twin refuses AssumeRole when the role's trust policy does not admit the caller, but,
    as moto, lets a role that does not exist be assumed; AWS refuses that too. Until the twin
    does, this session's STS client refuses it.
    """
    session = boto3.session.Session()

    def refuse_missing(params: dict[str, Any], **_: Any) -> None:
        role_arn = str(params["RoleArn"])
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        try:
            twin.client("iam", account, "us-east-1").get_role(RoleName=name)
        except botocore.exceptions.ClientError as error:
            raise botocore.exceptions.ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": f"not authorized to perform: sts:AssumeRole on {role_arn}",
                    }
                },
                "AssumeRole",
            ) from error

    session.events.register("provide-client-params.sts.AssumeRole", refuse_missing)
    return session


# -- one deployment: the real template as a stack --------------------------------------------

VAULT = "BackupEvents-Sample"


def deployed(twin: Twin, region: str = MAIN_REGION, **parameters: str) -> Stack:
    """The real template in the resource account, and in the backup account where copies land."""
    stacks = deploy_everywhere(
        twin, quick_start_parameters(**parameters), [(RESOURCE_ACCOUNT, region)]
    )
    return stacks[(RESOURCE_ACCOUNT, region)]


def closed_executions(twin: Twin, state_machine_arn: str) -> list[dict[str, Any]]:
    """Let virtual time run until every execution has finished; then all of them."""
    twin.run_until_quiet()
    return executions_of(twin, state_machine_arn)


# -- an organization: a StackSet over three accounts in two Regions, and the operator role ------

# moto's default account: what the operator's own credentials are, the management account.
MANAGEMENT_ACCOUNT = "123456789012"
ORGANIZATION_ACCOUNTS = (RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT, BACKUP_ACCOUNT)
ORGANIZATION_REGIONS = (MAIN_REGION, BACKUP_REGION)
STACK_SET = "BackupEvents"
TEMPLATES_BUCKET = "org-templates"


def deploy_organization(twin: Twin, *, operator_role: bool = True) -> str:
    """Backup Events as a StackSet (and the operator role as another), as the README deploys
    them: `backup-events deploy stackset` from the management account. Returns the OU."""
    twin.client("s3", MANAGEMENT_ACCOUNT, MAIN_REGION).create_bucket(Bucket=TEMPLATES_BUCKET)
    unit = organizational_unit(MANAGEMENT_ACCOUNT, list(ORGANIZATION_ACCOUNTS))
    common = ["--region", MAIN_REGION, "--org-units", unit, "--apply"]
    workflow = [
        "--name", STACK_SET, "--template-bucket", TEMPLATES_BUCKET,
        "--regions", ",".join(ORGANIZATION_REGIONS),
        *(f"--param={k}={v}" for k, v in quick_start_parameters().items()),
    ]  # fmt: skip
    # IAM is global: one Region is enough for the role.
    role = [
        "--name", "BackupEventsOperator", "--template", "operator-role",
        "--regions", MAIN_REGION, f"--param=TrustedAccountId={MANAGEMENT_ACCOUNT}",
    ]  # fmt: skip
    manager = OneAccount(twin, MANAGEMENT_ACCOUNT)
    for argv in (workflow, role) if operator_role else (workflow,):
        assert run(twin, ["deploy", "stackset", *argv, *common], sessions=manager) == 0
    return unit


def operator(twin: Twin) -> AwsSessions:
    """The sessions `backup-events` builds from the operator's configuration, on the twin."""
    return AwsSessions(None, MAIN_REGION, session=operator_session(twin))
