"""CloudFormation in the twin: the template's resources really come to life.

Stock moto (local-testing.md §4) skips AWS::Backup::BackupVault, puts state machines in its
non-executing backend and ignores DefinitionSubstitutions, ignores `Rules` and parameter
constraints, and cannot attach the public Powertools layer. The twin closes those gaps:

- AWS::Backup::BackupVault creates the vault in the AWS Backup twin, with its AccessPolicy and
  LockConfiguration; Ref is the name, GetAtt BackupVaultArn/BackupVaultName work.
- AWS::StepFunctions::StateMachine applies DefinitionSubstitutions by plain text replacement
  (as the resource provider does) to DefinitionString or Definition, and creates the machine
  in the executing backend, so events really start it.
- Parameters are checked against AllowedValues, AllowedPattern, MinValue and MaxValue, and
  `Rules` assertions are evaluated: a violation fails CreateStack, CreateStackSet and
  CreateStackInstances with ValidationError and the AssertDescription, before any resource.
- The public Powertools layer (account 017000801446, published through the SSM parameter
  /aws/service/powertools/python/...) resolves in every region: the twin runs Powertools from
  this environment.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.common_models import CloudFormationModel

from local.active import running_twin

POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_VERSION = 21


def powertools_layer_arn(region: str, runtime: str = "python3.13", arch: str = "arm64") -> str:
    name = f"AWSLambdaPowertoolsPythonV3-{runtime.replace('.', '')}-{arch}"
    return f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{name}:{POWERTOOLS_VERSION}"


def publish_powertools_parameters(account: str, region: str) -> None:
    """The public SSM parameters AWS publishes for the layer (aws-facts.md §E.5)."""
    from datetime import UTC, datetime

    from moto.ssm.models import Parameter, ssm_backends

    parameters = ssm_backends[account][region]._parameters
    for runtime in ("python3.12", "python3.13", "python3.14"):
        for arch in ("arm64", "x86_64"):
            name = f"/aws/service/powertools/python/{arch}/{runtime}/latest"
            if parameters.get(name):
                continue
            parameters[name].append(
                Parameter(
                    account_id=account,
                    name=name,
                    value=powertools_layer_arn(region, runtime, arch),
                    parameter_type="String",
                    description="Powertools for AWS Lambda (Python) layer",
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=datetime.now(UTC),
                    version=1,
                    data_type="text",
                )
            )


class TwinBackupVault(CloudFormationModel):
    """The CloudFormation model of AWS::Backup::BackupVault, backed by the AWS Backup twin."""

    def __init__(self, account: str, region: str, name: str) -> None:
        self.account_id = account
        self.region_name = region
        self.name = name
        self.arn = f"arn:aws:backup:{region}:{account}:backup-vault:{name}"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "BackupVaultName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Backup::BackupVault"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in {"BackupVaultArn", "BackupVaultName"}

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "BackupVaultArn":
            return self.arn
        if attribute_name == "BackupVaultName":
            return self.name
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TwinBackupVault:
        from moto.backup.models import backup_backends

        properties = cloudformation_json["Properties"]
        name = properties.get("BackupVaultName", resource_name)
        backend = backup_backends[account_id][region_name]
        backend.create_backup_vault(
            backup_vault_name=name,
            backup_vault_tags=properties.get("BackupVaultTags"),
            encryption_key_arn=properties.get("EncryptionKeyArn"),
            creator_request_id=None,
        )
        vault = cls(account_id, region_name, name)
        policy = properties.get("AccessPolicy")
        twin = running_twin()
        if policy and twin is not None:
            twin.backup.policies[vault.arn] = (
                policy if isinstance(policy, str) else json.dumps(policy)
            )
        lock = properties.get("LockConfiguration")
        if lock:
            backend.put_backup_vault_lock_configuration(
                name,
                lock.get("MinRetentionDays"),
                lock.get("MaxRetentionDays"),
                lock.get("ChangeableForDays"),
            )
        return vault

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.backup.models import backup_backends

        backup_backends[account_id][region_name].delete_backup_vault(resource_name)


# -- parameters and rules ---------------------------------------------------------------------


def _validation_error(message: str) -> Exception:
    from moto.cloudformation.exceptions import ValidationError

    return ValidationError(message=message)


def validate_parameters(template: dict[str, Any], values: dict[str, Any]) -> None:
    """CloudFormation's parameter constraints, on the values a stack would get."""
    for name, slot in template.get("Parameters", {}).items():
        if name not in values or str(slot.get("Type", "")).startswith("AWS::SSM::"):
            continue
        value = values[name]
        text = str(value)
        allowed = slot.get("AllowedValues")
        if allowed is not None and text not in [str(a) for a in allowed]:
            raise _validation_error(
                f"Parameter '{name}' must be one of AllowedValues {allowed}, got {text!r}"
            )
        pattern = slot.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, text):
            raise _validation_error(
                f"Parameter '{name}' must match pattern {pattern}, got {text!r}"
            )
        if slot.get("Type") == "Number":
            try:
                number = float(text)
            except ValueError as error:
                raise _validation_error(f"Parameter '{name}' must be a number") from error
            if "MinValue" in slot and number < float(slot["MinValue"]):
                raise _validation_error(f"Parameter '{name}' must be >= {slot['MinValue']}")
            if "MaxValue" in slot and number > float(slot["MaxValue"]):
                raise _validation_error(f"Parameter '{name}' must be <= {slot['MaxValue']}")


