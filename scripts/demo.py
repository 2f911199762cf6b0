"""`make demo`: nine days of an organization running Backup Events, on the local AWS twin.

No AWS account: every call below is an AWS API call that the twin (local/) serves, on a virtual
clock, and every operator step is the `backup-events` command's own code.

1. The management account deploys the template as a service-managed StackSet over two
   workload accounts and the backup account, in two Regions, and the operator role as another
   StackSet (`backup-events deploy stackset`).
2. Day 0: four on-demand EFS backups, one in each workload account and Region. Two are copied
   twice and cut from 14 to 8 days. One fails: someone narrowed the backup account's us-west-2
   vault policy to a single account. One backup's event is lost on the way.
3. The operator's morning: `backup-events status` shows the failure and the backup nobody
   started; `backup-events preflight` names the vault policy and its fix; the backup account's
   administrator applies it; `backup-events rerun` starts the failed backup again; it finishes.
4. Day 1: the scheduled reconciliation finds the backup whose event was lost and finishes it.
5. Nine days pass: the cut originals expire on day 8, the copies stay.
6. The organization report (`backup-events status` over the StackSet), and in demo-output/:
   report.html (each execution's path on the state machine graph), dashboard.html (the
   dashboard's figures, from the metrics the tasks published), the tasks' log lines, the
   commands' full output and the --json documents the story takes what it tells from.

The task functions' JSON log lines and metrics never reach the screen: scripts/task_output.py
keeps them (they go to demo-output/task-logs.jsonl, as CloudWatch Logs would hold them).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from backup_events.main import main as backup_events
from backup_events.sessions import AwsSessions, Environment
from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
)
from local.cloudformation import organizational_unit
from local.stacks import Stack, quick_start_parameters, stack_set_instances
from local.twin import Twin
from scripts import dashboard
from scripts.demo_report import Execution, executions, page, table, write_report
from scripts.task_output import TaskOutput, captured
from statemachines.definition import source
from tasks.ledger import CutRecord

ROOT = Path(__file__).resolve().parent.parent
MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account: the operator's own credentials
STACK_SET = "BackupEvents"
OPERATOR_STACK_SET = "BackupEventsOperator"
TEMPLATES_BUCKET = "org-templates"
VAULT = "BackupEvents-Sample"
WORKLOAD_ACCOUNTS = (RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT)
REGIONS = (MAIN_REGION, BACKUP_REGION)
DAYS = 9
ORGANIZATION = ["--stack-set", STACK_SET, "--region", MAIN_REGION]
COPY_ROLE = "service-role/AWSBackupDefaultServiceRole"
# AWS Backup's default service role trusts AWS Backup, as the console creates it.
BACKUP_TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)


@dataclass
class Backup:
    """One on-demand backup of the story, and what happens to it."""

    account: str
    region: str
    file_system: str
    size_gb: int
    fate: str
    job_id: str = ""
    recovery_point_arn: str = ""

    @property
    def place(self) -> str:
        return f"{self.account} {self.region}"

    @property
    def resource_arn(self) -> str:
        return (
            f"arn:aws:elasticfilesystem:{self.region}:{self.account}:file-system/{self.file_system}"
        )


# What someone in the backup account put on its us-west-2 vault, written when the organization
# had one workload account: the second one's copies are refused.
NARROW_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "CopiesFromTheWorkloadAccount",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{RESOURCE_ACCOUNT}:root"},
            "Action": "backup:CopyIntoBackupVault",
            "Resource": "*",
        }
    ],
}


def story_backups() -> list[Backup]:
    return [
        Backup(RESOURCE_ACCOUNT, MAIN_REGION, "fs-0a1b2c3d4e5f60001", 120, "copied and cut"),
        Backup(
            RESOURCE_ACCOUNT, BACKUP_REGION, "fs-0a1b2c3d4e5f60002", 80, "copied and cut, "
            "its first copy to the alternate Region (it was made in the backup Region)"
        ),
        Backup(
            SECOND_RESOURCE_ACCOUNT, MAIN_REGION, "fs-0a1b2c3d4e5f60003", 250,
            "its copy to us-west-2 fails: the vault there does not admit this account",
        ),
        Backup(
            SECOND_RESOURCE_ACCOUNT, BACKUP_REGION, "fs-0a1b2c3d4e5f60004", 40,
            "its completion event is lost on the way (AWS delivers them best effort)",
        ),
    ]  # fmt: skip


@dataclass
class CommandRun:
    """One run of `backup-events`: what was typed, its exit code and everything it printed, and
    for a command the demo reads, the same command's --json document."""

    argv: list[str]
    exit_code: int
    output: str
    document: dict[str, Any] | None = None

    @property
    def command_line(self) -> str:
        return "backup-events " + " ".join(self.argv)

    def places(self) -> list[dict[str, Any]]:
        """The document's places: each account and Region, with what the command found there."""
        if self.document is None:
            raise ValueError(f"{self.command_line} was not read as JSON")
        places: list[dict[str, Any]] = self.document["places"]
        return places

    def failed_checks(self) -> list[tuple[str, str, str, str]]:
        """preflight's errors, each a check a copy would fail: (place, resource, finding, fix)."""
        return [
            (f"{p['account']} {p['region']}", c["resource"], c["finding"], c["fix"] or "-")
            for p in self.places()
            for c in p.get("checks", [])
            if c["severity"] == "error"
        ]


