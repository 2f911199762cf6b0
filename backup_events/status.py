"""backup-events status: is every backup copied, and what is stuck, in one place.

    backup-events status --stack-name BackupEvents --region us-east-1
    backup-events status --stack-set BackupEvents --region us-east-1 [--json]

For each account and Region (one stack, or every instance of a StackSet, each account reached
through --role): the executions started in the window by outcome, the failed ones by name, the
originals that still lack a verified copy or a due cut (judged by the workflow's own rules,
tasks/needs.py, as the scheduled reconciliation judges them), the error queue's depth and the
state of the stack's alarms. Then the organization's totals and its oldest stuck backup.
Unreachable accounts are listed by name. Read-only.

A failed (or timed out, or aborted) execution is resolved when a later execution about the same
backup SUCCEEDED: a re-run, a backfill or the reconciliation's "Backup Needs Finishing" event
names the recovery point in resources[0] as AWS Backup's events do. It is shown with the
execution that finished it but is no problem; only unresolved ones make the exit code 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from backup_events.aws import ClientFactory, ConfigError, aware, iso_z, pages
from backup_events.executions import listed
from backup_events.fleet import (
    Finding,
    Result,
    add_json_argument,
    exit_code,
    print_json,
    print_results,
    run_command,
    summed,
)
from backup_events.output import EXIT_FAILED, EXIT_OK, fail
from backup_events.sessions import Environment
from backup_events.survey import survey_of
from backup_events.targets import (
    StateMachine,
    Target,
    add_target_arguments,
    input_resource,
    resolve_state_machine,
)
from backup_events.times import Window, parse_window

PROGRAM = "backup-events status"
OUTCOMES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "RUNNING")
UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")
STUCK = ("start", "attention")  # what tasks/needs.py says an unfinished backup needs
QUEUE_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


@dataclass(frozen=True)
class Closed:
    """One execution that ended, and the backup it was about (its input's resources[0])."""

    name: str
    status: str
    started: datetime
    recovery_point: str | None
    error: str | None = None


@dataclass
class PlaceStatus:
    """What one account and Region reports."""

    executions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    failed: list[Closed] = field(default_factory=list)
    # Unsuccessful execution -> the later execution of the same backup that SUCCEEDED: a re-run,
    # a backfill or the reconciliation finished what the failed one left.
    finished_by: dict[str, str] = field(default_factory=dict)
    stuck: list[dict[str, Any]] = field(default_factory=list)
    originals: int = 0
    error_queue_depth: int | None = None
    alarms: dict[str, str] = field(default_factory=dict)  # name -> StateValue

    @property
    def unresolved(self) -> list[Closed]:
        return [f for f in self.failed if f.name not in self.finished_by]

    @property
    def resolved(self) -> list[Closed]:
        return [f for f in self.failed if f.name in self.finished_by]

    @property
    def problems(self) -> list[str]:
        found = []
        if self.stuck:
            found.append(f"{len(self.stuck)} stuck backup(s)")
        if self.unresolved:
            found.append(
                f"{len(self.unresolved)} unsuccessful execution(s) that no later one finished"
            )
        if self.error_queue_depth:
            found.append(f"{self.error_queue_depth} message(s) in the error queue")
        alarming = sorted(n for n, s in self.alarms.items() if s == "ALARM")
        if alarming:
            found.append(f"alarm {', '.join(alarming)} in ALARM")
        return found

    @property
    def summary(self) -> str:
        """The place's line: its problems (or all finished), then the failures made good."""
        made_good = [f"{len(self.resolved)} unsuccessful execution(s) finished by a later one"]
        return "; ".join((self.problems or ["all finished"]) + (made_good if self.resolved else []))

    def to_json(self) -> dict[str, Any]:
        return {
            "executions": self.executions,
            "failedExecutions": [
                {
                    "name": f.name,
                    "status": f.status,
                    "error": f.error,
                    "started": iso_z(f.started),
                    "recoveryPointArn": f.recovery_point,
                    "finishedBy": self.finished_by.get(f.name),
                }
                for f in self.failed
            ],
            "unsuccessful": {"resolved": len(self.resolved), "unresolved": len(self.unresolved)},
            "originals": self.originals,
            "stuckBackups": self.stuck,
            "errorQueueDepth": self.error_queue_depth,
            "alarms": self.alarms,
        }


# -- reading one account and Region ---------------------------------------------------------------


def finishers(failed: Sequence[Closed], succeeded: Iterable[Closed]) -> dict[str, str]:
    """Each failed execution -> the first execution started after it about the same backup
    that SUCCEEDED (pure).

    `succeeded` comes oldest first and is read only until every failure is matched, so the
    caller may describe each execution only when it is reached. A failure whose input names no
    recovery point cannot be matched.
    """
    waiting = [f for f in failed if f.recovery_point is not None]
    found: dict[str, str] = {}
    for success in succeeded if waiting else ():
        for failure in list(waiting):
            same = failure.recovery_point == success.recovery_point
            if same and success.started > failure.started:
                found[failure.name] = success.name
                waiting.remove(failure)
        if not waiting:
            break
    return found


def _closed(sfn: Any, execution: dict[str, Any], outcome: str, started: datetime) -> Closed:
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    return Closed(
        str(execution["name"]),
        outcome,
        started,
        input_resource(described.get("input")),
        described.get("error"),
    )


def count_executions(sfn: Any, state_machine_arn: str, window: Window) -> PlaceStatus:
    status = PlaceStatus()
    succeeded: list[tuple[datetime, dict[str, Any]]] = []
    for outcome in OUTCOMES:
        for execution in listed(sfn, state_machine_arn, outcome):
            started = aware(execution.get("startDate"))
            if started is None or started >= window.until:
                continue
            if started < window.since:
                break  # newest first: the rest started before the window
            status.executions[outcome] += 1
            if outcome in UNSUCCESSFUL:
                status.failed.append(_closed(sfn, execution, outcome, started))
            elif outcome == "SUCCEEDED":
                succeeded.append((started, execution))

    def later_successes() -> Iterator[Closed]:
        # Only those that started after the first failure can have finished one; each input is
        # read (DescribeExecution) only when `finishers` gets to it.
        first = min(f.started for f in status.failed)
        for started, execution in sorted(succeeded, key=lambda s: (s[0], s[1]["name"])):
            if started > first:
                yield _closed(sfn, execution, "SUCCEEDED", started)

    if status.failed:
        status.finished_by = finishers(status.failed, later_successes())
    return status


def error_queue_depth(sqs: Any, queue_url: str | None) -> int | None:
    if not queue_url:
        return None
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=QUEUE_ATTRIBUTES)
    values = attributes.get("Attributes") or {}
    return sum(int(values.get(name) or 0) for name in QUEUE_ATTRIBUTES)


