"""`make bench`: the cost figures in the README, reproduced on this machine.

Figures are ratios and counts that do not depend on the machine's speed, except wall times,
which are reported for what they are:

1. Cold start of each task function as deployed (its single-file code: import, Powertools
   Logger, AWS Backup client), whole Python process, median of N runs, against a baseline
   module that imports boto3, creates the client and uses stdlib logging. Goal: at most 1.3x.
2. Billed state transitions per backup (from execution history) for copies taking 10 min, 1 h
   and 24 h, and the Step Functions cost per 1,000 backups at $0.025 per 1,000 transitions.
   Goals: at most 25 at 1 h, at most 40 at 24 h.
3. One reconciliation of a vault of N recovery points (10,000 by default), all of them copied
   and cut already: its state transitions and the AWS calls it makes, which its daily cost
   follows. (A thousand backups under every fault at once is `make chaos`.)
4. The template's size against CloudFormation's 1 MB TemplateURL limit.

Usage: python -m scripts.bench [--runs 15] [--vault 10000] [--update-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.accounts import BACKUP_ACCOUNT, BACKUP_REGION, MAIN_REGION, RESOURCE_ACCOUNT
from local.stacks import TEMPLATE, Stack, deploy_everywhere, quick_start_parameters
from local.stepfunctions import count_state_transitions
from local.twin import Twin
from scripts.bundle import bundle

ROOT = Path(__file__).resolve().parent.parent
PRICE_PER_TRANSITION = 0.025 / 1000  # USD, us-east-1 (docs/aws-facts.md §C.1)
URL_LIMIT = 1_000_000  # TemplateURL (docs/aws-facts.md §E.2)
VAULT = "BackupEvents-Sample"
TASK_MODULES = {
    "DescribeRecoveryPoint": "tasks.describe_recovery_point",
    "StartCopyJob": "tasks.start_copy_job",
    "DescribeCopyJob": "tasks.describe_copy_job",
    "VerifyCopies": "tasks.verify_copies",
    "CutRetention": "tasks.cut_retention",
    "FindUnfinishedBackups": "tasks.reconcile",
}
BASELINE = (
    "import logging\n"
    "import boto3\n"
    "from botocore.config import Config\n"
    "logger = logging.getLogger()\n"
    "client = boto3.client('backup', region_name='us-east-1', "
    "config=Config(retries={'mode': 'standard'}))\n"
    "logger.info('ready')\n"
)
TASK = "import index\nindex.backup_client('us-east-1')\n"


# -- 1. cold start ----------------------------------------------------------------------------


@dataclass
class ColdStart:
    task: str
    median_seconds: float
    baseline_seconds: float

    @property
    def ratio(self) -> float:
        return self.median_seconds / self.baseline_seconds


def _process_seconds(code: str, cwd: Path) -> float:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_SERVICE_NAME": "backup-events",
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True)
    return time.perf_counter() - started


def cold_starts(runs: int) -> list[ColdStart]:
    """Each task against the baseline, measured alternately so both see the same machine."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, module in TASK_MODULES.items():
            folder = Path(tmp) / name
            folder.mkdir()
            (folder / "index.py").write_text(bundle(module))
            task_times, base_times = [], []
            _process_seconds(TASK, folder)  # warm the file cache once
            for _ in range(runs):
                task_times.append(_process_seconds(TASK, folder))
                base_times.append(_process_seconds(BASELINE, folder))
            results.append(
                ColdStart(name, statistics.median(task_times), statistics.median(base_times))
            )
    return results


# -- 2. transitions ---------------------------------------------------------------------------


@dataclass
class Transitions:
    copy_minutes: int
    transitions: int

    @property
    def cost_per_thousand(self) -> float:
        return self.transitions * 1000 * PRICE_PER_TRANSITION


def _deployed(twin: Twin) -> Stack:
    """The template in the quick start's layout, the reconciliation left to the bench."""
    parameters = quick_start_parameters(ReconcileEveryHours="0")
    stacks = deploy_everywhere(twin, parameters, [(RESOURCE_ACCOUNT, MAIN_REGION)])
    return stacks[(RESOURCE_ACCOUNT, MAIN_REGION)]


def transitions_for(copy_minutes: int) -> Transitions:
    with Twin() as twin:
        stack = _deployed(twin)
        twin.backup.copy_duration = timedelta(minutes=copy_minutes)
        twin.backup.start_backup(
            RESOURCE_ACCOUNT,
            MAIN_REGION,
            VAULT,
            "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-0bench",
            lifecycle={"DeleteAfterDays": 14},
        )
        twin.run_until_quiet()
        workflow = stack.outputs["StateMachineArn"]
        (arn,) = [
            a
            for a in twin.execution_arns()
            if twin.describe_execution(a)["stateMachineArn"] == workflow
        ]
        if twin.describe_execution(arn)["status"] != "SUCCEEDED":
            raise RuntimeError(f"the {copy_minutes}-minute run did not succeed")
        return Transitions(copy_minutes, count_state_transitions(twin.history(arn)))


# -- 3. reconciliation ------------------------------------------------------------------------