class Operator:
    """`backup-events` as the operator runs it from the management account, on the twin."""

    def __init__(self, twin: Twin, width: int) -> None:
        self.twin = twin
        self.width = width
        # The operator's own credentials (the management account), and roles it assumes; the
        # sessions keep the clients they make, so the commands of the story share them.
        self.sessions = AwsSessions(None, MAIN_REGION, session=boto3.session.Session())

    def __call__(self, *argv: str) -> CommandRun:
        console = Console(file=io.StringIO(), width=self.width, color_system=None)
        # --json prints its document on stdout, which while the demo runs is the capture of
        # the tasks' output (task_output.captured): the command's stdout is kept with its run
        # instead. The twin is quiet whenever the operator types, so no task prints meanwhile.
        with redirect_stdout(io.StringIO()) as stdout:
            code = backup_events(
                list(argv),
                Environment(
                    sessions=self.sessions,
                    clock=self.twin.clock.now,
                    sleep=lambda seconds: self.twin.clock.sleep(seconds, "backup-events"),
                    console=console,
                ),
            )
        stream = console.file
        assert isinstance(stream, io.StringIO)
        printed = stdout.getvalue()
        document = json.loads(printed) if "--json" in argv else None
        return CommandRun(list(argv), code, stream.getvalue() + printed, document)

    def read(self, *argv: str) -> CommandRun:
        """The command as the operator reads it, text, with the document its --json prints
        alongside: the story shows the text and takes what it tells from the document. The
        commands read are read-only, so both runs see the same twin and end alike."""
        run = self(*argv)
        as_json = self(*argv, "--json")
        if as_json.exit_code != run.exit_code:
            raise RuntimeError(
                f"{run.command_line} exited {run.exit_code}, with --json {as_json.exit_code}"
            )
        run.document = as_json.document
        return run


@dataclass
class CutCheck:
    """The quick start's check for one backup: 14 days before, 8 after, two copies of 14."""

    backup: Backup
    before_days: int | None
    after_days: int
    copies: list[
        tuple[str, int | None, str]
    ]  # (Region, DeleteAfterDays, Status) in the backup account
    original_now: str


@dataclass
class DemoResult:
    started: datetime
    finished: datetime
    stacks: list[Stack]
    operator_stacks: list[Stack]
    backups: list[Backup]
    runs: list[Execution]
    commands: dict[str, CommandRun]
    checks: list[CutCheck]
    board: dashboard.Dashboard
    task_output: TaskOutput
    files: dict[str, Path]
    story: list[tuple[str, list[str]]] = field(default_factory=list)