def alarm_states(cloudformation: Any, cloudwatch: Any, stack: str) -> dict[str, str]:
    """The stack's own CloudWatch alarms (its AWS::CloudWatch::Alarm resources) and state."""
    names = [
        str(r["PhysicalResourceId"])
        for r in pages(
            cloudformation.list_stack_resources, "StackResourceSummaries", StackName=stack
        )
        if r.get("ResourceType") == "AWS::CloudWatch::Alarm" and r.get("PhysicalResourceId")
    ]
    if not names:
        return {}
    found = cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms") or []
    return {str(a["AlarmName"]): str(a.get("StateValue")) for a in found}


def place_status(
    clients: ClientFactory,
    state_machine: StateMachine,
    *,
    sessions: Any,
    role: str | None,
    window: Window,
    backups_since: datetime,
    now: datetime,
) -> PlaceStatus:
    region = state_machine.region
    status = count_executions(clients("stepfunctions", region), state_machine.arn, window)
    _, found = survey_of(clients, sessions, role, state_machine, since=backups_since, now=now)
    status.originals = len(found.needs)
    status.stuck = [
        {
            "recoveryPointArn": need.recovery_point_arn,
            "created": None if need.created is None else iso_z(need.created),
            "needs": need.action,
            "reason": need.reason,
        }
        for need in sorted(found.needs, key=lambda n: (n.created or now, n.recovery_point_arn))
        if need.action in STUCK
    ]
    status.error_queue_depth = error_queue_depth(
        clients("sqs", region), state_machine.stack_outputs.get("ErrorQueueUrl")
    )
    if state_machine.stack_name:
        status.alarms = alarm_states(
            clients("cloudformation", region),
            clients("cloudwatch", region),
            state_machine.stack_name,
        )
    return status


def print_place(status: PlaceStatus, state_machine: StateMachine, console: Console) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in status.executions.items())
    console.print(f"State machine {state_machine.arn}")
    console.print(f"  executions: {counts}")
    for failed in status.failed:
        finisher = status.finished_by.get(failed.name)
        console.print(
            f"  {failed.status} execution {failed.name} ({failed.error or 'no error'}), "
            f"started {iso_z(failed.started)}" + (f", finished by {finisher}" if finisher else "")
        )
    console.print(f"  originals surveyed: {status.originals}, stuck: {len(status.stuck)}")
    for stuck in status.stuck:
        console.print(
            f"  STUCK {stuck['recoveryPointArn']} (created {stuck['created']}): "
            f"{stuck['needs']}: {stuck['reason']}"
        )
    depth = "-" if status.error_queue_depth is None else status.error_queue_depth
    console.print(f"  error queue: {depth} message(s)")
    for name, state in sorted(status.alarms.items()):
        console.print(f"  alarm {name}: {state}")


