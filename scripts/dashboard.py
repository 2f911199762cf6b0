"""A picture of the CloudWatch dashboard the template deploys, from what was really published.

The widgets are read from the deployed dashboards themselves (CloudWatch GetDashboard in every
workload account and Region), so the picture names exactly the metrics the template's
dashboard names. Their values come from where CloudWatch would take them:

- AWS/States and AWS/SQS metrics from the twin's CloudWatch, in one-day periods from
  midnight UTC, as the dashboard asks for them;
- the BackupEvents metrics from the EMF lines the task functions printed (scripts/task_output.py):
  on AWS, CloudWatch Logs turns those lines into metrics of the function's account and Region;
  the twin does not, so they are read here as CloudWatch would read them;
- alarm widgets from DescribeAlarms.

AWS keeps one dashboard per account and Region; the picture adds the places up, as an
organization reads them: counts add up, and a duration's median or maximum is taken over every
place's values together.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date
from html import escape
from typing import Any

from local.stacks import Stack
from scripts.task_output import MetricPoint

PALETTE = ("#0073bb", "#d13212", "#ec7211", "#1d8102", "#8456ce", "#545b64")


@dataclass
class Series:
    metric: str
    label: str
    stat: str
    days: list[float | None]  # the organization's value each day (None: no data point)
    total: float | None  # the same statistic over the whole run


@dataclass
class Widget:
    title: str
    kind: str  # "metric" or "alarm"
    series: list[Series] = field(default_factory=list)
    alarms: list[tuple[str, str, str]] = field(default_factory=list)  # (place, alarm, state)
    note: str = ""


@dataclass
class Dashboard:
    days: list[date]
    places: list[str]
    widgets: list[Widget]
    error_queue_now: dict[str, int]  # place -> messages waiting now (SQS)

    def series(self, metric: str, stat: str | None = None) -> Series:
        """The series of `metric` (with `stat`, when the dashboard shows it with several)."""
        return next(
            s
            for w in self.widgets
            for s in w.series
            if s.metric == metric and (stat is None or s.stat == stat)
        )


# -- statistics -------------------------------------------------------------------------------


def statistic(stat: str, values: Sequence[float]) -> float | None:
    """CloudWatch's statistic of one period's data points (None: no data point)."""
    if not values:
        return None
    if stat.startswith("p"):
        ordered = sorted(values)
        rank = max(0, min(len(ordered) - 1, round(float(stat[1:]) / 100 * len(ordered)) - 1))
        return ordered[rank]
    found: dict[str, Callable[[Sequence[float]], float]] = {
        "Sum": sum,
        "Maximum": max,
        "Minimum": min,
        "Average": statistics.fmean,
        "SampleCount": len,
    }
    return float(found[stat](values))


def adds_up(stat: str, unit: str) -> bool:
    """Whether the places' values add up to the organization's (counts do, durations do not)."""
    return stat in ("Sum", "SampleCount") or unit in ("Count", "None")


def _total(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


# -- the deployed widgets ------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    label: str


def metric_specs(widget: Mapping[str, Any]) -> list[MetricSpec]:
    """A metric widget's metrics: [namespace, name, dim, value, ..., {options}] each."""
    properties = widget["properties"]
    specs = []
    for entry in properties.get("metrics", []):
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        fields = [str(f) for f in (entry[:-1] if options else entry)]
        stat = str(options.get("stat") or properties.get("stat") or "Average")
        specs.append(
            MetricSpec(
                namespace=fields[0],
                name=fields[1],
                dimensions=tuple(sorted(zip(fields[2::2], fields[3::2], strict=True))),
                stat=stat,
                label=str(options.get("label") or fields[1]),
            )
        )
    return specs


def _deployed_widgets(stack: Stack) -> list[dict[str, Any]]:
    body = stack.client("cloudwatch").get_dashboard(DashboardName=stack.outputs["DashboardName"])[
        "DashboardBody"
    ]
    widgets: list[dict[str, Any]] = json.loads(body)["widgets"]
    return sorted(widgets, key=lambda w: (w.get("y", 0), w.get("x", 0)))