class Story:
    """Tells each step on the console, in one short plain line, and keeps it for the report."""

    def __init__(self, console: Console, twin: Twin, start: datetime) -> None:
        self.console, self.twin, self.start = console, twin, start
        self.steps: list[tuple[str, list[str]]] = []  # each step and the lines under it

    def when(self, at: datetime | None = None) -> str:
        now = at or self.twin.clock.now()
        return f"day {(now - self.start).days}, {now:%H:%M}"

    def step(self, text: str, at: datetime | None = None) -> None:
        self.steps.append((f"{self.when(at)}: {text}", []))
        self.console.print()
        self.console.print(f"[bold]{self.when(at)}[/] · {text}", highlight=False)

    def note(self, text: str) -> None:
        self.steps[-1][1].append(text.strip())
        self.console.print(f"  {text}", highlight=False)

    def command(self, run: CommandRun, meaning: str = "") -> None:
        self.note(
            f"$ {run.command_line}   (exit {run.exit_code}{': ' + meaning if meaning else ''})"
        )


# -- the story --------------------------------------------------------------------------------


def deploy(operator: Operator, twin: Twin) -> tuple[list[Stack], list[Stack]]:
    """Both StackSets from the management account, as the README deploys them."""
    twin.client("s3", MANAGEMENT_ACCOUNT, MAIN_REGION).create_bucket(Bucket=TEMPLATES_BUCKET)
    unit = organizational_unit(
        MANAGEMENT_ACCOUNT, [*WORKLOAD_ACCOUNTS, BACKUP_ACCOUNT], name="BackupEventsAccounts"
    )
    common = ["--region", MAIN_REGION, "--org-units", unit, "--apply"]
    workflow = operator(
        "deploy", "stackset", "--name", STACK_SET, "--template-bucket", TEMPLATES_BUCKET,
        "--regions", ",".join(REGIONS), *common,
        *(f"--param={k}={v}" for k, v in quick_start_parameters().items()),
    )  # fmt: skip
    role = operator(
        "deploy", "stackset", "--name", OPERATOR_STACK_SET,
        "--template", "operator-role", "--regions", MAIN_REGION, *common,
        f"--param=TrustedAccountId={MANAGEMENT_ACCOUNT}",
    )  # fmt: skip
    for run in (workflow, role):
        if run.exit_code != 0:
            raise RuntimeError(f"{run.command_line} failed:\n{run.output}")
    return (
        stack_set_instances(twin, MANAGEMENT_ACCOUNT, MAIN_REGION, STACK_SET),
        stack_set_instances(twin, MANAGEMENT_ACCOUNT, MAIN_REGION, OPERATOR_STACK_SET),
    )


def pass_time(twin: Twin, until: datetime) -> None:
    """Let virtual time run to `until`: each schedule fires on its hour, and whatever it starts
    finishes before time moves on."""
    while True:
        twin.run_until_quiet(limit=until - twin.clock.now())
        due = twin.schedules.next_due()
        if due is None or due > until:
            break
        twin.clock.advance(to=due)
    twin.clock.advance(to=until)
    twin.run_until_quiet(limit=timedelta(0))


def read_error_queue(stack: Stack) -> list[str]:
    """What waits in a place's error queue, read and deleted: one line per message."""
    sqs = stack.client("sqs")
    url = stack.outputs["ErrorQueueUrl"]
    read = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            event = json.loads(message["Body"])
            detail = event.get("detail") or {}
            state = detail.get("state") or detail.get("status") or ""
            why = detail.get("statusMessage") or detail.get("error") or ""
            read.append(f"{event.get('detail-type')}: {state}: {why}")
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    return read


