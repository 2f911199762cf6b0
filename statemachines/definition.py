"""Load an ASL definition and fill its `${Name}` placeholders the way CloudFormation does.

The files in this folder are the single source of truth for the workflow. Deployment values
(accounts, regions, vault, task ARNs, polling intervals) appear in them as `${Name}`
placeholders that CloudFormation's DefinitionSubstitutions fill in.

JSON has no way to write an unquoted placeholder, so a placeholder that stands for a number
is written as the whole string value of a numeric ASL field (`"IntervalSeconds": "${X}"`).
The template generator writes those without quotes into DefinitionString, where the
substitution is plain text replacement (the resource provider's DefinitionProcessor calls
StringUtils.replaceEachRepeatedly on the string), so the deployed value is a JSON number.
`render` produces the same result in Python for the twin and the linters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
NUMERIC_FIELDS = frozenset(
    {
        "IntervalSeconds",
        "MaxAttempts",
        "MaxDelaySeconds",
        "BackoffRate",
        "TimeoutSeconds",
        "HeartbeatSeconds",
        "Seconds",
    }
)

Substitutions = dict[str, str | int | float]


def definition_names() -> list[str]:
    return sorted(p.name.removesuffix(".asl.json") for p in HERE.glob("*.asl.json"))


def source_text(name: str) -> str:
    return (HERE / f"{name}.asl.json").read_text()


def source(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(source_text(name))
    return loaded


def placeholders(name: str) -> set[str]:
    return set(PLACEHOLDER.findall(source_text(name)))


def numeric_placeholders(name: str) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in NUMERIC_FIELDS and isinstance(value, str):
                    match = PLACEHOLDER.fullmatch(value)
                    if match:
                        found.add(match.group(1))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(source(name))
    return found


def cloudformation_text(name: str, indent: int | None = None) -> str:
    """JSON for DefinitionString: numeric placeholders unquoted, the rest untouched."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(source(name), indent=indent, separators=separators, ensure_ascii=False)
    for placeholder in numeric_placeholders(name):
        text = text.replace(f'"${{{placeholder}}}"', f"${{{placeholder}}}")
    return text


def substitute_text(text: str, substitutions: Substitutions) -> str:
    """CloudFormation's textual replacement; a missing placeholder is an error, not a no-op."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in substitutions:
            raise KeyError(f"no value for placeholder ${{{key}}}")
        return str(substitutions[key])

    return PLACEHOLDER.sub(replace, text)


def render(name: str, substitutions: Substitutions) -> dict[str, Any]:
    """The definition as AWS would store it after CloudFormation's substitution."""
    rendered: dict[str, Any] = json.loads(substitute_text(cloudformation_text(name), substitutions))
    return rendered


def _function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000022224444:function:BackupEvents-{name}"


# Values for linting and for tests that do not care about the deployment: the quick start's
# layout (resource account 000022224444 in us-east-1, backup account 999977775555 in us-west-2)
# and the template's default settings.
EXAMPLE_SUBSTITUTIONS: Substitutions = {
    "Partition": "aws",
    "VaultName": "BackupEvents-Sample",
    "BackupAccountId": "999977775555",
    "BackupRegion": "us-west-2",
    "BackupRegionAlternate": "us-east-1",
    "CopyScheduledBackups": "false",
    "CopyRoleArn": "arn:aws:iam::000022224444:role/service-role/AWSBackupDefaultServiceRole",
    "CopyReaderRoleArn": (
        "arn:aws:iam::999977775555:role/backup-events/BackupEventsCopyReader-us-east-1"
    ),
    "LedgerTableName": "BackupEvents-CutLedger-1A2B3C4D5E6F",
    "NewDeleteAfterDays": 7,
    "PollFirstIntervalSeconds": 300,
    "PollMaxIntervalSeconds": 14400,
    "CopyWaitLimitHours": 72,
    "EnableUpdateLifecycle": "true",
    "DescribeRecoveryPointFunctionArn": _function_arn("DescribeRecoveryPoint"),
    "StartCopyJobFunctionArn": _function_arn("StartCopyJob"),
    "DescribeCopyJobFunctionArn": _function_arn("DescribeCopyJob"),
    "VerifyCopiesFunctionArn": _function_arn("VerifyCopies"),
    "CutRetentionFunctionArn": _function_arn("CutRetention"),
    "FindUnfinishedBackupsFunctionArn": _function_arn("FindUnfinishedBackups"),
    "WorkflowArn": "arn:aws:states:us-east-1:000022224444:stateMachine:BackupEvents",
    "ErrorQueueUrl": "https://sqs.us-east-1.amazonaws.com/000022224444/BackupEvents-ErrorQueue",
    "ReconcileHorizonDays": 35,
    "ReconcileMaxStarts": 100,
    "ReconcileStartIntervalSeconds": 2,
    "MaxRedrives": 3,
}
