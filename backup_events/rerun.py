"""backup-events rerun: re-run failed executions, redriving them while AWS allows it.

    backup-events rerun --stack-name BackupEvents --region us-east-1 --since 7d   # the plan
    backup-events rerun --stack-name BackupEvents --region us-east-1 --apply      # do it
    backup-events rerun --stack-set BackupEvents --region us-east-1 [--apply]     # organization
    backup-events rerun --stack-name BackupEvents --region us-east-1 --json       # for scripts

Finds the FAILED, TIMED_OUT and ABORTED executions that started in the window, groups them by
the recovery point their input names (the event's resources[0]), and acts on at most one per
point, the latest (aws-facts.md §C.2, §C.3):

- nothing while another execution for that point is RUNNING: two executions for one recovery
  point never run at once (a duplicated event's two failures are re-run once, not twice);
- RedriveExecution when AWS still allows it (a Standard workflow, closed less than 14 days ago,
  not marked NOT_REDRIVABLE) and it can help: the execution did not end in a named Fail state.
  Final errors end in Fail states (CopyingFailed, NothingWasDone, ...); a redrive restarts "from
  the unsuccessful step", which is that Fail state, so it would only fail again;
- otherwise StartExecution with the same input under a name derived from the original
  (`<name>-rerun-<hash>`): running the command twice never starts two re-runs of one execution;
- nothing, with the reason, for an execution whose input this deployment refuses or whose
  input AWS no longer returns.

Re-running is safe: the tasks reuse copies that are COMPLETED or still on their way, and the
retention cut writes nothing when the retention is already short enough.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import botocore.exceptions
from rich.console import Console
from rich.table import Table

from backup_events.aws import (
    ClientFactory,
    ConfigError,
    aware,
    digest,
    error_code,
    error_text,
    iso_z,
)
from backup_events.executions import fail_state_of, listed, running_points, status_of
from backup_events.fleet import Finding, Result, add_json_argument, print_json, run_command, summed
from backup_events.output import Outcome, Report, add_apply_argument, fail, progress
from backup_events.sessions import Environment
from backup_events.targets import (
    StateMachine,
    Target,
    add_target_arguments,
    input_resource,
    resolve_state_machine,
)
from backup_events.times import Window, add_window_arguments, parse_window, utc_text

PROGRAM = "backup-events rerun"
STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
REDRIVE_PERIOD = timedelta(days=14)  # aws-facts.md §C.3
# Errors that the same input can only produce again: re-running would fail the same way.
HOPELESS_ERRORS = {
    "InvalidInput": "its input is not an event this deployment accepts; re-running it would "
    "fail the same way",
}
_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")

# skip: nothing to do (done before, hopeless, or another execution acts for the point);
# unable: a person must look at it.
Action = Literal["redrive", "start", "skip", "unable"]
ACTIONS: tuple[Action, ...] = ("redrive", "start", "skip", "unable")


@dataclass(frozen=True)
class ExecutionInfo:
    """One closed execution, as DescribeExecution reports it."""

    arn: str
    name: str
    status: str
    start: datetime
    stop: datetime | None
    input: str | None
    error: str | None = None
    cause: str | None = None
    redrive_status: str | None = None
    redrive_reason: str | None = None
    redrive_count: int = 0
    # The Fail state a FAILED execution ended in, when its failure was caught and routed there.
    ended_in_fail_state: str | None = None

    @classmethod
    def from_api(cls, described: dict[str, Any]) -> ExecutionInfo:
        start = aware(described.get("startDate"))
        if start is None:
            raise ValueError(f"{described.get('executionArn')} has no startDate")
        return cls(
            arn=str(described["executionArn"]),
            name=str(described.get("name") or described["executionArn"].rsplit(":", 1)[-1]),
            status=str(described["status"]),
            start=start,
            stop=aware(described.get("stopDate")),
            input=described.get("input"),
            error=described.get("error"),
            cause=described.get("cause"),
            redrive_status=described.get("redriveStatus"),
            redrive_reason=described.get("redriveStatusReason"),
            redrive_count=int(described.get("redriveCount") or 0),
        )

    @property
    def recovery_point(self) -> str | None:
        return input_resource(self.input)


@dataclass(frozen=True)
class RerunPlan:
    execution: ExecutionInfo
    action: Action
    reason: str
    new_name: str | None = None


RerunOutcome = Outcome[RerunPlan]


class RerunReport(Report[RerunPlan]):
    needs_person = "unable"

    @property
    def state_machine_arn(self) -> str:
        return self.target

    def to_json(self) -> dict[str, Any]:
        """The plan, one item per unsuccessful execution, and with --apply what each got."""
        outcomes = {o.plan.execution.arn: o for o in self.outcomes}

        def item(planned: RerunPlan) -> dict[str, Any]:
            e, outcome = planned.execution, outcomes.get(planned.execution.arn)
            return {
                "name": e.name,
                "executionArn": e.arn,
                "status": e.status,
                "error": e.error,
                "started": iso_z(e.start),
                "recoveryPointArn": e.recovery_point,
                "action": planned.action,
                "reason": planned.reason,
                "newName": planned.new_name,
                "outcome": None
                if outcome is None
                else {
                    "ok": outcome.ok,
                    "detail": outcome.detail,
                    "executionArn": outcome.execution_arn,
                },
            }

        return {
            "stateMachineArn": self.state_machine_arn,
            "window": {"since": iso_z(self.window.since), "until": iso_z(self.window.until)},
            "applied": self.applied,
            "plans": [item(p) for p in self.plans],
            "actions": {action: self.count(action) for action in ACTIONS},
            "outcomes": {"ok": len(self.outcomes) - len(self.failed), "failed": len(self.failed)},
        }


# -- pure planning --------------------------------------------------------------------------------


def rerun_name(name: str, execution_arn: str) -> str:
    """A new, valid, deterministic execution name for re-running `execution_arn`.

    1-80 characters of 0-9 A-Z a-z - _ (the set that also suits CloudWatch Logs, §C.2), made
    from the original's name so a person sees the link, plus a hash of the original's ARN so
    two originals with similar names never collide and one original always maps to one name.
    """
    base = _NAME_UNSAFE.sub("-", name)[:60].strip("-") or "execution"
    return f"{base}-rerun-{digest(execution_arn)[:8]}"


def redrive_obstacle(execution: ExecutionInfo, *, workflow_type: str, now: datetime) -> str | None:
    """Why RedriveExecution is refused for this execution now, or cannot help; None if not."""
    if workflow_type != "STANDARD":
        return f"{workflow_type} workflows cannot be redriven"
    if execution.status not in STATUSES:
        return f"a {execution.status} execution cannot be redriven"
    if execution.redrive_status == "NOT_REDRIVABLE":
        # AWS knows things this command cannot see (history length, redrive launch date).
        return f"AWS says it is not redrivable: {execution.redrive_reason or 'no reason given'}"
    if execution.stop is None:
        return "AWS does not say when it closed, so the 14-day redrive period cannot be checked"
    closed_for = now - execution.stop
    if closed_for >= REDRIVE_PERIOD:
        return f"it closed {closed_for.days} days ago; AWS redrives only within 14 days"
    if execution.ended_in_fail_state is not None:
        # AWS redrives "from the unsuccessful step" (§C.3): here the Fail state the error was
        # caught into, which fails again at once. [UNCERTAIN: not stated for caught errors.]
        return (
            f"it ended in the Fail state {execution.ended_in_fail_state} after a caught error; "
            "a redrive would restart there and fail again"
        )
    return None


def plan_rerun(
    execution: ExecutionInfo,
    *,
    workflow_type: str,
    now: datetime,
    allow_redrive: bool = True,
    existing_rerun_status: str | None = None,
) -> RerunPlan:
    """What to do with one unsuccessful execution.

    `existing_rerun_status` is the status of the execution named `rerun_name(...)`, if one
    exists: a re-run already made (by an earlier run of this command) is never made twice.
    """
    hopeless = HOPELESS_ERRORS.get(execution.error or "")
    if hopeless is not None:
        return RerunPlan(execution, "skip", f"not re-run: {hopeless}")
    if not execution.input:
        return RerunPlan(
            execution, "unable", "AWS did not return its input (encrypted or too large)"
        )
    refusal = redrive_obstacle(execution, workflow_type=workflow_type, now=now)
    if refusal is None and allow_redrive:
        return RerunPlan(execution, "redrive", "resumes at the step that failed (same ARN)")
    name = rerun_name(execution.name, execution.arn)
    if existing_rerun_status is not None:
        return RerunPlan(
            execution, "skip", f"already re-run as {name} ({existing_rerun_status})", name
        )
    why = refusal if refusal is not None else "redrive not wanted (--no-redrive)"
    return RerunPlan(execution, "start", why, name)


def one_per_point(
    executions: Sequence[ExecutionInfo], running: dict[str, str]
) -> tuple[list[ExecutionInfo], list[RerunPlan]]:
    """The executions to plan (the latest per recovery point, none whose point is running).

    The others are skipped with the reason, so that two executions for one recovery point
    never run at once: neither two re-runs of a duplicated event's failures, nor a re-run next
    to an execution that is still working on the point.
    """
    latest: dict[str, ExecutionInfo] = {}
    for execution in executions:
        key = execution.recovery_point or execution.arn  # no point named: it stands alone
        if key not in latest or (execution.start, execution.arn) > (
            latest[key].start,
            latest[key].arn,
        ):
            latest[key] = execution
    chosen: list[ExecutionInfo] = []
    skipped: list[RerunPlan] = []
    for execution in executions:
        point = execution.recovery_point
        newest = latest[point or execution.arn]
        if point is not None and point in running:
            skipped.append(
                RerunPlan(
                    execution,
                    "skip",
                    f"execution {running[point]} is running for its recovery point",
                )
            )
        elif newest is not execution:
            skipped.append(
                RerunPlan(
                    execution,
                    "skip",
                    f"the later {newest.name} is about the same recovery point; only it is re-run",
                )
            )
        else:
            chosen.append(execution)
    return chosen, skipped


# -- AWS ------------------------------------------------------------------------------------------


def find_executions(
    sfn: Any, state_machine_arn: str, statuses: Iterable[str], window: Window
) -> list[ExecutionInfo]:
    """Unsuccessful executions that started in the window, oldest first, with their input."""
    found: dict[str, ExecutionInfo] = {}
    for status in statuses:
        for execution in listed(sfn, state_machine_arn, status):
            started = aware(execution.get("startDate"))
            if started is None:
                continue
            # Newest first: once one started before the window, no later one is inside it.
            if started < window.since:
                break
            if started not in window:
                continue
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            info = ExecutionInfo.from_api({**execution, **described})
            found[info.arn] = info
    return sorted(found.values(), key=lambda e: (e.start, e.arn))


def plan(
    sfn: Any,
    state_machine: StateMachine,
    *,
    window: Window,
    statuses: Sequence[str],
    now: datetime,
    allow_redrive: bool,
) -> list[RerunPlan]:
    executions = find_executions(sfn, state_machine.arn, statuses, window)
    if not executions:
        return []
    chosen, skipped = one_per_point(executions, running_points(sfn, state_machine.arn))
    plans: list[RerunPlan] = list(skipped)
    for execution in chosen:
        draft = plan_rerun(
            execution, workflow_type=state_machine.type, now=now, allow_redrive=allow_redrive
        )
        if draft.action == "redrive" and execution.status == "FAILED":
            # Only now, and only for these, is the history worth a call.
            execution = replace(execution, ended_in_fail_state=fail_state_of(sfn, execution.arn))
            draft = plan_rerun(
                execution, workflow_type=state_machine.type, now=now, allow_redrive=allow_redrive
            )
        if draft.action == "start" and draft.new_name is not None:
            existing = status_of(sfn, state_machine, draft.new_name)
            if existing is not None:
                draft = plan_rerun(
                    execution,
                    workflow_type=state_machine.type,
                    now=now,
                    allow_redrive=allow_redrive,
                    existing_rerun_status=str(existing["status"]),
                )
        plans.append(draft)
    return sorted(plans, key=lambda p: (p.execution.start, p.execution.arn))


def _start(sfn: Any, state_machine: StateMachine, item: RerunPlan, prefix: str) -> RerunOutcome:
    name = item.new_name or rerun_name(item.execution.name, item.execution.arn)
    try:
        started = sfn.start_execution(
            stateMachineArn=state_machine.arn, name=name, input=item.execution.input
        )
    except botocore.exceptions.ClientError as error:
        return RerunOutcome(item, False, f"{prefix}StartExecution failed: {error_text(error)}")
    return RerunOutcome(item, True, f"{prefix}started {name}", str(started["executionArn"]))


def apply_plan(sfn: Any, state_machine: StateMachine, item: RerunPlan) -> RerunOutcome:
    if item.action in {"skip", "unable"}:
        return RerunOutcome(item, item.action == "skip", item.reason)
    if item.action == "start":
        return _start(sfn, state_machine, item, "")
    execution = item.execution
    try:
        # The token makes a repeated call within 15 minutes a no-op instead of a second redrive
        # (§C.3); the redrive count moves it on for the next failure of the same execution.
        sfn.redrive_execution(
            executionArn=execution.arn,
            clientToken=f"rerun-{digest(execution.arn, execution.redrive_count)[:40]}",
        )
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ExecutionNotRedrivable":
            # AWS knows best (e.g. the history is too long): fall back to a fresh execution.
            return _start(sfn, state_machine, item, f"redrive refused ({error_text(error)}); ")
        return RerunOutcome(item, False, f"RedriveExecution failed: {error_text(error)}")
    return RerunOutcome(item, True, "redriven", execution.arn)


def rerun(
    sfn: Any,
    state_machine: StateMachine,
    *,
    window: Window,
    now: datetime,
    apply: bool = False,
    statuses: Sequence[str] = STATUSES,
    allow_redrive: bool = True,
    console: Console | None = None,
) -> RerunReport:
    """Plan (and with `apply`, do) the re-runs; prints the plan, per-item results, a summary."""
    console = console or Console()
    report = RerunReport(state_machine.arn, window, applied=apply)
    report.plans = plan(
        sfn, state_machine, window=window, statuses=statuses, now=now, allow_redrive=allow_redrive
    )
    console.print(
        f"State machine {state_machine.arn}: {len(report.plans)} unsuccessful "
        f"execution(s) started {window.describe()}"
    )
    if report.plans:
        console.print(plan_table(report.plans))
    if apply:
        actionable = [p for p in report.plans if p.action in {"redrive", "start"}]
        with progress(console, "Re-running", len(actionable)) as advance:
            for item in actionable:
                outcome = apply_plan(sfn, state_machine, item)
                report.outcomes.append(outcome)
                mark = "ok" if outcome.ok else "FAILED"
                console.print(f"  {mark:6} {item.execution.name}: {outcome.detail}")
                advance()
    console.print(summary(report))
    return report


def plan_table(plans: Sequence[RerunPlan]) -> Table:
    table = Table(title="Plan", title_justify="left")
    for column in ("Started (UTC)", "Execution", "Status", "Error", "Action", "Why"):
        table.add_column(column, overflow="fold")
    for item in plans:
        e = item.execution
        action = f"start {item.new_name}" if item.action == "start" else item.action
        table.add_row(utc_text(e.start), e.name, e.status, e.error or "-", action, item.reason)
    return table


def counts(report: RerunReport) -> str:
    return (
        f"{report.count('redrive')} to redrive, {report.count('start')} to start again, "
        f"{report.count('skip')} left as they are, {report.count('unable')} cannot be re-run"
    )


def summary(report: RerunReport) -> str:
    if not report.count("redrive") and not report.count("start"):
        return f"Nothing to re-run ({counts(report)})."
    if not report.applied:
        return f"Dry run: {counts(report)}. Nothing was changed; run again with --apply to do it."
    done = sum(1 for o in report.outcomes if o.ok)
    return f"Done: {counts(report)}. {done} re-run(s) under way, {len(report.failed)} failed."


# -- command line ---------------------------------------------------------------------------------


DESCRIPTION = (
    "Re-run the executions that FAILED, TIMED_OUT or were ABORTED, at most one per recovery "
    "point and none while another execution for the point is running: RedriveExecution while "
    "AWS allows it (Standard workflow, closed less than 14 days ago) and it can help (not for "
    "failures caught into a Fail state), otherwise StartExecution with the same input under a "
    "new name. Prints the plan; changes nothing without --apply."
)
EPILOG = (
    "Exit codes: 0 done or nothing to do; 1 some executions could not be re-run, or an account "
    "could not be reached; 2 usage or configuration error (nothing was written)."
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, state_machine_arn=True)
    add_window_arguments(parser, default_since="14d")
    parser.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        help="only executions with this status (repeatable; default: all three)",
    )
    parser.add_argument(
        "--no-redrive",
        action="store_true",
        help="always start a new execution, even where a redrive is possible",
    )
    add_apply_argument(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    now = env.clock()

    def work(target: Target, clients: ClientFactory, console: Console) -> Finding:
        state_machine = resolve_state_machine(clients, target)
        report = rerun(
            clients("stepfunctions", state_machine.region),
            state_machine,
            window=window,
            now=now,
            apply=args.apply,
            statuses=tuple(args.status or STATUSES),
            allow_redrive=not args.no_redrive,
            console=console,
        )
        return Finding(report.exit_code, summary(report), report.to_json())

    def as_json(results: list[Result], console: Console) -> int:
        totals = {
            "actions": summed(results, "actions", ACTIONS),
            "outcomes": summed(results, "outcomes", ("ok", "failed")),
        }
        return print_json(results, totals)

    try:
        window = parse_window(args.since, args.until, now)
    except ConfigError as error:
        return fail(PROGRAM, str(error), as_json=args.json)
    return run_command(
        PROGRAM, args, env, work, what="Re-running", report=as_json if args.json else None
    )
