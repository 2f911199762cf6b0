"""Turn one task module and the tasks/ modules it imports into a single `index.py`.

CloudFormation's inline `ZipFile` holds exactly one file per function (docs/aws-facts.md §E.1),
and the template must stay self-contained (no S3 artifacts), so each function gets its task
module with its in-project dependencies concatenated in dependency order. Each module's source
is shipped as written, comments and docstrings included, so that whoever reviews the template
before deploying it reads the code the repository holds. Only two kinds of line are left out:
imports between tasks modules (their names are now in the same file) and the repeated
`from __future__ import annotations` (stated once at the top). A name defined by two modules
differently is a build error rather than a silent shadowing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from graphlib import TopologicalSorter
from pathlib import Path
from typing import TypeGuard

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tasks"
FUTURE = "from __future__ import annotations"


class BundleError(RuntimeError):
    pass


@dataclass
class _Module:
    name: str
    text: str
    tree: ast.Module
    local_imports: set[str]

    @property
    def path(self) -> str:
        return "/".join(self.name.split(".")) + ".py"


def _is_local(node: ast.AST) -> TypeGuard[ast.ImportFrom]:
    return (
        isinstance(node, ast.ImportFrom)
        and node.module is not None
        and (node.module == PACKAGE or node.module.startswith(PACKAGE + "."))
    )


def _load(name: str) -> _Module:
    path = ROOT / Path(*name.split(".")).with_suffix(".py")
    return _parsed(name, str(path), path.read_text())


@cache  # one build reads each module for every function that carries it
def _parsed(name: str, path: str, text: str) -> _Module:
    tree = ast.parse(text, filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name == PACKAGE or a.name.startswith(PACKAGE + ".") for a in node.names
        ):
            raise BundleError(f"{name}: write `from tasks.x import y`, not `import tasks.x`")
        if _is_local(node) and node not in tree.body:
            raise BundleError(f"{name}: an import of tasks modules must be at module level")
    local = {node.module for node in tree.body if _is_local(node) and node.module}
    return _Module(name, text, tree, local)


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


def shipped_lines(module: _Module) -> list[str]:
    """The module's lines as the bundle carries them: all but tasks imports and __future__."""
    dropped: set[int] = set()
    for node in module.tree.body:
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if future or _is_local(node):
            dropped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return [line for n, line in enumerate(module.text.splitlines(), 1) if n not in dropped]


def carried_modules(entry: str) -> list[str]:
    """The repository files whose code the function of `entry` carries, in bundle order."""
    return [_load(name).path for name in dependencies(entry)]


def bundle(entry: str) -> str:
    """The single-file source of the Lambda function whose handler is `entry`.handler."""
    defined: dict[str, tuple[str, str]] = {}
    parts = [
        f"# index.py of the function whose handler is {entry.replace('.', '/')}.py, built by",
        "# scripts/build.py: each tasks/ module it needs, as written in the repository, in",
        "# dependency order; only the imports between those modules are left out.",
        FUTURE,
    ]
    for name in dependencies(entry):
        module = _load(name)
        for symbol, dump in _top_level_names(module.tree).items():
            if symbol in defined and defined[symbol][1] != dump and symbol != "__all__":
                raise BundleError(
                    f"{symbol} is defined differently in {defined[symbol][0]} and {name}"
                )
            defined[symbol] = (name, dump)
        parts.extend(["", "", f"# {'-' * 30} {module.path} {'-' * 30}", *shipped_lines(module)])
    source = "\n".join(parts) + "\n"
    compile(source, f"<{entry}>", "exec")
    return source