def cut_checks(
    twin: Twin, stacks: dict[tuple[str, str], Stack], backups: list[Backup]
) -> list[CutCheck]:
    """Each backup as its accounts now see it: the cut ledger, the copies, the original."""
    checks = []
    for backup in backups:
        stack = stacks[(backup.account, backup.region)]
        items = stack.client("dynamodb").scan(TableName=stack.physical_id("CutLedger"))["Items"]
        records = [CutRecord.from_item(item) for item in items]
        record = next(r for r in records if r.recovery_point_arn == backup.recovery_point_arn)
        copies = []
        for region in REGIONS:
            listed = twin.client(
                "backup", BACKUP_ACCOUNT, region
            ).list_recovery_points_by_backup_vault(
                BackupVaultName=VAULT, ByResourceArn=backup.resource_arn
            )["RecoveryPoints"]
            copies += [
                (region, (p.get("Lifecycle") or {}).get("DeleteAfterDays"), p["Status"])
                for p in listed
            ]
        try:
            described = stack.client("backup").describe_recovery_point(
                BackupVaultName=VAULT, RecoveryPointArn=backup.recovery_point_arn
            )
            original_now = str(described["Status"])
        except stack.client("backup").exceptions.ResourceNotFoundException:
            original_now = "deleted"
        checks.append(
            CutCheck(
                backup, record.old_delete_after_days, record.delete_after_days, copies, original_now
            )
        )
    return checks


