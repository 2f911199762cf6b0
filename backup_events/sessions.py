"""Whose credentials a command uses: the operator's own, or a role assumed in each account.

A command gets an Environment: the sessions that make AWS clients, the time, a way to sleep
and a console. `backup-events` builds the real one from the operator's AWS configuration; the
tests build one whose clients are served by the local twin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3
import botocore.exceptions
from botocore.config import Config
from rich.console import Console

from backup_events.aws import NO_CREDENTIALS, ClientFactory, ConfigError, error_text

DEFAULT_ROLE = "BackupEventsOperator"  # infrastructure/operator_role.yaml creates it
SESSION_NAME = "backup-events"


@dataclass(frozen=True)
class Caller:
    """Who the operator's own credentials are."""

    account: str
    partition: str
    arn: str


class Unreachable(Exception):
    """An account the operator's credentials cannot reach (the role is missing or refuses)."""

    def __init__(self, account: str, reason: str) -> None:
        super().__init__(f"account {account} is unreachable: {reason}")
        self.account = account
        self.reason = reason


class Sessions(Protocol):
    """Makes clients for the operator's own account and, through a role, for other accounts."""

    @property
    def default_region(self) -> str | None: ...

    def caller(self) -> Caller: ...

    def clients(self, account: str | None, role: str | None) -> ClientFactory:
        """Clients in `account` (None or the caller's own: no role needed); else Unreachable."""
        ...


# Makes one boto3 client: (session, service, Region, config) -> client. Tests pass one that
# counts what is made.
NewClient = Callable[[boto3.session.Session, str, str, Config], Any]


def _new_client(session: boto3.session.Session, service: str, region: str, config: Config) -> Any:
    # Any: the service name is only known at run time, so no typed overload applies.
    make_client: Any = session.client
    return make_client(service, region_name=region, config=config)


def role_arn(partition: str, account: str, role: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role.strip('/')}"


class AwsSessions:
    """The operator's AWS configuration (a profile or the environment), and roles it assumes."""

    def __init__(
        self,
        profile: str | None,
        region: str | None,
        *,
        session: boto3.session.Session | None = None,
        new_client: NewClient | None = None,
    ) -> None:
        try:
            self._base = session or boto3.session.Session(profile_name=profile)
        except botocore.exceptions.ProfileNotFound as error:
            raise ConfigError(f"no AWS profile named {profile!r}") from error
        if self._base.get_credentials() is None:
            raise ConfigError(NO_CREDENTIALS)
        self._region = region or self._base.region_name
        # Standard retries back off on throttling (StartExecution, List calls) on their own.
        self._config = Config(retries={"mode": "standard", "total_max_attempts": 6})
        self._new_client = new_client or _new_client
        # A boto3 session is not safe to share between threads; the clients it makes are. One
        # lock covers making them and the cache of made ones.
        self._lock = threading.Lock()
        self._caller: Caller | None = None
        # Every client, made once per command run: (whose: None for the operator's own
        # credentials, else (account, role)), service, Region. Making a client reads botocore's
        # service models and costs far more than a call; an organization-wide command asks for
        # the same few clients in every account and Region, several times each.
        self._clients: dict[tuple[tuple[str, str] | None, str, str], Any] = {}
        self._assumed: dict[tuple[str, str], ClientFactory] = {}
        # One lock per (account, role): two places of one account assume its role once, while
        # other accounts' roles are assumed alongside.
        self._assuming: dict[tuple[str, str], threading.Lock] = {}

    @property
    def default_region(self) -> str | None:
        return self._region

    def _factory(
        self, session: boto3.session.Session, whose: tuple[str, str] | None
    ) -> ClientFactory:
        def make(service: str, region: str) -> Any:
            key = (whose, service, region)
            with self._lock:
                if key not in self._clients:
                    self._clients[key] = self._new_client(session, service, region, self._config)
                return self._clients[key]

        return make

    def caller(self) -> Caller:
        if self._caller is None:
            sts = self._factory(self._base, None)("sts", self._region or "us-east-1")
            identity = sts.get_caller_identity()
            arn = str(identity["Arn"])
            self._caller = Caller(str(identity["Account"]), arn.split(":")[1], arn)
        return self._caller

    def clients(self, account: str | None, role: str | None) -> ClientFactory:
        me = self.caller()
        if account is None or account == me.account:
            return self._factory(self._base, None)
        if not role:
            raise Unreachable(
                account, f"not the account of your credentials ({me.account}); pass --role"
            )
        key = (account, role)
        with self._lock:
            assuming = self._assuming.setdefault(key, threading.Lock())
        with assuming:
            if key not in self._assumed:
                self._assumed[key] = self._factory(self._assume(me, account, role), key)
            return self._assumed[key]

    def _assume(self, me: Caller, account: str, role: str) -> boto3.session.Session:
        arn = role_arn(me.partition, account, role)
        sts = self._factory(self._base, None)("sts", self._region or "us-east-1")
        try:
            credentials = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
        except botocore.exceptions.ClientError as error:
            raise Unreachable(account, f"cannot assume {arn}: {error_text(error)}") from error
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Environment:
    """What a command takes from outside itself."""

    # None: the operator's AWS configuration, read when the command starts (--profile).
    sessions: Sessions | None = None
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep
    console: Console | None = field(default=None)

    def connect(self, profile: str | None, region: str | None) -> Sessions:
        if self.sessions is None:
            self.sessions = AwsSessions(profile, region)
        return self.sessions
