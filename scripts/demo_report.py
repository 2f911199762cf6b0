"""The demo's HTML report: every execution the twin ran, its path drawn on the state machine.

Executions are read back through the Step Functions API (ListStateMachines, ListExecutions,
DescribeExecution, GetExecutionHistory), as the console reads them. Each history is read the
way the console colours its graph: a state that exited normally succeeded; one whose task
failed and whose Catch moved on shows a caught error; the state where the execution failed
(a Fail state, or a task whose error nothing caught) failed; a state still open is in
progress.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from local.stepfunctions import count_state_transitions
from local.twin import Twin
from scripts.diagram import END, START, svg

TASK_FAILURES = {
    "TaskFailed",
    "TaskTimedOut",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
}
TASK_ATTEMPTS = {"TaskScheduled", "LambdaFunctionScheduled"}
ENDED = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "TIMED_OUT": "failed",
    "ABORTED": "cancelled",
}


@dataclass
class Step:
    state: str
    entered: datetime
    status: str = "running"  # a key of diagram.STATUS_STYLE
    errors: list[str] = field(default_factory=list)  # each failed attempt's error name
    depth: int = 0  # 0: a state of the definition itself; 1+: inside a Map iteration
    _open_failure: bool = False

    @property
    def outcome(self) -> str:
        """What happened in this state, in words."""
        if self.status == "caught":
            return f"caught {self.errors[-1]}"
        retried = self.errors if self.status != "failed" else self.errors[:-1]
        text = {"succeeded": "ok", "failed": "failed", "running": "in progress"}.get(
            self.status, self.status
        )
        if self.status == "failed" and self.errors:
            text = f"failed: {self.errors[-1]}"
        if retried:
            names = sorted(set(retried))
            text += f" after {len(retried)} retr{'y' if len(retried) == 1 else 'ies'} on "
            text += ", ".join(names)
        return text


def read_history(history: Sequence[Mapping[str, Any]], status: str) -> list[Step]:
    """The states an execution entered, in order, each with what happened there."""
    steps: list[Step] = []
    open_steps: list[Step] = []  # innermost last: Map iterations nest their states
    for event in history:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            entered = event["stateEnteredEventDetails"]
            step = Step(str(entered["name"]), event["timestamp"], depth=len(open_steps))
            steps.append(step)
            if kind == "FailStateEntered":
                step.status = "failed"
            else:
                open_steps.append(step)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            for index in range(len(open_steps) - 1, -1, -1):
                if open_steps[index].state == name:
                    step = open_steps.pop(index)
                    step.status = "caught" if step._open_failure else "succeeded"
                    break
        elif open_steps and kind in TASK_FAILURES:
            failure: Mapping[str, Any] = next(
                (v for k, v in event.items() if k.endswith("EventDetails")), {}
            )
            open_steps[-1].errors.append(str(failure.get("error") or kind))
            open_steps[-1]._open_failure = True
        elif open_steps and kind in TASK_ATTEMPTS:
            open_steps[-1]._open_failure = False  # a retry: the failure before it was not final
    # What is still open when the history ends: where it failed, was aborted, or still runs.
    for step in open_steps:
        step.status = {"FAILED": "failed", "TIMED_OUT": "failed", "ABORTED": "cancelled"}.get(
            status, "running" if status == "RUNNING" else "succeeded"
        )
    return steps


@dataclass
class Execution:
    """One execution as the console shows it."""

    arn: str
    state_machine: str  # its name
    account: str
    region: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None
    input: dict[str, Any]
    output: Any
    error: str | None
    cause: str | None
    transitions: int
    steps: list[Step]

    @property
    def place(self) -> str:
        return f"{self.account} {self.region}"

    @property
    def is_reconciliation(self) -> bool:
        return self.state_machine.endswith("-Reconcile")

    @property
    def started_by(self) -> str:
        """What started it: its input says (an event, a re-run's copied input, a schedule)."""
        kind = self.input.get("detail-type")
        if "-rerun-" in self.name:
            return "backup-events rerun (the failed execution's input)"
        if kind == "Backup Needs Finishing":
            return "the reconciliation (Backup Needs Finishing)"
        if kind == "Scheduled Event":
            return "its schedule"
        return f"EventBridge: {kind} from {self.input.get('source')}"

    @property
    def resource(self) -> str:
        """The backed-up resource (a file system, a volume) the input is about, if any."""
        detail = self.input.get("detail") or {}
        return str(detail.get("resourceArn") or "").rsplit("/", 1)[-1]

    @property
    def recovery_point(self) -> str:
        resources = self.input.get("resources") or [""]
        return str(resources[0])

    @property
    def top_steps(self) -> list[Step]:
        return [s for s in self.steps if s.depth == 0]

    @property
    def statuses(self) -> dict[str, str]:
        """Each state's colour on the graph, Start and End included."""
        found = {START: "succeeded"}
        found.update((s.state, s.status) for s in self.top_steps)
        if self.status in ENDED:
            found[END] = ENDED[self.status]
        return found

    @property
    def path(self) -> list[str]:
        ended = [END] if self.status in ENDED else []
        return [START, *(s.state for s in self.top_steps), *ended]

    @property
    def failed_state(self) -> str | None:
        return next((s.state for s in self.top_steps if s.status == "failed"), None)

    @property
    def cause_text(self) -> str:
        """The task's own message: Step Functions wraps it in the Lambda runtime's error JSON."""
        try:
            return str(json.loads(self.cause or "")["errorMessage"])
        except (ValueError, KeyError, TypeError):
            return self.cause or ""


def executions(
    twin: Twin, places: Iterable[tuple[str, str]], named: Callable[[str], bool] = lambda _: True
) -> list[Execution]:
    """Every execution (whose name passes `named`) of every state machine in these accounts
    and Regions, oldest first."""
    found = []
    for account, region in places:
        sfn = twin.client("stepfunctions", account, region)
        for machine in sfn.list_state_machines()["stateMachines"]:
            pages = sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"]
            )
            for listed in (e for page in pages for e in page["executions"]):
                if not named(listed["name"]):
                    continue
                arn = listed["executionArn"]
                described = sfn.describe_execution(executionArn=arn)
                history = twin.history(arn)
                output = described.get("output")
                found.append(
                    Execution(
                        arn=arn,
                        state_machine=machine["name"],
                        account=account,
                        region=region,
                        name=described["name"],
                        status=described["status"],
                        started=described["startDate"],
                        stopped=described.get("stopDate"),
                        input=json.loads(described.get("input") or "{}"),
                        output=None if output is None else json.loads(output),
                        error=described.get("error"),
                        cause=described.get("cause"),
                        transitions=count_state_transitions(history),
                        steps=read_history(history, described["status"]),
                    )
                )
    return sorted(found, key=lambda e: (e.started, e.place, e.name))