def run_demo(twin: Twin, out: Path, console: Console, output: TaskOutput) -> DemoResult:
    """The whole story on `twin`; what the tasks print goes to `output` (see main)."""
    start = twin.clock.now()
    story = Story(console, twin, start)
    operator = Operator(twin, width=console.width)
    commands: dict[str, CommandRun] = {}
    twin.backup.copy_duration = timedelta(hours=1)  # AWS takes about an hour per copy here

    story.step(
        "The management account deploys Backup Events to the organization as a service-managed "
        "StackSet, and the operator role as another (backup-events deploy stackset):"
    )
    stacks, operator_stacks = deploy(operator, twin)
    places = {(s.account, s.region): s for s in stacks}
    console.print(stacks_table(stacks))
    prepare_accounts(twin)

    backups = story_backups()
    vaults = twin.client("backup", BACKUP_ACCOUNT, BACKUP_REGION)
    template_policy = vaults.get_backup_vault_access_policy(BackupVaultName=VAULT)["Policy"]
    vaults.put_backup_vault_access_policy(BackupVaultName=VAULT, Policy=json.dumps(NARROW_POLICY))
    story.step(
        f"Someone in the backup account replaces the access policy of its {BACKUP_REGION} vault "
        f"with one that admits only account {RESOURCE_ACCOUNT}."
    )
    lost = backups[3]
    twin.router.drop(
        lambda event: (
            event.get("detail-type") == "Backup Job State Change"
            and (event.get("detail") or {}).get("resourceArn") == lost.resource_arn
        )
    )

    story.step(
        "Four on-demand EFS backups with 14 days' retention, one per workload account and Region:"
    )
    for backup in backups:
        start_backup(twin, backup)
        story.note(f"{backup.place}  {backup.file_system} ({backup.size_gb} GB): {backup.fate}")
    twin.run_until_quiet()
    for backup in backups:
        backup.recovery_point_arn = twin.client(
            "backup", backup.account, backup.region
        ).describe_backup_job(BackupJobId=backup.job_id)["RecoveryPointArn"]
    story.step("Each copy takes an hour. The executions their events started:")
    console.print(executions_table(executions(twin, places)))

    story.step("The operator's morning check, over the whole organization:")
    commands["status-day-0"] = run = operator.read("status", *ORGANIZATION)
    story.command(run)
    for place in run.places():
        where = f"{place['account']} {place['region']}"
        for failed in place.get("failedExecutions", []):
            line = (
                f"{failed['status']} execution {failed['name']} "
                f"({failed['error'] or 'no error'}), started {failed['started']}"
            )
            story.note(f"  {where}: {shorten(line, 150)}")
        for stuck in place.get("stuckBackups", []):
            line = (
                f"STUCK {stuck['recoveryPointArn']} (created {stuck['created']}): "
                f"{stuck['needs']}: {stuck['reason']}"
            )
            story.note(f"  {where}: {shorten(readable(line), 150)}")

    story.step("What would make copies fail? The pre-flight check names it, and its fix:")
    commands["preflight"] = run = operator.read("preflight", *ORGANIZATION)
    story.command(run)
    for where, resource, finding, fix in run.failed_checks():
        story.note(f"  FAIL {where}: {resource}: {finding}")
        story.note(f"       fix: {fix}")

    vaults.put_backup_vault_access_policy(BackupVaultName=VAULT, Policy=template_policy)
    story.step(
        f"The backup account's administrator gives the {BACKUP_REGION} vault the template's "
        "policy again (PutBackupVaultAccessPolicy): copies from every account of the "
        "organization."
    )
    commands["preflight-after-fix"] = run = operator.read("preflight", *ORGANIZATION)
    story.command(run, "nothing would make a copy fail")

    story.step("The operator re-runs what failed, dry run first:")
    commands["rerun-dry-run"] = run = operator.read("rerun", *ORGANIZATION)
    story.command(run)
    for place in run.places():
        for plan in place.get("plans", []):
            action = f"start {plan['newName']}" if plan["action"] == "start" else plan["action"]
            story.note(
                f"  {place['account']} {place['region']}: {plan['name']} "
                f"({plan['error'] or plan['status']}): {action}, because {plan['reason']}"
            )
    commands["rerun"] = run = operator("rerun", *ORGANIZATION, "--apply")
    story.command(run)
    twin.run_until_quiet()
    [rerun] = executions(twin, places, lambda name: "-rerun-" in name)
    story.note(
        f"  {rerun.name} {rerun.status} at {rerun.stopped:%H:%M}: both copies made, "
        "the original cut"
    )

    read = read_error_queue(places[(SECOND_RESOURCE_ACCOUNT, MAIN_REGION)])
    story.step(
        f"The error queue of {SECOND_RESOURCE_ACCOUNT} {MAIN_REGION} told of the failure; the "
        f"account's administrator reads its {len(read)} messages and deletes them:"
    )
    for line in read:
        story.note(f"  {shorten(readable(line), 150)}")

    pass_time(twin, start + timedelta(days=1, hours=4))
    [healed] = executions(twin, places, lambda name: name.startswith("finish-"))
    story.step(
        f"Nobody at the keyboard: the scheduled reconciliation of {healed.place} finds "
        f"{lost.file_system}, which no event announced, and starts {healed.name}; it "
        f"{healed.status} at {healed.stopped:%H:%M}.",
        at=healed.started,
    )

    pass_time(twin, start + timedelta(days=DAYS, hours=1))
    runs = executions(twin, places)
    checks = cut_checks(twin, places, backups)
    story.step(
        f"{DAYS} days on ({sum(e.is_reconciliation for e in runs)} scheduled reconciliations "
        "so far). The quick start's check: 14 days -> 8 once both copies exist, and on day 8 "
        "AWS Backup deletes the originals while the copies stay:"
    )
    console.print(checks_table(checks))
    for failed in (e for e in runs if e.is_reconciliation and e.status != "SUCCEEDED"):
        story.note(
            f"A reconciliation of {failed.place} {failed.status} ({failed.error}: "
            f"{failed.cause_text}); its failure waits in the error queue."
        )

    story.step("The organization report:")
    commands["status"] = run = operator("status", *ORGANIZATION, "--since", "10d")
    console.print(f"$ {run.command_line}", highlight=False)
    console.out(run.output, highlight=False, end="")
    console.print(
        f"(exit {run.exit_code}: the execution that failed on day 0 is still listed, finished by "
        f"its re-run {rerun.name}, which copied and cut the same backup; only a failure that no "
        "later execution finished would make the exit code 1)",
        highlight=False,
    )

    board = dashboard.build(stacks, output.metrics, days_of(start, twin.clock.now()))
    result = DemoResult(
        started=start,
        finished=twin.clock.now(),
        stacks=stacks,
        operator_stacks=operator_stacks,
        backups=backups,
        runs=runs,
        commands=commands,
        checks=checks,
        board=board,
        task_output=output,
        files={},
        story=story.steps,
    )
    write_files(result, out)
    return result


def readable(text: str) -> str:
    """A command's line with its ARNs in short: a vault by name and place, a point by id."""
    text = re.sub(
        r"arn:aws:backup:([a-z0-9-]+):(\d{12}):backup-vault:([\w-]+)", r"vault \3 in \2 \1", text
    )
    return re.sub(r"arn:aws:backup:[a-z0-9-]+:\d{12}:recovery-point:(\w{8})[\w-]*", r"\1...", text)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def days_of(start: datetime, end: datetime) -> list[date]:
    return [start.date() + timedelta(days=n) for n in range((end.date() - start.date()).days + 1)]


