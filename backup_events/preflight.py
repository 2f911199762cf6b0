"""backup-events preflight: what a copy needs, checked before the first backup fails.

    backup-events preflight --stack-name BackupEvents --region us-east-1
    backup-events preflight --stack-set BackupEvents --region us-east-1 [--json]

Most copy failures are configuration found days later in a failed copy job. For each account
and Region of a stack or StackSet this reads (never writes) what AWS Backup needs to copy the
watched vault's backups to the backup account, and says what to fix:

- cross-account backup enabled for the organization (DescribeGlobalSettings);
- the copy role (the stack's CopyRoleName) present and trusted by backup.amazonaws.com;
- both destination vaults present in the backup account, with access policies that let this
  organization's accounts copy into them (read through --role in the backup account);
- each resource type backed up here opted in, here and in both destination Regions
  (DescribeRegionSettings);
- recent recovery points not encrypted with an AWS managed key (aws/ebs, aws/rds): AWS Backup
  cannot copy those to another account, ever (KMS DescribeKey, KeyManager AWS).

Exit codes: 0 a copy would succeed as far as these checks see; 1 something would make copies
fail, or an account could not be reached; 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import botocore.exceptions
from rich.console import Console
from rich.table import Table

from backup_events.aws import ClientFactory, ConfigError, aware, error_code, error_text, pages
from backup_events.fleet import Finding, Result, add_json_argument, print_json, run_command, summed
from backup_events.output import EXIT_FAILED, EXIT_OK, fail
from backup_events.sessions import Environment, Sessions, Unreachable
from backup_events.survey import settings_from_stack
from backup_events.targets import StateMachine, Target, add_target_arguments, resolve_state_machine
from backup_events.times import parse_window

PROGRAM = "backup-events preflight"
BACKUP_SERVICE = "backup.amazonaws.com"
COPY_ACTION = "backup:CopyIntoBackupVault"
RECENT_POINTS = 50  # recovery points whose keys are checked, the newest first
# error: a copy would fail; warning: this check cannot tell; ok: as a copy needs it.
Severity = Literal["error", "warning", "ok"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "ok")


@dataclass(frozen=True)
class Check:
    severity: Severity
    resource: str
    problem: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        # The names of the printed table's columns.
        return {
            "severity": self.severity,
            "resource": self.resource,
            "finding": self.problem,
            "fix": self.fix or None,
        }


# -- pure checks ----------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _document(policy: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if policy is None:
        return {}
    if isinstance(policy, str):
        loaded = json.loads(policy)
        return loaded if isinstance(loaded, dict) else {}
    return dict(policy)


def _action_matches(patterns: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))


def trusts_backup(trust_policy: str | Mapping[str, Any] | None) -> bool:
    """Does the role's trust policy let AWS Backup assume it?"""
    for statement in _as_list(_document(trust_policy).get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal") or {}
        services = _as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if BACKUP_SERVICE in services and _action_matches(
            statement.get("Action", []), "sts:AssumeRole"
        ):
            return True
    return False


def _principal_admits(principal: Any, account: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        for entry in _as_list(principal.get("AWS", [])):
            text = str(entry)
            if text in {"*", account} or text.split(":")[4:5] == [account]:
                return True
    return False


# Condition keys this check can judge for a copy from `account` of organization `org`.
def _condition(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool | None:
    """True/False when the condition holds or not; None when this check cannot judge it."""
    actual = context.get(key.lower())
    if actual is None:
        return None
    base = operator.split(":")[-1].replace("Arn", "String").replace("IgnoreCase", "")
    values = [str(v) for v in _as_list(expected)]
    if base == "StringEquals":
        return actual in values
    if base == "StringLike":
        return any(fnmatch.fnmatchcase(actual, v) for v in values)
    if base == "StringNotEquals":
        return actual not in values
    if base == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, v) for v in values)
    return None


def vault_admits(
    policy: str | Mapping[str, Any] | None, *, organization: str, account: str, copy_role: str
) -> tuple[bool | None, str]:
    """Would the vault's access policy let `copy_role` of `account` (in `organization`) copy in?

    (True, why), (False, why), or (None, why) when a condition is beyond this check. Deny wins.
    """
    context = {
        "aws:principalorgid": organization,
        "aws:principalaccount": account,
        "aws:principalarn": copy_role,
    }
    allowed: bool | None = False
    unknown = ""
    for statement in _as_list(_document(policy).get("Statement", [])):
        if not _action_matches(statement.get("Action", []), COPY_ACTION):
            continue
        if not _principal_admits(statement.get("Principal"), account):
            continue
        verdicts = [
            _condition(operator, key, expected, context)
            for operator, tests in (statement.get("Condition") or {}).items()
            for key, expected in tests.items()
        ]
        if False in verdicts:
            continue
        if None in verdicts:
            sid = statement.get("Sid") or "(no Sid)"
            unknown = f"statement {sid} has a condition this check cannot judge"
            if statement.get("Effect") == "Allow" and allowed is False:
                allowed = None
            continue
        if statement.get("Effect") == "Deny":
            return False, f"statement {statement.get('Sid') or '(no Sid)'} denies {COPY_ACTION}"
        allowed = True
    if allowed is True:
        return True, f"{COPY_ACTION} allowed for {organization}"
    if allowed is None:
        return None, unknown
    return False, f"no statement allows {COPY_ACTION} to account {account} of {organization}"


def opted_out(region_settings: Mapping[str, Any], resource_types: Iterable[str]) -> list[str]:
    """The resource types AWS Backup is not opted in to in this Region."""
    preferences = region_settings.get("ResourceTypeOptInPreference") or {}
    return sorted(t for t in set(resource_types) if preferences.get(t) is False)


def aws_managed(described_key: Mapping[str, Any]) -> bool:
    return (described_key.get("KeyMetadata") or {}).get("KeyManager") == "AWS"


# -- reading one account and Region ---------------------------------------------------------------


def _role_name(copy_role: str) -> str:
    # CopyRoleName may carry a path (service-role/AWSBackupDefaultServiceRole); GetRole takes
    # the name only.
    return copy_role.rsplit("/", 1)[-1]


def check_cross_account(backup: Any, where: str) -> Check:
    try:
        found = backup.describe_global_settings().get("GlobalSettings") or {}
    except botocore.exceptions.ClientError as error:
        return Check(
            "warning",
            f"AWS Backup settings of {where}",
            f"cannot read DescribeGlobalSettings ({error_text(error)})",
            "check Cross-account backup in the AWS Backup console of the management account",
        )
    if str(found.get("isCrossAccountBackupEnabled")).lower() == "true":
        return Check("ok", f"AWS Backup settings of {where}", "cross-account backup is enabled")
    return Check(
        "error",
        f"AWS Backup settings of {where}",
        "cross-account backup is not enabled for the organization: every copy to the backup "
        "account fails",
        "in the management account: AWS Backup console > Settings > Cross-account management > "
        "Cross-account backup: Turn on",
    )


def check_copy_role(iam: Any, account: str, copy_role: str) -> Check:
    name = _role_name(copy_role)
    where = f"IAM role {copy_role} in {account}"
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
        return Check(
            "error",
            where,
            "the copy role does not exist: AWS Backup cannot start the copy jobs",
            "create it (the AWS Backup console creates AWSBackupDefaultServiceRole when you "
            "first back up from it), or set the stack's CopyRoleName to an existing role",
        )
    if not trusts_backup(role.get("AssumeRolePolicyDocument")):
        return Check(
            "error",
            where,
            f"its trust policy does not let {BACKUP_SERVICE} assume it",
            f'add a statement Allow sts:AssumeRole for Principal {{"Service": "{BACKUP_SERVICE}"}}',
        )
    return Check("ok", where, f"exists and is trusted by {BACKUP_SERVICE}")


def check_destination(
    backup: Any,
    *,
    vault: str,
    account: str,
    region: str,
    organization: str,
    source: str,
    copy_role: str,
) -> Check:
    where = f"vault {vault} in {account} {region}"
    try:
        backup.describe_backup_vault(BackupVaultName=vault)
    except botocore.exceptions.ClientError as error:
        if error_code(error) not in {"ResourceNotFoundException", "AccessDeniedException"}:
            raise
        return Check(
            "error",
            where,
            f"the destination vault does not exist ({error_text(error)})",
            f"deploy the Backup Events template in the backup account {account} in {region} "
            "(it creates the vault), or create the vault there",
        )
    try:
        policy = backup.get_backup_vault_access_policy(BackupVaultName=vault).get("Policy")
    except botocore.exceptions.ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        policy = None
    admitted, why = vault_admits(
        policy, organization=organization, account=source, copy_role=copy_role
    )
    if admitted is True:
        return Check("ok", where, f"exists; its access policy admits {source}: {why}")
    fix = (
        "give the vault an access policy that allows backup:CopyIntoBackupVault to principals "
        f'with aws:PrincipalOrgID "{organization}" (the template\'s sample vault has one)'
    )
    if admitted is None:
        return Check(
            "warning", where, f"exists; cannot tell whether it admits {source}: {why}", fix
        )
    return Check("error", where, f"its access policy does not admit {source}: {why}", fix)


def check_opt_in(backup: Any, where: str, resource_types: Sequence[str]) -> Check:
    if not resource_types:
        return Check("ok", f"resource type opt-in in {where}", "no recent backups to check")
    try:
        settings = backup.describe_region_settings()
    except botocore.exceptions.ClientError as error:
        return Check(
            "warning",
            f"resource type opt-in in {where}",
            f"cannot read DescribeRegionSettings ({error_text(error)})",
            "check AWS Backup console > Settings > Service opt-in",
        )
    missing = opted_out(settings, resource_types)
    if missing:
        return Check(
            "error",
            f"resource type opt-in in {where}",
            f"AWS Backup is not opted in to {', '.join(missing)} here",
            f"AWS Backup console in {where.split()[-1]} > Settings > Service opt-in: turn on "
            f"{', '.join(missing)}",
        )
    return Check(
        "ok", f"resource type opt-in in {where}", f"opted in to {', '.join(resource_types)}"
    )


def check_keys(kms: Any, points: Sequence[Mapping[str, Any]]) -> list[Check]:
    """Recent recovery points whose key is AWS managed: never copied to another account."""
    managers: dict[str, bool] = {}
    checks = []
    for point in points:
        key = point.get("EncryptionKeyArn")
        if not key:
            continue
        if key not in managers:
            try:
                managers[key] = aws_managed(kms.describe_key(KeyId=key))
            except botocore.exceptions.ClientError as error:
                checks.append(
                    Check("warning", f"KMS key {key}", f"cannot describe it ({error_text(error)})")
                )
                managers[key] = False
        if managers[key]:
            checks.append(
                Check(
                    "error",
                    f"recovery point {point['RecoveryPointArn']} ({point.get('ResourceType')})",
                    f"encrypted with the AWS managed key {key}: AWS Backup cannot copy it to "
                    "another account",
                    "encrypt the resource with a customer managed KMS key (for EBS and RDS: "
                    "copy the snapshot or volume with a customer managed key) and back it up "
                    "again; this backup itself can never be copied across accounts",
                )
            )
    return checks


def check_place(
    clients: ClientFactory,
    state_machine: StateMachine,
    *,
    reach_backup_account: Any,
    since: datetime,
) -> list[Check]:
    """Every check for one resource account and Region, read-only."""
    parameters = state_machine.stack_parameters
    settings = settings_from_stack(parameters)
    deployment = settings.deployment
    account, region = state_machine.account, state_machine.region
    where = f"{account} {region}"
    backup = clients("backup", region)
    checks = [check_cross_account(backup, where)]
    copy_role = parameters.get("CopyRoleName") or "service-role/AWSBackupDefaultServiceRole"
    copy_role_arn = f"arn:{state_machine.partition}:iam::{account}:role/{copy_role}"
    checks.append(check_copy_role(clients("iam", region), account, copy_role))
    points = list(
        pages(
            backup.list_recovery_points_by_backup_vault,
            "RecoveryPoints",
            BackupVaultName=deployment.vault_name,
            ByCreatedAfter=since,
        )
    )
    points.sort(key=lambda p: aware(p.get("CreationDate")) or since, reverse=True)
    recent = points[:RECENT_POINTS]
    types = sorted({str(p["ResourceType"]) for p in recent if p.get("ResourceType")})
    checks.append(check_opt_in(backup, where, types))
    organization = parameters.get("OrganizationId") or ""
    for destination in deployment.destinations(state_machine.partition, region):
        target_region = destination.split(":")[3]
        try:
            theirs = reach_backup_account(deployment.backup_account)
        except Unreachable as error:
            checks.append(
                Check(
                    "warning",
                    f"backup account {deployment.backup_account}",
                    f"cannot check its vaults: {error.reason}",
                    "deploy the operator role there too, or run preflight with its credentials",
                )
            )
            break
        theirs_backup = theirs("backup", target_region)
        checks.append(
            check_destination(
                theirs_backup,
                vault=deployment.vault_name,
                account=deployment.backup_account,
                region=target_region,
                organization=organization,
                source=account,
                copy_role=copy_role_arn,
            )
        )
        checks.append(
            check_opt_in(theirs_backup, f"{deployment.backup_account} {target_region}", types)
        )
    checks.extend(check_keys(clients("kms", region), recent))
    return checks


def print_checks(checks: Sequence[Check], state_machine: StateMachine, console: Console) -> None:
    table = Table(title=f"Preflight of {state_machine.arn}", title_justify="left")
    for column in ("", "Resource", "Finding", "Fix"):
        table.add_column(column, overflow="fold")
    marks = {"error": "FAIL", "warning": "WARN", "ok": "ok"}
    for check in checks:
        table.add_row(marks[check.severity], check.resource, check.problem, check.fix or "-")
    console.print(table)


# -- command line ---------------------------------------------------------------------------------


DESCRIPTION = (
    "Check, read-only, what copies need in each account and Region: cross-account backup "
    "enabled, the copy role trusted by AWS Backup, the destination vaults and their access "
    "policies, resource-type opt-in, and recent backups encrypted with an AWS managed key."
)
EPILOG = (
    "Exit codes: 0 nothing found that would make a copy fail; 1 something would, or an "
    "account could not be reached; 2 usage or configuration error."
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, state_machine_arn=False)
    parser.add_argument(
        "--since",
        default="14d",
        metavar="WHEN",
        help=f"check the keys of the newest {RECENT_POINTS} recovery points created since "
        "(default: 14d)",
    )
    add_json_argument(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    now = env.clock()
    try:
        since = parse_window(args.since, "now", now).since
    except ConfigError as error:
        return fail(PROGRAM, str(error), as_json=args.json)

    def work(target: Target, clients: ClientFactory, console: Console) -> Finding:
        state_machine = resolve_state_machine(clients, target)
        sessions: Sessions = env.connect(args.profile, args.region)
        checks = check_place(
            clients,
            state_machine,
            reach_backup_account=lambda account: sessions.clients(account, args.role),
            since=since,
        )
        print_checks(checks, state_machine, console)
        counts = {s: sum(1 for c in checks if c.severity == s) for s in SEVERITIES}
        summary = f"{counts['error']} problem(s), {counts['warning']} warning(s)"
        return Finding(
            EXIT_FAILED if counts["error"] else EXIT_OK,
            summary,
            {
                "stateMachineArn": state_machine.arn,
                "checks": [c.to_json() for c in checks],
                "severities": counts,
            },
        )

    def as_json(results: list[Result], console: Console) -> int:
        return print_json(results, {"severities": summed(results, "severities", SEVERITIES)})

    return run_command(
        PROGRAM, args, env, work, what="Preflight", report=as_json if args.json else None
    )
