"""backup-events deploy: one CloudFormation stack, or a service-managed StackSet and its instances.

    backup-events deploy stack --name BackupEvents --region us-east-1 \\
        --parameters quick-start.json --template-bucket my-templates   # dry run: what would change
    backup-events deploy stack ... --apply                             # do it, and wait
    backup-events deploy stackset --name BackupEvents --region us-east-1 \\
        --parameters quick-start.json --template-bucket my-templates \\
        --org-units ou-ab12-cdef3456 --regions us-east-1,us-west-2 --apply

Parameters come from a JSON file ({"Key": "value"} or CloudFormation's
[{"ParameterKey": ..., "ParameterValue": ...}]) and/or `--param Key=value` flags (flags win).
The template is larger than CloudFormation's 51,200-byte TemplateBody limit, so it is uploaded
to `--template-bucket` (an S3 bucket you own, in the deployment region) and deployed from
there, exactly as the console's "Upload a template file" does.

Without --apply nothing changes: for an existing stack a change set shows what would change
(and is deleted); for a new stack or StackSet the parameters and targets are shown.
Exit codes: 0 done or nothing to change, 1 the deployment failed or rolled back,
2 usage or configuration error (nothing was changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
from rich.console import Console
from rich.table import Table

from backup_events.aws import (
    ClientFactory,
    ConfigError,
    aws_setup_errors,
    check_region,
    error_text,
    pages,
    partition_of,
)
from backup_events.output import EXIT_FAILED, EXIT_OK, fail, make_console
from backup_events.sessions import Environment
from backup_events.templates import NAMED, chosen_template

PROGRAM = "backup-events deploy"
BODY_LIMIT = 51_200  # aws-facts.md §E.2
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
DONE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_COMPLETE",
}
SUCCEEDED = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


# -- parameters -------------------------------------------------------------------------------


def read_parameters(file: Path | None, flags: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read parameters from {file}: {error}") from error
        if isinstance(loaded, list):
            values.update({p["ParameterKey"]: str(p["ParameterValue"]) for p in loaded})
        elif isinstance(loaded, dict):
            values.update({k: str(v) for k, v in loaded.items()})
        else:
            raise ConfigError(f"{file}: expected a JSON object or CloudFormation's parameter list")
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {flag!r}: expected Key=value")
        values[key] = value
    return values


def as_cloudformation(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


# -- checks before any write ------------------------------------------------------------------
#
# What only this dry run can check, because the template cannot see it or cannot know it:
# Region codes against the Regions botocore knows for each partition (a pattern accepts
# us-wset-2), that the backup Regions are in the deploying Region's partition, the StackSet's
# target OUs and Regions (they are not template parameters), and the StackSet's name length
# (its instances are named StackSet-<name>-<36-character id>, and the state machines after the
# stack). The template checks shapes with AllowedPattern and relations with Rules.

ACCOUNT_ID = re.compile(r"^\d{12}$")
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
OU_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]*$")
STATE_MACHINE_NAME_LIMIT = 80  # aws-facts.md §C.2
STACK_NAME_LIMIT = 128
INSTANCE_NAME_EXTRA = len("StackSet-") + len("-") + 36  # StackSet-<name>-<uuid>
REGION_PARAMETERS = ("BackupRegion", "BackupRegionAlternate")
_STATE_MACHINE_NAME = re.compile(
    r"StateMachineName:\s*(?:!Ref\s+AWS::StackName|!Sub\s+[\"']?\$\{AWS::StackName\}([^\"'\s]*))"
)


def name_limit(template_body: str, *, stack_set: bool) -> int:
    """The longest stack (or StackSet) name whose state machine names stay within 80 characters.

    The template names each state machine after its stack, some with a suffix ("-Reconcile");
    a StackSet's instances are stacks named StackSet-<name>-<id>.
    """
    suffixes = [len(m.group(1) or "") for m in _STATE_MACHINE_NAME.finditer(template_body)]
    limit = STATE_MACHINE_NAME_LIMIT - max(suffixes, default=0)
    if not suffixes:
        limit = STACK_NAME_LIMIT
    return limit - INSTANCE_NAME_EXTRA if stack_set else limit


def check_inputs(
    *,
    region: str,
    name: str,
    parameters: dict[str, str],
    template_body: str,
    org_units: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> None:
    """Refuse, by name, what would deploy and then fail (or copy nowhere) later."""
    stack_set = org_units is not None
    what = "StackSet" if stack_set else "stack"
    limit = name_limit(template_body, stack_set=stack_set)
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"{what} name {name!r}: letters, digits and hyphens, starting with a letter"
        )
    if len(name) > limit:
        raise ConfigError(
            f"{what} name {name!r} is {len(name)} characters; at most {limit} keep its state "
            "machine names within 80 characters"
        )
    partition = partition_of(region)
    for key in REGION_PARAMETERS:
        if key in parameters:
            check_region(parameters[key], key)
            if partition_of(parameters[key]) != partition:
                raise ConfigError(
                    f"{key} {parameters[key]} is not in the {partition} partition of {region}"
                )
    account = parameters.get("BackupAccountId")
    if account is not None and not ACCOUNT_ID.fullmatch(account):
        raise ConfigError(f"BackupAccountId {account!r} is not a 12-digit AWS account ID")
    organization = parameters.get("OrganizationId")
    if organization is not None and not ORGANIZATION_ID.fullmatch(organization):
        raise ConfigError(f"OrganizationId {organization!r} is not an organization ID (o-...)")
    if stack_set:
        if not org_units or not regions:
            raise ConfigError("a StackSet needs --org-units and --regions")
        for unit in org_units:
            if not OU_ID.fullmatch(unit):
                raise ConfigError(
                    f"--org-units: {unit!r} is not an organizational unit ID (ou-xxxx-xxxxxxxx) "
                    "or a root ID (r-xxxx)"
                )
        for target in regions:
            check_region(target, "--regions Region")
            if partition_of(target) != partition:
                raise ConfigError(f"--regions: {target} is not in the {partition} partition")


# -- the template -----------------------------------------------------------------------------


def read_template(template: Path) -> str:
    try:
        return template.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read the template {template}: {error}") from error


def template_source(
    clients: ClientFactory, region: str, template: Path, bucket: str | None, apply: bool
) -> dict[str, str]:
    """TemplateBody when it fits, else a TemplateURL in the operator's bucket."""
    body = read_template(template)
    if len(body.encode()) <= BODY_LIMIT:
        return {"TemplateBody": body}
    if not bucket:
        raise ConfigError(
            f"{template.name} is {len(body.encode()):,} bytes, over the {BODY_LIMIT:,}-byte "
            "TemplateBody limit: pass --template-bucket (an S3 bucket in this region)"
        )
    key = f"backup-events/{hashlib.sha256(body.encode()).hexdigest()[:16]}/{template.name}"
    s3 = clients("s3", region)
    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as error:
        raise ConfigError(f"cannot use S3 bucket {bucket!r}: {error_text(error)}") from error
    # Content-addressed key: uploading the same template twice changes nothing.
    if apply:
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"TemplateURL": f"https://{bucket}.s3.{region}.amazonaws.com/{key}"}


