"""How the AWS Backup twin plugs into moto's backup service.

moto implements 17 of AWS Backup's operations and none of jobs, recovery points or access
policies (docs/twin.md). moto routes rest-json requests through the botocore model, so an
operation needs three things: a snake_case method on `BackupResponse`, a URL pattern in
`moto.backup.urls.url_paths`, and the logic (responses.py). Around every Backup request,
added or stock, the twin records the call and draws its faults. Vault creation and lock dates
follow the virtual clock.

`install()` patches moto once per process; the patches serve the twin given to `activate()`
and behave exactly like stock moto while none is active.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from local import iam
from local.accounts import Caller, caller_of
from local.backup.exceptions import error
from local.backup.models import vault_arn
from local.backup.service import BackupTwin, Call

# snake_case name → (HTTP method, URI template); the botocore model decides the names.
OPERATIONS: dict[str, tuple[str, str]] = {
    "start_backup_job": ("PUT", "/backup-jobs"),
    "describe_backup_job": ("GET", "/backup-jobs/{BackupJobId}"),
    "start_copy_job": ("PUT", "/copy-jobs"),
    "describe_copy_job": ("GET", "/copy-jobs/{CopyJobId}"),
    "list_copy_jobs": ("GET", "/copy-jobs/"),
    "describe_recovery_point": (
        "GET",
        "/backup-vaults/{BackupVaultName}/recovery-points/{RecoveryPointArn}",
    ),
    "update_recovery_point_lifecycle": (
        "POST",
        "/backup-vaults/{BackupVaultName}/recovery-points/{RecoveryPointArn}",
    ),
    "delete_recovery_point": (
        "DELETE",
        "/backup-vaults/{BackupVaultName}/recovery-points/{RecoveryPointArn}",
    ),
    "list_recovery_points_by_backup_vault": (
        "GET",
        "/backup-vaults/{BackupVaultName}/recovery-points/",
    ),
    "put_backup_vault_access_policy": ("PUT", "/backup-vaults/{BackupVaultName}/access-policy"),
    "get_backup_vault_access_policy": ("GET", "/backup-vaults/{BackupVaultName}/access-policy"),
    "delete_backup_vault_access_policy": (
        "DELETE",
        "/backup-vaults/{BackupVaultName}/access-policy",
    ),
    "describe_global_settings": ("GET", "/global-settings"),
    "describe_region_settings": ("GET", "/account-settings"),
    "update_region_settings": ("PUT", "/account-settings"),
}
# The URL patterns moto lacks for them (it reads url_paths on every request).
_URL_PATTERNS = (
    "{0}/backup-jobs/?$",
    "{0}/backup-jobs/(?P<backupJobId>[^/]+)$",
    "{0}/copy-jobs/?$",
    "{0}/copy-jobs/(?P<copyJobId>[^/]+)$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/?$",
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<recoveryPointArn>.+)$",
    "{0}/backup-vaults/(?P<name>[^/]+)/access-policy$",
    "{0}/global-settings$",
    "{0}/account-settings$",
)
# Query string names of the list operations → the botocore parameter names.
_QUERY_NAMES = {
    "nextToken": "NextToken",
    "maxResults": "MaxResults",
    "resourceArn": "ByResourceArn",
    "state": "ByState",
    "createdBefore": "ByCreatedBefore",
    "createdAfter": "ByCreatedAfter",
    "resourceType": "ByResourceType",
    "destinationVaultArn": "ByDestinationVaultArn",
    "accountId": "ByAccountId",
    "completeBefore": "ByCompleteBefore",
    "completeAfter": "ByCompleteAfter",
    "sourceRecoveryPointArn": "BySourceRecoveryPointArn",
    "backupVaultAccountId": "BackupVaultAccountId",
}

_active: BackupTwin | None = None


def activate(backup: BackupTwin | None) -> None:
    """Serve moto's backup requests with `backup` (None: stock moto again)."""
    global _active
    _active = backup


def _running() -> BackupTwin:
    if _active is None:
        raise error("ServiceUnavailableException", "the AWS Backup twin is not running", 503)
    return _active


def params_of(response: Any, template: str) -> dict[str, Any]:
    """A request's parameters by their botocore names, from its body, path and query string."""
    params: dict[str, Any] = {}
    if response.body:
        body = response.body.decode() if isinstance(response.body, bytes) else response.body
        if body.strip():
            params.update(json.loads(body))
    pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/")) + "/?$"
    raw_path = response.parsed_url.path if hasattr(response, "parsed_url") else response.path
    match = re.match(pattern, raw_path)
    if match:
        params.update({k: unquote(v) for k, v in match.groupdict().items()})
    # Not `response.querystring`: moto fills it with the request headers when the URL has no
    # query, and the recorded calls would show headers as parameters.
    query = response.parsed_url.query if hasattr(response, "parsed_url") else ""
    for key, values in parse_qs(query, keep_blank_values=True).items():
        params[_QUERY_NAMES.get(key, key)] = values[0]
    return params


