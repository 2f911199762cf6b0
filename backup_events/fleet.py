"""Run one command's work on every target: at most N at once, a progress bar, one summary.

Each target is one account and Region, so no account and Region ever has two workers at once,
and `--concurrency` bounds how many run together. Whatever goes wrong in one target (the
account cannot be reached, the stack is missing, AWS refuses a call) is that target's result,
reported by name; the run goes on with the others and its exit code says something failed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

import botocore.exceptions
from rich.console import Console
from rich.table import Table

from backup_events.aws import ClientFactory, ConfigError, aws_setup_errors, error_text
from backup_events.output import (
    EXIT_FAILED,
    EXIT_OK,
    buffer_console,
    buffered,
    fail,
    make_console,
    progress,
)
from backup_events.sessions import Environment, Sessions, Unreachable
from backup_events.targets import (
    NoWorkflowHere,
    Target,
    check_arguments,
    is_organization,
    list_targets,
)

State = Literal["ok", "failed", "unreachable", "no workflow"]


@dataclass
class Finding:
    """What a command's work found in one target: its exit code, one line, and its data."""

    code: int
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    target: Target
    state: State
    code: int
    summary: str
    output: str = ""
    data: dict[str, Any] = field(default_factory=dict)


# The work: a target, clients in its account, and a console for what it prints.
Work = Callable[[Target, ClientFactory, Console], Finding]


def _run_one(
    sessions: Sessions, role: str | None, target: Target, work: Work, console: Console
) -> Result:
    try:
        clients = sessions.clients(target.account, role)
        found = work(target, clients, console)
    except Unreachable as error:
        return Result(target, "unreachable", EXIT_FAILED, error.reason, buffered(console))
    except NoWorkflowHere:
        # A backup-account placement of the StackSet: vaults only, nothing to run or watch.
        return Result(target, "no workflow", EXIT_OK, "backup account: vaults only", "")
    except ConfigError as error:
        return Result(target, "failed", EXIT_FAILED, str(error), buffered(console))
    except botocore.exceptions.ClientError as error:
        return Result(target, "failed", EXIT_FAILED, f"AWS refused: {error_text(error)}", "")
    return _result(target, found, console)


def _result(target: Target, found: Finding, console: Console) -> Result:
    state: State = "ok" if found.code == EXIT_OK else "failed"
    return Result(target, state, found.code, found.summary, buffered(console), found.data)


def run_across(
    sessions: Sessions,
    targets: Sequence[Target],
    work: Work,
    *,
    role: str | None,
    console: Console,
    concurrency: int,
    description: str,
) -> list[Result]:
    """Run `work` on every target; each target's printout is kept for `print_results`."""
    results: list[Result] = []
    with (
        progress(console, description, len(targets)) as advance,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="target") as pool,
    ):
        running = [
            pool.submit(_run_one, sessions, role, target, work, buffer_console(console))
            for target in targets
        ]
        for done in as_completed(running):
            results.append(done.result())
            advance()
    return sorted(results, key=lambda r: (r.target.account or "", r.target.region))


def print_results(results: Sequence[Result], console: Console, *, what: str) -> None:
    """Each target's own printout under its name, then one table and the totals."""
    for result in results:
        if result.output.strip():
            console.rule(f"{result.target.label}")
            console.out(result.output, end="", highlight=False)
    table = Table(title=f"{what}: {len(results)} account(s) x Region(s)", title_justify="left")
    for column in ("Account", "Region", "Result", "Detail"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            result.target.account or "-", result.target.region, result.state, result.summary
        )
    console.print(table)
    counts = {state: sum(1 for r in results if r.state == state) for state in _STATES}
    console.print(", ".join(f"{n} {state}" for state, n in counts.items() if n) + ".")
    unreachable: dict[str, list[Result]] = {}
    for result in results:
        if result.state == "unreachable":
            unreachable.setdefault(result.target.account or "-", []).append(result)
    for account, found in unreachable.items():
        regions = ", ".join(r.target.region for r in found)
        console.print(f"Unreachable: account {account} ({regions}): {found[0].summary}")


_STATES: tuple[State, ...] = ("ok", "failed", "unreachable", "no workflow")


def exit_code(results: Sequence[Result]) -> int:
    return max((r.code for r in results), default=EXIT_OK)


# Reports the results of an organization-wide run (or any run, for --json); returns the exit code.
Reporter = Callable[[list[Result], Console], int]


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document instead of text: each account and Region's result and "
        "findings, the totals and the exit code (on a configuration error: the error and exit "
        "code 2)",
    )


def summed(results: Sequence[Result], key: str, kinds: Sequence[str]) -> dict[str, int]:
    """Each place's counts under `key` (kind -> number) added up, every kind named."""
    total = dict.fromkeys(kinds, 0)
    for result in results:
        for kind, n in (result.data.get(key) or {}).items():
            total[kind] = total.get(kind, 0) + n
    return total


def print_json(results: Sequence[Result], totals: dict[str, Any]) -> int:
    """One JSON document on stdout, the same shape for every command; returns the exit code.

    places: each account and Region, its result (ok, failed, unreachable, no workflow), its
    one-line summary and the command's own data; totals: the command's, plus the places that
    could not be reached or failed; exitCode: what the command exits with.
    """
    code = exit_code(results)
    document = {
        "places": [
            {
                "account": r.target.account,
                "region": r.target.region,
                "result": r.state,
                "summary": r.summary,
                **r.data,
            }
            for r in results
        ],
        "totals": {
            **totals,
            "unreachable": [
                {"account": r.target.account, "region": r.target.region, "reason": r.summary}
                for r in results
                if r.state == "unreachable"
            ],
            "failed": [
                {"account": r.target.account, "region": r.target.region, "problem": r.summary}
                for r in results
                if r.state == "failed"
            ],
        },
        "exitCode": code,
    }
    print(json.dumps(document, indent=2, sort_keys=True))
    return code


def run_command(
    program: str,
    args: Any,
    env: Environment,
    work: Work,
    *,
    what: str,
    report: Reporter | None = None,
) -> int:
    """Resolve the targets and run `work` on each; every setup problem exits 2 with one line.

    One stack (or state machine) is a configuration error when it cannot be worked on; without
    `report` it prints as it goes. A StackSet runs every instance (see `run_across`). Then
    `report`, or else `print_results`. The commands read everything they need before they
    write anything.
    """
    try:
        region = check_arguments(args)
        with aws_setup_errors():
            sessions = env.connect(args.profile, region)
            targets = list_targets(sessions, args, region)
            console = env.console or make_console()
            if not is_organization(args):
                (target,) = targets
                try:
                    clients = sessions.clients(target.account, args.role)
                except Unreachable as error:
                    raise ConfigError(str(error)) from error
                if report is None:
                    return work(target, clients, console).code
                # Kept for the report, which prints it (text) or leaves it out (--json).
                kept = buffer_console(console)
                return report([_result(target, work(target, clients, kept), kept)], console)
            results = run_across(
                sessions,
                targets,
                work,
                role=args.role,
                console=console,
                concurrency=args.concurrency,
                description=what,
            )
            if report is not None:
                return report(results, console)
            print_results(results, console, what=what)
            return exit_code(results)
    except ConfigError as error:
        message = str(error)
    except botocore.exceptions.ClientError as error:
        message = f"AWS refused a read: {error_text(error)}"
    # backfill has no --json.
    return fail(program, message, as_json=getattr(args, "json", False))
