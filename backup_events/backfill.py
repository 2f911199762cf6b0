"""backup-events backfill: start an execution for each backup the workflow never finished.

    backup-events backfill --stack-name BackupEvents --region us-east-1 --since 30d  # the plan
    backup-events backfill --stack-name BackupEvents --region us-east-1 --apply      # start them
    backup-events backfill --stack-set BackupEvents --region us-east-1 [--apply]     # organization

AWS Backup events are best effort (aws-facts.md §A.1), the rules may have been disabled, and
backups made before the deployment were never seen: the original product had "No catch-up
provision". For one resource account and region (the state machine's), this script lists the
recovery points created in the window in the watched vault and, for each, compares AWS
Backup's own records with what the workflow would have done:

- both copies COMPLETED (ListCopyJobs by source recovery point, one per destination vault) and
  the retention already cut (the workflow's own rule, tasks/retention.py, would write
  nothing): done, nothing to do;
- continuous, cold (when a copy is missing), deleted or expiring points: skipped, with why;
- an execution of the workflow is RUNNING for the point: skipped, never started twice;
- otherwise an execution is started whose input is an AWS-shaped event the workflow accepts:
  a "Backup Job State Change" COMPLETED event for an on-demand backup, or, for a backup made
  by a plan whose copy rules already made both copies, the "Copy Job State Change" COMPLETED
  event of the latest plan copy. A plan backup still missing a plan copy is reported for a
  person, not copied, unless --include-plan-backups.

The settings (vault, backup account and Regions, NewDeleteAfterDays, CopyScheduledBackups,
EnableUpdateLifecycle) are the stack's parameters: the one source the workflow itself was
deployed from, so points are judged exactly as the workflow will judge them.

Executions are named `backfill-<hash of the point and its state>`: starting the same backfill
twice while the first is running returns the running execution (StartExecution is idempotent
for the same name and input, §C.2), and a point whose last backfill execution ended without
changing anything is reported instead of being started again and again.

The rules themselves (is a copy verified, is the cut due, would the workflow accept the
event) are the workflow's own, imported from tasks/.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import botocore.exceptions
from rich.console import Console
from rich.table import Table

from backup_events.aws import (
    ClientFactory,
    ConfigError,
    aware,
    check_region,
    digest,
    error_code,
    error_text,
    iso_z,
    pages,
)
from backup_events.executions import running_points, status_of
from backup_events.fleet import Finding, run_command
from backup_events.output import Outcome, Report, add_apply_argument, fail, progress
from backup_events.sessions import Environment
from backup_events.targets import StateMachine, Target, add_target_arguments, resolve_state_machine
from backup_events.times import Window, add_window_arguments, parse_window, utc_text
from tasks.aws import json_safe
from tasks.copies import IN_PROGRESS, Deployment, latest_completed_copy
from tasks.errors import InvalidInput
from tasks.inputs import ACCOUNT_ID, VAULT_NAME
from tasks.retention import MAX_DAYS, RecoveryPoint, decide_retention_cut
from tasks.trigger import read_trigger

PROGRAM = "backup-events backfill"
BACKUP_JOB = "Backup Job State Change"
COPY_JOB = "Copy Job State Change"
# A stable namespace for event ids, so the same backfill event always has the same id.
EVENT_NAMESPACE = uuid.UUID("6f1d2a4e-8b3c-4d5e-9f60-7a8b9c0d1e2f")

Action = Literal["start", "skip", "done", "attention"]


@dataclass(frozen=True)
class Settings:
    """What the deployed workflow does with a backup; read from its definition."""

    deployment: Deployment
    new_delete_after_days: int
    copy_scheduled_backups: bool = False
    cut_enabled: bool = True

    @property
    def vault_name(self) -> str:
        return self.deployment.vault_name


@dataclass(frozen=True)
class Place:
    """Where the workflow runs: the recovery points and events of this account and region."""

    partition: str
    account: str
    region: str


@dataclass(frozen=True)
class PointPlan:
    recovery_point_arn: str
    created: datetime | None
    resource: str
    made_by: str  # "on-demand" or "plan"
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


# -- settings -------------------------------------------------------------------------------------


def settings_from_stack(parameters: Mapping[str, str], *, copies_only: bool = False) -> Settings:
    """The deployment's settings: the parameters of the stack that deployed the workflow."""

    def value(key: str) -> str:
        found = parameters.get(key)
        if not found:
            raise ConfigError(f"the stack has no {key} parameter: is it a Backup Events stack?")
        return found

    if not VAULT_NAME.fullmatch(value("VaultName")):
        raise ConfigError(f"VaultName {value('VaultName')!r} is not a vault name")
    if not ACCOUNT_ID.fullmatch(value("BackupAccountId")):
        raise ConfigError(f"BackupAccountId {value('BackupAccountId')!r} is not 12 digits")
    for key in ("BackupRegion", "BackupRegionAlternate"):
        check_region(value(key), key)
    try:
        days = int(value("NewDeleteAfterDays"))
    except ValueError as error:
        raise ConfigError(
            f"NewDeleteAfterDays {value('NewDeleteAfterDays')!r} is not a number"
        ) from error
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"NewDeleteAfterDays must be 1..{MAX_DAYS}, got {days}")
    try:
        deployment = Deployment(
            backup_account=value("BackupAccountId"),
            backup_region=value("BackupRegion"),
            alternate_region=value("BackupRegionAlternate"),
            vault_name=value("VaultName"),
        )
    except InvalidInput as error:
        raise ConfigError(str(error)) from error
    return Settings(
        deployment=deployment,
        new_delete_after_days=days,
        copy_scheduled_backups=parameters.get("CopyScheduledBackups") == "true",
        cut_enabled=not (copies_only or parameters.get("EnableUpdateLifecycle") == "false"),
    )