# -- HTML ---------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px 32px;color:#16191f}
h1{margin-bottom:4px} h2{margin-top:40px;border-bottom:1px solid #d5dbdb;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px} td,th{border:1px solid #d5dbdb;padding:3px 8px;
text-align:left;vertical-align:top;font-size:13px} th{background:#f2f3f3}
.execution{display:flex;gap:28px;align-items:flex-start;flex-wrap:wrap;margin:8px 0 28px}
.meta{color:#545b64;margin:2px 0} .error{color:#d13212;font-weight:bold}
.SUCCEEDED{color:#1d8102;font-weight:bold} .FAILED{color:#d13212;font-weight:bold}
pre{font-size:12px;background:#fafafa;padding:8px}
ol.story>li{margin:8px 0} ol.story ul{margin:2px 0;color:#37475a;font-size:14px}
code{background:#f2f3f3;padding:0 3px}
"""


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style><body>{body}</body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def _steps_table(execution: Execution) -> str:
    return table(
        ("state", "entered (UTC)", "what happened"),
        (
            ("\u2003" * s.depth + s.state, f"{s.entered:%m-%d %H:%M:%S}", s.outcome)
            for s in execution.steps
        ),
        "steps",
    )


def _section(
    execution: Execution, definition: Mapping[str, Any], note: str = "", label: str = ""
) -> str:
    error = (
        f'<p class="error">{escape(execution.error or "")}: {escape(execution.cause_text)}</p>'
        if execution.error
        else ""
    )
    stopped = f"{execution.stopped:%m-%d %H:%M}" if execution.stopped else "still running"
    return (
        f'<section class="execution-section" id="{escape(execution.name)}" '
        f'data-execution="{escape(execution.arn)}">'
        f"<h3>{escape(execution.place)} · "
        f"{escape(execution.resource or label or execution.state_machine)}"
        f' · <span class="{execution.status}">{execution.status}</span></h3>'
        f'<p class="meta">Execution <code>{escape(execution.name)}</code> of '
        f"<code>{escape(execution.state_machine)}</code>, started by "
        f"{escape(execution.started_by)}, {execution.started:%m-%d %H:%M} to {stopped} UTC, "
        f"{execution.transitions} billed state transitions. {escape(note)}</p>{error}"
        f'<div class="execution">'
        f"{svg(definition, execution.statuses, execution.path, execution.name)}"
        f"{_steps_table(execution)}</div></section>"
    )


def reconciliation_summary(execution: Execution) -> str:
    """What one reconciliation found and did, from the counts in its output."""
    output = execution.output if isinstance(execution.output, dict) else {}
    counts = output.get("Counts") or {}
    acted = {
        "started": counts.get("Started", 0),
        "redriven": counts.get("ToRedrive", 0),
        "reported": counts.get("NeedAttention", 0),
    }
    done = ", ".join(f"{n} {what}" for what, n in acted.items() if n) or "nothing to do"
    return f"{counts.get('Originals', 0)} original(s) surveyed: {done}"


def _code(line: str) -> str:
    """A line of the story; a command line is shown as one."""
    if line.startswith("$ "):
        command, _, rest = line[2:].partition("   ")
        return f"<code>$ {escape(command)}</code> {escape(rest)}"
    return escape(line)


def write_report(
    path: Path,
    *,
    title: str,
    story: Sequence[tuple[str, Sequence[str]]],
    runs: Sequence[Execution],
    definitions: Mapping[str, Mapping[str, Any]],
    labels: Mapping[str, str],
    extra: str = "",
) -> None:
    """One self-contained HTML page: the story, then each execution on its graph.

    `labels` names the backups by their recovery point, for inputs that do not name the
    resource (a "Backup Needs Finishing" event names only the recovery point)."""
    workflow = [e for e in runs if not e.is_reconciliation]
    reconciliations = [e for e in runs if e.is_reconciliation]
    parts = [
        f"<h1>{escape(title)}</h1>",
        '<ol class="story">'
        + "".join(
            f"<li>{escape(step)}"
            + ("<ul>" + "".join(f"<li>{_code(line)}</li>" for line in lines) + "</ul>")
            * bool(lines)
            + "</li>"
            for step, lines in story
        )
        + "</ol>",
        extra,
        "<h2>Executions of the workflow</h2>",
        table(
            ("account and Region", "backup", "execution", "started by", "started", "status"),
            (
                (
                    e.place,
                    e.resource or labels.get(e.recovery_point, ""),
                    e.name,
                    e.started_by,
                    f"{e.started:%m-%d %H:%M}",
                    e.status + (f" ({e.error})" if e.error else ""),
                )
                for e in workflow
            ),
        ),
        *(
            _section(e, definitions["backup_events"], label=labels.get(e.recovery_point, ""))
            for e in workflow
        ),
        "<h2>Scheduled reconciliations</h2>",
        table(
            ("account and Region", "execution", "started", "status", "found"),
            (
                (e.place, e.name, f"{e.started:%m-%d %H:%M}", e.status, reconciliation_summary(e))
                for e in reconciliations
            ),
        ),
    ]
    # Drawn once per distinct path: most days they all take the same one.
    seen: dict[tuple[str, ...], list[Execution]] = {}
    for execution in reconciliations:
        key = (*execution.path, execution.status, reconciliation_summary(execution))
        seen.setdefault(key, []).append(execution)
    for group in seen.values():
        note = f"{len(group)} reconciliation(s) took this path and found the same." * (
            len(group) > 1
        )
        parts.append(_section(group[0], definitions["reconcile"], note))
    path.write_text(page(title, "".join(parts)))