_VAULT_IN_PATH = re.compile(r"/backup-vaults/([^/]+)")
_PLAN_IN_PATH = re.compile(r"/backup/plans/([^/]+)")
_TAGGED_IN_PATH = re.compile(r"/(?:un)?tags/(.+)$")
# Operations that hand AWS Backup a role to act as: the caller needs iam:PassRole for it.
_PASSES_ROLE = {"start_backup_job", "start_copy_job"}


def _resource(account: str, region: str, path: str, params: dict[str, Any]) -> str:
    """The resource IAM evaluates a call against, as the Service Authorization Reference names
    it: the recovery point, else the vault, plan or tagged resource, else "*"."""
    if params.get("RecoveryPointArn"):
        return str(params["RecoveryPointArn"])
    vault = params.get("BackupVaultName") or (
        m.group(1) if (m := _VAULT_IN_PATH.search(path)) else None
    )
    if vault:
        return vault_arn(account, region, unquote(str(vault)))
    if m := _PLAN_IN_PATH.search(path):
        return f"arn:aws:backup:{region}:{account}:backup-plan:{unquote(m.group(1))}"
    if m := _TAGGED_IN_PATH.search(path):
        return unquote(m.group(1))
    return "*"


def _authorize(
    caller: Caller, operation: str, action: str, region: str, response: Any, params: dict[str, Any]
) -> None:
    """IAM's answer for this call (local/iam.py); AccessDeniedException (403) if it is no."""
    path = response.parsed_url.path if hasattr(response, "parsed_url") else response.path
    resource = _resource(caller.account, region, path, params)
    try:
        iam.authorize(caller, f"backup:{action}", resource, region)
        if operation in _PASSES_ROLE and params.get("IamRoleArn"):
            iam.authorize(
                caller,
                "iam:PassRole",
                str(params["IamRoleArn"]),
                region,
                {"iam:PassedToService": "backup.amazonaws.com"},
            )
    except iam.AccessDenied as denied:
        raise error("AccessDeniedException", str(denied), 403) from denied


def _error_code(result: Any) -> str | None:
    status = result[0] if isinstance(result, tuple) else 200
    if not isinstance(status, int) or status < 400:
        return None
    try:
        body = json.loads(result[2])
    except (ValueError, TypeError, IndexError):
        return str(status)
    code = body.get("__type") or body.get("code")
    return None if code is None else str(code)


def install() -> None:
    from moto.backup import models as backup_models
    from moto.backup import responses as backup_responses
    from moto.backup import urls as backup_urls
    from moto.core.utils import camelcase_to_underscores

    response_class = backup_responses.BackupResponse
    if getattr(response_class, "_twin", False):
        return

    def make_method(operation: str, template: str) -> Callable[[Any], str]:
        def method(self: Any) -> str:
            handler = getattr(_running().api, f"api_{operation}")
            return json.dumps(handler(self.current_account, self.region, params_of(self, template)))

        method.__name__ = operation
        return method

    for operation, (_, template) in OPERATIONS.items():
        setattr(response_class, operation, make_method(operation, template))

    original_call_action = response_class.call_action

    def call_action(self: Any) -> Any:
        backup = _active
        if backup is None:
            return original_call_action(self)
        action = self._get_action()
        operation = camelcase_to_underscores(action)
        caller = caller_of(self)
        try:
            params = params_of(self, OPERATIONS.get(operation, ("", ""))[1] or "/")
        except (ValueError, json.JSONDecodeError):
            params = {}
        call = Call(caller.account, self.region, operation, params, principal=caller.principal)
        try:
            _authorize(caller, operation, action, self.region, self, params)
            backup.faults.before_call(operation)
        except Exception as refused:
            call.error = getattr(refused, "error_type", "Throttled")
            backup.record(call)
            raise
        result = original_call_action(self)
        call.error = _error_code(result)
        backup.record(call)
        return result

    response_class.call_action = call_action  # type: ignore[method-assign]
    for pattern in _URL_PATTERNS:
        backup_urls.url_paths[pattern] = backup_urls.response.dispatch

    wall_clock = backup_models.unix_time  # type: ignore[attr-defined]

    def unix_time(dt: datetime | None = None) -> float:
        if dt is not None or _active is None:
            return float(wall_clock(dt))
        return _active.clock.now().timestamp()

    backup_models.unix_time = unix_time  # type: ignore[attr-defined]
    response_class._twin = True  # type: ignore[attr-defined]
