"""Which deployments a command works on: one stack, one state machine, or every StackSet instance.

--stack-name NAME --region R     the stack in the account of your credentials
--state-machine-arn ARN          the state machine itself (rerun only needs that)
--stack-set NAME [--region R]    every instance (account x Region) of the StackSet, each
                                 account reached through --role (default BackupEventsOperator)
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from backup_events.aws import (
    ClientFactory,
    ConfigError,
    check_region,
    error_code,
    error_text,
    pages,
)
from backup_events.sessions import DEFAULT_ROLE, Sessions

STATE_MACHINE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"stateMachine:(?P<name>[A-Za-z0-9_-]{1,80})$"
)


@dataclass(frozen=True)
class Target:
    """One place the workflow may be deployed: an account and Region, and its stack."""

    account: str | None  # None: the account of the operator's credentials
    region: str
    stack: str | None = None  # name or stack ID
    state_machine_arn: str | None = None
    # A StackSet instance that is not CURRENT, and why (ListStackInstances).
    instance_status: str | None = None
    instance_reason: str | None = None

    @property
    def label(self) -> str:
        return f"{self.account or 'this account'} {self.region}"


@dataclass(frozen=True)
class StateMachine:
    arn: str
    partition: str
    region: str
    account: str
    name: str
    type: str
    stack_name: str | None = None
    stack_parameters: dict[str, str] = field(default_factory=dict)
    stack_outputs: dict[str, str] = field(default_factory=dict)

    def execution_arn(self, execution_name: str) -> str:
        prefix = self.arn.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{execution_name}"


@dataclass(frozen=True)
class Stack:
    name: str
    status: str
    outputs: dict[str, str]
    parameters: dict[str, str]


# -- arguments ----------------------------------------------------------------------------------


def add_target_arguments(parser: argparse.ArgumentParser, *, state_machine_arn: bool) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    if state_machine_arn:
        target.add_argument(
            "--state-machine-arn",
            metavar="ARN",
            help="the Backup Events state machine (its Region is the Region worked in)",
        )
    target.add_argument(
        "--stack-name",
        metavar="NAME",
        help="the CloudFormation stack that deployed the workflow, in the account of your "
        "credentials; its StateMachineArn output names the state machine",
    )
    target.add_argument(
        "--stack-set",
        metavar="NAME",
        help="every instance (account x Region) of this StackSet; each account is reached "
        "through --role",
    )
    parser.add_argument(
        "--region",
        help="the stack's Region, or the Region that administers the StackSet (default: the "
        "ARN's, else your AWS configuration)",
    )
    parser.add_argument("--profile", help="AWS named profile (default: your AWS configuration)")
    parser.add_argument(
        "--role",
        default=DEFAULT_ROLE,
        metavar="NAME",
        help=f"role assumed in each other account, arn:<partition>:iam::<account>:role/NAME "
        f"(default: {DEFAULT_ROLE}); not needed in your own account",
    )
    parser.add_argument(
        "--call-as",
        choices=["SELF", "DELEGATED_ADMIN"],
        default="SELF",
        help="list the StackSet's instances as its administrator (SELF) or as a delegated "
        "administrator of the organization",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="accounts x Regions worked on at once, one at a time in each (default: 8)",
    )


def is_organization(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "stack_set", None))


# -- targets ------------------------------------------------------------------------------------


def state_machine_region(arn: str | None, region: str | None) -> str | None:
    """The Region to work in: the ARN's. A different --region is a mistake, not a choice."""
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
            "the command must run in the workflow's Region"
        )
    return match["region"]


def check_arguments(args: argparse.Namespace) -> str | None:
    """Everything about the targeting that can be refused before any AWS call; the Region."""
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {args.concurrency}")
    region = state_machine_region(getattr(args, "state_machine_arn", None), args.region)
    if region is not None:
        check_region(region)
    return region


def list_targets(sessions: Sessions, args: argparse.Namespace, region: str | None) -> list[Target]:
    arn = getattr(args, "state_machine_arn", None)
    if arn is not None:
        match = STATE_MACHINE_ARN.fullmatch(arn)
        assert match is not None  # checked by check_arguments
        return [Target(match["account"], match["region"], state_machine_arn=arn)]
    region = region or sessions.default_region
    if not region:
        raise ConfigError("no region: pass --region or set AWS_REGION")
    check_region(region)
    if args.stack_name:
        # The account of the operator's credentials, named so that reports say which it is.
        return [Target(sessions.caller().account, region, args.stack_name)]
    return stack_set_targets(sessions.clients(None, None)("cloudformation", region), args, region)