def _published(stack: Stack, spec: MetricSpec, days: Sequence[date]) -> list[list[float]]:
    """An AWS metric's data points per day, as the twin's CloudWatch of the place holds them.

    Read from the twin's store, not through GetMetricData: the twin stamps its data points
    with aware datetimes and moto compares them with the naive times it parses from a request,
    so GetMetricData and GetMetricStatistics raise TypeError on them (a twin gap).
    """
    from moto.cloudwatch.models import cloudwatch_backends

    per_day: list[list[float]] = [[] for _ in days]
    for datum in cloudwatch_backends[stack.account][stack.region].get_all_metrics():
        dimensions = tuple(sorted((d.name, d.value) for d in datum.dimensions))
        if (datum.namespace, datum.name, dimensions) != (
            spec.namespace,
            spec.name,
            spec.dimensions,
        ):
            continue
        day = (datum.timestamp.astimezone(UTC).date() - days[0]).days
        if 0 <= day < len(days):
            per_day[day].append(float(getattr(datum, "value", 0.0)))
    return per_day


def _from_logs(
    stack: Stack, spec: MetricSpec, points: Sequence[MetricPoint], days: Sequence[date]
) -> tuple[list[list[float]], str]:
    """The raw values a BackupEvents metric got from the place's EMF lines, per day; its unit."""
    per_day: list[list[float]] = [[] for _ in days]
    unit = "Count"
    for point in points:
        if (
            point.name == spec.name
            and point.namespace == spec.namespace
            and point.dimensions == spec.dimensions
            and (point.account, point.region) == (stack.account, stack.region)
        ):
            per_day[(point.when.date() - days[0]).days].append(point.value)
            unit = point.unit
    return per_day, unit


def combine(spec: MetricSpec, unit: str, per_place: Sequence[Sequence[Sequence[float]]]) -> Series:
    """One metric of the organization: `per_place[place][day]` holds that day's data points.

    Counts add up: each place's statistic, summed. A duration's statistic is taken over every
    place's data points together."""
    days = range(len(per_place[0]))
    if adds_up(spec.stat, unit):
        by_day = [_total([statistic(spec.stat, p[day]) for p in per_place]) for day in days]
        total = _total([statistic(spec.stat, [v for d in p for v in d]) for p in per_place])
    else:
        by_day = [statistic(spec.stat, [v for p in per_place for v in p[day]]) for day in days]
        total = statistic(spec.stat, [v for p in per_place for d in p for v in d])
    return Series(spec.name, spec.label, spec.stat, by_day, total)


def build(
    stacks: Sequence[Stack], points: Sequence[MetricPoint], days: Sequence[date]
) -> Dashboard:
    """The organization's dashboard over `days`, from every workload place's own."""
    places = [s for s in stacks if "DashboardName" in s.outputs]
    deployed = [_deployed_widgets(s) for s in places]
    depths = _queue_depths(places)
    widgets = []
    for index, shape in enumerate(deployed[0]):
        widget = Widget(str(shape["properties"].get("title", "")), str(shape["type"]))
        widgets.append(widget)
        if shape["type"] == "alarm":
            for stack, theirs in zip(places, deployed, strict=True):
                names = [a.rsplit(":", 1)[-1] for a in theirs[index]["properties"]["alarms"]]
                described = stack.client("cloudwatch").describe_alarms(AlarmNames=names)
                widget.alarms += [
                    (f"{stack.account} {stack.region}", a["AlarmName"], a["StateValue"])
                    for a in described["MetricAlarms"]
                ]
            continue
        # The same widget in every place, its dimensions naming that place's resources.
        specs = [metric_specs(theirs[index]) for theirs in deployed]
        for position, spec in enumerate(specs[0]):
            unit, per_place = "Count", []
            for stack, mine in zip(places, (s[position] for s in specs), strict=True):
                if mine.namespace.startswith("AWS/"):
                    per_place.append(_published(stack, mine, days))
                else:
                    values, unit = _from_logs(stack, mine, points, days)
                    per_place.append(values)
            widget.series.append(combine(spec, unit, per_place))
        if all(v is None for series in widget.series for v in series.days):
            widget.note = "no data point in these days"
            if all(spec.namespace == "AWS/SQS" for spec in specs[0]):
                widget.note += (
                    ": the twin reads a queue's depth when an alarm asks and keeps no history "
                    "of it. Messages waiting now: "
                    + ", ".join(f"{n} in {place}" for place, n in depths.items())
                )
    return Dashboard(list(days), [f"{s.account} {s.region}" for s in places], widgets, depths)