# -- stacks -----------------------------------------------------------------------------------


@dataclass
class StackOutcome:
    name: str
    action: str  # "create", "update", "no changes", "preview"
    status: str
    changes: list[dict[str, str]]
    parameter_changes: dict[str, tuple[str | None, str]] | None = None
    template_changed: bool = False
    reasons: list[str] = field(default_factory=list)  # AWS's, when the stack failed


def failure_reasons(cloudformation: Any, name: str) -> list[str]:
    """The failed resources of the stack's last operation and why, oldest first (stack events)."""
    reasons = []
    for event in pages(cloudformation.describe_stack_events, "StackEvents", StackName=name):
        status = str(event.get("ResourceStatus") or "")
        why = event.get("ResourceStatusReason")
        if status.endswith("FAILED") and why:
            reasons.append(
                f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): {status}: {why}"
            )
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" and why == "User Initiated":
            break  # newest first: this is where the last operation began
    return reasons[::-1]


def parameter_changes(
    existing: dict[str, Any], wanted: dict[str, str]
) -> dict[str, tuple[str | None, str]]:
    """Parameters whose value would change (a parameter left out keeps its current value)."""
    current = {p["ParameterKey"]: p.get("ParameterValue") for p in existing.get("Parameters", [])}
    return {k: (current.get(k), v) for k, v in sorted(wanted.items()) if current.get(k) != v}


