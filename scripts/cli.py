"""What the operator scripts (rerun.py, backfill.py) share: arguments, time windows, AWS setup.

Every script is a thin `main(argv)` over a function that takes boto3 clients, so the tests run
the same code against the local twin. Problems with the setup (no credentials, an unknown
region, no such stack, state machine or vault, a bad time window) raise ConfigError and end
the script with one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

EXIT_OK = 0  # done, or nothing to do
EXIT_FAILED = 1  # some items failed or need a person
EXIT_USAGE = 2  # usage or configuration error; nothing was written

# (service, region) -> boto3 client. Tests pass one that returns twin clients.
ClientFactory = Callable[[str, str], Any]

STATE_MACHINE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"stateMachine:(?P<name>[A-Za-z0-9_-]{1,80})$"
)
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_RELATIVE = re.compile(r"^(?P<count>\d+)\s*(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Codes that mean the credentials themselves are wrong, whatever the call.
_CREDENTIAL_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
}


PlanT = TypeVar("PlanT")


@dataclass(frozen=True)
class Outcome(Generic[PlanT]):
    """What happened to one planned item when the plan was applied."""

    plan: PlanT
    ok: bool
    detail: str
    execution_arn: str | None = None


@dataclass
class Report(Generic[PlanT]):
    """A script's plan and, after --apply, its outcomes; the exit code follows from both."""

    target: str
    window: Window
    plans: list[PlanT] = field(default_factory=list)
    outcomes: list[Outcome[PlanT]] = field(default_factory=list)
    applied: bool = False
    # The planned action that needs a person, so the run ends with EXIT_FAILED.
    needs_person: ClassVar[str] = ""

    def count(self, action: str) -> int:
        return sum(1 for p in self.plans if getattr(p, "action", None) == action)

    @property
    def failed(self) -> list[Outcome[PlanT]]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed or self.count(self.needs_person) else EXIT_OK


class ConfigError(Exception):
    """The script cannot run as asked; the message is the one line the operator sees."""


# -- time windows -------------------------------------------------------------------------------


def parse_when(text: str, now: datetime, option: str) -> datetime:
    """An ISO-8601 time (UTC if it names no zone), `now`, or an age such as 7d, 12h, 2w."""
    value = text.strip()
    if value == "now":
        return now
    relative = _RELATIVE.fullmatch(value)
    if relative:
        delta = timedelta(**{_UNITS[relative["unit"]]: int(relative["count"])})
        return now - delta
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise ConfigError(
            f"{option} {text!r} is neither an ISO-8601 time (2026-11-20T05:00Z) nor an age "
            "such as 7d, 12h or 2w"
        ) from error
    # A time without a zone is read as UTC: AWS shows UTC, and the local zone of whoever runs
    # the script would silently move the window.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.since <= moment < self.until

    def describe(self) -> str:
        return f"{utc_text(self.since)} to {utc_text(self.until)}"


def parse_window(since: str, until: str, now: datetime) -> Window:
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until")
    if start >= end:
        raise ConfigError(f"--since ({utc_text(start)}) must be before --until ({utc_text(end)})")
    if start > now:
        raise ConfigError(f"--since ({utc_text(start)}) is in the future")
    return Window(start, end)


def utc_text(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso_z(moment: datetime, *, millis: bool = False) -> str:
    """ISO-8601 in UTC with a Z, in the forms AWS Backup events use (aws-facts.md §A.2)."""
    moment = moment.astimezone(UTC)
    if millis:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def aware(value: Any) -> datetime | None:
    """A timestamp from boto3 (local zone, aws-facts.md §B.3) or JSON text, as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def digest(*parts: Any) -> str:
    """A stable hex digest of JSON-able parts: deterministic names and tokens."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- arguments ----------------------------------------------------------------------------------


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Which deployment: the state machine itself, or the stack whose output names it."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--state-machine-arn",
        metavar="ARN",
        help="the Backup Events state machine (its region is the region the script works in)",
    )
    target.add_argument(
        "--stack-name",
        metavar="NAME",
        help="the CloudFormation stack (or StackSet instance) that deployed the workflow; "
        "its StateMachineArn output names the state machine",
    )
    parser.add_argument(
        "--region", help="AWS region (default: the ARN's region, else your AWS configuration)"
    )
    parser.add_argument("--profile", help="AWS named profile (default: your AWS configuration)")


