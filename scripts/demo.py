"""`make demo`: the whole product on the local AWS twin, in under a minute, no AWS account.

1. Deploys the built template (infrastructure/backup_events_aws.yaml) as six stacks: the backup
   account and a resource account, each in three regions.
2. Makes on-demand backups in a resource region and in the backup region (whose first copy
   goes to the alternate region), and one whose first copy fails (a KMS key the backup account
   cannot use), which is then re-run with the same input once "fixed".
3. Lets virtual time run: copies take an hour, the workflow polls, verifies, cuts; then nine
   days pass and AWS Backup deletes the shortened originals, while the copies remain.
4. Prints each execution's path (state, time, outcome) and every vault's recovery points,
   and writes demo-output/report.html with the state machine drawn once per execution, its
   path highlighted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from diagram import svg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from local.accounts import (  # noqa: E402
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OTHER_REGION,
    RESOURCE_ACCOUNT,
)
from local.backup import Job  # noqa: E402
from local.stacks import Stack, deploy_stack, quick_start_parameters  # noqa: E402
from local.stepfunctions import count_state_transitions  # noqa: E402
from local.twin import Twin  # noqa: E402
from statemachines.definition import source  # noqa: E402

VAULT = "BackupEvents-Sample"
REGIONS = (MAIN_REGION, BACKUP_REGION, OTHER_REGION)
KEY_PROBLEM = (
    "Copy job failed: the source KMS key arn:aws:kms:us-west-1:000022224444:alias/aws/ebs is an "
    "AWS managed key, which cannot be shared with the backup account."
)


@dataclass
class Step:
    state: str
    entered: datetime
    outcome: str
    retries: int = 0


@dataclass
class Story:
    arn: str
    name: str
    region: str
    status: str
    error: str | None
    cause: str | None
    started: datetime
    stopped: datetime | None
    transitions: int
    steps: list[Step]

    @property
    def path(self) -> list[str]:
        return [s.state for s in self.steps]


@dataclass
class PointRow:
    account: str
    region: str
    role: str
    arn: str
    resource: str
    created: datetime
    retention: str
    storage: str


@dataclass
class DemoResult:
    stacks: list[Stack]
    stories: list[Story]
    points: list[PointRow]
    report: Path
    started: datetime
    finished: datetime
    notes: list[str] = field(default_factory=list)


def _steps(history: list[dict[str, Any]]) -> list[Step]:
    steps: list[Step] = []
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            steps.append(Step(details["name"], event["timestamp"], "entered"))
        elif steps and kind.endswith("StateExited"):
            steps[-1].outcome = (
                f"ok after {steps[-1].retries} retries" if steps[-1].retries else "ok"
            )
        elif steps and kind in {"TaskFailed", "LambdaFunctionFailed"}:
            steps[-1].retries += 1
        elif steps and kind in {"ExecutionFailed", "FailStateEntered"}:
            steps[-1].outcome = "failed"
        elif steps and kind == "ExecutionSucceeded":
            steps[-1].outcome = "succeeded"
    if steps and steps[-1].outcome == "entered":
        steps[-1].outcome = "failed"
    return steps


def collect_stories(twin: Twin) -> list[Story]:
    stories = []
    for arn in twin.execution_arns():
        described = twin.describe_execution(arn)
        history = twin.history(arn)
        stories.append(
            Story(
                arn=arn,
                name=described["name"],
                region=arn.split(":")[3],
                status=described["status"],
                error=described.get("error"),
                cause=described.get("cause"),
                started=described["startDate"],
                stopped=described.get("stopDate"),
                transitions=count_state_transitions(history),
                steps=_steps(history),
            )
        )
    return sorted(stories, key=lambda s: s.started)


def collect_points(twin: Twin) -> list[PointRow]:
    now = twin.clock.now()
    rows = []
    for point in twin.backup.points.values():
        delete_at = point.delete_at()
        retention = (
            "never expires"
            if delete_at is None
            else f"{point.lifecycle.get('DeleteAfterDays')} d, to {delete_at:%m-%d %H:%M}"
        )
        rows.append(
            PointRow(
                account=point.account,
                region=point.region,
                role="copy" if point.source_backup_vault_arn else "original",
                arn=point.arn,
                resource=point.resource_arn.rsplit("/", 1)[-1],
                created=point.creation_date,
                retention=retention,
                storage=point.storage_class(now),
            )
        )
    return sorted(rows, key=lambda r: (r.resource, r.role != "original", r.account, r.region))


def cause_text(cause: str | None) -> str:
    """The task's own message: Step Functions wraps it in the Lambda runtime's error JSON."""
    try:
        return str(json.loads(cause or "")["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return cause or ""


def _rerun(twin: Twin, story: Story) -> str:
    """What an operator does once the cause is fixed: start it again with the same input."""
    sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, story.region)
    state_machine = story.arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    started: str = sfn.start_execution(
        stateMachineArn=state_machine,
        name=f"rerun-{story.name}"[:80],
        input=twin.describe_execution(story.arn)["input"],
    )["executionArn"]
    return started


def run_demo(twin: Twin, out_dir: Path) -> DemoResult:
    started = twin.clock.now()
    notes: list[str] = []
    stacks = [
        deploy_stack(twin, account, region, quick_start_parameters())
        for account in (BACKUP_ACCOUNT, RESOURCE_ACCOUNT)
        for region in REGIONS
    ]
    twin.backup.copy_duration = timedelta(hours=1)
    efs = "arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-0{n}a1b2c3d4e5f6789"
    for n, region in enumerate((MAIN_REGION, BACKUP_REGION), start=1):
        twin.backup.start_backup(
            RESOURCE_ACCOUNT,
            region,
            VAULT,
            efs.format(region=region, account=RESOURCE_ACCOUNT, n=n),
            lifecycle={"DeleteAfterDays": 14},
        )
    notes.append("on-demand EFS backups in us-east-1 and in the backup region us-west-2")

    def broken_key(job: Job) -> bool:
        return job.region == OTHER_REGION and job.destination_region == BACKUP_REGION

    rule = twin.backup.on_copy(broken_key, fail=KEY_PROBLEM)
    twin.backup.start_backup(
        RESOURCE_ACCOUNT,
        OTHER_REGION,
        VAULT,
        f"arn:aws:ec2:{OTHER_REGION}:{RESOURCE_ACCOUNT}:volume/vol-0123456789abcdef0",
        lifecycle={"DeleteAfterDays": 14},
    )
    notes.append("an EBS backup in us-west-1 whose first copy fails (AWS managed KMS key)")
    twin.run_until_quiet()

    twin.backup.copy_rules.remove(rule)
    for story in collect_stories(twin):
        if story.status == "FAILED":
            _rerun(twin, story)
            notes.append(f"re-ran {story.name} with the same input once the key was fixed")
    twin.run_until_quiet()

    twin.clock.advance(9 * 86400)
    notes.append("nine days later: the shortened originals have expired; the copies remain")
    result = DemoResult(
        stacks=stacks,
        stories=collect_stories(twin),
        points=collect_points(twin),
        report=out_dir / "report.html",
        started=started,
        finished=twin.clock.now(),
        notes=notes,
    )
    write_report(result)
    return result


def write_report(result: DemoResult) -> None:
    definition = source("backup_events")
    sections = []
    for story in result.stories:
        rows = "".join(
            f"<tr><td>{escape(s.state)}</td><td>{s.entered:%Y-%m-%d %H:%M:%S}</td>"
            f"<td>{escape(s.outcome)}</td></tr>"
            for s in story.steps
        )
        sections.append(
            f"<section><h2>{escape(story.name)} — {escape(story.region)} — "
            f"{escape(story.status)}</h2>"
            + (
                f"<p class=error>{escape(story.error or '')}: {escape(cause_text(story.cause))}</p>"
                if story.error
                else ""
            )
            + f"<p>{story.transitions} billed state transitions</p>"
            + svg(definition, story.path, story.name)
            + "<table><tr><th>state</th><th>entered</th><th>outcome</th></tr>"
            + f"{rows}</table></section>"
        )
    points = "".join(
        f"<tr><td>{p.account}</td><td>{p.region}</td><td>{p.role}</td>"
        f"<td>{escape(p.resource)}</td><td>{p.created:%Y-%m-%d %H:%M}</td>"
        f"<td>{escape(p.retention)}</td><td>{p.storage}</td></tr>"
        for p in result.points
    )
    result.report.parent.mkdir(parents=True, exist_ok=True)
    result.report.write_text(
        "<!doctype html><meta charset=utf-8><title>Backup Events demo</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}.error{color:#b00}"
        "section{margin:2em 0}</style>"
        f"<h1>Backup Events on the local twin</h1><p>Virtual time {result.started:%Y-%m-%d %H:%M}"
        f" to {result.finished:%Y-%m-%d %H:%M} UTC.</p><ul>"
        + "".join(f"<li>{escape(n)}</li>" for n in result.notes)
        + "</ul><h2>Recovery points at the end</h2><table><tr><th>account</th><th>region</th>"
        "<th>kind</th><th>resource</th><th>created</th><th>retention</th><th>storage</th></tr>"
        + points
        + "</table>"
        + "".join(sections)
    )


def print_result(result: DemoResult, console: Console) -> None:
    console.print(
        f"[bold]Backup Events on the local twin[/] — virtual time {result.started:%Y-%m-%d %H:%M}"
        f" → {result.finished:%Y-%m-%d %H:%M} UTC"
    )
    stacks = Table(title="Stacks deployed from infrastructure/backup_events_aws.yaml")
    for column in ("account", "region", "status", "resources"):
        stacks.add_column(column)
    for stack in result.stacks:
        stacks.add_row(stack.account, stack.region, stack.status, str(len(stack.resources)))
    console.print(stacks)
    for note in result.notes:
        console.print(f"• {note}")
    for story in result.stories:
        table = Table(title=f"{story.name} ({story.region}): {story.status}", title_justify="left")
        for column in ("state", "entered (UTC)", "outcome"):
            table.add_column(column)
        for step in story.steps:
            table.add_row(step.state, f"{step.entered:%m-%d %H:%M:%S}", step.outcome)
        console.print(table)
        if story.error:
            console.print(f"  [red]{story.error}[/]: {cause_text(story.cause)}")
        console.print(f"  {story.transitions} billed state transitions")
    points = Table(title="Recovery points at the end, in every account and region")
    for column in ("account", "region", "kind", "resource", "created", "retention", "storage"):
        points.add_column(column)
    for p in result.points:
        points.add_row(
            p.account,
            p.region,
            p.role,
            p.resource,
            f"{p.created:%m-%d %H:%M}",
            p.retention,
            p.storage,
        )
    console.print(points)
    console.print(f"State machine pictures with each path highlighted: {result.report}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo-output", help="report folder")
    args = parser.parse_args(argv)
    # The task functions log JSON at INFO; the demo tells its own story instead. Set here,
    # not at import, so that importing this module changes nothing for anyone else.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # A pipe or CI log gets a wide, plain console; a terminal keeps its own width.
    console = Console() if sys.stdout.isatty() else Console(width=150, no_color=True)
    with Twin() as twin:
        result = run_demo(twin, args.out)
    print_result(result, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
