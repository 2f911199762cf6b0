"""CloudWatch in the twin: the metrics AWS services publish, and alarms evaluated on them.

Stock moto stores alarms and metric data but never evaluates an alarm: every alarm stays OK.
The twin closes both gaps (docs/aws-facts.md §H, §T.2):

- Step Functions' metrics: every execution status change the twin sees adds a data point of 1
  to `ExecutionsStarted`, `ExecutionsSucceeded`, `ExecutionsFailed`, `ExecutionsTimedOut` or
  `ExecutionsAborted` (namespace AWS/States, dimension StateMachineArn), at that virtual
  time. A period in which no such execution happens has no data point, as in AWS.
- SQS's `ApproximateNumberOfMessagesVisible` (AWS/SQS, QueueName) is a gauge the twin reads
  from the queue when an alarm asks: it keeps no history, so every period evaluated sees
  the queue's current depth.
- `alarm_state()` evaluates an alarm as CloudWatch does: over its last EvaluationPeriods
  complete periods, each query's statistic per period, metric math on top (metric ids,
  numbers, + - * /, parentheses, FILL(x, value), SUM, MIN, MAX, AVG of a list or of one
  series), where an operator over a missing operand has no data point; then DatapointsToAlarm
  and TreatMissingData (missing, notBreaching, breaching, ignore). The state is written back
  to the alarm, and DescribeAlarms evaluates first, so a user reads what AWS would show.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local.clock import VirtualClock

STATES_NAMESPACE = "AWS/States"
# The metric Step Functions publishes when an execution reaches each status.
STATUS_METRICS = {
    "RUNNING": "ExecutionsStarted",
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
_STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum,
    "Average": statistics.fmean,
    "Maximum": max,
    "Minimum": min,
    "SampleCount": lambda values: float(len(values)),
}

Value = float | None  # one period's value; None: no data point


class AlarmError(ValueError):
    """An alarm the twin cannot evaluate faithfully (refused, never guessed)."""


# -- metric math ------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


def _tokens(expression: str) -> list[str]:
    found = [m.group(1) or m.group(2) or m.group(3) for m in _TOKEN.finditer(expression)]
    return [t for t in found if t and not t.isspace()]


def _aggregate(name: str, values: list[Value]) -> Value:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if name == "SUM":
        return float(sum(present))
    if name == "MIN":
        return min(present)
    if name == "MAX":
        return max(present)
    return statistics.fmean(present)


class _Parser:
    """Recursive descent over one expression, evaluated for one period.

    `lookup(id)` gives a query's value in that period (None: no data point); a list literal
    `[a, b]` is a list of series, which SUM/MIN/MAX/AVG reduce over the present values.
    """

    def __init__(self, expression: str, lookup: Callable[[str], Value]) -> None:
        self.tokens = _tokens(expression)
        self.position = 0
        self.lookup = lookup
        self.expression = expression

    def parse(self) -> Value:
        value = self._sum()
        if self.position != len(self.tokens):
            raise AlarmError(f"cannot evaluate metric math {self.expression!r}")
        return self._scalar(value)

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise AlarmError(f"cannot evaluate metric math {self.expression!r}")
        self.position += 1
        return token

    @staticmethod
    def _scalar(value: Value | list[Value]) -> Value:
        if isinstance(value, list):
            raise AlarmError("an alarm's expression must give one time series")
        return value

    def _sum(self) -> Any:
        value = self._product()
        while self._peek() in {"+", "-"}:
            operator = self._take()
            right = self._scalar(self._product())
            left = self._scalar(value)
            # An operator over a missing point gives no point (docs/aws-facts.md §H).
            if left is None or right is None:
                value = None
            else:
                value = left + right if operator == "+" else left - right
        return value

    def _product(self) -> Any:
        value = self._atom()
        while self._peek() in {"*", "/"}:
            operator = self._take()
            right = self._scalar(self._atom())
            left = self._scalar(value)
            if left is None or right is None or (operator == "/" and right == 0):
                value = None
            else:
                value = left * right if operator == "*" else left / right
        return value

    def _atom(self) -> Any:
        token = self._take()
        if token == "(":
            value = self._sum()
            self._take(")")
            return value
        if token == "[":
            items = [self._scalar(self._sum())]
            while self._peek() == ",":
                self._take(",")
                items.append(self._scalar(self._sum()))
            self._take("]")
            return items
        if token == "-":
            value = self._scalar(self._atom())
            return None if value is None else -value
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return float(token)
        if self._peek() == "(":
            return self._call(token.upper())
        return self.lookup(token)

    def _call(self, name: str) -> Value:
        self._take("(")
        argument = self._sum()
        if name == "FILL":
            self._take(",")
            fill = self._scalar(self._sum())
            self._take(")")
            value = self._scalar(argument)
            return fill if value is None else value
        self._take(")")
        if name in {"SUM", "MIN", "MAX", "AVG"}:
            return _aggregate(name, argument if isinstance(argument, list) else [argument])
        raise AlarmError(f"the twin does not evaluate the metric math function {name}")


def evaluate_expression(expression: str, values: dict[str, Value]) -> Value:
    """One period's value of a metric math expression, given each query id's value."""

    def lookup(query_id: str) -> Value:
        if query_id not in values:
            raise AlarmError(f"metric math names an unknown id {query_id!r}")
        return values[query_id]

    return _Parser(expression, lookup).parse()


# -- alarms -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    state: str  # ALARM, OK or INSUFFICIENT_DATA
    values: list[Value]  # the evaluated periods' values, oldest first
    reason: str


def _dimensions(dimensions: Sequence[Any]) -> dict[str, str]:
    return {str(d.name): str(d.value) for d in dimensions}


class CloudWatchTwin:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    # -- publishing ---------------------------------------------------------------------------
    def execution_status(self, execution: Any, status: str) -> None:
        """Step Functions' metric for one execution status change, at this virtual time."""
        name = STATUS_METRICS.get(status)
        if name is None:
            return
        self.put(
            execution.account_id,
            execution.region_name,
            STATES_NAMESPACE,
            name,
            {"StateMachineArn": execution.state_machine_arn},
        )

    def put(
        self,
        account: str,
        region: str,
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        value: float = 1.0,
        at: datetime | None = None,
    ) -> None:
        """One data point, as the service that owns the namespace would publish it."""
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account][region].put_metric_data(
            namespace,
            [
                {
                    "MetricName": name,
                    "Value": value,
                    "Unit": "Count",
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    # Naive UTC, as moto keeps the timestamps of PutMetricData requests:
                    # GetMetricStatistics compares them with naive request times.
                    "Timestamp": (at or self.clock.now()).astimezone(UTC).replace(tzinfo=None),
                }
            ],
        )

    # -- evaluating ---------------------------------------------------------------------------
    def alarm_state(self, account: str, region: str, alarm_name: str) -> str:
        """Evaluate the alarm now, record its state on it, and return that state."""
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[account][region]
        alarm = backend.alarms.get(alarm_name)
        if alarm is None:
            raise KeyError(f"no alarm {alarm_name} in {account} {region}")
        return self.refresh(backend, alarm).state

    def refresh(self, backend: Any, alarm: Any) -> Evaluation:
        evaluation = self.evaluate(backend, alarm)
        if evaluation.state != alarm.state_value:
            alarm.update_state(evaluation.reason, "{}", evaluation.state)
            alarm.state_updated_timestamp = self.clock.now()
        return evaluation

    def evaluate(self, backend: Any, alarm: Any) -> Evaluation:
        compare = _COMPARE.get(alarm.comparison_operator)
        if compare is None:
            raise AlarmError(f"the twin does not evaluate {alarm.comparison_operator}")
        period = self._period(alarm)
        count = int(alarm.evaluation_periods)
        end = self._period_end(period)
        windows = [
            (end - timedelta(seconds=period * (k + 1)), end - timedelta(seconds=period * k))
            for k in reversed(range(count))
        ]
        values = [self._value(backend, alarm, start, stop) for start, stop in windows]
        needed = int(alarm.datapoints_to_alarm or count)
        treat = alarm.treat_missing_data or "missing"
        threshold = float(alarm.threshold)
        present = [v for v in values if v is not None]
        if not present:
            state = {
                "missing": "INSUFFICIENT_DATA",
                "notBreaching": "OK",
                "breaching": "ALARM" if count >= needed else "OK",
                "ignore": alarm.state_value,
            }[treat]
            return Evaluation(state, values, f"no data points in {count} period(s): {treat}")
        breaching = sum(compare(v, threshold) for v in present)
        if treat == "breaching":
            breaching += len(values) - len(present)
        state = "ALARM" if breaching >= needed else "OK"
        reason = (
            f"{breaching} of the last {count} period(s) breaching "
            f"({alarm.comparison_operator} {threshold}); values {values}"
        )
        return Evaluation(state, values, reason)

    def _period_end(self, period: int) -> datetime:
        """The end of the last complete period (periods are aligned on multiples of it)."""
        seconds = int(self.clock.now().timestamp()) // period * period
        return datetime.fromtimestamp(seconds, UTC)

    @staticmethod
    def _period(alarm: Any) -> int:
        if not alarm.metric_data_queries:
            return int(alarm.period)
        periods = {
            int(q.metric_stat.period)
            for q in alarm.metric_data_queries
            if q.metric_stat is not None and q.metric_stat.period
        }
        if len(periods) != 1:
            raise AlarmError(f"alarm {alarm.name}: its metrics need one common period")
        return periods.pop()

    def _value(self, backend: Any, alarm: Any, start: datetime, stop: datetime) -> Value:
        if not alarm.metric_data_queries:
            return self._statistic(
                backend,
                alarm.namespace,
                alarm.metric_name,
                _dimensions(alarm.dimensions),
                alarm.statistic,
                start,
                stop,
            )
        values: dict[str, Value] = {}
        for query in alarm.metric_data_queries:
            if query.metric_stat is not None:
                metric = query.metric_stat.metric
                values[query.id] = self._statistic(
                    backend,
                    metric.namespace,
                    metric.metric_name,
                    _dimensions(metric.dimensions),
                    query.metric_stat.stat,
                    start,
                    stop,
                )
        for query in alarm.metric_data_queries:
            if query.expression:
                values[query.id] = evaluate_expression(query.expression, values)
        returned = [
            q for q in alarm.metric_data_queries if str(q.return_data).lower() in {"true", "none"}
        ]
        chosen = returned[-1] if returned else alarm.metric_data_queries[-1]
        return values[chosen.id]

    def _statistic(
        self,
        backend: Any,
        namespace: str,
        name: str,
        dimensions: dict[str, str],
        statistic: str,
        start: datetime,
        stop: datetime,
    ) -> Value:
        if (namespace, name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
            return _queue_depth(backend.account_id, backend.region_name, dimensions)
        reduce = _STATISTICS.get(statistic)
        if reduce is None:
            raise AlarmError(f"the twin does not evaluate the statistic {statistic}")
        found = [
            float(datum.value)
            for datum in backend.metric_data
            if datum.namespace == namespace
            and datum.name == name
            and _dimensions(datum.dimensions) == dimensions
            and start <= _aware(datum.timestamp) < stop
            and hasattr(datum, "value")
        ]
        return float(reduce(found)) if found else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _queue_depth(account: str, region: str, dimensions: dict[str, str]) -> Value:
    """The visible messages of the queue now (SQS publishes this gauge for active queues)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account][region].queues.get(dimensions.get("QueueName", ""))
    if queue is None:
        return None
    return float(queue.approximate_number_of_messages)


_active: CloudWatchTwin | None = None


def activate(cloudwatch: CloudWatchTwin | None) -> None:
    """Evaluate alarms before DescribeAlarms answers (None: stock moto, which never does)."""
    global _active
    _active = cloudwatch


def install() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse

    if getattr(CloudWatchResponse.describe_alarms, "_twin", False):
        return
    original = CloudWatchResponse.describe_alarms

    def describe_alarms(self: Any) -> Any:
        if _active is not None:
            backend = self.cloudwatch_backend
            for alarm in list(backend.alarms.values()):
                if alarm.rule is None:  # composite alarms are not modelled
                    _active.refresh(backend, alarm)
        return original(self)

    describe_alarms._twin = True  # type: ignore[attr-defined]
    CloudWatchResponse.describe_alarms = describe_alarms  # type: ignore[method-assign]
