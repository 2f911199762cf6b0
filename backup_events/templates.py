"""The CloudFormation templates the command deploys: shipped in the package, or a checkout's."""

from __future__ import annotations

from pathlib import Path

from backup_events.aws import ConfigError

WORKFLOW = "backup_events_aws.yaml"  # the generated template (scripts/build.py)
OPERATOR_ROLE = "operator_role.yaml"
# What `deploy --template` accepts besides a file: the templates installed with the command, so
# the README's commands run from any directory, not only from a checkout.
NAMED = {"workflow": WORKFLOW, "operator-role": OPERATOR_ROLE}

# `pip install .` puts infrastructure/*.yaml here (pyproject.toml, package-dir); a checkout has
# them in infrastructure/ next to this package.
_PLACES = (
    Path(__file__).resolve().parent / "infrastructure",
    Path(__file__).resolve().parent.parent / "infrastructure",
)


def template_path(name: str = WORKFLOW) -> Path:
    for place in _PLACES:
        if (place / name).is_file():
            return place / name
    raise ConfigError(
        f"{name} is neither installed with the package nor in a checkout: pass --template"
    )


def chosen_template(given: str | None) -> Path:
    """`--template` as given: a name from NAMED, a file, or (None) the workflow template."""
    if given is None:
        return template_path()
    if given in NAMED:
        return template_path(NAMED[given])
    return Path(given)
