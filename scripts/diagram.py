"""Draw a state machine as SVG, with one execution's path marked as the Step Functions console does.

The graph comes from the definition itself (StartAt, Next, Default, Choices, Catch, End), with
a Start and an End node as the console draws them. States run in rows, one below the states
that lead to them; states reached only through a Catch and ending there (the named Fail
states) stand in a column on the right, so that error paths do not cross the main path.
Transitions are drawn as orthogonal lines in the gaps between rows and beside the boxes.

Each state is coloured by what the execution did there, with the console's meanings:
succeeded, caught error (the state failed and its Catch moved on), failed (the execution
failed there), in progress; states the execution never entered stay white. A legend says so.
The result is plain SVG text, so the demo's HTML report is one self-contained file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from itertools import count, pairwise
from typing import Any

import networkx as nx  # type: ignore[import-untyped]  # no py.typed; stubs are not a dependency

START, END = "Start", "End"
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, LANE = 200, 30, 22, 40, 20, 7
PILL_W = 64
LEGEND_H, LEGEND_W = 52, 560

# (fill, stroke, label) as the console shows an execution's states.
STATUS_STYLE = {
    "succeeded": ("#e3f4e1", "#1d8102", "Succeeded"),
    "caught": ("#fff1e0", "#ec7211", "Caught error"),
    "failed": ("#fde7e9", "#d13212", "Failed"),
    "running": ("#e5f1fb", "#0073bb", "In progress"),
    "cancelled": ("#eaeded", "#687078", "Cancelled"),
}
NOT_RUN = ("#ffffff", "#aab7b8", "Not run")
TAKEN, IDLE = "#16191f", "#c4cbcc"


@dataclass
class Graph:
    """The states and transitions to draw, and where each box goes."""

    kinds: dict[str, str]  # state name -> Type; Start and End included
    edges: list[tuple[str, str, bool]]  # (source, target, through a Catch)
    side: list[str]  # error ends drawn in the right-hand column
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # top-left corners

    def width_of(self, name: str) -> float:
        return PILL_W if name in (START, END) else BOX_W

    def box(self, name: str) -> tuple[float, float, float, float]:
        x, y = self.positions[name]
        return x, y, x + self.width_of(name), y + BOX_H


def transitions(
    definition: Mapping[str, Any],
) -> tuple[dict[str, str], list[tuple[str, str, bool]]]:
    """Every state's type, and every transition the definition allows, Start and End included."""
    kinds = {START: "Start", END: "End"}
    edges: list[tuple[str, str, bool]] = [(START, str(definition["StartAt"]), False)]
    for name, state in definition["States"].items():
        kinds[name] = state["Type"]
        normal = [state.get("Next"), state.get("Default")]
        normal += [choice["Next"] for choice in state.get("Choices", [])]
        targets = [t for t in dict.fromkeys(normal) if t]
        edges += [(name, target, False) for target in targets]
        caught = [c["Next"] for c in state.get("Catch", []) if c["Next"] not in targets]
        edges += [(name, target, True) for target in dict.fromkeys(caught)]
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            edges.append((name, END, False))
    return kinds, edges


def layout(definition: Mapping[str, Any]) -> Graph:
    kinds, edges = transitions(definition)
    incoming: dict[str, list[bool]] = {}
    for _, target, caught in edges:
        incoming.setdefault(target, []).append(caught)
    # An error end: a Fail or Succeed state that only a Catch leads to.
    side = [
        name
        for name, kind in kinds.items()
        if kind in ("Fail", "Succeed") and incoming.get(name) and all(incoming[name])
    ]
    main = nx.DiGraph()
    main.add_nodes_from(n for n in kinds if n not in side)
    main.add_edges_from((s, t) for s, t, _ in edges if s not in side and t not in side)
    graph = Graph(kinds, edges, side)
    rows = [list(row) for row in nx.topological_generations(main)]
    # End alone on the last row, below every state.
    rows = [[n for n in row if n != END] for row in rows if row != [END]] + [[END]]
    order = list(kinds)
    widths = [sum(graph.width_of(n) + GAP_X for n in row) - GAP_X for row in rows]
    widest = max(widths)
    for index, row in enumerate(rows):
        # The definition's own order within a row: it reads like the runbook.
        x = MARGIN + (widest - widths[index]) / 2
        for name in sorted(row, key=order.index):
            graph.positions[name] = (x, MARGIN + index * (BOX_H + GAP_Y))
            x += graph.width_of(name) + GAP_X
    # The error column: beside the states it is caught from, after the channels to its left.
    column = MARGIN + widest + GAP_X + (len(side) + 2) * LANE
    taken_until = 0.0
    for name in sorted(side, key=lambda n: (_sources_middle(graph, n), order.index(n))):
        y = max(_sources_middle(graph, name) - BOX_H / 2, taken_until)
        graph.positions[name] = (column, y)
        taken_until = y + BOX_H + GAP_Y / 2
    return graph