def prepare_accounts(twin: Twin) -> None:
    """What every workload account has before its first backup: AWS Backup's default service
    role, which the AWS Backup console creates on first use (README, prerequisites)."""
    for account in WORKLOAD_ACCOUNTS:
        twin.client("iam", account, MAIN_REGION).create_role(
            RoleName=COPY_ROLE.rsplit("/", 1)[-1],
            Path="/service-role/",
            AssumeRolePolicyDocument=BACKUP_TRUST,
        )


def start_backup(twin: Twin, backup: Backup) -> None:
    """StartBackupJob, as the console or the CLI calls it."""
    client = twin.client("backup", backup.account, backup.region)
    backup.job_id = client.start_backup_job(
        BackupVaultName=VAULT,
        ResourceArn=backup.resource_arn,
        IamRoleArn=f"arn:aws:iam::{backup.account}:role/{COPY_ROLE}",
        Lifecycle={"DeleteAfterDays": 14},
    )["BackupJobId"]
    # AWS measures a backup's size; every job of the twin has the same small one, so the
    # file system's size is given to the job before it completes.
    twin.backup.jobs[backup.job_id].backup_size = backup.size_gb * 10**9


# -- tables -------------------------------------------------------------------------------------


def stacks_table(stacks: list[Stack]) -> Table:
    table = Table(title=f"StackSet {STACK_SET}: {len(stacks)} instances", title_justify="left")
    for column in ("account", "Region", "status", "what it holds"):
        table.add_column(column)
    for stack in stacks:
        kinds = sorted({kind for kind, _ in stack.resources.values()})
        machines = sum(1 for kind, _ in stack.resources.values() if kind.endswith("StateMachine"))
        what = (
            f"the workflow: {machines} state machines, {len(stack.resources)} resources"
            if machines
            else "the backup account: " + ", ".join(k.split("::")[-1] for k in kinds)
        )
        table.add_row(stack.account, stack.region, stack.status, what)
    return table


def executions_table(runs: list[Execution]) -> Table:
    table = Table(title="Executions of the workflow", title_justify="left")
    for column in ("account and Region", "backup", "path", "status"):
        table.add_column(column)
    for run in runs:
        if run.is_reconciliation:
            continue
        path = " > ".join(s.state for s in run.top_steps)
        status = run.status + (f": {run.error}" if run.error else "")
        table.add_row(run.place, run.resource, path, status)
    return table


CHECK_COLUMNS = (
    "account and Region",
    "backup",
    "retention",
    "copies in the backup account",
    "original now",
)


def check_rows(checks: list[CutCheck]) -> list[tuple[str, ...]]:
    return [
        (
            check.backup.place,
            check.backup.file_system,
            f"{check.before_days} d -> {check.after_days} d",
            ", ".join(f"{region}: {days} d, {status}" for region, days, status in check.copies),
            check.original_now,
        )
        for check in checks
    ]


def checks_table(checks: list[CutCheck]) -> Table:
    table = Table(title="Each backup now", title_justify="left")
    for column in CHECK_COLUMNS:
        table.add_column(column)
    for row in check_rows(checks):
        table.add_row(*row)
    return table


# -- files --------------------------------------------------------------------------------------


def figures(result: DemoResult) -> list[tuple[str, str]]:
    """The dashboard's headline figures for the whole run, organization-wide."""
    board = result.board

    def total(metric: str, stat: str | None = None) -> float:
        return board.series(metric, stat).total or 0.0

    alarms = sum(1 for w in board.widgets for *_, state in w.alarms if state == "ALARM")
    return [
        ("executions succeeded", f"{total('ExecutionsSucceeded'):.0f}"),
        ("executions failed", f"{total('ExecutionsFailed'):.0f}"),
        ("median copy job", f"{total('CopyJobSeconds', 'p50') / 60:.0f} min"),
        ("longest copy job", f"{total('CopyJobSeconds', 'Maximum') / 60:.0f} min"),
        ("backups cut", f"{total('BackupsCut'):.0f}"),
        ("retention days removed", f"{total('RetentionDaysRemoved'):.0f}"),
        ("GB-days no longer paid for", f"{total('StorageGBDaysSaved'):,.0f}"),
        ("error-queue messages now", str(sum(board.error_queue_now.values()))),
        ("alarms in ALARM now", str(alarms)),
    ]