def add_window_arguments(parser: argparse.ArgumentParser, default_since: str) -> None:
    parser.add_argument(
        "--since",
        default=default_since,
        metavar="WHEN",
        help=f"start of the window: ISO-8601 (UTC unless a zone is given) or an age such as "
        f"7d, 12h, 2w (default: {default_since})",
    )
    parser.add_argument(
        "--until", default="now", metavar="WHEN", help="end of the window (default: now)"
    )


def add_apply_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--apply",
        action="store_true",
        help="do what the plan says; without it nothing is written (dry run)",
    )


# -- AWS setup ----------------------------------------------------------------------------------


@cache
def known_regions() -> frozenset[str]:
    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("stepfunctions", partition_name=partition)
    )


def check_region(region: str) -> str:
    if not REGION.fullmatch(region) or region not in known_regions():
        raise ConfigError(
            f"unknown region {region!r}: Step Functions is not available there "
            "(check --region, the ARN, or AWS_REGION)"
        )
    return region


def session_client_factory(profile: str | None, region: str | None) -> tuple[ClientFactory, str]:
    """boto3 clients for the operator's own credentials, and the region they default to."""
    try:
        session = boto3.session.Session(profile_name=profile)
    except botocore.exceptions.ProfileNotFound as error:
        raise ConfigError(f"no AWS profile named {profile!r}") from error
    if session.get_credentials() is None:
        raise ConfigError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run "
            "`aws configure` / `aws sso login`"
        )
    chosen = region or session.region_name
    if not chosen:
        raise ConfigError("no region: pass --region or set AWS_REGION")
    # Standard retries back off on throttling (StartExecution, ListExecutions) on their own.
    config = Config(retries={"mode": "standard", "total_max_attempts": 6})

    def make(service: str, where: str) -> Any:
        # Any: the service name is only known at run time, so no typed overload applies.
        make_client: Any = session.client
        return make_client(service, region_name=where, config=config)

    return make, chosen


def error_code(error: BaseException) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def error_text(error: BaseException) -> str:
    """One line: the AWS error code and message."""
    if isinstance(error, botocore.exceptions.ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "")
        return f"{error_code(error)}: {message}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


@contextmanager
def aws_setup_errors() -> Iterator[None]:
    """Credential and connection problems, wherever they surface, are configuration errors."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError as error:
        raise ConfigError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run "
            "`aws configure` / `aws sso login`"
        ) from error
    except botocore.exceptions.EndpointConnectionError as error:
        raise ConfigError(f"cannot reach AWS: {error}") from error
    except botocore.exceptions.ClientError as error:
        if error_code(error) in _CREDENTIAL_CODES:
            raise ConfigError(f"AWS rejected the credentials: {error_text(error)}") from error
        raise


@dataclass(frozen=True)
class StateMachine:
    arn: str
    partition: str
    region: str
    account: str
    name: str
    type: str
    definition: dict[str, Any]
    stack_parameters: dict[str, str] = field(default_factory=dict)

    def execution_arn(self, execution_name: str) -> str:
        prefix = self.arn.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{execution_name}"


def state_machine_region(arn: str | None, region: str | None) -> str | None:
    """The region to work in: the ARN's. A different --region is a mistake, not a choice."""
    if arn is None:
        return region
    match = STATE_MACHINE_ARN.fullmatch(arn)
    if match is None:
        raise ConfigError(
            f"{arn!r} is not a state machine ARN (arn:aws:states:...:stateMachine:...)"
        )
    if region is not None and region != match["region"]:
        raise ConfigError(
            f"the state machine is in {match['region']}, not in --region {region}; "
            "the script must run in the workflow's region"
        )
    return match["region"]


