"""Accounts, regions and the organization of the twin, and who is calling.

moto keys every backend by account and region and picks the account of a request from the
access key (or an `x-moto-account-id` header). In-process Lambda handlers and Step Functions
tasks all run with the same fake credentials, so without help every call would land in moto's
default account. The twin keeps a per-thread "current account": a Lambda handler runs as its
function's account, a state machine task as its execution's account, and `client()` builds
boto3 clients pinned to an explicit account for tests and scripts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

RESOURCE_ACCOUNT = "000022224444"
SECOND_RESOURCE_ACCOUNT = "111133335555"
BACKUP_ACCOUNT = "999977775555"
OUTSIDER_ACCOUNT = "444455556666"  # not in the organization
MAIN_REGION = "us-east-1"
BACKUP_REGION = "us-west-2"
OTHER_REGION = "us-west-1"
ORGANIZATION_ID = "o-a1b2c3d4e5"


@dataclass
class Organization:
    """AWS Organizations as AWS Backup sees it (aws-facts.md §B.1, cross-account copy)."""

    id: str = ORGANIZATION_ID
    members: set[str] = field(
        default_factory=lambda: {RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT, BACKUP_ACCOUNT}
    )
    cross_account_backup_enabled: bool = True

    def same_organization(self, *accounts: str) -> bool:
        return all(account in self.members for account in accounts)


_current = threading.local()


def current_account() -> str | None:
    return getattr(_current, "account", None)


@contextmanager
def acting_as(account: str) -> Iterator[None]:
    """Run the block as `account`: every moto request it makes lands in that account."""
    previous = current_account()
    _current.account = account
    try:
        yield
    finally:
        _current.account = previous


def _pin_account(account: str) -> Any:
    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    return add_header


_session_lock = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    """One session for every twin client in the process.

    moto swaps out boto3's default session while a mock runs, so `boto3.client` would build a
    new session (and parse botocore's endpoint and service files again, ~0.2 s) for every
    twin. The clients of a kept session are still served by moto: its request stub is one of
    botocore's built-in handlers, which every session made after moto's import carries.
    """
    import moto.core.models  # noqa: F401  (registers the stub before the session exists)

    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")


def client(service: str, account: str, region: str, **config: Any) -> Any:
    """A boto3 client whose every request is served by `account`'s backends in `region`.

    It makes exactly one attempt per call: a test that throttles the twin must see every
    refusal, not botocore quietly retrying it (in botocore's config `max_attempts` counts the
    retries, so `total_max_attempts` is what limits it to one). Pass `retries=` to change that.
    """
    options: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1}}
    options.update(config)
    with _session_lock:  # a boto3 session is not safe to share between threads unguarded
        session: Any = _session()  # boto3's overloads want a literal service name
        made = session.client(service, region_name=region, config=Config(**options))
    made.meta.events.register("before-sign.*.*", _pin_account(account))
    return made


def install() -> None:
    """Make moto honour an explicit header first, then the thread's current account."""
    from moto.core.responses import BaseResponse

    if getattr(BaseResponse.get_current_account, "_twin", False):
        return
    original = BaseResponse.get_current_account

    def get_current_account(self: BaseResponse) -> str:
        if "x-moto-account-id" in self.headers:
            return str(self.headers["x-moto-account-id"])
        account = current_account()
        if account is not None:
            return account
        return original(self)

    get_current_account._twin = True  # type: ignore[attr-defined]
    BaseResponse.get_current_account = get_current_account  # type: ignore[method-assign]

    # Every account a test touches gets fresh backends for every service it calls, and moto asks
    # botocore for the service's region list each time (its lru_cache is keyed on the new
    # instance, so it never hits): about a quarter of a second per test. The list depends on
    # the service name only.
    from moto.core.base_backend import AccountSpecificBackend

    @cache
    def regions_of(service_name: str) -> tuple[str, ...]:
        session = AccountSpecificBackend.get_session()
        return tuple(
            region
            for partition in session.get_available_partitions()
            for region in session.get_available_regions(service_name, partition_name=partition)
        )

    def _generate_regions(self: AccountSpecificBackend[Any], service_name: str) -> list[str]:
        return list(regions_of(service_name))

    AccountSpecificBackend._generate_regions = _generate_regions  # type: ignore[method-assign,assignment]

    # botocore sleeps between its own retries (standard mode backs off on throttling); on the
    # twin that wait is virtual time like every other.
    import time as real_time
    import types

    from botocore import endpoint

    from local.active import running_twin

    def sdk_sleep(seconds: float) -> None:
        twin = running_twin()
        if twin is None:
            real_time.sleep(seconds)
        else:
            twin.clock.sleep(seconds, "sdk-retry")

    endpoint.time = types.SimpleNamespace(  # type: ignore[attr-defined]
        sleep=sdk_sleep, time=real_time.time, monotonic=real_time.monotonic
    )