def _existing_stack(cloudformation: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except botocore.exceptions.ClientError as error:
        if "does not exist" in error_text(error):
            return None
        raise
    found: dict[str, Any] | None = stacks[0] if stacks else None
    if found is not None and found["StackStatus"] == "REVIEW_IN_PROGRESS":
        return None
    return found


def _wait(
    describe: Callable[[], str],
    done: set[str],
    console: Console,
    what: str,
    sleep: Callable[[float], None],
) -> str:
    with console.status(f"{what}…") as spinner:
        while True:
            status = describe()
            spinner.update(f"{what}: {status}")
            if status in done:
                return status
            sleep(5)


def preview_changes(
    cloudformation: Any,
    name: str,
    source: dict[str, str],
    parameters: list[dict[str, str]],
    sleep: Callable[[float], None],
) -> list[dict[str, str]]:
    """A change set shows what an update would do; it is deleted, never executed."""
    change_set = f"backup-events-preview-{int(time.time())}"
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType="UPDATE",
        Parameters=parameters,
        Capabilities=CAPABILITIES,
        **source,
    )
    try:
        while True:
            described = cloudformation.describe_change_set(StackName=name, ChangeSetName=change_set)
            if described["Status"] in {"CREATE_COMPLETE", "FAILED"}:
                break
            sleep(2)
        return [
            {
                "action": c["ResourceChange"].get("Action", ""),
                "resource": c["ResourceChange"].get("LogicalResourceId", ""),
                "type": c["ResourceChange"].get("ResourceType", ""),
                "replacement": str(c["ResourceChange"].get("Replacement", "")),
            }
            for c in described.get("Changes", [])
        ]
    finally:
        cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)


