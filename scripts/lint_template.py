"""Lint the generated CloudFormation template: cfn-lint, then checkov (security checks).

cfn-lint also validates the inline state machine definition (its rule E3601). checkov runs from
its own virtualenv because it pins library versions the rest of the project cannot use; a
check this project skips on purpose carries its reason next to the resource, in the template.
Exit status is non-zero when either tool reports a problem.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infrastructure" / "backup_events_aws.yaml"
# The operator role for `backup-events` across an organization, deployed on its own.
OPERATOR_ROLE = ROOT / "infrastructure" / "operator_role.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", help="path to the checkov executable; omit to skip checkov")
    args = parser.parse_args(argv)
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    status = subprocess.call([str(cfn_lint), str(TEMPLATE), str(OPERATOR_ROLE)], cwd=ROOT)
    print(f"lint_template: cfn-lint {'ok' if status == 0 else 'FAILED'}")
    if args.checkov:
        checkov = subprocess.call(
            [
                args.checkov,
                "--quiet",
                # Offline: no policy metadata from the vendor's API (tests never use the network).
                "--skip-download",
                "--compact",
                "--framework",
                "cloudformation",
                "-f",
                str(TEMPLATE),
                str(OPERATOR_ROLE),
            ],
            cwd=ROOT,
        )
        print(f"lint_template: checkov {'ok' if checkov == 0 else 'FAILED'}")
        status = status or checkov
    return status


if __name__ == "__main__":
    sys.exit(main())
