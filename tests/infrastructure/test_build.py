"""The committed template is exactly what its sources generate, and its inline code stands alone.

Users deploy infrastructure/backup_events_aws.yaml, not the sources: a stale template ships
yesterday's code, and an inline bundle that still imports tasks/ fails on Lambda with an
ImportError on its first invocation.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import os
import re
import subprocess
import sys
import textwrap
from functools import cache
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


@cache
def generated() -> str:
    """The template the sources generate (a few seconds of bundling: once per process)."""
    return build.generate()


def test_the_committed_template_is_what_the_sources_generate() -> None:
    committed = TEMPLATE_PATH.read_text()
    diff = list(
        difflib.unified_diff(
            committed.splitlines(), generated().splitlines(), "committed", "generated", lineterm=""
        )
    )
    assert not diff, "stale template; run `make build`:\n" + "\n".join(diff[:30])


def test_build_check_fails_on_a_stale_template_and_passes_on_a_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What --check compares with is the test above's question; this one is about --check.
    output = tmp_path / "backup_events_aws.yaml"
    monkeypatch.setattr(build, "OUTPUT", output)
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(build, "generate", generated)

    output.write_text(generated().replace("Timeout: 30", "Timeout: 31", 1))
    assert build.main(["--check"]) == 1
    assert "is stale: run `make build`" in capsys.readouterr().err
    assert "Timeout: 31" in output.read_text(), "--check must not rewrite the template"

    output.write_text(generated())
    assert build.main(["--check"]) == 0


def test_the_build_gives_the_same_template_in_every_process() -> None:
    # `make build` on one machine and `build.py --check` in CI must agree byte for byte, so
    # nothing in the output may depend on Python's per-process string hashing (set order).
    script = (
        "import hashlib; from scripts import build; "
        "print(hashlib.sha256(build.generate().encode()).hexdigest())"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2", "3")
    ]
    digests = set()
    for run in runs:
        out, err = run.communicate()
        assert run.returncode == 0, err
        digests.add(out.strip())
    assert len(digests) == 1, f"{len(digests)} different templates from 3 hash seeds"
    assert digests == {hashlib.sha256(TEMPLATE_PATH.read_bytes()).hexdigest()}


def test_the_template_fits_the_template_url_limit() -> None:
    # Far over the 51,200-byte TemplateBody limit by design (inline code), but a TemplateURL
    # template over 1 MB could not be deployed at all.
    size = len(TEMPLATE_PATH.read_bytes())
    assert 51_200 < size < TEMPLATE_URL_LIMIT


# -- the inline code --------------------------------------------------------------------------

SEPARATOR = re.compile(r"^# -{30} (?P<path>tasks/\w+\.py) -{30}$")
CARRIES = re.compile(r"^\s*# Carries, verbatim: (?P<paths>.+)$")


@cache
def carried_comments() -> dict[str, list[str]]:
    """Resource logical id → the modules its `# Carries, verbatim:` comment names.

    Read from the template's text: comments are what a reviewer sees above each ZipFile, and
    no YAML parser keeps them.
    """
    found: dict[str, list[str]] = {}
    resource = ""
    lines = TEMPLATE_PATH.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.fullmatch(r"  (\w+):", line):
            resource = line.strip().rstrip(":")
        carries = CARRIES.match(line)
        if carries:
            assert lines[number + 1].strip() == "ZipFile: |", f"{resource}: comment not above"
            found[resource] = carries["paths"].split(", ")
    return found


def dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def tasks_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.module is not None
        and (node.module == "tasks" or node.module.startswith("tasks."))
    ]


def module_lines_without_shared_imports(path: str) -> list[str]:
    """A tasks/ module's lines, all of them but its imports of other tasks modules and
    `from __future__ import annotations` (issue 14: those are all a bundle may leave out)."""
    text = (ROOT / path).read_text()
    tree = ast.parse(text)
    left_out = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
    ] + tasks_imports(tree)
    dropped = {n for node in left_out for n in range(node.lineno, (node.end_lineno or 0) + 1)}
    return [line for n, line in enumerate(text.splitlines(), 1) if n not in dropped]


def sections(code: str) -> tuple[list[str], dict[str, list[str]]]:
    """(the lines before the first module, {module path: its lines}) of an inline bundle."""
    head: list[str] = []
    parts: dict[str, list[str]] = {}
    current = head
    for line in code.splitlines():
        separator = SEPARATOR.match(line)
        if separator:
            current = parts.setdefault(separator["path"], [])
        else:
            current.append(line)
    return head, parts


def without_trailing_blanks(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


def test_every_function_says_which_modules_it_carries() -> None:
    assert set(carried_comments()) == set(TASK_FUNCTIONS)
    for logical_id, module in TASK_FUNCTIONS.items():
        assert carried_comments()[logical_id][-1] == module.replace(".", "/") + ".py", logical_id


@pytest.mark.parametrize(("logical_id", "module"), sorted(TASK_FUNCTIONS.items()))
def test_each_function_carries_its_modules_line_for_line_in_dependency_order(
    logical_id: str, module: str
) -> None:
    # Issue 14: the code a reviewer reads in the template is the repository's, comments and
    # docstrings included; only imports between tasks modules and the repeated __future__
    # import are left out.
    carried = carried_comments()[logical_id]
    head, parts = sections(inline_code(logical_id))

    assert list(parts) == carried
    for path in carried:
        expected = module_lines_without_shared_imports(path)
        assert without_trailing_blanks(parts[path]) == without_trailing_blanks(expected), path
    assert without_trailing_blanks(head)[-1] == "from __future__ import annotations"
    assert all(line.startswith("#") for line in without_trailing_blanks(head)[:-1])

    # Every tasks module the entry needs, each after the modules it imports, the entry last.
    needs: dict[str, set[str]] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name not in needs:
            tree = ast.parse((ROOT / (name.replace(".", "/") + ".py")).read_text())
            needs[name] = {node.module for node in tasks_imports(tree) if node.module != "tasks"}
            todo.extend(needs[name])
    names = [dotted(path) for path in carried]
    assert set(names) == set(needs)
    assert names[-1] == module
    for position, name in enumerate(names):
        assert needs[name] <= set(names[:position]), f"{name} comes before what it imports"


@pytest.mark.parametrize("logical_id", sorted(TASK_FUNCTIONS))
def test_each_inline_function_needs_only_what_lambda_provides(logical_id: str) -> None:
    # That the text is current is the staleness test's job; this one checks what Lambda needs.
    code = inline_code(logical_id)
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
    assert source.index(" tasks/entry.py ") > source.index(" tasks/first.py ")
    assert bundler.carried_modules("tasks.entry")[-1] == "tasks/entry.py"
    namespace: dict[str, Any] = {}
    exec(compile(source, "<entry>", "exec"), namespace)
    assert namespace["handler"]({}, None) == ["7 days", "90 days"]


def test_the_bundler_keeps_every_line_but_the_imports_between_tasks_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14: comments, docstrings and blank lines reach the template as written; a
    # parenthesised import of several names leaves with all its lines, __future__ stays once.
    helper = [
        '"""Helpers."""',
        "",
        "from __future__ import annotations",
        "",
        "import json  # the standard library stays",
        "",
        "# Why seven: the shortest retention the tests use.",
        "SEVEN = 7",
        "",
        "",
        "def dumped() -> str:",
        '    """SEVEN as JSON."""',
        "    return json.dumps(SEVEN)",
    ]
    entry = [
        '"""The entry."""',
        "",
        "from __future__ import annotations",
        "",
        "from tasks.helper import (",
        "    SEVEN,",
        "    dumped,",
        ")",
        "",
        "",
        "def handler(event, context):",
        "    # A comment inside a function.",
        "    return [SEVEN, dumped()]",
    ]
    write_package(tmp_path, {"helper": "\n".join(helper), "entry": "\n".join(entry)})
    monkeypatch.setattr(bundler, "ROOT", tmp_path)

    head, parts = sections(bundler.bundle("tasks.entry"))

    assert bundler.carried_modules("tasks.entry") == ["tasks/helper.py", "tasks/entry.py"]
    assert list(parts) == ["tasks/helper.py", "tasks/entry.py"]
    assert head.count("from __future__ import annotations") == 1
    assert without_trailing_blanks(parts["tasks/helper.py"]) == helper[:2] + helper[3:]
    assert without_trailing_blanks(parts["tasks/entry.py"]) == entry[:2] + entry[3:4] + entry[8:]
