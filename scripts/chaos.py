"""`make chaos`: a thousand backups, every fault at once, and nobody at the keyboard.

Backup Events is deployed from its template into the twin (two resource accounts, three
Regions, one of them the backup Region) with the daily reconciliation on. Backups of seven
resource types, with mixed retentions and about 15 % made by plans with their own copy rules,
complete over two days while AWS and people misbehave, each fault drawn independently:
AWS Backup calls throttled and answered 5xx; Lambda throttled, failing, timing out after its
side effects or crashing; copy jobs failing, slower than the wait limit or held for days;
events lost, doubled, late and reordered; originals deleted or re-timed by someone.

No operator acts. After enough virtual days every backup's end state is judged from the
twin's own records, and the run fails unless:
- no backup is silently lost: each one is copied twice (and cut when due), deleted by a
  person or by its own retention, or reported to the error queue with its recovery point;
- no cut left a copy that expires before the original would have without the cut;
- no copy job duplicates another.

Usage: python -m scripts.chaos [--backups 1000] [--days 12] [--seed 12] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from local.accounts import (
    BACKUP_ACCOUNT,
    BACKUP_REGION,
    MAIN_REGION,
    OTHER_REGION,
    RESOURCE_ACCOUNT,
    SECOND_RESOURCE_ACCOUNT,
    current_principal,
)
from local.backup import CopyAction, PlanInfo, RecoveryPoint
from local.stacks import deploy_everywhere, quick_start_parameters
from local.stepfunctions import count_state_transitions
from local.twin import Twin
from tasks.retention import RecoveryPoint as TaskRecoveryPoint
from tasks.retention import copies_outlive, decide_retention_cut

DAY = timedelta(days=1)
RESOURCES = {
    "EFS": "arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-{n:017x}",
    "EBS": "arn:aws:ec2:{region}:{account}:volume/vol-{n:017x}",
    "EC2": "arn:aws:ec2:{region}:{account}:instance/i-{n:017x}",
    "RDS": "arn:aws:rds:{region}:{account}:db:orders-{n}",
    "Aurora": "arn:aws:rds:{region}:{account}:cluster:ledger-{n}",
    "DynamoDB": "arn:aws:dynamodb:{region}:{account}:table/events-{n}",
    "S3": "arn:aws:s3:::bucket-{region}-{n}",
}
LIFECYCLES: list[dict[str, int] | None] = [
    {"DeleteAfterDays": 5},
    {"DeleteAfterDays": 14},
    {"DeleteAfterDays": 35},
    {"DeleteAfterDays": 100},
    {"DeleteAfterDays": 150, "MoveToColdStorageAfterDays": 30},
    None,  # never expires
]


@dataclass(frozen=True)
class Faults:
    """The fractions of the fault run (issue 12's list); each is drawn independently."""

    backup_throttled: float = 0.30
    backup_5xx: float = 0.02
    lambda_throttled: float = 0.03
    lambda_service_errors: float = 0.01
    timeouts_after_side_effects: float = 0.01
    crashes: float = 0.003
    copies_failed: float = 0.05
    copies_slower_than_the_limit: float = 0.03
    copies_held_for_days: float = 0.02
    events_lost: float = 0.05
    events_duplicated: float = 0.05
    events_late: float = 0.05
    events_reordered: float = 0.05
    originals_deleted: float = 0.03
    originals_retimed: float = 0.05
    plan_backups: float = 0.15


@dataclass
class Backup:
    number: int
    account: str
    region: str
    resource_type: str
    lifecycle: dict[str, int] | None
    plan: bool
    job_id: str | None = None
    point_arn: str | None = None
    end: str = ""
    detail: str = ""


@dataclass
class Result:
    backups: list[Backup]
    unsafe_cuts: list[str]
    duplicate_copy_jobs: int
    transitions: list[int]
    lambda_runs: list[int]
    wall_seconds: float
    peak_memory_mib: float
    faults_seen: Counter[str] = field(default_factory=Counter)

    @property
    def ends(self) -> Counter[str]:
        return Counter(b.end for b in self.backups)

    @property
    def silently_lost(self) -> list[Backup]:
        return [b for b in self.backups if b.end == LOST]

    @property
    def passed(self) -> bool:
        return not self.silently_lost and not self.unsafe_cuts and not self.duplicate_copy_jobs


FINISHED = "copied twice and cut"
KEPT = "copied twice, retention kept (already short, off, or lengthened after the cut)"
REPORTED = "not finished, reported to the error queue"
DELETED = "deleted by someone"
EXPIRED = "expired by its own retention"
LOST = "not finished and not reported (silently lost)"


def _percentiles(values: list[int]) -> tuple[float, float, int]:
    if not values:
        return 0.0, 0.0, 0
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), float(p95), ordered[-1]


