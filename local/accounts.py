"""Accounts, regions and the organization of the twin, and who is calling.

moto keys every backend by account and region and picks the account of a request from the
access key (or an `x-moto-account-id` header). In-process Lambda handlers and Step Functions
tasks all run with the same fake credentials, so without help every call would land in moto's
default account. The twin decides who calls, in this order:

1. an explicit `x-moto-account-id` header (`client()`, for tests and scripts; an
   `x-twin-principal-arn` header may name the principal too);
2. credentials from STS AssumeRole: the role's account and the role, as in AWS, even while a
   Lambda handler of another account makes the call;
3. the per-thread "current account": a Lambda handler runs as its function's account and
   execution role, a state machine task as its execution's account and the state machine's role;
4. moto's default account, with no known principal.

The principal is the IAM role (or user) whose identity policies AWS would evaluate; `None`
means a caller the twin does not know (a test's own client), which nothing restricts.
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

from local.clock import VirtualClock

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
    """AWS Organizations as AWS Backup sees it (docs/aws-facts.md §B.1, cross-account copy)."""

    id: str = ORGANIZATION_ID
    members: set[str] = field(
        default_factory=lambda: {RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT, BACKUP_ACCOUNT}
    )
    cross_account_backup_enabled: bool = True

    def same_organization(self, *accounts: str) -> bool:
        return all(account in self.members for account in accounts)


@dataclass(frozen=True)
class Caller:
    """Who made one request: the account that serves it and the principal, if known."""

    account: str
    principal: str | None = None


ACCOUNT_HEADER = "x-moto-account-id"
PRINCIPAL_HEADER = "x-twin-principal-arn"

_current = threading.local()
# Access key ID of STS AssumeRole credentials -> who they belong to (moto's own mapping makes
# the key's account that of the role; the role is what identity policies are read from).
_assumed: dict[str, Caller] = {}


def forget_assumed_roles() -> None:
    """Drop the credentials of a finished twin (moto forgets its keys when the mock stops)."""
    _assumed.clear()


def current_account() -> str | None:
    return getattr(_current, "account", None)


def current_principal() -> str | None:
    return getattr(_current, "principal", None)


@contextmanager
def acting_as(account: str, principal: str | None = None) -> Iterator[None]:
    """Run the block as `account` (and `principal`): its moto requests land in that account."""
    previous = (current_account(), current_principal())
    _current.account, _current.principal = account, principal
    try:
        yield
    finally:
        _current.account, _current.principal = previous


def pin_caller(account: str, principal: str | None = None) -> Any:
    """A botocore `before-sign` handler that makes every request of a client `account`'s."""

    def add_headers(request: Any, **_: Any) -> None:
        request.headers[ACCOUNT_HEADER] = account
        if principal is not None:
            request.headers[PRINCIPAL_HEADER] = principal

    return add_headers


def caller_of(response: Any) -> Caller:
    """Who made the request that a moto `BaseResponse` is serving (see the module docstring)."""
    headers = response.headers
    known = getattr(response, "_twin_caller", None)
    if known is not None and known[0] is headers:  # asked again while serving one request
        return known[1]  # type: ignore[no-any-return]
    if ACCOUNT_HEADER in headers:
        found = Caller(str(headers[ACCOUNT_HEADER]), headers.get(PRINCIPAL_HEADER))
    elif (assumed := _assumed.get(response.get_access_key())) is not None:
        found = assumed
    elif (account := current_account()) is not None:
        found = Caller(account, current_principal())
    else:
        # moto's own choice: MOTO_ACCOUNT_ID, an IAM user's key, or its default account.
        found = Caller(str(_moto_get_current_account(response)), None)
    response._twin_caller = (headers, found)
    return found


_moto_get_current_account: Any = None  # stock BaseResponse.get_current_account, once installed


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


def client(
    service: str, account: str, region: str, *, principal: str | None = None, **config: Any
) -> Any:
    """A boto3 client whose every request is served by `account`'s backends in `region`.

    With `principal` (an IAM role ARN), the twin treats its requests as that role's: its
    identity policies apply. Without, the caller is unknown and unrestricted.

    It makes exactly one attempt per call: a test that throttles the twin must see every
    refusal, not botocore quietly retrying it (in botocore's config `max_attempts` counts the
    retries, so `total_max_attempts` is what limits it to one). Pass `retries=` to change that.
    """
    options: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1}}
    options.update(config)
    with _session_lock:  # a boto3 session is not safe to share between threads unguarded
        session: Any = _session()  # boto3's overloads want a literal service name
        made = session.client(service, region_name=region, config=Config(**options))
    made.meta.events.register("before-sign.*.*", pin_caller(account, principal))
    return made


def install() -> None:
    """Make moto choose the account of a request as `caller_of` says."""
    global _moto_get_current_account
    from moto.core.responses import BaseResponse
    from moto.sts.models import STSBackend

    if getattr(BaseResponse.get_current_account, "_twin", False):
        return
    _moto_get_current_account = BaseResponse.get_current_account

    def get_current_account(self: BaseResponse) -> str:
        return caller_of(self).account

    get_current_account._twin = True  # type: ignore[attr-defined]
    BaseResponse.get_current_account = get_current_account  # type: ignore[method-assign]

    original_assume_role = STSBackend.assume_role

    def assume_role(self: STSBackend, *args: Any, **kwargs: Any) -> Any:
        role = original_assume_role(self, *args, **kwargs)
        _assumed[role.access_key_id] = Caller(role.account_id, role.role_arn)
        return role

    STSBackend.assume_role = assume_role  # type: ignore[method-assign]

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

    def sdk_sleep(seconds: float) -> None:
        if _clock is None:
            real_time.sleep(seconds)
        else:
            _clock.sleep(seconds, "sdk-retry")

    endpoint.time = types.SimpleNamespace(  # type: ignore[attr-defined]
        sleep=sdk_sleep, time=real_time.time, monotonic=real_time.monotonic
    )


_clock: VirtualClock | None = None


def activate(clock: VirtualClock | None) -> None:
    """botocore's retry back-off sleeps on `clock` (None: real time again)."""
    global _clock
    _clock = clock
