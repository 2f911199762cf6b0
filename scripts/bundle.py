"""Turn one task module and the tasks/ modules it imports into a single `index.py`.

CloudFormation's inline `ZipFile` holds exactly one file per function (aws-facts.md §E.1), and
the template must stay self-contained (no S3 artifacts), so each function gets its task module
with its in-project dependencies concatenated in dependency order. Imports between tasks
modules are dropped (their names are now in the same file), other imports are gathered at the
top, docstrings and comments are left out (the commented source is in tasks/), and a name
defined by two modules differently is a build error rather than a silent shadowing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tasks"


class BundleError(RuntimeError):
    pass


@dataclass
class _Module:
    name: str
    tree: ast.Module
    local_imports: set[str]


def _load(name: str) -> _Module:
    path = ROOT / Path(*name.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(), filename=str(path))
    local = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and (node.module == PACKAGE or node.module.startswith(PACKAGE + "."))
    }
    return _Module(name, tree, local)


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]


def _top_level_names(tree: ast.Module) -> dict[str, str]:
    names: dict[str, str] = {}
    for node in tree.body:
        targets: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            targets = [node.name]
        elif isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        for target in targets:
            names[target] = ast.dump(node)
    return names


def dependencies(entry: str) -> list[str]:
    """The tasks modules `entry` needs, dependencies first, `entry` last."""
    graph: dict[str, list[str]] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in graph:
            continue
        module = _load(name)
        # Sorted: a set's order changes with each process's hash seed, and the build must give
        # the same bytes every time for the staleness check to mean anything.
        graph[name] = sorted(m for m in module.local_imports if m != PACKAGE)
        todo.extend(graph[name])
    return list(TopologicalSorter(graph).static_order())


def bundle(entry: str) -> str:
    """The single-file source of the Lambda function whose handler is `entry`.handler."""
    imports: list[str] = []
    bodies: list[str] = []
    defined: dict[str, tuple[str, str]] = {}
    for name in dependencies(entry):
        module = _load(name)
        _strip_docstrings(module.tree)
        for symbol, dump in _top_level_names(module.tree).items():
            if symbol in defined and defined[symbol][1] != dump and symbol != "__all__":
                raise BundleError(
                    f"{symbol} is defined differently in {defined[symbol][0]} and {name}"
                )
            defined[symbol] = (name, dump)
        body: list[ast.stmt] = []
        for node in module.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and (node.module == PACKAGE or node.module.startswith(PACKAGE + "."))
            ):
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                line = ast.unparse(node)
                if line not in imports:
                    imports.append(line)
                continue
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                continue
            body.append(node)
        bodies.append(f"# --- {name} ---\n" + ast.unparse(ast.Module(body=body, type_ignores=[])))
    header = (
        f"# Generated from {entry.replace('.', '/')}.py and its tasks/ imports by scripts/build.py"
    )
    source = "\n".join([header, "from __future__ import annotations", *imports, *bodies]) + "\n"
    compile(source, f"<{entry}>", "exec")
    return source