def resolve_state_machine(
    make_client: ClientFactory, *, arn: str | None, stack_name: str | None, region: str
) -> StateMachine:
    """Find and describe the state machine, from its ARN or from the stack that deployed it."""
    check_region(region)
    stack_parameters: dict[str, str] = {}
    if arn is None:
        if stack_name is None:
            raise ConfigError("pass --state-machine-arn or --stack-name")
        arn, stack_parameters = _from_stack(
            make_client("cloudformation", region), stack_name, region
        )
    state_machine_region(arn, region)
    match = STATE_MACHINE_ARN.fullmatch(arn)
    assert match is not None  # checked by state_machine_region
    sfn = make_client("stepfunctions", region)
    try:
        described = sfn.describe_state_machine(stateMachineArn=arn)
    except botocore.exceptions.ClientError as error:
        if error_code(error) in {"StateMachineDoesNotExist", "InvalidArn"}:
            raise ConfigError(f"no state machine {arn} ({error_text(error)})") from error
        raise
    try:
        definition = json.loads(described.get("definition") or "{}")
    except ValueError:
        definition = {}
    return StateMachine(
        arn=arn,
        partition=match["partition"],
        region=match["region"],
        account=match["account"],
        name=match["name"],
        type=str(described.get("type") or "STANDARD"),
        definition=definition if isinstance(definition, dict) else {},
        stack_parameters=stack_parameters,
    )


def _from_stack(cloudformation: Any, stack_name: str, region: str) -> tuple[str, dict[str, str]]:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ValidationError":
            raise ConfigError(
                f"no stack {stack_name!r} in {region} ({error_text(error)})"
            ) from error
        raise
    if not stacks:
        raise ConfigError(f"no stack {stack_name!r} in {region}")
    stack = stacks[0]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or []}
    parameters = {
        p["ParameterKey"]: str(p.get("ResolvedValue") or p.get("ParameterValue") or "")
        for p in stack.get("Parameters") or []
    }
    found = outputs.get("StateMachineArn")
    if not found:
        raise ConfigError(
            f"stack {stack_name!r} in {region} has no StateMachineArn output (status "
            f"{stack.get('StackStatus')}); the workflow lives in resource accounts, not in the "
            "backup account"
        )
    return found, parameters


# -- paging and progress ------------------------------------------------------------------------


def pages(operation: Callable[..., Any], items: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paginated List call; Step Functions says nextToken, AWS Backup NextToken."""
    while True:
        page = operation(**kwargs)
        yield from page.get(items) or []
        token = page.get("nextToken") or page.get("NextToken")
        if not token:
            return
        kwargs["nextToken" if "nextToken" in page else "NextToken"] = token


@contextmanager
def progress(console: Console, description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal (nothing in a pipe or a log); yields `advance()`."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def make_console() -> Console:
    """stdout for the plan and the results; wide when piped, so each ARN stays on one line."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=240)
    return console


def fail(program: str, message: str) -> int:
    print(f"{program}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


# -- the shape every state machine script's main() shares ----------------------------------------


def run_on_state_machine(
    program: str,
    args: argparse.Namespace,
    *,
    now: datetime,
    client_factory: ClientFactory | None,
    work: Callable[[ClientFactory, StateMachine, Window], int],
) -> int:
    """Resolve the window, region, credentials and state machine, then run `work`.

    Every configuration problem ends here as one line on stderr and exit code 2, and so does
    an AWS refusal while planning: the scripts read everything before they write anything.
    """
    try:
        window = parse_window(args.since, args.until, now)
        region = state_machine_region(args.state_machine_arn, args.region)
        if region is not None:
            check_region(region)
        with aws_setup_errors():
            if client_factory is None:
                client_factory, region = session_client_factory(args.profile, region)
            elif region is None:
                raise ConfigError("no region: pass --region")
            state_machine = resolve_state_machine(
                client_factory,
                arn=args.state_machine_arn,
                stack_name=args.stack_name,
                region=region,
            )
            return work(client_factory, state_machine, window)
    except ConfigError as error:
        return fail(program, str(error))
    except botocore.exceptions.ClientError as error:
        return fail(program, f"AWS refused a read: {error_text(error)}")