def _sources_middle(graph: Graph, name: str) -> float:
    ys = [graph.positions[s][1] + BOX_H / 2 for s, t, _ in graph.edges if t == name]
    return sum(ys) / len(ys)


def _row_gap_below(graph: Graph, name: str) -> float:
    return graph.positions[name][1] + BOX_H + GAP_Y / 2


def _route(graph: Graph, source: str, target: str, lane: int) -> list[tuple[float, float]]:
    """The corner points of one transition, drawn in the gaps so it crosses no box."""
    sx1, sy1, sx2, sy2 = graph.box(source)
    tx1, ty1, tx2, ty2 = graph.box(target)
    scx, tcx = (sx1 + sx2) / 2, (tx1 + tx2) / 2
    if target in graph.side:
        # Out of the source's lower right, along the gap below it, up or down the error
        # column's left side, into the error state.
        x0 = sx2 - 18
        gap = sy2 + GAP_Y / 2 + 3
        channel = tx1 - GAP_X / 2 - lane * LANE
        tcy = (ty1 + ty2) / 2
        return [(x0, sy2), (x0, gap), (channel, gap), (channel, tcy), (tx1, tcy)]
    if source in graph.side:
        # Down the right of the error column, into End's right side.
        channel = sx2 + GAP_X / 2 + lane * LANE
        scy, tcy = (sy1 + sy2) / 2, (ty1 + ty2) / 2
        return [(sx2, scy), (channel, scy), (channel, tcy), (tx2, tcy)]
    below, above = sy2 + GAP_Y / 2, ty1 - GAP_Y / 2
    if below >= above - 1:  # the next row: one elbow in the gap between
        return [(scx, sy2), (scx, below), (tcx, below), (tcx, ty1)]
    # Rows apart: beside every box of the rows in between, on the side of the target.
    between = [
        graph.box(n)
        for n in graph.positions
        if n not in graph.side and sy2 < graph.positions[n][1] < ty1
    ]
    if tcx >= scx:
        channel = max([x2 for _, _, x2, _ in between] + [sx2, tx2]) + GAP_X / 2 + lane * LANE
    else:
        channel = min([x1 for x1, _, _, _ in between] + [sx1, tx1]) - GAP_X / 2 - lane * LANE
    return [(scx, sy2), (scx, below), (channel, below), (channel, above), (tcx, above), (tcx, ty1)]


