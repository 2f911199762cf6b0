"""`make bench`: the cost and reliability figures in the README, reproduced on this machine.

Figures are ratios and counts that do not depend on the machine's speed, except the burst's
wall time and memory, which are reported for what they are:

1. Cold start of each task function as deployed (its generated single-file code: import,
   Powertools Logger, AWS Backup client), whole Python process, median of N runs, against a
   baseline module that imports boto3, creates the client and uses stdlib logging, as the
   original product does. Goal: at most 1.3x.
2. Billed state transitions per backup (from execution history) for copies taking 10 min, 1 h
   and 24 h, and the Step Functions cost per 1,000 backups at $0.025 per 1,000 transitions.
   Goals: at most 25 at 1 h, at most 40 at 24 h.
3. A burst: N on-demand backups completing at once in one account and region, a fraction of
   AWS Backup calls throttled, AWS's one-job-per-resource and copy concurrency quotas in force:
   the share that ends with two verified copies and a cut original, duplicate copy jobs (goal
   0), wall time and peak memory.
4. The template's size against CloudFormation's 51,200-byte TemplateBody limit.

Usage: bench.py [--runs 15] [--burst 1000] [--throttle 0.3] [--update-readme]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bundle import bundle  # noqa: E402

from local.accounts import MAIN_REGION, RESOURCE_ACCOUNT  # noqa: E402
from local.stepfunctions import count_state_transitions  # noqa: E402
from local.twin import Twin  # noqa: E402
from local.workflow import TASK_MODULES, Settings, create_vaults, deploy_workflow  # noqa: E402

PRICE_PER_TRANSITION = 0.025 / 1000  # USD, us-east-1 (aws-facts.md §C.1)
TEMPLATE = ROOT / "infrastructure" / "backup_events_aws.yaml"
BODY_LIMIT = 51_200
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


def transitions_for(copy_minutes: int) -> Transitions:
    with Twin() as twin:
        settings = Settings()
        create_vaults(twin, settings, resource_regions=(MAIN_REGION,))
        deploy_workflow(twin, settings)
        twin.backup.copy_duration = timedelta(minutes=copy_minutes)
        twin.backup.start_backup(
            RESOURCE_ACCOUNT,
            MAIN_REGION,
            settings.vault_name,
            "arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-0bench",
            lifecycle={"DeleteAfterDays": 14},
        )
        twin.run_until_quiet()
        (arn,) = twin.execution_arns()
        if twin.describe_execution(arn)["status"] != "SUCCEEDED":
            raise RuntimeError(f"the {copy_minutes}-minute run did not succeed")
        return Transitions(copy_minutes, count_state_transitions(twin.history(arn)))


# -- 3. burst ---------------------------------------------------------------------------------


@dataclass
class Burst:
    backups: int
    throttled_fraction: float
    completed: int
    duplicate_copy_jobs: int
    throttled_calls: int
    wall_seconds: float
    peak_memory_mib: float
    virtual_hours: float
    max_transitions: int

    @property
    def share(self) -> float:
        return self.completed / self.backups


def burst(backups: int, throttle: float, seed: int = 30) -> Burst:
    started = time.perf_counter()
    with Twin() as twin:
        settings = Settings()
        create_vaults(twin, settings, resource_regions=(MAIN_REGION,))
        deploy_workflow(twin, settings)
        twin.backup.copy_duration = timedelta(hours=1)
        twin.backup.backup_duration = timedelta(minutes=10)
        # Every backup job starts at the same moment, so all complete at once.
        for n in range(backups):
            twin.backup.start_backup(
                RESOURCE_ACCOUNT,
                MAIN_REGION,
                settings.vault_name,
                f"arn:aws:elasticfilesystem:us-east-1:000022224444:file-system/fs-{n:017x}",
                lifecycle={"DeleteAfterDays": 14},
            )
        twin.backup.throttle(throttle, seed=seed)
        begin = twin.clock.now()
        twin.run_until_quiet(timeout=900)
        originals = [p for p in twin.backup.points.values() if p.source_backup_vault_arn is None]
        copies_per_destination = Counter(
            (j.source_recovery_point_arn, j.destination_vault_arn)
            for j in twin.backup.jobs.values()
            if j.kind == "copy" and j.state != "FAILED"
        )
        completed = 0
        for point in originals:
            done = [
                j
                for j in twin.backup.jobs.values()
                if j.kind == "copy"
                and j.source_recovery_point_arn == point.arn
                and j.state == "COMPLETED"
            ]
            cut = point.lifecycle.get("DeleteAfterDays") == settings.new_delete_after_days + 1
            if len({j.destination_vault_arn for j in done}) == 2 and cut:
                completed += 1
        transitions = [count_state_transitions(twin.history(a)) for a in twin.execution_arns()]
        return Burst(
            backups=backups,
            throttled_fraction=throttle,
            completed=completed,
            duplicate_copy_jobs=sum(n - 1 for n in copies_per_destination.values()),
            throttled_calls=sum(
                1
                for c in twin.backup.calls
                if c.error in {"ThrottlingException", "LimitExceededException"}
            ),
            wall_seconds=time.perf_counter() - started,
            peak_memory_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            virtual_hours=(twin.clock.now() - begin).total_seconds() / 3600,
            max_transitions=max(transitions, default=0),
        )


# -- report -----------------------------------------------------------------------------------


def report(
    cold: list[ColdStart], transitions: list[Transitions], result: Burst, template_bytes: int
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
    for row in transitions:
        lines.append(
            f"| State transitions per backup, copies of {row.copy_minutes} min | "
            f"{row.transitions} (${row.cost_per_thousand:.2f} per 1,000 backups) | "
            f"{goals.get(row.copy_minutes, 'none')} |"
        )
    lines += [
        f"| Burst: {result.backups} backups at once, {result.throttled_fraction:.0%} of Backup "
        f"calls throttled ({result.throttled_calls:,} refused) | {result.share:.1%} copied "
        f"twice and cut, {result.duplicate_copy_jobs} duplicate copy jobs, at most "
        f"{result.max_transitions} transitions per backup, {result.virtual_hours:.1f} h of "
        f"virtual time | 100%, 0 duplicates |",
        f"| Burst: local wall time and peak memory | {result.wall_seconds:.0f} s, "
        f"{result.peak_memory_mib:.0f} MiB | (machine-dependent) |",
        f"| Template size | {template_bytes:,} bytes ({template_bytes / BODY_LIMIT:.1f}x the "
        f"{BODY_LIMIT:,}-byte TemplateBody limit: deploy from S3) | at most 51,200 |",
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
    parser.add_argument("--burst", type=int, default=1000, help="backups in the burst")
    parser.add_argument("--throttle", type=float, default=0.3, help="share of calls throttled")
    parser.add_argument("--update-readme", action="store_true", help="write the table to README")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # refused writes warn by the thousand
    print("cold starts...", file=sys.stderr)
    cold = cold_starts(args.runs)
    print("state transitions...", file=sys.stderr)
    transitions = [transitions_for(minutes) for minutes in (10, 60, 1440)]
    print(f"burst of {args.burst}...", file=sys.stderr)
    result = burst(args.burst, args.throttle)
    table = report(cold, transitions, result, len(TEMPLATE.read_bytes()))
    print(table)
    if args.update_readme:
        update_readme(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
