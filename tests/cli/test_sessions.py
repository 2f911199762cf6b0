"""The operator's sessions make each client once: per credentials, service and Region.

An organization-wide command asks for the same clients in every account and Region, several
times each (the stack, the state machine, the survey, the queue, the alarms); boto3 clients
are safe to share between the threads that work on places at once.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

from backup_events.sessions import AwsSessions
from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT
from local.twin import Twin
from tests.cli.conftest import (
    ORGANIZATION_ACCOUNTS,
    STACK_SET,
    deploy_organization,
    operator_session,
    run,
)

pytestmark = [pytest.mark.twin, pytest.mark.slow]

STATUS = ["status", "--stack-set", STACK_SET, "--region", MAIN_REGION, "--json"]


class CountingClients:
    """Makes clients as `backup-events` does, and keeps (session, service, Region) of each."""

    def __init__(self) -> None:
        self.made: list[tuple[boto3.session.Session, str, str]] = []

    def __call__(
        self, session: boto3.session.Session, service: str, region: str, config: Config
    ) -> Any:
        self.made.append((session, service, region))
        make_client: Any = session.client
        return make_client(service, region_name=region, config=config)


def counted(twin: Twin) -> tuple[AwsSessions, CountingClients]:
    clients = CountingClients()
    sessions = AwsSessions(None, MAIN_REGION, session=operator_session(twin), new_client=clients)
    return sessions, clients


def test_an_organization_wide_command_makes_each_client_once_and_a_repeat_makes_none(
    twin: Twin, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_organization(twin)
    sessions, clients = counted(twin)

    assert run(twin, [*STATUS, "--concurrency", "4"], sessions=sessions) == 0
    first = list(clients.made)
    # Every account's places were worked on at once, and still no client was made twice.
    assert len(first) == len(set(first))
    assert {service for _, service, _ in first} >= {"sts", "cloudformation", "stepfunctions"}
    # One session per account reached through the role, plus the operator's own.
    assert len({session for session, _, _ in first}) == len(ORGANIZATION_ACCOUNTS) + 1

    assert run(twin, STATUS, sessions=sessions) == 0
    assert clients.made == first


def test_each_account_and_region_gets_its_own_client(twin: Twin) -> None:
    deploy_organization(twin)
    sessions, clients = counted(twin)
    mine = sessions.clients(None, None)
    theirs = sessions.clients(RESOURCE_ACCOUNT, "BackupEventsOperator")

    assert sessions.clients(RESOURCE_ACCOUNT, "BackupEventsOperator") is theirs
    assert theirs("sts", MAIN_REGION) is theirs("sts", MAIN_REGION)
    assert theirs("sts", MAIN_REGION) is not mine("sts", MAIN_REGION)
    assert theirs("sts", MAIN_REGION) is not theirs("sts", "us-west-2")
    assert theirs("sts", MAIN_REGION).get_caller_identity()["Account"] == RESOURCE_ACCOUNT
    # The operator's STS client (which asked who the caller is and assumed the role), and the
    # role's in two Regions: nothing else, nothing twice.
    assert [(service, region) for _, service, region in clients.made] == [
        ("sts", MAIN_REGION),
        ("sts", MAIN_REGION),
        ("sts", "us-west-2"),
    ]
    assert len({session for session, _, _ in clients.made}) == 2
