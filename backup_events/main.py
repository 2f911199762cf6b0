"""`backup-events`: the operator command and its subcommands.

    backup-events deploy stack|stackset ...   deploy the template (dry run unless --apply)
    backup-events rerun ...                   re-run failed executions (dry run unless --apply)
    backup-events backfill ...                start executions for unfinished backups (idem)
    backup-events status ...                  what is finished, failed or stuck (read-only)
    backup-events preflight ...               what would make copies fail (read-only)

Each subcommand is one module of this package with `configure(parser)` and `run(args, env)`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from types import ModuleType

from backup_events import __version__, backfill, deploy, preflight, rerun, status
from backup_events.sessions import Environment

PROGRAM = "backup-events"
COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "deploy": (deploy, "deploy the template as a stack or a StackSet"),
    "rerun": (rerun, "re-run failed executions: redrive, or start anew"),
    "backfill": (backfill, "start executions for backups the workflow never finished"),
    "status": (status, "executions, stuck backups, error queues and alarms, everywhere"),
    "preflight": (preflight, "what would make copies fail, checked before they do"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Operate Backup Events: deploy it, re-run and catch up on its executions, "
        "in one account and Region or across a whole StackSet.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=summary,
            description=getattr(module, "DESCRIPTION", summary),
            epilog=getattr(module, "EPILOG", None),
            prog=f"{PROGRAM} {name}",
        )
        module.configure(sub)
        run: Callable[[argparse.Namespace, Environment], int] = module.run
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args, env or Environment())
    return code