# -- the organization -----------------------------------------------------------------------------


def totals(results: Sequence[Result]) -> dict[str, Any]:
    stuck: list[dict[str, Any]] = []
    depth = 0
    alarming: list[str] = []
    for result in results:
        data = result.data
        for item in data.get("stuckBackups") or []:
            stuck.append({**item, "account": result.target.account, "region": result.target.region})
        depth += data.get("errorQueueDepth") or 0
        alarming += [
            f"{result.target.account} {result.target.region} {name}"
            for name, state in (data.get("alarms") or {}).items()
            if state == "ALARM"
        ]
    oldest = min(stuck, key=lambda s: s["created"] or "~", default=None)
    return {
        "executions": summed(results, "executions", OUTCOMES),
        "unsuccessful": summed(results, "unsuccessful", ("resolved", "unresolved")),
        "stuckBackups": len(stuck),
        "errorQueueDepth": depth,
        "alarmsInAlarm": alarming,
        "oldestStuckBackup": oldest,
    }


def report(results: list[Result], console: Console, *, as_json: bool) -> int:
    overall = totals(results)
    if as_json:
        return print_json(results, overall)
    print_results(results, console, what="Backup Events status")
    table = Table(title="Organization", title_justify="left", show_header=False)
    executions = ", ".join(f"{n} {s}" for s, n in overall["executions"].items())
    table.add_row("executions", executions)
    unsuccessful = overall["unsuccessful"]
    table.add_row(
        "unsuccessful executions",
        f"{unsuccessful['unresolved']} that no later one finished, "
        f"{unsuccessful['resolved']} finished by a later one",
    )
    table.add_row("stuck backups", str(overall["stuckBackups"]))
    table.add_row("error queue messages", str(overall["errorQueueDepth"]))
    table.add_row("alarms in ALARM", ", ".join(overall["alarmsInAlarm"]) or "none")
    oldest = overall["oldestStuckBackup"]
    if oldest is not None:
        table.add_row(
            "oldest stuck backup",
            f"{oldest['recoveryPointArn']} in {oldest['account']} {oldest['region']}, created "
            f"{oldest['created']}: {oldest['reason']}",
        )
    console.print(table)
    return exit_code(results)


# -- command line ---------------------------------------------------------------------------------


DESCRIPTION = (
    "Per account and Region: executions by outcome in the window, the failed ones, the "
    "originals still lacking a verified copy or a due cut, the error queue's depth and the "
    "alarms' state; then the organization's totals and its oldest stuck backup. Read-only."
)
EPILOG = (
    "An execution that failed, timed out or was aborted is resolved when a later execution of "
    "the same backup (the same recovery point) SUCCEEDED: it is shown, with the execution that "
    "finished it, but is no problem. Exit codes: 0 all is well; 1 a backup is stuck, an "
    "execution failed and no later one finished its backup, a message waits in an error queue, "
    "an alarm is in ALARM, or an account could not be reached; 2 usage or configuration error."
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, state_machine_arn=False)
    parser.add_argument(
        "--since",
        default="7d",
        metavar="WHEN",
        help="count executions started since: ISO-8601 or an age such as 7d (default: 7d)",
    )
    parser.add_argument(
        "--backups-since",
        default="35d",
        metavar="WHEN",
        help="look for stuck backups created since (default: 35d)",
    )
    add_json_argument(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    now = env.clock()
    try:
        window = parse_window(args.since, "now", now)
        backups_since = parse_window(args.backups_since, "now", now).since
    except ConfigError as error:
        return fail(PROGRAM, str(error), as_json=args.json)

    def work(target: Target, clients: ClientFactory, console: Console) -> Finding:
        state_machine = resolve_state_machine(clients, target)
        status = place_status(
            clients,
            state_machine,
            sessions=env.connect(args.profile, args.region),
            role=args.role,
            window=window,
            backups_since=backups_since,
            now=now,
        )
        print_place(status, state_machine, console)
        return Finding(
            EXIT_FAILED if status.problems else EXIT_OK, status.summary, status.to_json()
        )

    return run_command(
        PROGRAM,
        args,
        env,
        work,
        what="Backup Events status",
        report=lambda results, console: report(results, console, as_json=args.json),
    )