def _rule_value(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Ref":
            return values.get(argument, argument)
        if function == "Fn::Equals":
            left, right = (_rule_value(a, values) for a in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not _rule_value(argument[0], values)
        if function == "Fn::And":
            return all(_rule_value(a, values) for a in argument)
        if function == "Fn::Or":
            return any(_rule_value(a, values) for a in argument)
        if function == "Fn::Contains":
            haystack, needle = (_rule_value(a, values) for a in argument)
            return str(needle) in [str(h) for h in haystack]
        raise NotImplementedError(f"rule function {function} is not modelled by the twin")
    return node


def validate_rules(template: dict[str, Any], values: dict[str, Any]) -> None:
    for name, rule in template.get("Rules", {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not _rule_value(condition, values):
            continue
        for assertion in rule.get("Assertions", []):
            if not _rule_value(assertion["Assert"], values):
                raise _validation_error(
                    f"Template error: rule {name}: {assertion.get('AssertDescription', 'failed')}"
                )


def _effective_values(template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    values = {
        name: slot.get("Default")
        for name, slot in template.get("Parameters", {}).items()
        if "Default" in slot
    }
    values.update(given)
    return values


def check_template(template_body: str, parameters: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Validate parameter values and Rules for one stack (or stack instance)."""
    import yaml
    from moto.cloudformation.utils import yaml_tag_constructor

    try:
        template = json.loads(template_body)
    except ValueError:
        # The same loader moto uses for the stack itself: short-form tags become Fn:: keys.
        yaml.add_multi_constructor("", yaml_tag_constructor)
        template = yaml.load(template_body, Loader=yaml.Loader)
    if isinstance(parameters, list):
        given = {p["ParameterKey"]: p.get("ParameterValue") for p in parameters}
    else:
        given = dict(parameters)
    values = _effective_values(template, given)
    validate_parameters(template, values)
    validate_rules(template, values)


# -- installation -----------------------------------------------------------------------------


def _install_state_machine() -> None:
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend

    from statemachines.definition import substitute_text

    original = StateMachine.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        if running_twin() is None:
            return original(
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString")
        if definition is None:
            definition = json.dumps(properties.get("Definition", {}))
        substitutions = properties.get("DefinitionSubstitutions") or {}
        definition = substitute_text(definition, dict(substitutions))
        backend = get_backend(account_id, region_name)
        return backend.create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            loggingConfiguration=properties.get("LoggingConfiguration"),
            sm_type=properties.get("StateMachineType", "STANDARD"),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]


def _install_layers() -> None:
    from moto.awslambda import models as lambda_models

    original = lambda_models.LambdaFunction._get_layers_data

    def _get_layers_data(self: Any, layers_versions_arns: list[str]) -> Any:
        public = [arn for arn in layers_versions_arns if f":{POWERTOOLS_ACCOUNT}:layer:" in arn]
        rest = [arn for arn in layers_versions_arns if arn not in public]
        found = original(self, rest) if rest else []
        return [{"Arn": arn, "CodeSize": 4_000_000} for arn in public] + found

    lambda_models.LambdaFunction._get_layers_data = _get_layers_data


def _install_validation() -> None:
    from moto.cloudformation import models as cfn_models

    backend = cfn_models.CloudFormationBackend
    original_stack = backend.create_stack
    original_set = backend.create_stack_set

    def create_stack(
        self: Any, name: str, template: str, parameters: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if running_twin() is not None:
            check_template(template, parameters)
        return original_stack(self, name, template, parameters, *args, **kwargs)

    def create_stack_set(
        self: Any, name: str, template: str, parameters: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if running_twin() is not None:
            check_template(template, parameters)
        return original_set(self, name, template, parameters, *args, **kwargs)

    backend.create_stack = create_stack
    backend.create_stack_set = create_stack_set


_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.cloudformation import parsing

    model_map = parsing.get_model_map()
    model_map[TwinBackupVault.cloudformation_type()] = TwinBackupVault  # type: ignore[assignment]
    parsing.get_name_type_map()[TwinBackupVault.cloudformation_type()] = "BackupVaultName"
    _install_state_machine()
    _install_layers()
    _install_validation()
    _INSTALLED = True