def write_files(result: DemoResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = result.files
    for name, run in result.commands.items():
        files[name] = out / f"{name}.txt"
        files[name].write_text(f"$ {run.command_line}\n{run.output}\n(exit {run.exit_code})\n")
        if run.document is not None:
            files[f"{name}-json"] = out / f"{name}.json"
            files[f"{name}-json"].write_text(json.dumps(run.document, indent=2) + "\n")
    files["logs"] = out / "task-logs.jsonl"
    files["logs"].write_text("\n".join(result.task_output.lines) + "\n")
    links = ", ".join(
        f'<a href="{escape(path.name)}">{escape(path.name)}</a>' for path in files.values()
    )
    files["report"] = out / "report.html"
    final = result.commands["status"]
    write_report(
        files["report"],
        title="Backup Events on the local twin",
        story=result.story,
        runs=result.runs,
        definitions={name: source(name) for name in ("backup_events", "reconcile")},
        labels={b.recovery_point_arn: b.file_system for b in result.backups},
        extra=f"<h2>Each backup at the end</h2>{table(CHECK_COLUMNS, check_rows(result.checks))}"
        f"<h2>The organization report</h2><pre>$ {escape(final.command_line)}\n"
        f"{escape(final.output)}</pre><p>The dashboard's figures: "
        f'<a href="dashboard.html">dashboard.html</a>. Each command\'s full output, the --json '
        f"documents the story read and the tasks' log lines: {links}.</p>",
    )
    files["dashboard"] = out / "dashboard.html"
    days = f"{result.board.days[0]:%Y-%m-%d} to {result.board.days[-1]:%Y-%m-%d}"
    files["dashboard"].write_text(
        page(
            "Backup Events dashboard",
            f"<h1>Backup Events dashboard</h1><p class=meta>The organization's "
            f"{len(result.board.places)} workload account and Region dashboards added up, "
            f"{days} (virtual time). Each widget is the deployed dashboard's own; the "
            "figures are the metrics the tasks published (EMF) and those Step Functions "
            "published.</p>" + dashboard.html(result.board, figures(result)),
        )
    )


@contextmanager
def running(out: Path, console: Console) -> Iterator[tuple[Twin, DemoResult]]:
    """The demo run on a fresh twin, which stays up (and its tasks' output captured) inside."""
    with Twin() as twin, captured(twin) as output:
        yield twin, run_demo(twin, out, console, output)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo-output", help="report folder")
    args = parser.parse_args(argv)
    # The screen, held before the tasks' output is taken off it. A pipe or a CI log gets a
    # wide, plain console; a terminal keeps its own width.
    if console is None:
        tty = sys.stdout.isatty()
        console = (
            Console(file=sys.stdout) if tty else Console(file=sys.stdout, width=150, no_color=True)
        )
    console.print(
        "[bold]Backup Events on the local AWS twin[/]: an organization's first nine days. "
        "No AWS account; every step is an AWS API call the twin serves, on a virtual clock."
    )
    with running(args.out, console) as (_, result):
        pass
    console.print()
    console.print(
        f"Written to {args.out}: report.html (each execution on the state machine graph), "
        "dashboard.html (the dashboard's figures), task-logs.jsonl (the tasks' "
        f"{result.task_output.log_records} log lines and {result.task_output.emf_lines} "
        "metric lines), each command's full output and the --json documents the story read."
    )
    return 0


if __name__ == "__main__":
    code = main()
    # Everything is written and the twin is stopped. Tearing down the twin's million objects
    # one by one at interpreter exit takes seconds and changes nothing, so the process ends
    # here, as mypy's does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
