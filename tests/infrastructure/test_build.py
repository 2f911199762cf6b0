"""The committed template is exactly what its sources generate, and its inline code stands alone.

Users deploy infrastructure/backup_events_aws.yaml, not the sources: a stale template ships
yesterday's code, and an inline bundle that still imports tasks/ fails on Lambda with an
ImportError on its first invocation.
"""

from __future__ import annotations

import ast
import difflib
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from scripts import build
from scripts import bundle as bundler
from tests.infrastructure.conftest import ROOT, TASK_FUNCTIONS, TEMPLATE_PATH, template

TEMPLATE_URL_LIMIT = 1_000_000  # TemplateURL templates: 1 MB (aws-facts.md §E.2)

# What an inline Python function can import on Lambda: the standard library, the SDK the
# runtime ships, and the Powertools layer the template attaches.
RUNTIME_PROVIDED = {"boto3", "botocore", "aws_lambda_powertools"}


def inline_code(logical_id: str) -> str:
    code: str = template()["Resources"][logical_id]["Properties"]["Code"]["ZipFile"]
    return code


def runtime_imports(source: str) -> set[str]:
    """Top-level package names the code imports when it runs (TYPE_CHECKING blocks skipped)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return names - {"__future__"}


# -- the committed template is current --------------------------------------------------------


def test_the_committed_template_is_what_the_sources_generate() -> None:
    generated = build.generate()
    committed = TEMPLATE_PATH.read_text()
    diff = list(
        difflib.unified_diff(
            committed.splitlines(), generated.splitlines(), "committed", "generated", lineterm=""
        )
    )
    assert not diff, "stale template; run `make build`:\n" + "\n".join(diff[:30])


def test_build_check_fails_on_a_stale_template_and_passes_on_a_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    generated = build.generate()
    output = tmp_path / "backup_events_aws.yaml"
    monkeypatch.setattr(build, "OUTPUT", output)
    monkeypatch.setattr(build, "ROOT", tmp_path)

    output.write_text(generated.replace("Timeout: 30", "Timeout: 31", 1))
    assert build.main(["--check"]) == 1
    assert "is stale: run `make build`" in capsys.readouterr().err
    assert "Timeout: 31" in output.read_text(), "--check must not rewrite the template"

    output.write_text(generated)
    assert build.main(["--check"]) == 0


def test_the_build_gives_the_same_template_in_every_process() -> None:
    # `make build` on one machine and `build.py --check` in CI must agree byte for byte, so
    # nothing in the output may depend on Python's per-process string hashing (set order).
    script = (
        "import hashlib, sys; sys.path.insert(0, 'scripts'); import build; "
        "print(hashlib.sha256(build.generate().encode()).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        digests.add(run.stdout.strip())
    assert len(digests) == 1, f"{len(digests)} different templates from 3 hash seeds"


def test_the_template_fits_the_template_url_limit() -> None:
    # Far over the 51,200-byte TemplateBody limit by design (inline code), but a TemplateURL
    # template over 1 MB could not be deployed at all.
    size = len(TEMPLATE_PATH.read_bytes())
    assert 51_200 < size < TEMPLATE_URL_LIMIT


# -- the inline code --------------------------------------------------------------------------


@pytest.mark.parametrize(("logical_id", "module"), sorted(TASK_FUNCTIONS.items()))
def test_each_inline_function_is_its_task_module_bundled(logical_id: str, module: str) -> None:
    # That the text is current is the staleness test's job; this one checks what Lambda needs.
    code = inline_code(logical_id)
    assert code.startswith(f"# Generated from {module.replace('.', '/')}.py")
    compile(code, f"<{logical_id}/index.py>", "exec")
    unavailable = runtime_imports(code) - RUNTIME_PROVIDED - set(sys.stdlib_module_names)
    assert not unavailable, f"{logical_id} imports what Lambda does not have: {unavailable}"


@pytest.mark.parametrize("logical_id", sorted(TASK_FUNCTIONS))
def test_each_inline_function_runs_without_the_tasks_package(
    logical_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On Lambda the code is one index.py and there is no tasks/ package: importing anything
    # from it must fail here too (a None entry in sys.modules makes `import tasks` raise).
    for name in [m for m in sys.modules if m == "tasks" or m.startswith("tasks.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tasks", None)
    module_name = f"index_{logical_id}"
    namespace: dict[str, Any] = {"__name__": module_name}
    # dataclasses looks the defining module up in sys.modules, as for a real import.
    monkeypatch.setitem(sys.modules, module_name, type(sys)(module_name))
    exec(compile(inline_code(logical_id), f"<{logical_id}>", "exec"), namespace)
    assert callable(namespace["handler"])


# -- the bundler's guard against shadowed names -----------------------------------------------


def write_package(root: Path, modules: dict[str, str]) -> None:
    package = root / "tasks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in modules.items():
        (package / f"{name}.py").write_text(textwrap.dedent(source))


def test_the_bundler_refuses_a_name_two_modules_define_differently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Concatenated into one file, the later LIMIT would silently replace the earlier one and
    # change what the first module's code does.
    write_package(
        tmp_path,
        {
            "first": "LIMIT = 7\ndef first_limit() -> int:\n    return LIMIT\n",
            "second": "LIMIT = 90\ndef second_limit() -> int:\n    return LIMIT\n",
            "entry": """
                from tasks.first import first_limit
                from tasks.second import second_limit

                def handler(event, context):
                    return first_limit() + second_limit()
            """,
        },
    )
    monkeypatch.setattr(bundler, "ROOT", tmp_path)

    with pytest.raises(bundler.BundleError) as refused:
        bundler.bundle("tasks.entry")

    message = str(refused.value)
    assert "LIMIT is defined differently" in message
    assert "tasks.first" in message
    assert "tasks.second" in message


def test_the_bundler_accepts_one_name_defined_identically_and_joins_the_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control for the test above: the same name with the same definition is harmless, and
    # the bundle runs on its own with the cross-module imports removed.
    write_package(
        tmp_path,
        {
            "first": "UNIT = 'days'\ndef first() -> str:\n    return '7 ' + UNIT\n",
            "second": "UNIT = 'days'\ndef second() -> str:\n    return '90 ' + UNIT\n",
            "entry": """
                from tasks.first import first
                from tasks.second import second

                def handler(event, context):
                    return [first(), second()]
            """,
        },
    )
    monkeypatch.setattr(bundler, "ROOT", tmp_path)

    source = bundler.bundle("tasks.entry")

    assert not [line for line in source.splitlines() if line.startswith(("from tasks", "import"))]
    assert source.index("# --- tasks.entry ---") > source.index("# --- tasks.first ---")
    namespace: dict[str, Any] = {}
    exec(compile(source, "<entry>", "exec"), namespace)
    assert namespace["handler"]({}, None) == ["7 days", "90 days"]
