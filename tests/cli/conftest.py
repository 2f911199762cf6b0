"""The operator scripts against the local twin: a deployed workflow and clients for the scripts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from local.accounts import RESOURCE_ACCOUNT
from local.twin import Twin
from scripts import cli

EFS = "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-{:017x}"


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin() as running:
        yield running


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() prints to a console this wide, so table cells do not wrap inside a phrase."""
    monkeypatch.setenv("COLUMNS", "1000")


def factory(twin: Twin, account: str = RESOURCE_ACCOUNT) -> cli.ClientFactory:
    """What main() would build from the operator's credentials, here served by the twin."""

    def make(service: str, region: str) -> Any:
        return twin.client(service, account, region)

    return make


def recording_console() -> Console:
    """A console whose output the test reads back; wide, so an ARN stays on one line."""
    return Console(file=io.StringIO(), width=400, color_system=None)


def printed(console: Console) -> str:
    stream = console.file
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def executions_of(twin: Twin, state_machine_arn: str) -> list[dict[str, Any]]:
    sfn = twin.client("stepfunctions")
    found: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=state_machine_arn)[
        "executions"
    ]
    return found
