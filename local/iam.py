"""Who may do what: the identity and trust policies of the twin's roles, as IAM evaluates them.

Stock moto authorizes nothing. The twin evaluates, on every AWS Backup call and on
sts:AssumeRole, the calling principal's identity policies (its role's inline policies and the
managed policies attached to it in moto's IAM), with local/policy.py:

- the action (`backup:<Operation>`, `sts:AssumeRole`, `iam:PassRole`) and the resource the
  Service Authorization Reference names for it, in the ARN shape of each resource type
  (docs/aws-facts.md §A.2: recovery points of EBS and EC2 carry no account);
- the request's condition keys: `aws:RequestedRegion`, `aws:PrincipalArn`,
  `aws:PrincipalAccount`, `aws:PrincipalOrgID`, `aws:ResourceAccount` (absent when the
  resource ARN names no account, docs/aws-facts.md §H), `iam:PassedToService` for PassRole;
- an explicit Deny wins; without an Allow the call is refused: AccessDeniedException (HTTP 403)
  for AWS Backup, AccessDenied for STS (docs/aws-facts.md §B.9, §T.1).

STS AssumeRole also needs the target role's trust policy to admit the caller, whether or not
the caller is known (a trust policy may admit `"AWS": "*"` within the organization).

A principal the twin does not know (a test's own client, with the default credentials), a
role with no policy at all, and a role whose trust policy has no statement are not
restricted: tests that are not about permissions need no IAM set-up. Deployed stacks give
their roles policies, and from then on every call counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local.accounts import Caller, Organization, caller_of
from local.policy import decide

AccessContext = dict[str, str | list[str]]


class AccessDenied(Exception):
    """A refused call; wiring turns it into the service's own error shape."""

    def __init__(self, caller: str, action: str, resource: str, why: str) -> None:
        self.caller = caller
        self.what = f"{action} on resource: {resource} because {why}"
        super().__init__(f"User: {caller} is not authorized to perform: {self.what}")


def _role(principal: str) -> Any:
    """moto's IAM role for a role ARN, or None."""
    from moto.iam.models import iam_backends

    parts = principal.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return None
    backend = iam_backends[parts[4]][parts[1]]
    return next((role for role in backend.get_roles() if role.arn == principal), None)


def _document(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def identity_policies(principal: str) -> list[str]:
    """Every identity policy of a role: inline, then the default version of each managed one."""
    role = _role(principal)
    if role is None:
        return []
    documents = [_document(d) for d in role.policies.values()]
    for managed in role.managed_policies.values():
        documents += [
            _document(v.document)
            for v in managed.versions
            if v.version_id == managed.default_version_id
        ]
    return documents


def trust_policy(role_arn: str) -> str | None:
    """A role's trust policy; None for an unknown role or a trust with no statement at all."""
    role = _role(role_arn)
    if role is None:
        return None
    document = _document(role.assume_role_policy_document)
    try:
        statements = json.loads(document).get("Statement")
    except (ValueError, AttributeError):
        return document  # malformed: evaluated, hence refused
    return document if statements else None


def resource_account(resource: str) -> str | None:
    """The account an ARN names; None for '*' and account-less ARNs (EBS snapshots, AMIs)."""
    parts = resource.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


class Authorizer:
    def __init__(self, organization: Organization) -> None:
        self.organization = organization

    def context(self, caller: Caller, region: str, resource: str) -> AccessContext:
        """The global condition keys of one request (docs/aws-facts.md §B.9, §H)."""
        principal = caller.principal or ""
        values: AccessContext = {
            "aws:RequestedRegion": region,
            "aws:PrincipalArn": principal,
            "aws:PrincipalAccount": caller.account,
        }
        if caller.account in self.organization.members:
            values["aws:PrincipalOrgID"] = self.organization.id
        owner = resource_account(resource)
        if owner is not None:
            values["aws:ResourceAccount"] = owner
        return values

    def check(
        self,
        caller: Caller,
        action: str,
        resource: str,
        region: str,
        extra: Mapping[str, str | list[str]] | None = None,
    ) -> None:
        """Raise AccessDenied unless the caller's identity policies allow the action."""
        if caller.principal is None:
            return
        policies = identity_policies(caller.principal)
        if not policies:
            return
        context = {**self.context(caller, region, resource), **(extra or {})}
        decision = decide(policies, action=action, resource=resource, context=context)
        if decision == "Deny":
            raise AccessDenied(
                caller.principal, action, resource, f"an identity-based policy denies {action}"
            )
        if decision != "Allow":
            raise AccessDenied(
                caller.principal,
                action,
                resource,
                f"no identity-based policy allows the {action} action",
            )

    def check_assume_role(
        self, caller: Caller, role_arn: str, region: str, source_arn: str | None = None
    ) -> None:
        """sts:AssumeRole: the caller's own permission, then the role's trust policy.

        A service principal (events.amazonaws.com, ...) acts for `caller.account`: the trust
        policy sees that as aws:SourceAccount, and the resource it acts for as aws:SourceArn.
        """
        self.check(caller, "sts:AssumeRole", role_arn, region)
        trusted = trust_policy(role_arn)
        if trusted is None:
            return  # unknown roles and placeholder trusts ("{}") stay as open as moto has them
        principal = caller.principal or f"arn:aws:iam::{caller.account}:root"
        context = self.context(caller, region, role_arn)
        context["aws:PrincipalArn"] = principal
        if principal.endswith(".amazonaws.com"):
            context["aws:SourceAccount"] = caller.account
            if source_arn is not None:
                context["aws:SourceArn"] = source_arn
        decision = decide(
            [trusted],
            action="sts:AssumeRole",
            resource=role_arn,
            context=context,
            principal_arn=principal,
        )
        if decision != "Allow":
            raise AccessDenied(
                principal, "sts:AssumeRole", role_arn, "the role's trust policy does not allow it"
            )


_active: Authorizer | None = None


def activate(authorizer: Authorizer | None) -> None:
    """Authorize requests with `authorizer` (None: stock moto, which authorizes nothing)."""
    global _active
    _active = authorizer


def authorize(
    caller: Caller,
    action: str,
    resource: str,
    region: str,
    extra: Mapping[str, str | list[str]] | None = None,
) -> None:
    """Raise AccessDenied if the running twin's IAM refuses the call (no twin: allowed)."""
    if _active is not None:
        _active.check(caller, action, resource, region, extra)


def install() -> None:
    """sts:AssumeRole is authorized before moto issues credentials; inline policies are JSON."""
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.models import Role
    from moto.sts.responses import TokenResponse

    if not getattr(Role.put_policy, "_twin", False):
        # moto's CloudFormation keeps a role's inline policy as the template's mapping, and
        # GetRolePolicy then answers with its Python repr; IAM answers with the JSON document.
        def put_policy(self: Role, policy_name: str, policy_json: Any) -> None:
            self.policies[policy_name] = _document(policy_json)

        put_policy._twin = True  # type: ignore[attr-defined]
        Role.put_policy = put_policy  # type: ignore[method-assign]

    if getattr(TokenResponse.assume_role, "_twin", False):
        return
    original = TokenResponse.assume_role

    def assume_role(self: TokenResponse) -> Any:
        if _active is not None:
            try:
                _active.check_assume_role(caller_of(self), self._get_param("RoleArn"), self.region)
            except AccessDenied as denied:
                # STS's own answer: AccessDenied, HTTP 403.
                raise AccessDeniedError(denied.caller, denied.what) from denied
        return original(self)

    assume_role._twin = True  # type: ignore[attr-defined]
    TokenResponse.assume_role = assume_role  # type: ignore[method-assign]
