"""What every command prints and returns: consoles, progress bars, plans, exit codes."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from backup_events.times import Window

EXIT_OK = 0  # done, or nothing to do
EXIT_FAILED = 1  # something failed, is stuck, needs a person, or could not be reached
EXIT_USAGE = 2  # usage or configuration error; nothing was written

PlanT = TypeVar("PlanT")


@dataclass(frozen=True)
class Outcome(Generic[PlanT]):
    """What happened to one planned item when the plan was applied."""

    plan: PlanT
    ok: bool
    detail: str
    execution_arn: str | None = None


@dataclass
class Report(Generic[PlanT]):
    """A command's plan and, after --apply, its outcomes; the exit code follows from both."""

    target: str
    window: Window
    plans: list[PlanT] = field(default_factory=list)
    outcomes: list[Outcome[PlanT]] = field(default_factory=list)
    applied: bool = False
    # The planned action that needs a person, so the run ends with EXIT_FAILED.
    needs_person: ClassVar[str] = ""

    def count(self, action: str) -> int:
        return sum(1 for p in self.plans if getattr(p, "action", None) == action)

    @property
    def failed(self) -> list[Outcome[PlanT]]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed or self.count(self.needs_person) else EXIT_OK


def make_console() -> Console:
    """stdout for plans and results; wide when piped, so each ARN stays on one line."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=240)
    return console


def buffer_console(like: Console) -> Console:
    """A console that keeps what is printed, as wide as `like`: one target's part of a report."""
    return Console(file=io.StringIO(), width=like.width, color_system=None, highlight=False)


def buffered(console: Console) -> str:
    stream = console.file
    return stream.getvalue() if isinstance(stream, io.StringIO) else ""


@contextmanager
def progress(console: Console, description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal (nothing in a pipe or a log); yields `advance()`."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def fail(program: str, message: str, *, as_json: bool = False) -> int:
    """One line on stderr; with --json also a document on stdout, so a script that parses
    stdout reads why it got nothing (places and totals stay empty: nothing was read)."""
    print(f"{program}: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "exitCode": EXIT_USAGE, "places": [], "totals": {}}))
    return EXIT_USAGE


def add_apply_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--apply",
        action="store_true",
        help="do what the plan says; without it nothing is written (dry run)",
    )