def stack_set_targets(cloudformation: Any, args: argparse.Namespace, region: str) -> list[Target]:
    """Every instance of the StackSet, as ListStackInstances reports it (aws-facts.md §E.3)."""
    try:
        instances = list(
            pages(
                cloudformation.list_stack_instances,
                "Summaries",
                StackSetName=args.stack_set,
                CallAs=args.call_as,
            )
        )
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "StackSetNotFoundException":
            raise ConfigError(
                f"no StackSet {args.stack_set!r} administered in {region} "
                f"({error_text(error)}); pass the Region it was created in with --region"
            ) from error
        raise
    if not instances:
        raise ConfigError(f"StackSet {args.stack_set!r} has no instances")
    targets = []
    for instance in instances:
        status = str(instance.get("Status") or "")
        targets.append(
            Target(
                str(instance["Account"]),
                str(instance["Region"]),
                instance.get("StackId"),
                instance_status=None if status == "CURRENT" else status or None,
                instance_reason=instance.get("StatusReason"),
            )
        )
    return sorted(targets, key=lambda t: (t.account or "", t.region))


# -- stacks and state machines ------------------------------------------------------------------


def read_stack(cloudformation: Any, stack: str, region: str) -> Stack:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ValidationError":
            raise ConfigError(f"no stack {stack!r} in {region} ({error_text(error)})") from error
        raise
    if not stacks:
        raise ConfigError(f"no stack {stack!r} in {region}")
    found = stacks[0]
    return Stack(
        name=str(found.get("StackName") or stack),
        status=str(found.get("StackStatus") or ""),
        outputs={o["OutputKey"]: o.get("OutputValue", "") for o in found.get("Outputs") or []},
        parameters={
            p["ParameterKey"]: str(p.get("ResolvedValue") or p.get("ParameterValue") or "")
            for p in found.get("Parameters") or []
        },
    )


class NoWorkflowHere(ConfigError):
    """The stack is a backup-account placement: vaults only, no state machine."""


def resolve_state_machine(make_client: ClientFactory, target: Target) -> StateMachine:
    """Find and describe the state machine, from its ARN or from the stack that deployed it."""
    stack: Stack | None = None
    arn = target.state_machine_arn
    if arn is None:
        if target.stack is None:
            raise ConfigError(
                f"the StackSet instance in {target.label} has no stack "
                f"({target.instance_status}: {target.instance_reason or 'no reason given'})"
            )
        stack = read_stack(
            make_client("cloudformation", target.region), target.stack, target.region
        )
        arn = stack.outputs.get("StateMachineArn")
        if not arn:
            raise NoWorkflowHere(
                f"stack {stack.name!r} in {target.region} has no StateMachineArn output (status "
                f"{stack.status}); the workflow lives in resource accounts, not in the backup "
                "account"
            )
    match = STATE_MACHINE_ARN.fullmatch(arn)
    if match is None:
        raise ConfigError(f"{arn!r} is not a state machine ARN")
    sfn = make_client("stepfunctions", target.region)
    try:
        described = sfn.describe_state_machine(stateMachineArn=arn)
    except botocore.exceptions.ClientError as error:
        if error_code(error) in {"StateMachineDoesNotExist", "InvalidArn"}:
            raise ConfigError(f"no state machine {arn} ({error_text(error)})") from error
        raise
    return StateMachine(
        arn=arn,
        partition=match["partition"],
        region=match["region"],
        account=match["account"],
        name=match["name"],
        type=str(described.get("type") or "STANDARD"),
        stack_name=stack.name if stack else None,
        stack_parameters=stack.parameters if stack else {},
        stack_outputs=stack.outputs if stack else {},
    )


def input_resource(execution_input: str | None) -> str | None:
    """The recovery point an execution's input is about: the event's resources[0].

    Every input the workflow accepts is an EventBridge event whose resources[0] is the
    recovery point: AWS Backup's job events, and the "Backup Needs Finishing" events that the
    reconciliation and this command send (source backup-events).
    """
    try:
        resources = json.loads(execution_input or "{}").get("resources") or []
    except (ValueError, AttributeError):
        return None  # not an event: it cannot be about a recovery point
    first = resources[0] if resources else None
    return first if isinstance(first, str) and first else None
