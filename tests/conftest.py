"""Fixtures every test gets: fake AWS credentials (no test can reach real AWS) and helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import FakeLambdaContext, load_event

_AWS_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_ENDPOINT_URL",
    "MOTO_ACCOUNT_ID",
)


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> Iterator[None]:
    """Credentials that only moto accepts, no config files, and a non-UTC local time zone.

    botocore returns timestamps in the process's local zone (aws-facts.md §B.3); running every
    test in a zone far from UTC makes any arithmetic that forgets to convert fail here.
    """
    for name in _AWS_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.getbasetemp() / "empty-aws-config"
    empty.touch()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    # What the commands print wraps at the terminal's width; one width for every run, with or
    # without a terminal (pytest-xdist's workers have none).
    monkeypatch.setenv("COLUMNS", "160")
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def event() -> Callable[[str], dict[str, Any]]:
    """load_event as a fixture: `event("copy_job_failed.json")`."""
    return load_event


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
