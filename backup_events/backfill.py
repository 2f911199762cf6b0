"""backup-events backfill: start an execution for each backup the workflow never finished.

    backup-events backfill --stack-name BackupEvents --region us-east-1 --since 30d  # the plan
    backup-events backfill --stack-name BackupEvents --region us-east-1 --apply      # start them
    backup-events backfill --stack-set BackupEvents --region us-east-1 [--apply]     # organization

AWS Backup events are best effort (aws-facts.md §A.1), the rules may have been disabled, and
backups made before the deployment were never seen. For each original created in the window in
the watched vault, the workflow's own rules (tasks/needs.py, the same the scheduled
reconciliation applies) decide whether it still needs an execution: a copy missing in a
destination, or the cut due. Each one that does gets an execution whose input is the
"Backup Needs Finishing" event the reconciliation sends; the others are reported (done,
skipped with why, or needing a person). The settings are the stack's parameters.

Copies are read where they are, in the backup account's vaults, through the same --role (the
operator role is deployed there too). No backup gets a second execution while one is running
for it, and executions are named `backfill-<backup>-<day>`: a second backfill the same day
finds the first instead of starting another.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import botocore.exceptions
from rich.console import Console
from rich.table import Table

from backup_events.aws import ClientFactory, ConfigError, digest, error_text, iso_z
from backup_events.executions import status_of
from backup_events.fleet import Finding, run_command
from backup_events.output import Outcome, Report, add_apply_argument, fail, progress
from backup_events.sessions import Environment
from backup_events.survey import survey_of
from backup_events.targets import StateMachine, Target, add_target_arguments, resolve_state_machine
from backup_events.times import Window, add_window_arguments, parse_window, utc_text
from tasks.events import finish_request
from tasks.needs import Need
from tasks.survey import Survey

PROGRAM = "backup-events backfill"
# A fixed namespace, so the same backup's backfill event on one day always has the same id.
EVENT_NAMESPACE = uuid.UUID("6f1d2a4e-8b3c-4d5e-9f60-7a8b9c0d1e2f")

Action = Literal["start", "skip", "done", "attention"]


@dataclass(frozen=True)
class PointPlan:
    recovery_point_arn: str
    created: datetime | None
    action: Action
    reason: str
    event: dict[str, Any] | None = None
    execution_name: str | None = None


PointOutcome = Outcome[PointPlan]


class BackfillReport(Report[PointPlan]):
    needs_person = "attention"

    @property
    def vault_arn(self) -> str:
        return self.target


def execution_name(recovery_point_arn: str, now: datetime) -> str:
    """`backfill-<backup>-<day>`: at most one backfill start per backup and day."""
    return f"backfill-{digest(recovery_point_arn)[:24]}-{now:%Y%m%d}"


def plan(
    found: Survey, state_machine: StateMachine, vault_arn: str, *, window: Window, now: datetime
) -> list[PointPlan]:
    """One plan per original created in the window, from what it needs (pure)."""
    plans = []
    for need in sorted(found.needs, key=lambda n: (n.created or now, n.recovery_point_arn)):
        if need.created is not None and need.created not in window:
            continue
        plans.append(_plan_one(need, state_machine, vault_arn, now))
    return plans


def _plan_one(need: Need, state_machine: StateMachine, vault_arn: str, now: datetime) -> PointPlan:
    if need.action != "start":
        return PointPlan(need.recovery_point_arn, need.created, need.action, need.reason)
    name = execution_name(need.recovery_point_arn, now)
    event = finish_request(
        event_id=str(uuid.uuid5(EVENT_NAMESPACE, name)),
        account=state_machine.account,
        region=state_machine.region,
        time=iso_z(now),
        recovery_point_arn=need.recovery_point_arn,
        vault_arn=vault_arn,
        reason=need.reason,
    )
    return PointPlan(need.recovery_point_arn, need.created, "start", need.reason, event, name)


def _not_started_twice(sfn: Any, state_machine: StateMachine, item: PointPlan) -> PointPlan:
    """A backup whose backfill execution already ran today is reported, not started again."""
    assert item.execution_name is not None
    found = status_of(sfn, state_machine, item.execution_name)
    if found is None:
        return item
    status = f"{found['status']}" + (f", {found['error']}" if found.get("error") else "")
    if found["status"] == "RUNNING":
        return PointPlan(
            item.recovery_point_arn,
            item.created,
            "skip",
            f"execution {item.execution_name} is already running for it",
        )
    return PointPlan(
        item.recovery_point_arn,
        item.created,
        "attention",
        f"{item.reason}; execution {item.execution_name} already ran for it today ({status}) "
        "and did not finish it: see its history, or backup-events rerun",
    )


def start_executions(
    sfn: Any,
    state_machine: StateMachine,
    plans: Sequence[PointPlan],
    *,
    rate: float,
    sleeper: Callable[[float], None],
    console: Console,
) -> list[PointOutcome]:
    """Start one execution per planned point, at most `rate` a second."""
    starts = [p for p in plans if p.action == "start"]
    outcomes: list[PointOutcome] = []
    with progress(console, "Starting executions", len(starts)) as advance:
        for index, item in enumerate(starts):
            if index:
                sleeper(1.0 / rate)
            try:
                started = sfn.start_execution(
                    stateMachineArn=state_machine.arn,
                    name=item.execution_name,
                    input=json.dumps(item.event, separators=(",", ":")),
                )
                outcome = PointOutcome(
                    item, True, f"started {item.execution_name}", started["executionArn"]
                )
            except botocore.exceptions.ClientError as error:
                outcome = PointOutcome(item, False, f"StartExecution failed: {error_text(error)}")
            outcomes.append(outcome)
            mark = "ok" if outcome.ok else "FAILED"
            console.print(f"  {mark:6} {item.recovery_point_arn}: {outcome.detail}")
            advance()
    return outcomes


def backfill(
    found: Survey,
    sfn: Any,
    state_machine: StateMachine,
    vault_arn: str,
    *,
    window: Window,
    now: datetime,
    apply: bool,
    rate: float,
    sleeper: Callable[[float], None],
    console: Console,
) -> BackfillReport:
    """Plan (and with `apply`, start) the catch-up; prints the plan, results and a summary."""
    plans = [
        _not_started_twice(sfn, state_machine, p) if p.action == "start" else p
        for p in plan(found, state_machine, vault_arn, window=window, now=now)
    ]
    report = BackfillReport(vault_arn, window, plans, applied=apply)
    console.print(f"Vault {vault_arn}: {len(plans)} recovery point(s) created {window.describe()}")
    shown = [p for p in plans if p.action != "done"]
    if shown:
        console.print(plan_table(shown))
    if apply:
        report.outcomes = start_executions(
            sfn, state_machine, plans, rate=rate, sleeper=sleeper, console=console
        )
    console.print(summary(report))
    return report


def plan_table(plans: Sequence[PointPlan]) -> Table:
    table = Table(title="Plan", title_justify="left")
    for column in ("Created (UTC)", "Recovery point", "Action", "Why"):
        table.add_column(column, overflow="fold")
    for item in plans:
        table.add_row(utc_text(item.created), item.recovery_point_arn, item.action, item.reason)
    return table


def summary(report: BackfillReport) -> str:
    counts = (
        f"{report.count('done')} done, {report.count('start')} to start, "
        f"{report.count('skip')} skipped, {report.count('attention')} need attention"
    )
    if not report.count("start") and not report.count("attention"):
        return f"Nothing to do ({counts})."
    if not report.applied:
        return f"Dry run: {counts}. Nothing was started; run again with --apply to start them."
    started = sum(1 for o in report.outcomes if o.ok)
    return f"Applied: {counts}. {started} execution(s) started, {len(report.failed)} failed."


# -- command line ---------------------------------------------------------------------------------


DESCRIPTION = (
    "Catch up on backups the workflow missed: for each original created in the window in the "
    "watched vault that still lacks a verified copy or a due cut, start an execution that "
    "finishes it, judged by the workflow's own rules. Prints the plan; starts nothing without "
    "--apply."
)
EPILOG = (
    "The settings are the stack's parameters. Exit codes: 0 done or nothing to do; 1 some "
    "backups need a person or could not be started, or an account could not be reached; 2 "
    "usage or configuration error (nothing was written)."
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, state_machine_arn=False)
    add_window_arguments(parser, default_since="30d")
    parser.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="executions started per second at most, in each account and Region (default: 1)",
    )
    add_apply_argument(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    now = env.clock()
    if not 0 < args.rate <= 100:
        return fail(PROGRAM, f"--rate must be more than 0 and at most 100, got {args.rate}")
    try:
        window = parse_window(args.since, args.until, now)
    except ConfigError as error:
        return fail(PROGRAM, str(error))

    def work(target: Target, clients: ClientFactory, console: Console) -> Finding:
        state_machine = resolve_state_machine(clients, target)
        sessions = env.connect(args.profile, args.region)
        settings, found = survey_of(
            clients, sessions, args.role, state_machine, since=window.since, now=now
        )
        vault_arn = (
            f"arn:{state_machine.partition}:backup:{state_machine.region}:"
            f"{state_machine.account}:backup-vault:{settings.deployment.vault_name}"
        )
        report = backfill(
            found,
            clients("stepfunctions", state_machine.region),
            state_machine,
            vault_arn,
            window=window,
            now=now,
            apply=args.apply,
            rate=args.rate,
            sleeper=env.sleep,
            console=console,
        )
        return Finding(report.exit_code, summary(report))

    return run_command(PROGRAM, args, env, work, what="Catching up")
