"""Draw the state machine as SVG, with the path one execution took highlighted.

The graph comes from the definition itself (Next, Default, Choices, Catch), laid out in layers
by networkx (each state one layer below the states that lead to it). The result is plain SVG
text, so the demo's HTML report is one self-contained file.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from itertools import pairwise
from typing import Any

import networkx as nx

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 214, 34, 22, 40, 20
COLOURS = {
    "Choice": "#fff5d6",
    "Fail": "#fde2e1",
    "Succeed": "#dff3e4",
    "Task": "#e6eefc",
}


def graph_of(definition: dict[str, Any]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, state in definition["States"].items():
        graph.add_node(name, kind=state["Type"])
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", [])]
        targets += [c["Next"] for c in state.get("Catch", [])]
        for target in targets:
            if target:
                graph.add_edge(name, target, caught=False)
        for catch in state.get("Catch", []):
            # An error path, drawn dashed, unless the same transition is also a normal one.
            if catch["Next"] not in targets[:2] + [c["Next"] for c in state.get("Choices", [])]:
                graph.edges[name, catch["Next"]]["caught"] = True
    return graph


def layout(definition: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Top-left corner of each state's box: one row per layer, rows centred."""
    graph = graph_of(definition)
    layers = list(nx.topological_generations(graph))
    widest = max(len(layer) for layer in layers)
    positions: dict[str, tuple[float, float]] = {}
    for row, layer in enumerate(layers):
        # Keep the definition's own order within a row: it reads like the runbook.
        ordered = [n for n in definition["States"] if n in layer]
        offset = (widest - len(ordered)) * (BOX_W + GAP_X) / 2
        for column, name in enumerate(ordered):
            positions[name] = (
                MARGIN + offset + column * (BOX_W + GAP_X),
                MARGIN + row * (BOX_H + GAP_Y),
            )
    return positions


def svg(definition: dict[str, Any], path: Iterable[str] = (), title: str = "") -> str:
    """The state machine, with the states and transitions of `path` drawn in bold."""
    graph = graph_of(definition)
    positions = layout(definition)
    visited = list(path)
    taken = set(pairwise(visited))
    width = max(x for x, _ in positions.values()) + BOX_W + MARGIN
    height = max(y for _, y in positions.values()) + BOX_H + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for source, target, caught in graph.edges(data="caught"):
        (x1, y1), (x2, y2) = positions[source], positions[target]
        bold = (source, target) in taken
        dash = ' stroke-dasharray="4 3"' if caught else ""
        parts.append(
            f'<line x1="{x1 + BOX_W / 2:.0f}" y1="{y1 + BOX_H:.0f}" x2="{x2 + BOX_W / 2:.0f}" '
            f'y2="{y2:.0f}" stroke="{"#1f5fbf" if bold else "#bbb"}" '
            f'stroke-width="{3 if bold else 1}"{dash} marker-end="url(#arrow)"/>'
        )
    for name, (x, y) in positions.items():
        kind = graph.nodes[name]["kind"]
        on_path = name in visited
        parts.append(
            f'<g><rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{COLOURS.get(kind, "#eee")}" stroke="{"#1f5fbf" if on_path else "#999"}" '
            f'stroke-width="{3 if on_path else 1}"/>'
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle" '
            f'font-weight="{"bold" if on_path else "normal"}">{escape(name)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