def svg(
    definition: Mapping[str, Any],
    statuses: Mapping[str, str] | None = None,
    path: Iterable[str] = (),
    title: str = "",
) -> str:
    """The state machine; `statuses` colours the states (state -> a key of STATUS_STYLE) and
    the transitions `path` took are drawn bold (Start and End included when it ran so far)."""
    graph = layout(definition)
    statuses = dict(statuses or {})
    taken = set(pairwise(path))
    # Lines that run beside the boxes get lanes of their own: one per error state (the Catch
    # lines into it merge), one per transition that skips rows.
    error_lanes = {name: i for i, name in enumerate(graph.side)}
    long_lanes = count()
    routes = []
    for source, target, caught in graph.edges:
        if target == END and (source, target) not in taken:
            continue  # every final state leads to End: only the one reached says something
        if target in graph.side:
            lane = error_lanes[target]
        elif source in graph.side:
            lane = 0
        else:
            skips = graph.positions[target][1] - graph.positions[source][1] > BOX_H + GAP_Y + 1
            lane = next(long_lanes) if skips else 0
        routes.append((source, target, caught, _route(graph, source, target, lane)))
    xs = [x for *_, points in routes for x, _ in points] + [
        graph.box(n)[2] for n in graph.positions
    ]
    width = max(*xs, LEGEND_W) + MARGIN
    height = max(graph.box(n)[3] for n in graph.positions) + MARGIN + LEGEND_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="state-machine" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        "<defs>"
        + "".join(
            f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
            f'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/>'
            "</marker>"
            for name, colour in (("taken", TAKEN), ("idle", IDLE))
        )
        + "</defs>",
    ]
    # Idle transitions first, so that the path is drawn over them.
    for source, target, caught, points in sorted(routes, key=lambda r: (r[0], r[1]) in taken):
        bold = (source, target) in taken
        corners = " L".join(f"{x:.0f},{y:.0f}" for x, y in points)
        dash = ' stroke-dasharray="5 3"' if caught else ""
        kind = "taken" if bold else "idle"
        parts.append(
            f'<path class="{"taken" if bold else "transition"}" d="M{corners}" fill="none" '
            f'stroke="{TAKEN if bold else IDLE}" stroke-width="{2.5 if bold else 1}" '
            f'stroke-linejoin="round"{dash} marker-end="url(#arrow-{kind})"/>'
        )
    for name in graph.positions:
        parts.append(_node(graph, name, statuses.get(name)))
    parts.append(_legend(height - LEGEND_H + 10))
    parts.append("</svg>")
    return "\n".join(parts)


def _node(graph: Graph, name: str, status: str | None) -> str:
    x1, y1, x2, _ = graph.box(name)
    fill, stroke, label = STATUS_STYLE.get(status or "", NOT_RUN)
    pill = name in (START, END)
    if pill:  # Start and End: grey pills, dark once the execution got there
        fill, stroke = ("#545b64", "#545b64") if status else ("#ffffff", "#879596")
    text = "#ffffff" if pill and status else ("#16191f" if status else "#687078")
    kind = graph.kinds[name]
    return (
        f'<g class="state {status or "not-run"}" data-state="{escape(name)}" '
        f'data-status="{escape(label if not pill else (status or "not run"))}">'
        f'<rect x="{x1:.0f}" y="{y1:.0f}" width="{x2 - x1:.0f}" height="{BOX_H}" '
        f'rx="{BOX_H / 2 if pill or kind == "Choice" else 4:.0f}" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{2 if status else 1}"/>'
        f'<text x="{(x1 + x2) / 2:.0f}" y="{y1 + BOX_H / 2 + 4:.0f}" text-anchor="middle" '
        f'fill="{text}" font-weight="{"bold" if status else "normal"}">{escape(name)}</text>'
        "</g>"
    )


def _legend(y: float) -> str:
    items = [*STATUS_STYLE.values(), NOT_RUN]
    parts = ['<g class="legend" font-size="11">']
    x = MARGIN
    for fill, stroke, label in items:
        if label == "Cancelled":
            continue  # the demo's executions are never aborted
        parts.append(
            f'<rect x="{x}" y="{y:.0f}" width="14" height="14" rx="3" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"/><text x="{x + 20}" y="{y + 11:.0f}" '
            f'fill="#16191f">{label}</text>'
        )
        x += 30 + 7 * len(label)
    y2 = y + 26
    x = MARGIN
    for label, colour, width, dash in (
        ("path of this execution", TAKEN, 2.5, ""),
        ("transition", IDLE, 1, ""),
        ("on error (Catch)", IDLE, 1, ' stroke-dasharray="5 3"'),
    ):
        parts.append(
            f'<line x1="{x}" y1="{y2 + 7:.0f}" x2="{x + 28}" y2="{y2 + 7:.0f}" stroke="{colour}" '
            f'stroke-width="{width}"{dash}/><text x="{x + 34}" y="{y2 + 11:.0f}" '
            f'fill="#16191f">{label}</text>'
        )
        x += 48 + 7 * len(label)
    parts.append("</g>")
    return "".join(parts)