def deploy_stack(
    clients: ClientFactory,
    region: str,
    name: str,
    parameters: dict[str, str],
    *,
    template: Path,
    bucket: str | None = None,
    apply: bool = False,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> StackOutcome:
    console = console or make_console()
    cloudformation = clients("cloudformation", region)
    existing = _existing_stack(cloudformation, name)
    source = template_source(clients, region, template, bucket, apply)
    cfn_parameters = as_cloudformation(parameters)
    if not apply:
        if existing is None:
            wanted: dict[str, tuple[str | None, str]] = {
                key: (None, value) for key, value in parameters.items()
            }
            return StackOutcome(name, "preview", "would create", [], wanted)
        changes = preview_changes(cloudformation, name, source, cfn_parameters, sleep)
        deployed = cloudformation.get_template(StackName=name)["TemplateBody"]
        template_changed = deployed != read_template(template)
        differing = parameter_changes(existing, parameters)
        changed = bool(changes or differing or template_changed)
        return StackOutcome(
            name,
            "preview",
            "would update" if changed else "no changes",
            changes,
            differing,
            template_changed,
        )
    common = {
        "StackName": name,
        "Parameters": cfn_parameters,
        "Capabilities": CAPABILITIES,
        **source,
    }
    if existing is None:
        cloudformation.create_stack(**common)
        action = "create"
    else:
        try:
            cloudformation.update_stack(**common)
        except botocore.exceptions.ClientError as error:
            if "No updates are to be performed" in error_text(error):
                return StackOutcome(name, "no changes", existing["StackStatus"], [])
            raise
        action = "update"
    status = _wait(
        lambda: cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"],
        DONE,
        console,
        f"{action} stack {name} in {region}",
        sleep,
    )
    reasons = [] if status in SUCCEEDED else failure_reasons(cloudformation, name)
    return StackOutcome(name, action, status, [], reasons=reasons)


# -- StackSets --------------------------------------------------------------------------------


@dataclass
class StackSetOutcome:
    name: str
    action: str  # "create", "update", "preview"
    status: str  # the worst operation status, or "would create" / "would update"
    targets: list[str]
    missing: list[tuple[str, str]] = field(default_factory=list)  # (OU, Region) to create
    instances: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # AWS's reasons, one line each

    @property
    def ok(self) -> bool:
        if self.action == "preview":
            return True
        current = all(i.get("Status") == "CURRENT" for i in self.instances)
        return self.status == "SUCCEEDED" and current and not self.failures


def stack_instances(cloudformation: Any, name: str, call_as: str) -> list[dict[str, Any]]:
    return list(
        pages(cloudformation.list_stack_instances, "Summaries", StackSetName=name, CallAs=call_as)
    )


def missing_instances(
    instances: Sequence[dict[str, Any]], org_units: Sequence[str], regions: Sequence[str]
) -> list[tuple[str, str]]:
    """The (OU, Region) pairs asked for that have no stack instance yet.

    ListStackInstances names each instance's OU for a service-managed StackSet; an instance
    that names none (an older or self-managed record) counts for every OU in its Region, so
    nothing is ever created twice.
    """
    present: set[tuple[str, str]] = set()
    for instance in instances:
        unit, where = instance.get("OrganizationalUnitId"), str(instance.get("Region"))
        present.update({(unit, where)} if unit else {(u, where) for u in org_units})
    return [(u, r) for u in org_units for r in regions if (u, r) not in present]


def _creations(missing: Sequence[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
    """One CreateStackInstances call (OUs x Regions) per set of OUs a Region lacks."""
    by_region: dict[str, set[str]] = {}
    for unit, region in missing:
        by_region.setdefault(region, set()).add(unit)
    calls: dict[frozenset[str], list[str]] = {}
    for region, units in by_region.items():
        calls.setdefault(frozenset(units), []).append(region)
    return [(sorted(units), sorted(regions)) for units, regions in calls.items()]


def operation_failures(cloudformation: Any, name: str, operation: str, call_as: str) -> list[str]:
    """Each instance the operation did not succeed in, with AWS's reason."""
    return [
        f"{r.get('Account')} {r.get('Region')}: {r.get('Status')}: "
        f"{r.get('StatusReason') or 'no reason given'}"
        for r in pages(
            cloudformation.list_stack_set_operation_results,
            "Summaries",
            StackSetName=name,
            OperationId=operation,
            CallAs=call_as,
        )
        if r.get("Status") != "SUCCEEDED"
    ]


def deploy_stack_set(
    clients: ClientFactory,
    region: str,
    name: str,
    parameters: dict[str, str],
    *,
    org_units: Sequence[str],
    regions: Sequence[str],
    template: Path,
    bucket: str | None = None,
    apply: bool = False,
    call_as: str = "SELF",
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> StackSetOutcome:
    """A service-managed StackSet with automatic deployment to the OUs' accounts (§E.3).

    Run again with more Regions or OUs, it updates the StackSet and then creates the instances
    that are missing: UpdateStackSet alone only updates the instances that already exist.
    """
    console = console or make_console()
    cloudformation = clients("cloudformation", region)
    targets = [f"{ou} in {r}" for ou in org_units for r in regions]
    try:
        cloudformation.describe_stack_set(StackSetName=name, CallAs=call_as)
        exists = True
    except botocore.exceptions.ClientError as error:
        if "StackSetNotFound" not in error_text(error):
            raise
        exists = False
    source = template_source(clients, region, template, bucket, apply)
    before = stack_instances(cloudformation, name, call_as) if exists else []
    missing = missing_instances(before, org_units, regions)
    if not apply:
        status = "would update" if exists else "would create"
        return StackSetOutcome(name, "preview", status, targets, missing, before)
    common: dict[str, Any] = {
        "StackSetName": name,
        "Parameters": as_cloudformation(parameters),
        "Capabilities": CAPABILITIES,
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        "CallAs": call_as,
        **source,
    }
    preferences = {"FailureToleranceCount": 0, "MaxConcurrentCount": 4}
    operations: list[tuple[str, str]] = []  # (what, operation id), run one after the other

    def wait(what: str, operation: str) -> str:
        operations.append((what, operation))
        return _wait(
            lambda: cloudformation.describe_stack_set_operation(
                StackSetName=name, OperationId=operation, CallAs=call_as
            )["StackSetOperation"]["Status"],
            {"SUCCEEDED", "FAILED", "STOPPED"},
            console,
            f"{what} StackSet {name}",
            sleep,
        )

    statuses: list[str] = []
    if exists:
        updated = cloudformation.update_stack_set(**common, OperationPreferences=preferences)
        statuses.append(wait("update", updated["OperationId"]))
    else:
        cloudformation.create_stack_set(**common)
    for units, where in _creations(missing):
        if statuses and statuses[-1] != "SUCCEEDED":
            break  # a StackSet runs one operation at a time; the failure is reported below
        created = cloudformation.create_stack_instances(
            StackSetName=name,
            DeploymentTargets={"OrganizationalUnitIds": units},
            Regions=where,
            OperationPreferences=preferences,
            CallAs=call_as,
        )
        statuses.append(wait(f"create instances in {', '.join(where)} of", created["OperationId"]))
    failures = [
        failure
        for _, operation in operations
        for failure in operation_failures(cloudformation, name, operation, call_as)
    ]
    worst = next((s for s in statuses if s != "SUCCEEDED"), "SUCCEEDED")
    return StackSetOutcome(
        name,
        "update" if exists else "create",
        worst,
        targets,
        missing,
        stack_instances(cloudformation, name, call_as),
        failures,
    )


def report_stack_set(outcome: StackSetOutcome, console: Console) -> int:
    console.print(
        f"StackSet {outcome.name}: {outcome.action}: {outcome.status} "
        f"({', '.join(outcome.targets)})"
    )
    if outcome.missing:
        verb = "would create" if outcome.action == "preview" else "created"
        console.print(
            f"  instances {verb}: " + ", ".join(f"{u} in {r}" for u, r in outcome.missing)
        )
    if outcome.instances:
        table = Table("account", "Region", "status", "detail", "reason", title="Stack instances")
        for i in sorted(outcome.instances, key=lambda i: (i.get("Account"), i.get("Region"))):
            table.add_row(
                str(i.get("Account")),
                str(i.get("Region")),
                str(i.get("Status")),
                str((i.get("StackInstanceStatus") or {}).get("DetailedStatus") or "-"),
                str(i.get("StatusReason") or "-"),
            )
        console.print(table)
    for failure in outcome.failures:
        console.print(f"  FAILED {failure}")
    return EXIT_OK if outcome.ok else EXIT_FAILED


# -- command line -----------------------------------------------------------------------------


DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""


def configure(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{stack,stackset}")
    for kind in ("stack", "stackset"):
        sub = kinds.add_parser(kind, help=f"deploy one {kind}", description=f"Deploy one {kind}.")
        sub.add_argument("--name", default="BackupEvents", help="stack or StackSet name")
        sub.add_argument("--region", help="where to deploy (or administer the StackSet)")
        sub.add_argument("--profile", help="AWS named profile")
        sub.add_argument("--parameters", type=Path, help="JSON file of parameter values")
        sub.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
        sub.add_argument(
            "--template",
            metavar="FILE|" + "|".join(NAMED),
            help="a template file, or one installed with this command by name (default: workflow)",
        )
        sub.add_argument("--template-bucket", help="S3 bucket for the template upload")
        sub.add_argument("--apply", action="store_true", help="deploy; without it, a dry run")
        if kind == "stackset":
            sub.add_argument("--org-units", required=True, help="comma-separated OU IDs")
            sub.add_argument("--regions", required=True, help="comma-separated target regions")
            sub.add_argument("--call-as", choices=["SELF", "DELEGATED_ADMIN"], default="SELF")


def report_stack(outcome: StackOutcome, console: Console) -> int:
    console.print(f"stack {outcome.name}: {outcome.action}: {outcome.status}")
    if outcome.template_changed:
        console.print("  the template differs from the deployed one")
    for key, (old, new) in (outcome.parameter_changes or {}).items():
        console.print(f"  parameter {key}: {old if old is not None else '(new)'} -> {new}")
    if outcome.changes:
        table = Table("action", "resource", "type", "replacement")
        for change in outcome.changes:
            table.add_row(
                change["action"], change["resource"], change["type"], change["replacement"]
            )
        console.print(table)
    for reason in outcome.reasons:
        console.print(f"  FAILED {reason}")
    failed = outcome.action in {"create", "update"} and outcome.status not in SUCCEEDED
    return EXIT_FAILED if failed else EXIT_OK


def run(args: argparse.Namespace, env: Environment) -> int:
    console = env.console or make_console()
    try:
        with aws_setup_errors():
            if args.region is not None:
                check_region(args.region)
            template = chosen_template(args.template)
            parameters = read_parameters(args.parameters, args.param)
            sessions = env.connect(args.profile, args.region)
            region = args.region or sessions.default_region
            if not region:
                raise ConfigError("no region: pass --region or set AWS_REGION")
            check_region(region)
            stack_set = args.kind == "stackset"
            org_units = [o for o in args.org_units.split(",") if o] if stack_set else None
            regions = [r for r in args.regions.split(",") if r] if stack_set else None
            check_inputs(
                region=region,
                name=args.name,
                parameters=parameters,
                template_body=read_template(template),
                org_units=org_units,
                regions=regions,
            )
            clients = sessions.clients(None, None)
            if org_units is None or regions is None:
                outcome = deploy_stack(
                    clients, region, args.name, parameters,
                    template=template, bucket=args.template_bucket, apply=args.apply,
                    console=console, sleep=env.sleep,
                )  # fmt: skip
                return report_stack(outcome, console)
            set_outcome = deploy_stack_set(
                clients, region, args.name, parameters,
                org_units=org_units, regions=regions,
                template=template, bucket=args.template_bucket, apply=args.apply,
                call_as=args.call_as, console=console, sleep=env.sleep,
            )  # fmt: skip
            return report_stack_set(set_outcome, console)
    except ConfigError as error:
        return fail(PROGRAM, str(error))
    except botocore.exceptions.ClientError as error:
        # CloudFormation refused the request itself (a parameter, a Rule): nothing changed.
        return fail(PROGRAM, error_text(error))