class CutWatch:
    """Checks every cut as it happens: the copies must outlive the original as it was.

    Wraps the twin's UpdateRecoveryPointLifecycle; when the caller is the workflow's cut
    role, it reads the original's deletion date just before the write and every copy's, in
    the twin's own records (not the workflow's).
    """

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.unsafe: list[str] = []
        self.cut: set[str] = set()
        api = twin.backup.api
        original = api.api_update_recovery_point_lifecycle

        def update(account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
            if "CutRetentionRole" in (current_principal() or ""):
                self.check(p["RecoveryPointArn"])
            return original(account, region, p)

        api.api_update_recovery_point_lifecycle = update  # type: ignore[method-assign]

    def check(self, arn: str) -> None:
        self.cut.add(arn)
        point = self.twin.backup.points[arn]
        before = point.delete_at()
        longest = point.creation_date + 36500 * DAY
        needed = longest if before is None else min(before, longest)
        copies = copies_of(self.twin, point)
        regions = {c.region for c in copies}
        if len(regions) < 2:
            self.unsafe.append(f"{arn}: cut with copies in {sorted(regions)} only")
        for copy in copies:
            days = copy.lifecycle.get("DeleteAfterDays")
            if days is None or days < 0:
                # "Always" or no day count: the source's expiry, which the cut just moved
                # (docs/aws-facts.md §B.1); the twin keeps such a copy, AWS may not.
                self.unsafe.append(f"{arn}: copy {copy.arn} has no retention of its own")
                continue
            expires = copy.delete_at()
            if expires is not None and expires < needed:
                self.unsafe.append(f"{arn}: copy {copy.arn} expires {expires}, before {needed}")


def copies_of(twin: Twin, point: RecoveryPoint, *, ever: bool = False) -> list[RecoveryPoint]:
    """The original's copies that exist now (or, with `ever`, that ever existed)."""
    return [
        p
        for p in twin.backup.points.values()
        if p.source_backup_vault_arn == point.vault_arn
        and p.creation_date == point.creation_date
        and p.resource_arn == point.resource_arn
        and (ever or not p.deleted)
    ]


def plan_backups(count: int, faults: Faults, rng: random.Random) -> list[Backup]:
    places = [(a, r) for a in (RESOURCE_ACCOUNT, SECOND_RESOURCE_ACCOUNT) for r in REGIONS]
    return [
        Backup(
            number=n,
            account=places[n % len(places)][0],
            region=places[n % len(places)][1],
            resource_type=list(RESOURCES)[n % len(RESOURCES)],
            lifecycle=rng.choice(LIFECYCLES),
            plan=rng.random() < faults.plan_backups,
        )
        for n in range(count)
    ]


REGIONS = (MAIN_REGION, BACKUP_REGION, OTHER_REGION)


def _inject(twin: Twin, faults: Faults, seed: int) -> None:
    twin.backup.throttle(faults.backup_throttled, seed=seed)
    twin.backup.server_errors(faults.backup_5xx, seed=seed + 1)
    twin.lambdas.throttle(faults.lambda_throttled, seed=seed + 2)
    twin.lambdas.inject(
        "Lambda.ServiceException", fraction=faults.lambda_service_errors, seed=seed + 3
    )
    twin.lambdas.inject(
        "Sandbox.Timedout", fraction=faults.timeouts_after_side_effects, seed=seed + 4
    )
    twin.lambdas.inject("Runtime.ExitError", fraction=faults.crashes / 2, seed=seed + 5)
    twin.lambdas.inject("Runtime.ExitError", fraction=faults.crashes / 2, after=True, seed=seed + 6)
    rng = random.Random(seed + 7)

    def shape(kind: str) -> Callable[[Any], bool]:
        def chosen(job: Any) -> bool:
            draw = job.__dict__.setdefault("_chaos_draw", rng.random())
            low, high = {
                "fail": (0.0, faults.copies_failed),
                "slow": (
                    faults.copies_failed,
                    faults.copies_failed + faults.copies_slower_than_the_limit,
                ),
                "held": (
                    faults.copies_failed + faults.copies_slower_than_the_limit,
                    faults.copies_failed
                    + faults.copies_slower_than_the_limit
                    + faults.copies_held_for_days,
                ),
            }[kind]
            return bool(low <= draw < high)

        return chosen

    twin.backup.on_copy(shape("fail"), fail="The copy job failed: internal error (chaos)")
    # Longer than CopyWaitLimitHours (72 h): the execution times out and is redriven.
    twin.backup.on_copy(shape("slow"), duration=timedelta(hours=80))
    # Held in CREATED for days (AWS's retry phase and its engineers), then done.
    twin.backup.on_copy(shape("held"), duration=timedelta(days=3))
    twin.router.disturb(
        drop=faults.events_lost,
        duplicate=faults.events_duplicated,
        late=faults.events_late,
        reorder=faults.events_reordered,
        late_by=(timedelta(hours=1), timedelta(hours=8)),
        only=lambda e: e.get("source") == "aws.backup",
        seed=seed + 8,
    )


def _start(twin: Twin, backup: Backup, vault: str, destinations: list[str]) -> None:
    resource = RESOURCES[backup.resource_type].format(
        region=backup.region, account=backup.account, n=backup.number
    )
    kwargs: dict[str, Any] = {}
    if backup.plan:
        kwargs["plan"] = PlanInfo()
        kwargs["copy_actions"] = [CopyAction(d, backup.lifecycle) for d in destinations]
    backup.job_id = twin.backup.start_backup(
        backup.account, backup.region, vault, resource, lifecycle=backup.lifecycle, **kwargs
    )


def run(
    backups: int = 1000,
    days: int = 12,
    seed: int = 12,
    faults: Faults = Faults(),
    progress: Callable[[str], None] = lambda _: None,
    **overrides: str,
) -> Result:
    """Deploy the quick start (with `overrides` of its parameters) and run the backups."""
    started = time.perf_counter()
    rng = random.Random(seed)
    plan = plan_backups(backups, faults, rng)
    with Twin() as twin:
        parameters = quick_start_parameters(**overrides)
        places = sorted({(b.account, b.region) for b in plan})
        deploy_everywhere(twin, parameters, places)
        progress(
            f"deployed: backup account in {len(REGIONS)} Regions, {len(places)} resource placements"
        )
        watch = CutWatch(twin)
        vault = "BackupEvents-Sample"
        twin.backup.copy_duration = timedelta(minutes=45)
        twin.backup.backup_duration = timedelta(minutes=20)
        _inject(twin, faults, seed)
        begin = twin.clock.now()
        for backup in plan:
            first = BACKUP_REGION if backup.region != BACKUP_REGION else MAIN_REGION
            destinations = [
                f"arn:aws:backup:{r}:{BACKUP_ACCOUNT}:backup-vault:{vault}"
                for r in (first, backup.region)
            ]
            when = begin + timedelta(seconds=rng.uniform(0, 2 * 86400))
            twin.clock.call_at(when, partial(_start, twin, backup, vault, destinations))
        # People: some originals deleted, some re-timed, at random moments while all this runs.
        people_rng = random.Random(seed + 20)

        def meddle(backup: Backup) -> None:
            arn = twin.backup.jobs[backup.job_id].recovery_point_arn if backup.job_id else None
            if arn is None:
                return
            draw = people_rng.random()
            if draw < faults.originals_deleted:
                twin.backup.someone_deletes(arn)
            elif draw < faults.originals_deleted + faults.originals_retimed:
                twin.backup.someone_changes_lifecycle(
                    arn, {"DeleteAfterDays": people_rng.choice([3, 10, 21, 60, 200])}
                )

        for backup in plan:
            when = begin + timedelta(seconds=people_rng.uniform(3 * 3600, 4 * 86400))
            twin.clock.call_at(when, partial(meddle, backup))
        _let_time_pass(twin, begin + days * DAY, progress)
        twin.router.calm()
        twin.run_until_quiet(limit=timedelta(days=2), timeout=3600)
        # The faults were for the workflow; the judge reads AWS as it now is.
        twin.backup.faults.clear()
        result = _judge(twin, plan, watch, parameters)
    result.wall_seconds = time.perf_counter() - started
    result.peak_memory_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _let_time_pass(twin: Twin, end: datetime, progress: Callable[[str], None]) -> None:
    """Run the twin until `end`, each execution on its own schedule.

    Executions move the clock themselves while they wait (run_until_quiet). Only when all is
    quiet does time jump, an hour at a time, so that a schedule (the daily reconciliation)
    starts its execution at its own hour and not at the end of a long jump.
    """
    day = -1
    while (now := twin.clock.now()) < end:
        twin.run_until_quiet(limit=min(end - now, timedelta(hours=6)), timeout=3600)
        twin.clock.advance(min(3600.0, (end - twin.clock.now()).total_seconds()))
        elapsed = twin.clock.now().toordinal()
        if elapsed != day:
            day = elapsed
            progress(f"{twin.clock.now():%Y-%m-%d %H:%M}: {len(twin.execution_arns())} executions")


def _reported(twin: Twin, place_stacks: dict[tuple[str, str], Any]) -> dict[str, list[str]]:
    """Recovery point → what the error queues say about it (read, not consumed)."""
    found: dict[str, list[str]] = defaultdict(list)
    for (account, region), stack in place_stacks.items():
        url = stack.get("ErrorQueueUrl")
        if not url:
            continue
        sqs = twin.client("sqs", account, region)
        seen: set[str] = set()
        while True:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=3600
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                if message["MessageId"] in seen:
                    continue
                seen.add(message["MessageId"])
                body = json.loads(message["Body"])
                for arn, why in _named_in(body):
                    found[arn].append(why)
    return found


def _named_in(body: dict[str, Any]) -> list[tuple[str, str]]:
    if body.get("source") == "backup-events.reconciliation":
        return [(body["recoveryPointArn"], body.get("problem", ""))]
    detail = body.get("detail") or {}
    if body.get("source") == "aws.states":
        try:
            event = json.loads(detail.get("input") or "{}")
        except ValueError:
            return []
        resources = event.get("resources") or []
        return [(resources[0], f"execution {detail.get('status')}")] if resources else []
    if body.get("source") == "aws.backup":
        resources = body.get("resources") or []
        return [(r, f"{body.get('detail-type')} {detail.get('state')}") for r in resources]
    return []


def _judge(twin: Twin, plan: list[Backup], watch: CutWatch, parameters: dict[str, str]) -> Result:
    stacks: dict[tuple[str, str], dict[str, str]] = {}
    for account, region in {(b.account, b.region) for b in plan}:
        cfn = twin.client("cloudformation", account, region)
        outputs = cfn.describe_stacks(StackName="BackupEvents")["Stacks"][0].get("Outputs", [])
        stacks[(account, region)] = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    reported = _reported(twin, stacks)
    deleted_by_people = {
        i.point_arn for i in twin.backup.interventions if i.action == "delete" and not i.error
    }
    now = twin.clock.now()
    days = int(parameters.get("NewDeleteAfterDays", 7))
    for backup in plan:
        job = twin.backup.jobs.get(backup.job_id or "")
        backup.point_arn = job.recovery_point_arn if job else None
        if backup.point_arn is None:
            backup.end = REPORTED if job and job.state == "FAILED" else LOST
            backup.detail = "the backup job itself did not complete"
            continue
        point = twin.backup.points[backup.point_arn]
        why = "; ".join(reported.get(backup.point_arn, []))[:200]
        if backup.point_arn in deleted_by_people:
            backup.end = DELETED
        elif len({c.region for c in copies_of(twin, point, ever=True)}) == 2:
            if backup.point_arn in watch.cut:
                backup.end = FINISHED
            elif not point.deleted and _cut_due(twin, point, days, now):
                backup.end, backup.detail = (REPORTED, why) if why else (LOST, "cut due")
            else:
                backup.end = KEPT
        elif why:
            backup.end, backup.detail = REPORTED, why
        elif point.deleted:
            # Gone by its own retention without both copies: a loss unless someone was told.
            backup.end, backup.detail = LOST, "expired without both copies, unreported"
        else:
            backup.end, backup.detail = LOST, "no two copies, unreported"
    copy_jobs = Counter(
        (j.source_recovery_point_arn, j.destination_vault_arn)
        for j in twin.backup.jobs.values()
        if j.kind == "copy" and j.state != "FAILED"
    )
    by_point: dict[str, list[str]] = defaultdict(list)
    for arn in twin.execution_arns():
        described = twin.describe_execution(arn)
        try:
            resources = json.loads(described.get("input") or "{}").get("resources") or []
        except ValueError:
            resources = []
        if resources:
            by_point[resources[0]].append(arn)
    transitions = [
        sum(count_state_transitions(twin.history(a)) for a in by_point.get(b.point_arn or "", []))
        for b in plan
        if b.point_arn
    ]
    runs: Counter[str] = Counter()
    for invocation in twin.lambdas.invocations:
        event = invocation.event if isinstance(invocation.event, dict) else {}
        arn = (
            event.get("RecoveryPointArn")
            or ((event.get("Event") or {}).get("resources") or [None])[0]
        )
        if arn:
            runs[arn] += 1
    seen: Counter[str] = Counter(c.error for c in twin.backup.calls if c.error)
    seen.update(i.error_type for i in twin.lambdas.invocations if i.error_type)
    return Result(
        backups=plan,
        unsafe_cuts=watch.unsafe,
        duplicate_copy_jobs=sum(n - 1 for n in copy_jobs.values()),
        transitions=transitions,
        lambda_runs=[runs.get(b.point_arn or "", 0) for b in plan if b.point_arn],
        wall_seconds=0.0,
        peak_memory_mib=0.0,
        faults_seen=seen,
    )


def _cut_due(twin: Twin, point: RecoveryPoint, days: int, now: datetime) -> bool:
    """Would the workflow's own rules cut this original now, its copies being what they are?"""
    client = twin.client("backup", point.account, point.region)
    described = client.describe_recovery_point(
        BackupVaultName=point.vault_name, RecoveryPointArn=point.arn
    )
    original = TaskRecoveryPoint.from_api(described)
    if decide_retention_cut(original, days, now).action != "update":
        return False
    copies = {}
    for copy in copies_of(twin, point):
        answer = twin.client("backup", copy.account, copy.region).describe_recovery_point(
            BackupVaultName=copy.vault_name, RecoveryPointArn=copy.arn
        )
        copies[copy.arn] = TaskRecoveryPoint.from_api(answer)
    return copies_outlive(original, copies).safe


def table(result: Result) -> str:
    t_med, t_p95, t_max = _percentiles(result.transitions)
    l_med, l_p95, l_max = _percentiles(result.lambda_runs)
    rows = [("End state", "Backups")]
    for end in (FINISHED, KEPT, DELETED, EXPIRED, REPORTED, LOST):
        rows.append((end, str(result.ends.get(end, 0))))
    rows += [
        ("Cuts that left a copy expiring before the original", str(len(result.unsafe_cuts))),
        ("Duplicate copy jobs", str(result.duplicate_copy_jobs)),
        ("State transitions per backup (median, p95, max)", f"{t_med:g}, {t_p95:g}, {t_max}"),
        ("Lambda runs per backup (median, p95, max)", f"{l_med:g}, {l_p95:g}, {l_max}"),
        (
            "Wall time, peak memory",
            f"{result.wall_seconds:.0f} s, {result.peak_memory_mib:.0f} MiB",
        ),
    ]
    lines = [f"| {rows[0][0]} | {rows[0][1]} |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows[1:]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backups", type=int, default=1000)
    parser.add_argument("--days", type=int, default=12)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    # The tasks' JSON log lines (a few hundred thousand of them) are not the point here.
    quiet, shown = open(os.devnull, "w"), sys.stdout  # noqa: SIM115
    sys.stdout = quiet
    try:
        result = run(
            args.backups,
            args.days,
            args.seed,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    finally:
        sys.stdout = shown
        quiet.close()
    print(table(result))
    for backup in result.silently_lost[:20]:
        print(
            f"LOST: {backup.point_arn} ({backup.resource_type} in {backup.account}/{backup.region})"
        )
    for problem in result.unsafe_cuts[:20]:
        print(f"UNSAFE CUT: {problem}")
    print("faults seen:", dict(result.faults_seen.most_common(12)))
    print("PASSED" if result.passed else "FAILED")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
