"""`pip install .` gives a working `backup-events` command, with nothing from the checkout.

The package is built and installed offline into a fresh virtualenv, from a copy of the
sources (so the build leaves nothing in the work tree), and run from outside the checkout.
The new virtualenv borrows this one's installed packages (boto3, rich, setuptools, pip)
through a .pth file: the test proves what the package itself carries, not PyPI.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from backup_events.main import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "backup_events", "tasks", "infrastructure")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh virtualenv with the package installed."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    (purelib / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            str(source),
        ],
        check=True,
        cwd=work,
        env=clean_environment(),
    )
    return venv / "bin"


def clean_environment() -> dict[str, str]:
    # Nothing may leak the checkout onto the path: pytest's own `pythonpath` is in sys.path only.
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}


def run(bin_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        cwd=bin_dir.parent.parent,  # outside the checkout
        env=clean_environment(),
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        *([name] for name in COMMANDS),
        ["deploy", "stack"],
        ["deploy", "stackset"],
    ],
    ids=lambda argv: " ".join(argv) or "backup-events",
)
def test_the_command_and_every_subcommand_answer_help(installed: Path, argv: list[str]) -> None:
    answered = run(installed, "backup-events", *argv, "--help")
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.startswith(f"usage: {' '.join(['backup-events', *argv])}")


def test_the_installed_code_and_templates_are_the_packages_own(installed: Path) -> None:
    probe = (
        "import sys, backup_events, tasks, backup_events.main; "
        "from backup_events.templates import chosen_template; "
        "print(backup_events.__file__); print(tasks.__file__); print(chosen_template(None)); "
        # `deploy --template operator-role`, as the README runs it, from outside a checkout.
        "print(chosen_template('operator-role')); "
        "print('aws_lambda_powertools' in sys.modules)"
    )
    answered = run(installed, "python", "-c", probe)
    assert answered.returncode == 0, answered.stderr
    *paths, powertools = answered.stdout.split()
    venv = installed.parent.resolve()
    for path in paths:
        assert Path(path).resolve().is_relative_to(venv), path
    for path, name in zip(paths[2:], ("backup_events_aws.yaml", "operator_role.yaml"), strict=True):
        assert Path(path).read_text() == (ROOT / "infrastructure" / name).read_text()
    # The command imports only tasks modules that do not need Powertools (a Lambda layer).
    assert powertools == "False"


def test_the_runtime_dependencies_are_exactly_the_locked_operator_ones(installed: Path) -> None:
    answered = run(
        installed,
        "python",
        "-c",
        "import importlib.metadata as m; print('\\n'.join(m.requires('backup-events')))",
    )
    required = sorted(answered.stdout.split())
    assert [r.split("==")[0] for r in required] == ["boto3", "botocore", "rich"]
    locked = set((ROOT / "requirements.lock").read_text().split())
    assert set(required) <= locked
