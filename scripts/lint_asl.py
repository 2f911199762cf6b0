"""Validate every state machine definition in statemachines/ with asl-validator (npm, pinned).

Definitions hold `${Name}` placeholders that CloudFormation fills at deploy time, so each is
rendered with example values first, exactly as statemachines.definition.render does for the
twin, and the rendered JSON is what asl-validator checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from statemachines.definition import EXAMPLE_SUBSTITUTIONS, definition_names, render

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    names = definition_names()
    if not names:
        print("lint_asl: no definitions in statemachines/ yet")
        return 0
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rendered = Path(tmp) / f"{name}.asl.json"
            rendered.write_text(json.dumps(render(name, EXAMPLE_SUBSTITUTIONS)))
            result = subprocess.run(
                [str(validator), "--json-path", str(rendered)],
                capture_output=True,
                text=True,
                check=False,
            )
            print(f"lint_asl: {name}: {'ok' if result.returncode == 0 else 'INVALID'}")
            if result.returncode != 0:
                print(result.stdout, result.stderr, sep="\n")
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