@dataclass
class Reconciliation:
    originals: int
    transitions: int
    calls: Counter[str]
    wall_seconds: float

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def reconciliation_of(originals: int) -> Reconciliation:
    """A vault of `originals` recovery points, all copied and cut: what one reconciliation costs.

    The points and their copies are put in place directly (copying 20,000 times would only
    measure copying); the reconciliation itself runs as deployed, and every AWS call made
    while it runs is counted.
    """
    from botocore.client import BaseClient

    with Twin() as twin:
        stack = _deployed(twin)
        created = twin.clock.now() - timedelta(days=3)
        for n in range(originals):
            resource = f"arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-{n:017x}"
            arn = twin.backup.put_recovery_point(
                RESOURCE_ACCOUNT, MAIN_REGION, VAULT, resource,
                lifecycle={"DeleteAfterDays": 8}, created=created,
            )  # fmt: skip
            source = twin.backup.points[arn].vault_arn
            for region in (BACKUP_REGION, MAIN_REGION):
                copy = twin.backup.put_recovery_point(
                    BACKUP_ACCOUNT, region, VAULT, resource,
                    lifecycle={"DeleteAfterDays": 14}, created=created,
                )  # fmt: skip
                twin.backup.points[copy].source_backup_vault_arn = source
        calls: Counter[str] = Counter()
        # Every client call goes through this private method, which botocore's stubs leave out.
        original_call: Callable[[BaseClient, str, dict[str, Any]], dict[str, Any]]
        original_call = BaseClient._make_api_call  # type: ignore[attr-defined]

        def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> dict[str, Any]:
            calls[f"{self.meta.service_model.service_name} {operation}"] += 1
            return original_call(self, operation, params)

        sfn = twin.client("stepfunctions", RESOURCE_ACCOUNT, MAIN_REGION)
        started = time.perf_counter()
        arn = sfn.start_execution(stateMachineArn=stack.outputs["ReconcileStateMachineArn"])[
            "executionArn"
        ]
        BaseClient._make_api_call = counted  # type: ignore[attr-defined]
        try:
            twin.run_until_quiet(timeout=1800)
        finally:
            BaseClient._make_api_call = original_call  # type: ignore[attr-defined]
        wall = time.perf_counter() - started
        described = twin.describe_execution(arn)
        if described["status"] != "SUCCEEDED":
            raise RuntimeError(f"the reconciliation failed: {described.get('cause')}")
        done = json.loads(described["output"])["Counts"]["Done"]
        if done != originals:
            raise RuntimeError(f"{done} of {originals} recovery points judged finished")
        return Reconciliation(originals, count_state_transitions(twin.history(arn)), calls, wall)


# -- report -----------------------------------------------------------------------------------


def report(
    cold: list[ColdStart],
    transitions: list[Transitions],
    reconciliation: Reconciliation,
    template_bytes: int,
) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        f"Measured {date} with `make bench` ({os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}).",
        "",
        "| Figure | Value | Goal |",
        "|---|---|---|",
    ]
    for row in cold:
        lines.append(
            f"| Cold start, {row.task} (median process, vs boto3 + logging baseline) | "
            f"{row.median_seconds * 1000:.0f} ms vs {row.baseline_seconds * 1000:.0f} ms = "
            f"{row.ratio:.2f}x | at most 1.3x |"
        )
    goals = {60: "at most 25", 1440: "at most 40"}
    for run in transitions:
        lines.append(
            f"| State transitions per backup, copies of {run.copy_minutes} min | "
            f"{run.transitions} (${run.cost_per_thousand:.2f} per 1,000 backups) | "
            f"{goals.get(run.copy_minutes, 'none')} |"
        )
    by_call = ", ".join(f"{n} {call}" for call, n in sorted(reconciliation.calls.items()))
    lines += [
        f"| One reconciliation of a vault of {reconciliation.originals:,} recovery points, "
        f"all finished | {reconciliation.transitions} transitions; "
        f"{reconciliation.total_calls} AWS calls ({by_call}); "
        f"{reconciliation.wall_seconds:.0f} s here | tens of calls, not one per backup |",
        f"| Template size | {template_bytes:,} bytes ({template_bytes / URL_LIMIT:.0%} of the "
        "1 MB TemplateURL limit; deployed from S3) | under 1 MB |",
    ]
    return "\n".join(lines)


START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(table: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} section to update")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{START}\n{table}\n{END}{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="cold start runs per task")
    parser.add_argument("--vault", type=int, default=10_000, help="recovery points reconciled")
    parser.add_argument("--update-readme", action="store_true", help="write the table to README")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    print("cold starts...", file=sys.stderr)
    cold = cold_starts(args.runs)
    print("state transitions...", file=sys.stderr)
    transitions = [transitions_for(minutes) for minutes in (10, 60, 1440)]
    print(f"a reconciliation of {args.vault:,} recovery points...", file=sys.stderr)
    reconciliation = reconciliation_of(args.vault)
    table = report(cold, transitions, reconciliation, len(TEMPLATE.read_bytes()))
    print(table)
    if args.update_readme:
        update_readme(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
