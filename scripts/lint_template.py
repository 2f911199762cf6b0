"""Lint the CloudFormation templates in infrastructure/ with cfn-lint (pinned in requirements.lock).

Exit status is cfn-lint's: non-zero when any template has an error or warning.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    templates = sorted((ROOT / "infrastructure").glob("*.yaml"))
    if not templates:
        print("lint_template: no templates in infrastructure/ yet")
        return 0
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    return subprocess.call([str(cfn_lint), *map(str, templates)], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
