"""Re-run failed Backup Events executions: redrive them while AWS allows it, else start anew.

    scripts/rerun.py --stack-name BackupEvents --since 7d            # the plan, nothing written
    scripts/rerun.py --stack-name BackupEvents --since 7d --apply    # do it

Finds the FAILED, TIMED_OUT and ABORTED executions of the state machine that started in the
window, and plans one action for each (aws-facts.md §C.2, §C.3):

- RedriveExecution when AWS still allows it: a Standard workflow, closed less than 14 days ago,
  and not marked NOT_REDRIVABLE by DescribeExecution. The execution keeps its ARN, and the
  steps that succeeded are not run again. A TIMED_OUT or ABORTED execution resumes the task it
  was in (typically waiting for a copy).
- StartExecution with the same input when a redrive is not possible, or would not help: this
  definition catches every task error and ends in a Fail state (CopyingFailed, NothingWasDone,
  ...), and a redrive "continues the failed execution from the unsuccessful step", which is
  that Fail state, so it would only fail again. A new execution gets a name derived from the
  original (`<name>-rerun-<hash>`), so running this script twice never starts two re-runs of
  one execution: the second time the re-run is found and reported.
- Nothing, with the reason, for an execution that re-running cannot help (its input is not an
  event this deployment accepts) or whose input AWS no longer returns.

Re-running is safe: the tasks reuse copies that are COMPLETED or still on their way, and the
retention cut writes nothing when the retention is already short enough.

Exit codes: 0 done or nothing to do, 1 some executions could not be re-run (or cannot be: no
input), 2 usage or configuration error (nothing was written).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

if __package__ in (None, ""):
    # Run as `python scripts/rerun.py`: make `scripts` and `tasks` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import botocore.exceptions
from rich.console import Console
from rich.table import Table

from scripts import cli

PROGRAM = "rerun.py"
STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
REDRIVE_PERIOD = timedelta(days=14)  # aws-facts.md §C.3
# Errors that the same input can only produce again: re-running would fail the same way.
HOPELESS_ERRORS = {
    "InvalidInput": "its input is not a completed AWS Backup job event this deployment "
    "accepts; re-running it would fail the same way",
}
_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")

# skip: nothing to do (done before, or hopeless by design); unable: a person must look at it.
Action = Literal["redrive", "start", "skip", "unable"]


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
        start = cli.aware(described.get("startDate"))
        if start is None:
            raise ValueError(f"{described.get('executionArn')} has no startDate")
        return cls(
            arn=str(described["executionArn"]),
            name=str(described.get("name") or described["executionArn"].rsplit(":", 1)[-1]),
            status=str(described["status"]),
            start=start,
            stop=cli.aware(described.get("stopDate")),
            input=described.get("input"),
            error=described.get("error"),
            cause=described.get("cause"),
            redrive_status=described.get("redriveStatus"),
            redrive_reason=described.get("redriveStatusReason"),
            redrive_count=int(described.get("redriveCount") or 0),
        )


@dataclass(frozen=True)
class RerunPlan:
    execution: ExecutionInfo
    action: Action
    reason: str
    new_name: str | None = None


Outcome = cli.Outcome[RerunPlan]


class RerunReport(cli.Report[RerunPlan]):
    needs_person = "unable"

    @property
    def state_machine_arn(self) -> str:
        return self.target


# -- pure planning --------------------------------------------------------------------------------


def rerun_name(name: str, execution_arn: str) -> str:
    """A new, valid, deterministic execution name for re-running `execution_arn`.

    1-80 characters of 0-9 A-Z a-z - _ (the set that also suits CloudWatch Logs, §C.2), made
    from the original's name so a person sees the link, plus a hash of the original's ARN so
    two originals with similar names never collide and one original always maps to one name.
    """
    base = _NAME_UNSAFE.sub("-", name)[:60].strip("-") or "execution"
    return f"{base}-rerun-{cli.digest(execution_arn)[:8]}"


def redrive_obstacle(execution: ExecutionInfo, *, workflow_type: str, now: datetime) -> str | None:
    """Why RedriveExecution is refused for this execution now, or cannot help; None if not."""
    if workflow_type != "STANDARD":
        return f"{workflow_type} workflows cannot be redriven"
    if execution.status not in STATUSES:
        return f"a {execution.status} execution cannot be redriven"
    if execution.redrive_status == "NOT_REDRIVABLE":
        # AWS knows things this script cannot see (history length, redrive launch date).
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
    exists: a re-run already made (by an earlier run of this script) is never made twice.
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


# -- AWS ------------------------------------------------------------------------------------------


def find_executions(
    sfn: Any, state_machine_arn: str, statuses: Iterable[str], window: cli.Window
) -> list[ExecutionInfo]:
    """Unsuccessful executions that started in the window, oldest first, with their input."""
    found: dict[str, ExecutionInfo] = {}
    for status in statuses:
        for listed in _started_in(sfn, state_machine_arn, status, window):
            described = sfn.describe_execution(executionArn=listed["executionArn"])
            info = ExecutionInfo.from_api({**listed, **described})
            found[info.arn] = info
    return sorted(found.values(), key=lambda e: (e.start, e.arn))


def _started_in(
    sfn: Any, state_machine_arn: str, status: str, window: cli.Window
) -> Iterable[dict[str, Any]]:
    # ListExecutions returns the most recent first; once a page reaches executions older than
    # the window, no later page can hold one inside it.
    for listed in cli.pages(
        sfn.list_executions,
        "executions",
        stateMachineArn=state_machine_arn,
        statusFilter=status,
        maxResults=1000,
    ):
        started = cli.aware(listed.get("startDate"))
        if started is None:
            continue
        if started < window.since:
            return
        if started in window:
            yield listed


def fail_state_of(sfn: Any, execution_arn: str) -> str | None:
    """The Fail state an execution ended in, or None if it ended elsewhere.

    AWS returns the newest events first with reverseOrder; moto ignores it and returns the
    whole history. Either way the entered state with the highest event id is the last one.
    """
    page = sfn.get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=20, includeExecutionData=False
    )
    entered = [e for e in page.get("events") or [] if str(e.get("type")).endswith("StateEntered")]
    if not entered:
        return None
    last = max(entered, key=lambda e: int(e.get("id") or 0))
    if last["type"] != "FailStateEntered":
        return None
    return str((last.get("stateEnteredEventDetails") or {}).get("name") or "?")


def _status_of(sfn: Any, execution_arn: str) -> str | None:
    try:
        return str(sfn.describe_execution(executionArn=execution_arn)["status"])
    except botocore.exceptions.ClientError as error:
        if cli.error_code(error) == "ExecutionDoesNotExist":
            return None
        raise


def plan(
    sfn: Any,
    state_machine: cli.StateMachine,
    *,
    window: cli.Window,
    statuses: Sequence[str],
    now: datetime,
    allow_redrive: bool,
) -> list[RerunPlan]:
    plans: list[RerunPlan] = []
    for execution in find_executions(sfn, state_machine.arn, statuses, window):
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
            existing = _status_of(sfn, state_machine.execution_arn(draft.new_name))
            if existing is not None:
                draft = plan_rerun(
                    execution,
                    workflow_type=state_machine.type,
                    now=now,
                    allow_redrive=allow_redrive,
                    existing_rerun_status=existing,
                )
        plans.append(draft)
    return plans


def _start(sfn: Any, state_machine: cli.StateMachine, item: RerunPlan, prefix: str) -> Outcome:
    name = item.new_name or rerun_name(item.execution.name, item.execution.arn)
    try:
        started = sfn.start_execution(
            stateMachineArn=state_machine.arn, name=name, input=item.execution.input
        )
    except botocore.exceptions.ClientError as error:
        return Outcome(item, False, f"{prefix}StartExecution failed: {cli.error_text(error)}")
    arn = str(started["executionArn"])
    return Outcome(item, True, f"{prefix}started {name}", arn)


def apply_plan(sfn: Any, state_machine: cli.StateMachine, item: RerunPlan) -> Outcome:
    if item.action in {"skip", "unable"}:
        return Outcome(item, item.action == "skip", item.reason)
    if item.action == "start":
        return _start(sfn, state_machine, item, "")
    execution = item.execution
    try:
        # The token makes a repeated call within 15 minutes a no-op instead of a second redrive
        # (§C.3); the redrive count moves it on for the next failure of the same execution.
        sfn.redrive_execution(
            executionArn=execution.arn,
            clientToken=f"rerun-{cli.digest(execution.arn, execution.redrive_count)[:40]}",
        )
    except botocore.exceptions.ClientError as error:
        if cli.error_code(error) == "ExecutionNotRedrivable":
            # AWS knows best (e.g. the history is too long): fall back to a fresh execution.
            return _start(sfn, state_machine, item, f"redrive refused ({cli.error_text(error)}); ")
        return Outcome(item, False, f"RedriveExecution failed: {cli.error_text(error)}")
    return Outcome(item, True, "redriven", execution.arn)


def rerun(
    sfn: Any,
    state_machine: cli.StateMachine,
    *,
    window: cli.Window,
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
        with cli.progress(console, "Re-running", len(actionable)) as advance:
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
        table.add_row(cli.utc_text(e.start), e.name, e.status, e.error or "-", action, item.reason)
    return table


def summary(report: RerunReport) -> str:
    counts = (
        f"{report.count('redrive')} to redrive, {report.count('start')} to start again, "
        f"{report.count('skip')} left as they are, {report.count('unable')} cannot be re-run"
    )
    if not report.count("redrive") and not report.count("start"):
        return f"Nothing to re-run ({counts})."
    if not report.applied:
        return f"Dry run: {counts}. Nothing was changed; run again with --apply to do it."
    done = sum(1 for o in report.outcomes if o.ok)
    failed = len(report.failed)
    return f"Done: {counts}. {done} re-run(s) under way, {failed} failed."


# -- command line ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Re-run the Backup Events executions that FAILED, TIMED_OUT or were "
        "ABORTED: RedriveExecution while AWS allows it (Standard workflow, closed less than 14 "
        "days ago) and it can help (not for failures caught into a Fail state, where a redrive "
        "would fail again), otherwise StartExecution with the same input under a new name. "
        "Prints the plan; changes nothing without --apply.",
        epilog="Exit codes: 0 done or nothing to do; 1 some executions could not be re-run; "
        "2 usage or configuration error (nothing was written).",
    )
    cli.add_target_arguments(parser)
    cli.add_window_arguments(parser, default_since="14d")
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
    cli.add_apply_argument(parser)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    client_factory: cli.ClientFactory | None = None,
    clock: Callable[[], datetime] | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    console = cli.make_console()

    def work(
        clients: cli.ClientFactory, state_machine: cli.StateMachine, window: cli.Window
    ) -> int:
        return rerun(
            clients("stepfunctions", state_machine.region),
            state_machine,
            window=window,
            now=now,
            apply=args.apply,
            statuses=tuple(args.status or STATUSES),
            allow_redrive=not args.no_redrive,
            console=console,
        ).exit_code

    now = clock() if clock is not None else datetime.now(UTC)
    return cli.run_on_state_machine(
        PROGRAM, args, now=now, client_factory=client_factory, work=work
    )


if __name__ == "__main__":
    sys.exit(main())