# -- events ---------------------------------------------------------------------------------------


def _event(
    kind: str, place: Place, when: datetime, resource: str, detail: dict[str, Any], name: str
) -> dict[str, Any]:
    """An EventBridge envelope as AWS Backup sends it (aws-facts.md §A.2, §A.3)."""
    return {
        "version": "0",
        "id": str(uuid.uuid5(EVENT_NAMESPACE, name)),
        "detail-type": kind,
        "source": "aws.backup",
        "account": place.account,
        "time": iso_z(when),
        "region": place.region,
        "resources": [resource],
        "detail": {k: v for k, v in detail.items() if v is not None},
    }


def _event_created_by(created_by: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # The API says BackupRuleId where the event says backupPlanRuleId (§A.2).
    if not created_by or not created_by.get("BackupPlanArn"):
        return None
    return {
        "backupPlanId": created_by.get("BackupPlanId"),
        "backupPlanArn": created_by.get("BackupPlanArn"),
        "backupPlanVersion": created_by.get("BackupPlanVersion"),
        "backupPlanRuleId": created_by.get("BackupRuleId"),
    }


def backup_job_event(
    point: Mapping[str, Any], place: Place, name: str, *, as_plan_backup: bool
) -> dict[str, Any]:
    """The "Backup Job State Change" COMPLETED event AWS would have sent for this point.

    The recovery point does not say which backup job made it (ListBackupJobs keeps 30 days
    only), so `backupJobId` is the execution's own name, which says "backfill" to whoever reads
    the input in the console. `as_plan_backup` false leaves out createdBy: the workflow then
    copies the backup itself, as it does for on-demand backups.
    """
    created = aware(point.get("CreationDate")) or datetime.now(UTC)
    completed = aware(point.get("CompletionDate")) or created
    size = str(point.get("BackupSizeInBytes") or 0)  # a string in backup job events (§A.2)
    detail: dict[str, Any] = {
        "backupJobId": name,
        "backupSizeInBytes": size,
        "backupVaultArn": point.get("BackupVaultArn"),
        "backupVaultName": point.get("BackupVaultName"),
        "bytesTransferred": size,
        "creationDate": iso_z(created, millis=True),
        "iamRoleArn": point.get("IamRoleArn"),
        "resourceArn": point.get("ResourceArn"),
        "resourceType": point.get("ResourceType"),
        "state": "COMPLETED",
        "completionDate": iso_z(completed, millis=True),
        "percentDone": 100.0,
        "retryCount": 0,
    }
    if as_plan_backup:
        detail["createdBy"] = _event_created_by(point.get("CreatedBy"))
    return _event(BACKUP_JOB, place, completed, str(point["RecoveryPointArn"]), detail, name)


def copy_job_event(job: Mapping[str, Any], place: Place, name: str) -> dict[str, Any]:
    """The "Copy Job State Change" COMPLETED event AWS sent (or lost) for this plan copy job."""
    created = aware(job.get("CreationDate")) or datetime.now(UTC)
    completed = aware(job.get("CompletionDate")) or created
    detail: dict[str, Any] = {
        "copyJobId": job.get("CopyJobId"),
        "backupSizeInBytes": int(job.get("BackupSizeInBytes") or 0),  # a number here (§A.3)
        "creationDate": iso_z(created, millis=True),
        "iamRoleArn": job.get("IamRoleArn"),
        "resourceArn": job.get("ResourceArn"),
        "resourceType": job.get("ResourceType"),
        "sourceBackupVaultArn": job.get("SourceBackupVaultArn"),
        "destinationBackupVaultArn": job.get("DestinationBackupVaultArn"),
        "state": "COMPLETED",
        "completionDate": iso_z(completed, millis=True),
        "destinationRecoveryPointArn": job.get("DestinationRecoveryPointArn"),
        "createdBy": _event_created_by(job.get("CreatedBy")),
    }
    return _event(COPY_JOB, place, completed, str(job["SourceRecoveryPointArn"]), detail, name)


# -- pure planning --------------------------------------------------------------------------------


def _regions(vault_arns: Iterable[str]) -> str:
    return ", ".join(arn.split(":")[3] for arn in vault_arns)


def _execution_name(
    point: Mapping[str, Any], copy_jobs: Sequence[Mapping[str, Any]], kind: str
) -> str:
    """Deterministic: the same point in the same state always gets the same name."""
    state = sorted((str(j.get("CopyJobId")), str(j.get("State"))) for j in copy_jobs)
    return "backfill-" + digest(point["RecoveryPointArn"], kind, state, point.get("Lifecycle"))[:24]


def retention_pending(
    point: Mapping[str, Any], settings: Settings, now: datetime, vault_locked: bool
) -> tuple[bool, str]:
    """Whether the workflow's retention cut would still write something, and why (not).

    The workflow's own rule, not just "DeleteAfterDays > NewDeleteAfterDays + 1": an original
    older than NewDeleteAfterDays is cut to its age + 1 day, which is still more than
    NewDeleteAfterDays + 1, and a simpler test would start an execution for it every day.
    """
    if not settings.cut_enabled:
        return False, "retention kept (EnableUpdateLifecycle is false)"
    try:
        recovery_point = RecoveryPoint.from_api(point, vault_locked=vault_locked)
    except ValueError as error:
        return False, f"retention left alone: {error}"
    decision = decide_retention_cut(recovery_point, settings.new_delete_after_days, now)
    if decision.action == "update":
        current = recovery_point.lifecycle.delete_after_days
        kept = "no expiry" if current in (None, -1) else f"{current} days"
        return True, f"retention not cut yet ({kept}, would be {decision.minimum_days} days)"
    return False, decision.reason


def plan_point(
    point: Mapping[str, Any],
    copy_jobs: Sequence[Mapping[str, Any]],
    *,
    settings: Settings,
    place: Place,
    now: datetime,
    vault_locked: bool = False,
    running_execution: str | None = None,
    include_plan_backups: bool = False,
) -> PointPlan:
    """What to do for one recovery point (DescribeRecoveryPoint) given its copy jobs."""
    arn = str(point["RecoveryPointArn"])
    created_by = point.get("CreatedBy") or {}
    plan_made = bool(created_by.get("BackupPlanArn"))

    def result(
        action: Action, reason: str, event: dict[str, Any] | None = None, name: str | None = None
    ) -> PointPlan:
        return PointPlan(
            arn,
            aware(point.get("CreationDate")),
            str(point.get("ResourceArn") or "-"),
            "plan" if plan_made else "on-demand",
            action,
            reason,
            event,
            name,
        )

    status, storage = point.get("Status"), point.get("StorageClass")
    if ":recovery-point:continuous:" in arn or status == "STOPPED":
        return result(
            "skip",
            "continuous (point-in-time) backup: AWS copies it and changes its lifecycle "
            "only through backup plans",
        )
    if storage == "DELETED" or status not in {"COMPLETED", "AVAILABLE"}:
        return result("skip", f"status {status}, storage {storage}: nothing left to copy or cut")
    if running_execution is not None:
        return result("skip", f"execution {running_execution} is already running for it")

    destinations = settings.deployment.destinations(place.partition, place.region)
    # Until tasks/needs.py holds the rule: a copy counts when a COMPLETED copy job made it.
    # (The copies themselves live in the backup account, which the workflow reads through its
    # own reader role; the operator's role reads only this account.)
    missing = [d for d in destinations if latest_completed_copy(copy_jobs, arn, d) is None]
    cut_pending, cut_text = retention_pending(point, settings, now, vault_locked)
    if not missing and not cut_pending:
        return result("done", f"both copies COMPLETED; {cut_text}")
    needs = "; ".join(
        part
        for part in (
            f"no COMPLETED copy in {_regions(missing)}" if missing else "",
            cut_text if cut_pending else "",
        )
        if part
    )
    if storage == "COLD" and missing:
        return result("skip", f"in cold storage, which AWS cannot copy ({needs})")

    def start(kind: str, reason: str, job: Mapping[str, Any] | None = None) -> PointPlan:
        name = _execution_name(point, copy_jobs, kind)
        if job is not None:
            event = copy_job_event(job, place, name)
        else:
            event = backup_job_event(
                point, place, name, as_plan_backup=plan_made and settings.copy_scheduled_backups
            )
        try:
            read_trigger(
                event,
                account=place.account,
                region=place.region,
                deployment=settings.deployment,
                copy_scheduled_backups=settings.copy_scheduled_backups,
            )
        except InvalidInput as error:
            # A guard on this script itself: never start an execution that fails at once.
            return result("attention", f"the workflow would refuse the event: {error}")
        return result("start", reason, event, name)

    if plan_made and not settings.copy_scheduled_backups:
        if not missing:
            plan_copies = [
                j
                for j in copy_jobs
                if j.get("State") == "COMPLETED"
                and j.get("DestinationBackupVaultArn") in destinations
                and (j.get("CreatedBy") or {}).get("BackupPlanArn")
            ]
            if plan_copies:
                # The workflow's plan path verifies and cuts, cold points included (keeping
                # their 90 days in cold storage).
                latest = max(plan_copies, key=lambda j: aware(j.get("CompletionDate")) or now)
                return start(COPY_JOB, f"both plan copies COMPLETED; {needs}", latest)
        elif include_plan_backups:
            return start(BACKUP_JOB, f"{needs}: copied here (--include-plan-backups)")
        else:
            running = [
                d
                for d in missing
                if any(
                    j.get("DestinationBackupVaultArn") == d and j.get("State") in IN_PROGRESS
                    for j in copy_jobs
                )
            ]
            if len(running) == len(missing):
                return result(
                    "skip", f"the plan's copy to {_regions(running)} is still in progress"
                )
            return result(
                "attention",
                f"made by a backup plan whose copy rules left {needs}; check the plan's copy "
                "rule and its copy jobs, or pass --include-plan-backups to copy it with this "
                "workflow",
            )
    if storage == "COLD":
        # The workflow's backup-job path describes the original first and refuses cold ones.
        return result("skip", f"in cold storage; the workflow cuts only warm backups ({needs})")
    return start(BACKUP_JOB, needs)


# -- AWS ------------------------------------------------------------------------------------------


def plan(
    backup: Any,
    sfn: Any,
    state_machine: StateMachine,
    settings: Settings,
    *,
    window: Window,
    now: datetime,
    include_plan_backups: bool,
    console: Console,
) -> tuple[str, list[PointPlan]]:
    """Read everything, write nothing: the vault's points in the window, and a plan for each."""
    place = Place(state_machine.partition, state_machine.account, state_machine.region)
    try:
        vault = backup.describe_backup_vault(BackupVaultName=settings.vault_name)
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise ConfigError(
                f"no vault {settings.vault_name!r} in account {place.account}, {place.region} "
                f"({error_text(error)})"
            ) from error
        raise
    listed = [
        p
        for p in pages(
            backup.list_recovery_points_by_backup_vault,
            "RecoveryPoints",
            BackupVaultName=settings.vault_name,
            ByCreatedAfter=window.since,
            ByCreatedBefore=window.until,
        )
        if (aware(p.get("CreationDate")) or window.until) in window
    ]
    listed.sort(key=lambda p: (aware(p.get("CreationDate")), p["RecoveryPointArn"]))
    running = running_points(sfn, state_machine.arn)
    plans: list[PointPlan] = []
    with progress(console, "Checking recovery points", len(listed)) as advance:
        for entry in listed:
            arn = entry["RecoveryPointArn"]
            try:
                described = backup.describe_recovery_point(
                    BackupVaultName=settings.vault_name, RecoveryPointArn=arn
                )
            except botocore.exceptions.ClientError as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise
                described = {**entry, "StorageClass": "DELETED"}  # deleted since it was listed
            jobs = json_safe(
                list(pages(backup.list_copy_jobs, "CopyJobs", BySourceRecoveryPointArn=arn))
            )
            item = plan_point(
                json_safe(described),
                jobs,
                settings=settings,
                place=place,
                now=now,
                vault_locked=bool(vault.get("Locked")),
                running_execution=running.get(arn),
                include_plan_backups=include_plan_backups,
            )
            if item.action == "start" and item.execution_name is not None:
                item = _check_not_tried(sfn, state_machine, item)
            plans.append(item)
            advance()
    return str(vault.get("BackupVaultArn") or settings.vault_name), plans


def _check_not_tried(sfn: Any, state_machine: StateMachine, item: PointPlan) -> PointPlan:
    """A point whose backfill execution already ran in this very state is not started again."""
    assert item.execution_name is not None
    found = status_of(sfn, state_machine, item.execution_name)
    if found is None:
        return item
    status = f"{found['status']}" + (f", {found['error']}" if found.get("error") else "")
    if status.startswith("RUNNING"):
        return replace(
            item, action="skip", reason=f"execution {item.execution_name} is already running for it"
        )
    return replace(
        item,
        action="attention",
        reason=f"{item.reason}; execution {item.execution_name} already ran for it in this "
        f"state ({status}) and changed nothing: see its history, or backup-events rerun",
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
                    input=json.dumps(item.event),
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
    backup: Any,
    sfn: Any,
    state_machine: StateMachine,
    settings: Settings,
    *,
    window: Window,
    now: datetime,
    apply: bool = False,
    include_plan_backups: bool = False,
    rate: float = 1.0,
    sleeper: Callable[[float], None],
    console: Console | None = None,
) -> BackfillReport:
    """Plan (and with `apply`, start) the catch-up; prints the plan, results and a summary."""
    console = console or Console()
    vault_arn, plans = plan(
        backup,
        sfn,
        state_machine,
        settings,
        window=window,
        now=now,
        include_plan_backups=include_plan_backups,
        console=console,
    )
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
    for column in ("Created (UTC)", "Recovery point", "Made by", "Action", "Why"):
        table.add_column(column, overflow="fold")
    for item in plans:
        table.add_row(
            utc_text(item.created),
            item.recovery_point_arn,
            item.made_by,
            item.action,
            item.reason,
        )
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
    "Catch up on backups the workflow missed: for the recovery points created in the window in "
    "the watched vault that lack a COMPLETED copy in either destination or whose retention was "
    "not cut yet, start an execution with the AWS Backup event the workflow would have "
    "received. Prints the plan; starts nothing without --apply."
)
EPILOG = (
    "The settings are the stack's parameters. Exit codes: 0 done or nothing to do; 1 some "
    "points need a person or could not be started, or an account could not be reached; 2 usage "
    "or configuration error (nothing was written)."
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, state_machine_arn=False)
    add_window_arguments(parser, default_since="30d")
    parser.add_argument(
        "--copies-only",
        action="store_true",
        help="look for missing copies only, not for uncut retention",
    )
    parser.add_argument(
        "--include-plan-backups",
        action="store_true",
        help="also copy backups made by a backup plan whose own copy rules left a copy "
        "missing (by default they are only reported)",
    )
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
        settings = settings_from_stack(state_machine.stack_parameters, copies_only=args.copies_only)
        report = backfill(
            clients("backup", state_machine.region),
            clients("stepfunctions", state_machine.region),
            state_machine,
            settings,
            window=window,
            now=now,
            apply=args.apply,
            include_plan_backups=args.include_plan_backups,
            rate=args.rate,
            sleeper=env.sleep,
            console=console,
        )
        return Finding(report.exit_code, summary(report))

    return run_command(PROGRAM, args, env, work, what="Catching up")