def _queue_depths(places: Sequence[Stack]) -> dict[str, int]:
    """Messages waiting in each place's error queue now (SQS GetQueueAttributes)."""
    depths = {}
    for stack in places:
        attributes = stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs["ErrorQueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        depths[f"{stack.account} {stack.region}"] = int(attributes["ApproximateNumberOfMessages"])
    return depths


# -- HTML ---------------------------------------------------------------------------------------


def _number(value: float | None, compact: bool = False) -> str:
    if value is None:
        return "-"
    if compact and abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def bar_chart(days: Sequence[date], series: Sequence[Series], width: int = 620) -> str:
    """Grouped bars, one group per day, one bar per series; values written above the bars."""
    height, left, top, bottom = 210, 44, 16, 40
    peak = max([v for s in series for v in s.days if v is not None] + [1.0])
    plot_w, plot_h = width - left - 10, height - top - bottom
    group = plot_w / len(days)
    bar = min(22.0, (group - 8) / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height + 18 * len(series)}" font-family="sans-serif" font-size="11">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#879596"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" fill="#545b64">'
        f"{_number(peak)}</text>",
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" fill="#545b64">0</text>',
    ]
    for day_index, day in enumerate(days):
        x0 = left + day_index * group + (group - bar * len(series)) / 2
        parts.append(
            f'<text x="{left + (day_index + 0.5) * group:.0f}" y="{top + plot_h + 14}" '
            f'text-anchor="middle" fill="#545b64">{day:%m-%d}</text>'
        )
        for series_index, one in enumerate(series):
            value = one.days[day_index]
            if not value:
                continue
            h = max(1.0, value / peak * plot_h)
            x = x0 + series_index * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[series_index % len(PALETTE)]}">'
                f"<title>{escape(one.label)} {day:%m-%d}: {_number(value)}</title></rect>"
                f'<text x="{x + (bar - 2) / 2:.1f}" y="{top + plot_h - h - 3:.1f}" '
                f'text-anchor="middle" fill="#16191f">{_number(value, compact=True)}</text>'
            )
    for series_index, one in enumerate(series):
        y = height + 4 + 18 * series_index
        parts.append(
            f'<rect x="{left}" y="{y}" width="12" height="12" '
            f'fill="{PALETTE[series_index % len(PALETTE)]}"/>'
            f'<text x="{left + 18}" y="{y + 10}" fill="#16191f">{escape(one.label)} '
            f"({escape(one.stat)}): {_number(one.total)} over these days</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


TILE_STYLE = """
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0 24px}
.tile{border:1px solid #d5dbdb;border-radius:6px;padding:10px 16px;min-width:150px}
.tile .value{font-size:28px;font-weight:bold} .tile .label{color:#545b64;font-size:13px}
.widgets{display:grid;grid-template-columns:repeat(auto-fill,minmax(640px,1fr));gap:16px}
.widget{border:1px solid #d5dbdb;border-radius:6px;padding:8px 12px}
.widget h3{margin:4px 0 8px;font-size:15px} .ALARM{color:#d13212;font-weight:bold}
.OK{color:#1d8102}
"""


def tiles(figures: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><div class="value">{escape(value)}</div>'
            f'<div class="label">{escape(label)}</div></div>'
            for label, value in figures
        )
        + "</div>"
    )


def html(dashboard: Dashboard, figures: Sequence[tuple[str, str]]) -> str:
    """The dashboard as one HTML fragment: the headline figures, then every widget."""
    parts = [f"<style>{TILE_STYLE}</style>", tiles(figures), '<div class="widgets">']
    for widget in dashboard.widgets:
        parts.append(f'<div class="widget"><h3>{escape(widget.title)}</h3>')
        if widget.kind == "alarm":
            rows = "".join(
                f"<tr><td>{escape(place)}</td><td>{escape(name)}</td>"
                f'<td class="{escape(state)}">{escape(state)}</td></tr>'
                for place, name, state in widget.alarms
            )
            parts.append(
                f"<table><tr><th>account and Region</th><th>alarm</th>"
                f"<th>state now</th></tr>{rows}</table>"
            )
        elif widget.note:
            parts.append(f"<p>{escape(widget.note)}.</p>")
        else:
            parts.append(bar_chart(dashboard.days, widget.series))
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)
